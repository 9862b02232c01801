import Foundation
import MCP

/// Parses JSON text into MCP `Value`s, so that a tool's `structuredContent` is exactly the JSON of its text content.
///
/// Integers that fit in `Int` become `.int`, other numbers `.double`; strings stay strings (unlike the sdk's
/// decoder, which turns strings that look like data URLs into `.data`).
/// A JSON value of the MCP sdk (named apart from `SluiceCore.Value`, the column value).
public typealias MCPValue = MCP.Value

enum JSONValueParser {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func parse(_ text: String) throws -> Value {
        var bytes = Array(text.utf8)
        bytes.append(0)
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.index == bytes.count - 1 else {
            throw Failure(description: "trailing characters at \(parser.index)")
        }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func skipSpace() {
            while true {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: String) throws {
            for b in literal.utf8 {
                guard bytes[index] == b else { throw Failure(description: "unexpected character at \(index)") }
                index += 1
            }
        }

        mutating func value(depth: Int) throws -> Value {
            guard depth < 128 else { throw Failure(description: "nesting too deep") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var object: [String: Value] = [:]
                skipSpace()
                if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(object)
                }
                while true {
                    skipSpace()
                    guard bytes[index] == UInt8(ascii: "\"") else {
                        throw Failure(description: "expected a key at \(index)")
                    }
                    let key = try string()
                    skipSpace()
                    try expect(":")
                    skipSpace()
                    object[key] = try value(depth: depth + 1)
                    skipSpace()
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    try expect("}")
                    return .object(object)
                }
            case UInt8(ascii: "["):
                index += 1
                var array: [Value] = []
                skipSpace()
                if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(array)
                }
                while true {
                    skipSpace()
                    array.append(try value(depth: depth + 1))
                    skipSpace()
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    try expect("]")
                    return .array(array)
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            default:
                return try number()
            }
        }

        mutating func number() throws -> Value {
            let start = index
            var integral = true
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            while true {
                let b = bytes[index]
                if b >= 48 && b <= 57 {
                    index += 1
                } else if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
                    || b == UInt8(ascii: "+") || b == UInt8(ascii: "-")
                {
                    integral = false
                    index += 1
                } else {
                    break
                }
            }
            guard index > start else { throw Failure(description: "unexpected character at \(index)") }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if integral, let int = Int(text) { return .int(int) }
            guard let double = Double(text) else { throw Failure(description: "bad number at \(start)") }
            return .double(double)
        }

        mutating func string() throws -> String {
            index += 1  // opening quote
            var out: [UInt8] = []
            while true {
                let b = bytes[index]
                switch b {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    index += 1
                    let e = bytes[index]
                    index += 1
                    switch e {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if scalar >= 0xD800 && scalar < 0xDC00, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        {
                            index += 2
                            let low = try hex4()
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8))
                    default: out.append(e)
                    }
                case 0:
                    throw Failure(description: "unterminated string")
                default:
                    out.append(b)
                    index += 1
                }
            }
        }

        mutating func hex4() throws -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[index]
                index += 1
                let digit: UInt32
                switch b {
                case 48...57: digit = UInt32(b - 48)
                case 97...102: digit = UInt32(b - 87)
                case 65...70: digit = UInt32(b - 55)
                default: throw Failure(description: "bad \\u escape")
                }
                value = value << 4 | digit
            }
            return value
        }
    }
}
