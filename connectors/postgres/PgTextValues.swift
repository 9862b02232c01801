import Foundation
import SluiceCore
import SluicePostgresClient

/// How a PostgreSQL type's text form becomes a `Value` (domains already resolved to their base type).
indirect enum PgValueType: Sendable, Hashable {
    case bool, int, float4, float8, numeric, money, text, bytea, date, time, timetz, timestamp, timestamptz
    case interval, uuid, json
    /// An array; `delimiter` is the element type's `typdelim` (`,` for all but `box`).
    case array(element: PgValueType, delimiter: UInt8)
    /// A composite (row) type, rendered as a JSON object.
    case composite([CompositeField])
    /// Kept as its text (enums, inet/cidr/macaddr, bit/varbit, ranges, anything unknown).
    case other

    /// The `Value` kind a column of this type holds.
    var kind: ValueKind {
        switch self {
        case .bool: return .bool
        case .int: return .int
        case .float4, .float8: return .double
        case .numeric, .money: return .decimal
        case .text, .other: return .string
        case .bytea: return .bytes
        case .date: return .date
        case .time: return .time
        case .timetz: return .timeTZ
        case .timestamp: return .timestamp
        case .timestamptz: return .timestampTZ
        case .interval: return .interval
        case .uuid: return .uuid
        case .json, .composite: return .json
        case .array: return .array
        }
    }

    /// For arrays: the kind of the innermost elements.
    var elementKind: ValueKind? {
        if case .array(let element, _) = self { return element.elementKind ?? element.kind }
        return nil
    }

    /// The built-in scalar types by OID.
    static func builtin(oid: UInt32) -> PgValueType? {
        switch oid {
        case 16: return .bool
        case 20, 21, 23, 26, 28: return .int
        case 700: return .float4
        case 701: return .float8
        case 1700: return .numeric
        case 790: return .money
        case 18, 19, 25, 1042, 1043: return .text
        case 17: return .bytea
        case 1082: return .date
        case 1083: return .time
        case 1266: return .timetz
        case 1114: return .timestamp
        case 1184: return .timestamptz
        case 1186: return .interval
        case 2950: return .uuid
        case 114, 3802: return .json
        default: return nil
        }
    }
}

/// A field of a composite type.
struct CompositeField: Sendable, Hashable {
    var name: String
    var type: PgValueType
}

/// A text value that did not parse as its type.
struct PgValueParseError: Error, Sendable, CustomStringConvertible {
    var type: PgValueType
    var description: String { "a value of kind \(type.kind.rawValue) is not in the expected text format" }
}

/// Parses PostgreSQL's text output (with the session settings of `PostgresConnection.Endpoint`:
/// TimeZone UTC, DateStyle ISO, IntervalStyle iso_8601, bytea hex, lc_monetary C) into exact values.
enum PgTextValue {
    static func parse(_ text: UnsafeBufferPointer<UInt8>, as type: PgValueType) throws -> Value {
        let value: Value?
        switch type {
        case .bool: value = text.count == 1 ? .bool(text[0] == UInt8(ascii: "t")) : nil
        case .int: value = parseInt(text[...]).map(Value.int)
        case .float4: value = Float(string(text)).map { .double(Double($0)) }
        case .float8: value = Double(string(text)).map(Value.double)
        case .numeric: value = parseDecimal(text[...]).map(Value.decimal)
        case .money: value = parseMoney(text).map(Value.decimal)
        case .text, .other: value = .string(string(text))
        case .bytea: value = parseByteaHex(text).map(Value.bytes)
        case .date: value = parseDate(text[...]).map(Value.date)
        case .time: value = parseTime(text[...]).map { .time(TimeOfDay(micros: $0.micros)) }
        case .timetz:
            value = parseTime(text[...]).flatMap { parsed in
                parsed.offset.map { .time(TimeOfDay(micros: parsed.micros, utcOffsetSeconds: $0)) }
            }
        case .timestamp: value = parseTimestamp(text[...], utc: false).map(Value.timestamp)
        case .timestamptz: value = parseTimestamp(text[...], utc: true).map(Value.timestamp)
        case .interval: value = parseInterval(text[...]).map(Value.interval)
        case .uuid: value = parseUUID(text).map(Value.uuid)
        case .json: value = .json(string(text))
        case .array(let element, let delimiter):
            var parser = ArrayLiteralParser(text: text, element: element, delimiter: delimiter)
            value = try parser.parse()
        case .composite(let fields): value = try parseComposite(text, fields: fields).map(Value.json)
        }
        guard let value else { throw PgValueParseError(type: type) }
        return value
    }

