/// A JSON document that keeps the order of object keys: the one JSON value type of Sluice.
///
/// Avro schemas and Iceberg metadata (written in key order so that they read like the specifications' examples
/// and stay byte-stable), MCP tool output and MySQL JSON documents (where number text must survive exactly) are
/// all parsed by `JSONValue.parse` and written by `JSONText`.
public indirect enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    /// A number kept exactly as its JSON text (parsing with `JSONParseOptions.Numbers.text`, or numbers such as
    /// decimals that no binary type holds).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Keys in order; a key appears at most once.
    case object([(String, JSONValue)])

    /// Equal when of the same kind and value; `.int` and `.double` compare by numeric value, objects by their
    /// keys and values whatever the order, `.number` by its text.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return Double(a) == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            let right = Dictionary(b, uniquingKeysWith: { first, _ in first })
            return a.allSatisfy { key, value in right[key] == value }
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .int(let i): hasher.combine(Double(i))
        case .double(let d): hasher.combine(d)
        case .number(let text): hasher.combine(text)
        case .string(let s): hasher.combine(s)
        case .array(let a): hasher.combine(a)
        case .object(let pairs): hasher.combine(pairs.count)
        }
    }

    /// The value under `key` of an object (nil for other values or a missing key).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    /// The string, for `.string`.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer, for `.int`, a `.double` without fraction or an integral `.number`.
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e18: return Int64(d)
        case .number(let text): return Int64(text)
        default: return nil
        }
    }

    /// The elements, for `.array`.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// Compact JSON text (no spaces), keys in their order.
    public var text: String { text(style: .compact) }

    /// JSON text in `style`, keys in their order.
    public func text(style: JSONText.Style) -> String {
        var out = JSONText(style: style)
        out.value(self)
        return out.text
    }

    /// The text of a double in a JSON document: integral values below 1e15 as `N.0`, others as Swift prints
    /// them (shortest round-trip), NaN and infinities as `null` (JSON has no spelling for them).
    public static func numberText(_ d: Double) -> String {
        if d.isFinite && d.rounded() == d && abs(d) < 1e15 { return String(Int64(d)) + ".0" }
        return d.isFinite ? "\(d)" : "null"
    }
}

extension JSONText {
    /// Writes a JSON value (as an element, or as the value after `key`).
    public mutating func value(_ json: JSONValue) {
        switch json {
        case .null: raw("null")
        case .bool(let b): raw(b ? "true" : "false")
        case .int(let i): raw(String(i))
        case .double(let d): raw(JSONValue.numberText(d))
        case .number(let text): raw(text)
        case .string(let s): string(s)
        case .array(let items):
            beginArray()
            for item in items { value(item) }
            endArray()
        case .object(let pairs):
            beginObject()
            for (name, item) in pairs {
                key(name)
                value(item)
            }
            endObject()
        }
    }
}

/// How `JSONValue.parse` reads numbers and how large a document it accepts.
public struct JSONParseOptions: Sendable {
    public enum Numbers: Sendable {
        /// Integers that fit become `.int`, other numbers `.double`.
        case typed
        /// Every number stays `.number` with its exact text.
        case text
    }

    public var numbers: Numbers
    /// Most nested arrays and objects.
    public var maxDepth: Int
    /// Longest document, in bytes.
    public var maxBytes: Int

    public init(numbers: Numbers = .typed, maxDepth: Int = 512, maxBytes: Int = 256 << 20) {
        self.numbers = numbers
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
    }
}

/// JSON text that could not be parsed: what was wrong, at which byte of the text.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    /// The byte offset in the text where parsing stopped.
    public var offset: Int
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Parses JSON text; object key order follows the text.
    public static func parse(_ text: String, options: JSONParseOptions = JSONParseOptions()) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try parse(utf8: $0, options: options) }
    }

    /// Parses JSON bytes (UTF-8; invalid sequences in strings become U+FFFD).
    public static func parse(bytes: [UInt8], options: JSONParseOptions = JSONParseOptions()) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { try parse(utf8: $0, options: options) }
    }

    /// Parses JSON bytes (UTF-8; invalid sequences in strings become U+FFFD).
    public static func parse(utf8: UnsafeBufferPointer<UInt8>, options: JSONParseOptions = JSONParseOptions()) throws
        -> JSONValue
    {
        guard utf8.count <= options.maxBytes else {
            throw JSONParseError(offset: 0, reason: "the document has \(utf8.count) bytes, more than the "
                + "\(options.maxBytes) accepted")
        }
        var parser = JSONTextParser(bytes: utf8, options: options)
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == utf8.count else { throw parser.failure("unexpected text after the JSON value") }
        return value
    }
}

