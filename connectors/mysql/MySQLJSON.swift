import Foundation
import SluiceCore

/// MySQL's binary JSON format (JSON columns in row events) and the JSON diffs of PARTIAL_UPDATE_ROWS events.
enum MySQLJSON {
    /// The JSON text of a binary JSON document (MySQL's own spacing: `{"a": 1, "b": [1, 2]}`).
    static func text(_ bytes: [UInt8], from start: Int, length: Int) throws -> String {
        try node(bytes, from: start, length: length).text(style: .mysql)
    }

    /// Parses a binary JSON document (type byte, then the value): numbers keep MySQL's text.
    static func node(_ bytes: [UInt8], from start: Int, length: Int) throws -> JSONValue {
        guard length >= 1, start + length <= bytes.count else { throw BinlogFormatError("empty or truncated JSON value") }
        return try value(bytes, type: bytes[start], at: start + 1, end: start + length, depth: 0)
    }

    private static func value(_ b: [UInt8], type: UInt8, at p: Int, end: Int, depth: Int) throws -> JSONValue {
        guard depth < 200 else { throw BinlogFormatError("JSON nested deeper than 200 levels") }
        func need(_ n: Int, at q: Int) throws {
            if q < 0 || n < 0 || q + n > end { throw BinlogFormatError("JSON value truncated (type \(type))") }
        }
        func le(_ q: Int, _ n: Int) throws -> UInt64 {
            try need(n, at: q)
            var v: UInt64 = 0
            for i in stride(from: n - 1, through: 0, by: -1) { v = v << 8 | UInt64(b[q + i]) }
            return v
        }
        switch type {
        case 0x00, 0x01, 0x02, 0x03:
            let large = type == 0x01 || type == 0x03
            let isObject = type <= 0x01
            let width = large ? 4 : 2
            let count = Int(try le(p, width))
            let size = Int(try le(p + width, width))
            try need(size, at: p)
            let containerEnd = p + size
            var q = p + 2 * width
            var keys: [String] = []
            if isObject {
                keys.reserveCapacity(count)
                for _ in 0..<count {
                    let keyOffset = Int(try le(q, width))
                    let keyLength = Int(try le(q + width, 2))
                    q += width + 2
                    guard p + keyOffset + keyLength <= containerEnd else { throw BinlogFormatError("JSON key out of range") }
                    keys.append(String(decoding: b[(p + keyOffset)..<(p + keyOffset + keyLength)], as: UTF8.self))
                }
            }
            var values: [JSONValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count {
                try need(1 + width, at: q)
                let valueType = b[q]
                let inlined: Bool
                switch valueType {
                case 0x04, 0x05, 0x06: inlined = true
                case 0x07, 0x08: inlined = large
                default: inlined = false
                }
                if inlined {
                    values.append(try value(b, type: valueType, at: q + 1, end: q + 1 + width, depth: depth + 1))
                } else {
                    let offset = Int(try le(q + 1, width))
                    guard offset < size else { throw BinlogFormatError("JSON value offset out of range") }
                    values.append(try value(b, type: valueType, at: p + offset, end: containerEnd, depth: depth + 1))
                }
                q += 1 + width
            }
            return isObject ? .object(Array(zip(keys, values))) : .array(values)
        case 0x04:
            try need(1, at: p)
            switch b[p] {
            case 0: return .null
            case 1: return .bool(true)
            case 2: return .bool(false)
            default: throw BinlogFormatError("invalid JSON literal \(b[p])")
            }
        case 0x05: return .number(String(Int16(truncatingIfNeeded: try le(p, 2))))
        case 0x06: return .number(String(UInt16(truncatingIfNeeded: try le(p, 2))))
        case 0x07: return .number(String(Int32(truncatingIfNeeded: try le(p, 4))))
        case 0x08: return .number(String(UInt32(truncatingIfNeeded: try le(p, 4))))
        case 0x09: return .number(String(Int64(bitPattern: try le(p, 8))))
        case 0x0A: return .number(String(try le(p, 8)))
        case 0x0B: return .double(Double(bitPattern: try le(p, 8)))
        case 0x0C:
            var q = p
            let length = try varLength(b, &q, end: end)
            try need(length, at: q)
            return .string(String(decoding: b[q..<(q + length)], as: UTF8.self))
        case 0x0F:
            try need(1, at: p)
            let fieldType = b[p]
            var q = p + 1
            let length = try varLength(b, &q, end: end)
            try need(length, at: q)
            return try opaque(fieldType: fieldType, Array(b[q..<(q + length)]))
        default:
            throw BinlogFormatError("unknown JSON value type 0x\(String(type, radix: 16))")
        }
    }

    /// Lengths inside binary JSON: 7 bits per byte, least significant first, high bit = more.
    private static func varLength(_ b: [UInt8], _ q: inout Int, end: Int) throws -> Int {
        var length = 0
        for i in 0..<5 {
            guard q < end else { throw BinlogFormatError("JSON length truncated") }
            let byte = b[q]
            q += 1
            length |= Int(byte & 0x7F) << (7 * i)
            if byte & 0x80 == 0 { return length }
        }
        throw BinlogFormatError("JSON length too long")
    }

    /// Opaque values: MySQL temporal and decimal values inside JSON, else base64 as MySQL prints them.
    private static func opaque(fieldType: UInt8, _ data: [UInt8]) throws -> JSONValue {
        func packed() -> Int64 {
            var v: UInt64 = 0
            for i in stride(from: min(7, data.count - 1), through: 0, by: -1) { v = v << 8 | UInt64(data[i]) }
            return Int64(bitPattern: v)
        }
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        switch MySQLColumnType(rawValue: fieldType) {
        case let type? where [.date, .datetime, .timestamp, .newdate].contains(type) && data.count >= 8:
            var value = packed()
            if value < 0 { value = -value }
            let fraction = value & 0xFF_FFFF, ymdhms = value >> 24
            let ymd = ymdhms >> 17, hms = ymdhms & 0x1FFFF, ym = ymd >> 5
            let year = ym / 13, month = ym % 13, day = ymd & 31
            let yearText = String(repeating: "0", count: max(0, 4 - String(year).count)) + String(year)
            var text = "\(yearText)-\(two(month))-\(two(day))"
            if fieldType != MySQLColumnType.date.rawValue {
                text += " \(two(hms >> 12)):\(two(hms >> 6 & 63)):\(two(hms & 63)).\(micros6(fraction))"
            }
            return .string(text)
        case .time? where data.count >= 8:
            var value = packed()
            let negative = value < 0
            if negative { value = -value }
            let fraction = value & 0xFF_FFFF, hms = value >> 24
            let text = "\(negative ? "-" : "")\(two(hms >> 12 & 0x3FF)):\(two(hms >> 6 & 63)):\(two(hms & 63))"
                + ".\(micros6(fraction))"
            return .string(text)
        case .newdecimal? where data.count >= 2:
            var cursor = ByteReader(data, from: 2)
            let decimal = try ColumnValueDecoder.decimal(&cursor, precision: Int(data[0]), scale: Int(data[1]))
            return .number(decimal.description)
        default:
            return .string("base64:type\(fieldType):" + Data(data).base64EncodedString())
        }
    }

    private static func micros6(_ value: Int64) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, 6 - text.count)) + text
    }

    // MARK: Partial updates

    enum PathStep: Equatable {
        case member(String)
        case index(Int)
    }

    /// Reads a PARTIAL_UPDATE_ROWS JSON diff vector (4-byte length, then operations).
    static func readDiffs(_ cursor: inout ByteReader<[UInt8]>) throws -> JSONPartialUpdate {
        let length = Int(try cursor.u32())
        try cursor.need(length)
        var diffs = ByteReader(cursor.bytes, from: cursor.offset, to: cursor.offset + length)
        cursor.offset += length
        var operations: [JSONPartialUpdate.Operation] = []
        while !diffs.isAtEnd {
            let operation = try diffs.u8()
            let pathLength = try diffs.lenencCount()
            let path = try diffs.utf8(pathLength)
            _ = try parsePath(path)
            switch operation {
            case 0, 1:
                let valueLength = try diffs.lenencCount()
                try diffs.need(valueLength)
                let value = try node(diffs.bytes, from: diffs.offset, length: valueLength).text(style: .mysql)
                diffs.offset += valueLength
                operations.append(.init(kind: operation == 0 ? .replace : .insert, path: path, value: value))
            case 2:
                operations.append(.init(kind: .remove, path: path, value: nil))
            default:
                throw BinlogFormatError("unknown JSON diff operation \(operation)")
            }
        }
        return JSONPartialUpdate(operations: operations)
    }

    static func apply(_ update: JSONPartialUpdate, to before: JSONValue) throws -> JSONValue {
        var document = before
        for operation in update.operations {
            let value = try operation.value.map { try parseText($0) }
            try apply(&document, try parsePath(operation.path)[...], value: value, insert: operation.kind == .insert)
        }
        return document
    }

    private static func apply(_ node: inout JSONValue, _ path: ArraySlice<PathStep>, value: JSONValue?, insert: Bool) throws {
        guard let step = path.first else {
            if let value { node = value }
            return
        }
        let last = path.count == 1
        switch (node, step) {
        case (.object(var members), .member(let key)):
            if let i = members.firstIndex(where: { $0.0 == key }) {
                if last && value == nil {
                    members.remove(at: i)
                } else {
                    try apply(&members[i].1, path.dropFirst(), value: value, insert: insert)
                }
            } else if last, let value {
                members.append((key, value))
                members.sort { a, b in
                    a.0.utf8.count != b.0.utf8.count ? a.0.utf8.count < b.0.utf8.count
                        : a.0.utf8.lexicographicallyPrecedes(b.0.utf8)
                }
            } else {
                throw BinlogFormatError("JSON diff path member '\(key)' not found")
            }
            node = .object(members)
        case (.array(var elements), .index(let index)):
            if last && value == nil {
                guard index < elements.count else { throw BinlogFormatError("JSON diff removes index \(index) out of range") }
                elements.remove(at: index)
            } else if last && insert, let value {
                elements.insert(value, at: min(index, elements.count))
            } else {
                guard index < elements.count else { throw BinlogFormatError("JSON diff index \(index) out of range") }
                try apply(&elements[index], path.dropFirst(), value: value, insert: insert)
            }
            node = .array(elements)
        default:
            if last && insert, let value, case .index = step {
                node = .array([node, value])  // auto-wrapping as JSON_ARRAY_INSERT/JSON_ARRAY_APPEND do
            } else {
                throw BinlogFormatError("JSON diff path does not match the before image")
            }
        }
    }

    /// Parses the JSON paths in diffs: `$`, `.key`, `."quoted key"`, `[n]`.
    static func parsePath(_ text: String) throws -> [PathStep] {
        let c = Array(text.utf8)
        guard c.first == UInt8(ascii: "$") else { throw BinlogFormatError("JSON diff path '\(text)' does not start with $") }
        var steps: [PathStep] = []
        var i = 1
        while i < c.count {
            switch c[i] {
            case UInt8(ascii: " "):
                i += 1
            case UInt8(ascii: "."):
                i += 1
                if i < c.count && c[i] == UInt8(ascii: "\"") {
                    i += 1
                    var key: [UInt8] = []
                    while i < c.count && c[i] != UInt8(ascii: "\"") {
                        if c[i] == UInt8(ascii: "\\") && i + 1 < c.count { i += 1 }
                        key.append(c[i])
                        i += 1
                    }
                    i += 1
                    steps.append(.member(String(decoding: key, as: UTF8.self)))
                } else {
                    let start = i
                    while i < c.count && c[i] != UInt8(ascii: ".") && c[i] != UInt8(ascii: "[") { i += 1 }
                    steps.append(.member(String(decoding: c[start..<i], as: UTF8.self)))
                }
            case UInt8(ascii: "["):
                i += 1
                let start = i
                while i < c.count && c[i] != UInt8(ascii: "]") { i += 1 }
                guard let index = Int(String(decoding: c[start..<i], as: UTF8.self).trimmingCharacters(in: .whitespaces))
                else { throw BinlogFormatError("unsupported JSON diff path '\(text)'") }
                steps.append(.index(index))
                i += 1
            default:
                throw BinlogFormatError("unsupported JSON diff path '\(text)'")
            }
        }
        return steps
    }
}

extension MySQLJSON {
    /// Parses JSON text (a before image already rendered) back into a value, keeping key order and number text.
    static func parseText(_ text: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(text, options: JSONParseOptions(numbers: .text, maxDepth: 200))
        } catch let error as JSONParseError {
            throw BinlogFormatError("the JSON before image cannot be parsed: \(error)")
        }
    }
}

/// The JSON diffs of one column in a PARTIAL_UPDATE_ROWS event (binlog_row_value_options=PARTIAL_JSON).
public struct JSONPartialUpdate: Sendable, Hashable {
    public struct Operation: Sendable, Hashable {
        public enum Kind: Sendable, Hashable { case replace, insert, remove }
        public var kind: Kind
        /// A MySQL JSON path such as `$.a[1]`.
        public var path: String
        /// The new value as JSON text (nil for remove).
        public var value: String?
    }

    public var operations: [Operation]

    /// The document after the diffs, from the document before them.
    public func applied(to before: String) throws -> String {
        try MySQLJSON.apply(self, to: MySQLJSON.parseText(before)).text(style: .mysql)
    }
}