    static func parse(_ bytes: ArraySlice<UInt8>, as type: PgValueType) throws -> Value {
        try bytes.withUnsafeBufferPointer { try parse($0, as: type) }
    }

    @inline(__always)
    static func string(_ text: UnsafeBufferPointer<UInt8>) -> String { String(decoding: text, as: UTF8.self) }

    // MARK: Numbers

    static func parseInt(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> Int64? {
        var index = text.startIndex
        guard index < text.endIndex else { return nil }
        var negative = false
        if text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+") {
            negative = text[index] == UInt8(ascii: "-")
            index += 1
        }
        guard index < text.endIndex else { return nil }
        var value: Int64 = 0
        while index < text.endIndex {
            let digit = text[index] &- 48
            guard digit < 10 else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times.subtractingReportingOverflow(Int64(digit))
                : times.addingReportingOverflow(Int64(digit))
            guard !o1, !o2 else { return nil }
            value = next
            index += 1
        }
        return value
    }

    /// `-123.4500`, `NaN`, `Infinity`, `-Infinity` (as numeric prints them), keeping the scale.
    static func parseDecimal(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> ExactDecimal? {
        guard let first = text.first else { return nil }
        if first == UInt8(ascii: "N") { return equals(text, "NaN") ? ExactDecimal(special: .nan) : nil }
        if first == UInt8(ascii: "I") { return equals(text, "Infinity") ? ExactDecimal(special: .infinity) : nil }
        if equals(text, "-Infinity") { return ExactDecimal(special: .negativeInfinity) }
        var index = text.startIndex
        var negative = false
        if first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            index += 1
        }
        var scale = 0
        var seenPoint = false
        var digitCount = 0
        var scan = index
        while scan < text.endIndex {
            let c = text[scan]
            if c == UInt8(ascii: ".") {
                if seenPoint { return nil }
                seenPoint = true
            } else if c &- 48 < 10 {
                digitCount += 1
                if seenPoint { scale += 1 }
            } else {
                // Exponent forms do not occur in numeric output; let the general parser handle them.
                return ExactDecimal(string(UnsafeBufferPointer(rebasing: text)))
            }
            scan += 1
        }
        guard digitCount > 0 else { return nil }
        let digits = String(unsafeUninitializedCapacity: digitCount) { buffer in
            var out = 0
            for i in index..<text.endIndex where text[i] != UInt8(ascii: ".") {
                buffer[out] = text[i]
                out += 1
            }
            return out
        }
        return ExactDecimal(negative: negative, unscaledDigits: digits, scale: scale)
    }

    /// `$1,234.56`, `-$1,234.56` (lc_monetary C).
    static func parseMoney(_ text: UnsafeBufferPointer<UInt8>) -> ExactDecimal? {
        var negative = false
        var digits: [UInt8] = []
        var scale = 0
        var seenPoint = false
        for c in text {
            switch c {
            case UInt8(ascii: "-"), UInt8(ascii: "("): negative = true
            case UInt8(ascii: "."): seenPoint = true
            case 48...57:
                digits.append(c)
                if seenPoint { scale += 1 }
            default: continue
            }
        }
        guard !digits.isEmpty else { return nil }
        return ExactDecimal(negative: negative, unscaledDigits: String(decoding: digits, as: UTF8.self), scale: scale)
    }

    // MARK: Bytes and UUIDs