/// A recursive-descent parser of RFC 8259 JSON that keeps object key order (strings may hold raw control
/// characters, as some writers leave them).
private struct JSONTextParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let options: JSONParseOptions
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>, options: JSONParseOptions) {
        self.bytes = bytes
        self.options = options
    }

    func failure(_ reason: String) -> JSONParseError {
        JSONParseError(offset: index, reason: reason)
    }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    mutating func expect(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard count <= bytes.count - index,
            (0..<count).allSatisfy({ bytes[index + $0] == literal.utf8Start[$0] })
        else { throw failure("expected \(literal)") }
        index += count
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        skipWhitespace()
        guard let first = current else { throw failure("unexpected end") }
        switch first {
        case UInt8(ascii: "{"):
            var pairs: [(String, JSONValue)] = []
            try parseItems(depth: depth, closedBy: UInt8(ascii: "}")) { parser in
                parser.skipWhitespace()
                guard parser.current == UInt8(ascii: "\"") else { throw parser.failure("expected a key") }
                let key = try parser.parseString()
                parser.skipWhitespace()
                try parser.expect(":")
                pairs.append((key, try parser.parseValue(depth: depth + 1)))
            }
            return .object(pairs)
        case UInt8(ascii: "["):
            var items: [JSONValue] = []
            try parseItems(depth: depth, closedBy: UInt8(ascii: "]")) { parser in
                items.append(try parser.parseValue(depth: depth + 1))
            }
            return .array(items)
        case UInt8(ascii: "\""):
            return .string(try parseString())
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
            return try parseNumber()
        }
    }

    /// Reads the comma-separated items of an object or array, from its opening bracket through `close`.
    private mutating func parseItems(depth: Int, closedBy close: UInt8, _ parseItem: (inout Self) throws -> Void)
        throws
    {
        guard depth < options.maxDepth else { throw failure("nested deeper than \(options.maxDepth) levels") }
        let what = close == UInt8(ascii: "}") ? "object" : "array"
        index += 1
        skipWhitespace()
        if current == close {
            index += 1
            return
        }
        while true {
            try parseItem(&self)
            skipWhitespace()
            guard let next = current else { throw failure("unterminated \(what)") }
            if next == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard next == close else { throw failure("expected ',' or '\(Character(Unicode.Scalar(close)))'") }
            index += 1
            return
        }
    }

    private mutating func digits() -> Int {
        let start = index
        while let b = current, b >= 0x30 && b <= 0x39 { index += 1 }
        return index - start
    }

    /// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`
    private mutating func parseNumber() throws -> JSONValue {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        guard digits() > 0 else {
            index = start
            throw failure("expected a value")
        }
        if bytes[integerStart] == 0x30 && index - integerStart > 1 {
            throw failure("a number has a leading zero")
        }
        var isInteger = true
        if current == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard digits() > 0 else { throw failure("a number has no digits after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw failure("a number has no digits in its exponent") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        switch options.numbers {
        case .text:
            return .number(text)
        case .typed:
            if isInteger, let value = Int64(text) { return .int(value) }
            guard let value = Double(text) else { throw failure("bad number '\(text)'") }
            return .double(value)
        }
    }

    mutating func parseString() throws -> String {
        index += 1
        let start = index
        // Most strings have no escapes: they become a String straight from the text.
        while let b = current, b != UInt8(ascii: "\""), b != UInt8(ascii: "\\") { index += 1 }
        guard let stop = current else { throw failure("unterminated string") }
        if stop == UInt8(ascii: "\"") {
            defer { index += 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }
        var out = Array(bytes[start..<index])
        while let b = current {
            index += 1
            if b == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                continue
            }
            guard let escape = current else { break }
            index += 1
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if scalar >= 0xD800 && scalar < 0xDC00, index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                {
                    index += 2
                    let low = try parseHex4()
                    if low >= 0xDC00 && low < 0xE000 {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        out.append(contentsOf: "\u{FFFD}".utf8)
                        scalar = low
                    }
                }
                out.append(contentsOf: String(Unicode.Scalar(scalar) ?? "\u{FFFD}").utf8)
            default:
                index -= 1
                throw failure("unknown escape '\\\(Character(Unicode.Scalar(escape)))'")
            }
        }
        throw failure("unterminated string")
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("bad \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt32
            switch b {
            case 0x30...0x39: digit = UInt32(b - 0x30)
            case 0x61...0x66: digit = UInt32(b - 0x61 + 10)
            case 0x41...0x46: digit = UInt32(b - 0x41 + 10)
            default: throw failure("bad \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}