    static func hexNibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }

    /// `\x0a1b…`.
    static func parseByteaHex(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard text.count >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x"), text.count % 2 == 0 else {
            return nil
        }
        var out = [UInt8](repeating: 0, count: (text.count - 2) / 2)
        var i = 2
        var o = 0
        while i < text.count {
            guard let high = hexNibble(text[i]), let low = hexNibble(text[i + 1]) else { return nil }
            out[o] = high << 4 | low
            o += 1
            i += 2
        }
        return out
    }

    static func parseUUID(_ text: UnsafeBufferPointer<UInt8>) -> UUID? {
        var bytes = [UInt8]()
        bytes.reserveCapacity(16)
        var high: UInt8?
        for c in text where c != UInt8(ascii: "-") && c != UInt8(ascii: "{") && c != UInt8(ascii: "}") {
            guard let nibble = hexNibble(c) else { return nil }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        guard bytes.count == 16, high == nil else { return nil }
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                           bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    // MARK: Dates and times

    static func equals(_ text: Slice<UnsafeBufferPointer<UInt8>>, _ literal: StaticString) -> Bool {
        guard text.count == literal.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        return text.elementsEqual(expected)
    }


    /// Reads digits at `index`; returns the number and advances.
    private static func digits(_ text: Slice<UnsafeBufferPointer<UInt8>>, _ index: inout Int) -> Int64? {
        var value: Int64 = 0
        let start = index
        while index < text.endIndex, text[index] &- 48 < 10, index - start < 18 {
            value = value * 10 + Int64(text[index] - 48)
            index += 1
        }
        return index > start ? value : nil
    }

    @inline(__always)
    private static func expect(_ text: Slice<UnsafeBufferPointer<UInt8>>, _ index: inout Int, _ c: Unicode.Scalar) -> Bool {
        guard index < text.endIndex, text[index] == UInt8(ascii: c) else { return false }
        index += 1
        return true
    }

    /// Parses `YYYY-MM-DD` at `index`; returns days since epoch (without the BC adjustment).
    private static func datePart(_ text: Slice<UnsafeBufferPointer<UInt8>>, _ index: inout Int)
        -> (year: Int64, month: Int64, day: Int64)?
    {
        guard let year = digits(text, &index), expect(text, &index, "-"), let month = digits(text, &index),
              expect(text, &index, "-"), let day = digits(text, &index) else { return nil }
        return (year, month, day)
    }

    private static func hasBCSuffix(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        text.count >= 3 && text[text.endIndex - 3] == UInt8(ascii: " ") && text[text.endIndex - 2] == UInt8(ascii: "B")
            && text[text.endIndex - 1] == UInt8(ascii: "C")
    }

    static func parseDate(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> Int32? {
        if equals(text, "infinity") { return Value.dateInfinity }
        if equals(text, "-infinity") { return Value.dateNegativeInfinity }
        let bc = hasBCSuffix(text)
        let body = bc ? text[text.startIndex..<(text.endIndex - 3)] : text
        var index = body.startIndex
        guard let parts = datePart(body, &index), index == body.endIndex else { return nil }
        let year = bc ? 1 - parts.year : parts.year
        return Int32(exactly: TemporalText.days(year: year, month: Int(parts.month), day: Int(parts.day)))
    }

    /// `HH:MM:SS[.ffffff]` at `index` → microseconds.
    private static func timePart(_ text: Slice<UnsafeBufferPointer<UInt8>>, _ index: inout Int) -> Int64? {
        guard let hour = digits(text, &index), expect(text, &index, ":"), let minute = digits(text, &index),
              expect(text, &index, ":"), let second = digits(text, &index) else { return nil }
        var micros = ((hour * 60 + minute) * 60 + second) * 1_000_000
        micros += TemporalText.fractionMicros(text, &index)
        return micros
    }

    /// `+HH[:MM[:SS]]` or `-…` at `index` → seconds east of UTC.
    private static func offsetPart(_ text: Slice<UnsafeBufferPointer<UInt8>>, _ index: inout Int) -> Int32? {
        guard index < text.endIndex else { return nil }
        let sign: Int64
        switch text[index] {
        case UInt8(ascii: "+"): sign = 1
        case UInt8(ascii: "-"): sign = -1
        default: return nil
        }
        index += 1
        guard let hours = digits(text, &index) else { return nil }
        var seconds = hours * 3600
        if expect(text, &index, ":") {
            guard let minutes = digits(text, &index) else { return nil }
            seconds += minutes * 60
            if expect(text, &index, ":") {
                guard let secs = digits(text, &index) else { return nil }
                seconds += secs
            }
        }
        return Int32(sign * seconds)
    }

    static func parseTime(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> (micros: Int64, offset: Int32?)? {
        var index = text.startIndex
        guard let micros = timePart(text, &index) else { return nil }
        if index == text.endIndex { return (micros, nil) }
        guard let offset = offsetPart(text, &index), index == text.endIndex else { return nil }
        return (micros, offset)
    }

    static func parseTimestamp(_ text: Slice<UnsafeBufferPointer<UInt8>>, utc: Bool) -> Timestamp? {
        if equals(text, "infinity") { return .infinity(isUTC: utc) }
        if equals(text, "-infinity") { return .negativeInfinity(isUTC: utc) }
        let bc = hasBCSuffix(text)
        let body = bc ? text[text.startIndex..<(text.endIndex - 3)] : text
        var index = body.startIndex
        guard let date = datePart(body, &index), expect(body, &index, " "), let time = timePart(body, &index) else {
            return nil
        }
        var offset: Int32 = 0
        if index < body.endIndex {
            guard let parsed = offsetPart(body, &index), index == body.endIndex else { return nil }
            offset = parsed
        }
        let year = bc ? 1 - date.year : date.year
        let days = TemporalText.days(year: year, month: Int(date.month), day: Int(date.day))
        // The last microseconds of PostgreSQL's range (year 294276) do not fit µs since 1970 in 64 bits.
        let (dayMicros, o1) = days.multipliedReportingOverflow(by: 86_400_000_000)
        let (withTime, o2) = dayMicros.addingReportingOverflow(time - Int64(offset) * 1_000_000)
        guard !o1, !o2, withTime != .max, withTime != .min else { return nil }
        return Timestamp(micros: withTime, isUTC: utc)
    }

    /// ISO 8601 with designators as IntervalStyle iso_8601 prints it: `P1Y2M3DT4H5M6.5S`, `P-1Y-2M3DT-4H`, `PT0S`.
    static func parseInterval(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> Interval? {
        var index = text.startIndex
        guard expect(text, &index, "P") else { return nil }
        var months: Int64 = 0, days: Int64 = 0, micros: Int64 = 0
        var inTime = false
        while index < text.endIndex {
            if text[index] == UInt8(ascii: "T") {
                inTime = true
                index += 1
                continue
            }
            var negative = false
            if text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+") {
                negative = text[index] == UInt8(ascii: "-")
                index += 1
            }
            guard let whole = digits(text, &index) else { return nil }
            let fraction = TemporalText.fractionMicros(text, &index)
            guard index < text.endIndex else { return nil }
            let sign: Int64 = negative ? -1 : 1
            switch (text[index], inTime) {
            case (UInt8(ascii: "Y"), false): months += sign * whole * 12
            case (UInt8(ascii: "M"), false): months += sign * whole
            case (UInt8(ascii: "W"), false): days += sign * whole * 7
            case (UInt8(ascii: "D"), false): days += sign * whole
            case (UInt8(ascii: "H"), true): micros += sign * whole * 3_600_000_000
            case (UInt8(ascii: "M"), true): micros += sign * whole * 60_000_000
            case (UInt8(ascii: "S"), true): micros += sign * (whole * 1_000_000 + fraction)
            default: return nil
            }
            index += 1
        }
        guard let m = Int32(exactly: months), let d = Int32(exactly: days) else { return nil }
        return Interval(months: m, days: d, micros: micros)
    }

    // MARK: Composites

    /// `(1,"a b",)` → `{"f1":1,"f2":"a b","f3":null}`.
    static func parseComposite(_ text: UnsafeBufferPointer<UInt8>, fields: [CompositeField]) throws -> String? {
        guard text.count >= 2, text[0] == UInt8(ascii: "("), text[text.count - 1] == UInt8(ascii: ")") else {
            return nil
        }
        var items: [[UInt8]?] = []
        var index = 1
        let end = text.count - 1
        var current: [UInt8] = []
        var quotedOrNonEmpty = false
        while index <= end {
            if index == end || text[index] == UInt8(ascii: ",") {
                items.append(quotedOrNonEmpty ? current : nil)
                current.removeAll(keepingCapacity: true)
                quotedOrNonEmpty = false
                index += 1
                continue
            }
            let c = text[index]
            if c == UInt8(ascii: "\"") {
                quotedOrNonEmpty = true
                index += 1
                while index < end {
                    let q = text[index]
                    if q == UInt8(ascii: "\\"), index + 1 < end {
                        current.append(text[index + 1])
                        index += 2
                    } else if q == UInt8(ascii: "\"") {
                        if index + 1 < end, text[index + 1] == UInt8(ascii: "\"") {
                            current.append(q)
                            index += 2
                        } else {
                            index += 1
                            break
                        }
                    } else {
                        current.append(q)
                        index += 1
                    }
                }
            } else {
                quotedOrNonEmpty = true
                current.append(c)
                index += 1
            }
        }
        guard items.count == fields.count else { return nil }
        var json = "{"
        for (i, (field, item)) in zip(fields, items).enumerated() {
            if i > 0 { json += "," }
            json += JSONRendering.render(.string(field.name)) + ":"
            if let item {
                let value = try item.withUnsafeBufferPointer { try parse($0, as: field.type) }
                if case .json(let raw) = value { json += raw } else { json += JSONRendering.render(value) }
            } else {
                json += "null"
            }
        }
        return json + "}"
    }
}

/// Parses a PostgreSQL array literal (`{1,2,NULL}`, `{{"a b","c\"d"},{e,f}}`, `[0:1]={1,2}`).
struct ArrayLiteralParser {
    let text: UnsafeBufferPointer<UInt8>
    let element: PgValueType
    let delimiter: UInt8
    private var index = 0
    private var scratch: [UInt8] = []

    init(text: UnsafeBufferPointer<UInt8>, element: PgValueType, delimiter: UInt8) {
        self.text = text
        self.element = element
        self.delimiter = delimiter
    }

    mutating func parse() throws -> Value? {
        if index < text.count, text[index] == UInt8(ascii: "[") {
            // Explicit dimensions: skip to the `=`.
            while index < text.count, text[index] != UInt8(ascii: "=") { index += 1 }
            index += 1
        }
        guard let value = try parseLevel(), index == text.count else { return nil }
        return value
    }

    private mutating func skipSpaces() {
        while index < text.count, text[index] == UInt8(ascii: " ") { index += 1 }
    }

    private mutating func parseLevel() throws -> Value? {
        skipSpaces()
        guard index < text.count, text[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        var items: [Value] = []
        skipSpaces()
        if index < text.count, text[index] == UInt8(ascii: "}") {
            index += 1
            return .array(items)
        }
        while index < text.count {
            skipSpaces()
            guard index < text.count else { return nil }
            if text[index] == UInt8(ascii: "{") {
                guard let nested = try parseLevel() else { return nil }
                items.append(nested)
            } else if text[index] == UInt8(ascii: "\"") {
                index += 1
                scratch.removeAll(keepingCapacity: true)
                while index < text.count, text[index] != UInt8(ascii: "\"") {
                    if text[index] == UInt8(ascii: "\\") { index += 1 }
                    guard index < text.count else { return nil }
                    scratch.append(text[index])
                    index += 1
                }
                index += 1
                let elementType = element
                items.append(try scratch.withUnsafeBufferPointer { try PgTextValue.parse($0, as: elementType) })
            } else {
                let start = index
                while index < text.count, text[index] != delimiter, text[index] != UInt8(ascii: "}") { index += 1 }
                var end = index
                while end > start, text[end - 1] == UInt8(ascii: " ") { end -= 1 }
                let raw = UnsafeBufferPointer(rebasing: text[start..<end])
                if raw.count == 4, raw.elementsEqual("NULL".utf8) || raw.elementsEqual("null".utf8) {
                    items.append(.null)
                } else {
                    items.append(try PgTextValue.parse(raw, as: element))
                }
            }
            skipSpaces()
            guard index < text.count else { return nil }
            if text[index] == delimiter {
                index += 1
            } else if text[index] == UInt8(ascii: "}") {
                index += 1
                return .array(items)
            } else {
                return nil
            }
        }
        return nil
    }
}
