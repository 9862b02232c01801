import Foundation
import SluiceCore

/// What the catalog (information_schema) knows about a column, used where the TABLE_MAP's optional
/// metadata is missing (binlog_row_metadata=MINIMAL) or cannot say it (MariaDB JSON, UUID, INET6).
public struct ColumnCatalogInfo: Sendable, Hashable {
    public var name: String
    /// information_schema COLUMN_TYPE, e.g. `int(10) unsigned`, `enum('a','b')`.
    public var columnType: String
    /// information_schema DATA_TYPE, e.g. `int`, `varchar`, `uuid`.
    public var dataType: String
    public var isUnsigned: Bool
    public var charset: MySQLCharset?
    public var enumValues: [String]?
    public var setValues: [String]?
    /// MariaDB JSON (a LONGTEXT with a json_valid check).
    public var isJSONText: Bool
    public var nullable: Bool

    public init(
        name: String, columnType: String, dataType: String, isUnsigned: Bool = false, charset: MySQLCharset? = nil,
        enumValues: [String]? = nil, setValues: [String]? = nil, isJSONText: Bool = false, nullable: Bool = true
    ) {
        self.name = name
        self.columnType = columnType
        self.dataType = dataType
        self.isUnsigned = isUnsigned
        self.charset = charset
        self.enumValues = enumValues
        self.setValues = setValues
        self.isJSONText = isJSONText
        self.nullable = nullable
    }
}

/// How to turn one column's bytes in a rows event into a `Value`; computed once per table map.
enum ColumnDecoding: Sendable {
    case integer(width: Int, unsigned: Bool)
    case year
    case float
    case double
    case newDecimal(precision: Int, scale: Int)
    case date
    case time
    case time2(fractionalDigits: Int)
    case datetime
    case datetime2(fractionalDigits: Int)
    case timestamp
    case timestamp2(fractionalDigits: Int)
    /// BIT(n): n bits, big-endian, in (n + 7) / 8 bytes.
    case bit(bitCount: Int)
    case enumeration(packLength: Int, values: [String]?)
    case set(packLength: Int, values: [String]?)
    /// CHAR / VARCHAR: a 1- or 2-byte length, then bytes in the charset.
    case string(lengthBytes: Int, charset: MySQLCharset, padBinaryTo: Int)
    /// BLOB / TEXT: a 1-4 byte length, then bytes (text when the charset is not binary).
    case blob(packLength: Int, charset: MySQLCharset)
    /// MySQL binary JSON.
    case json(packLength: Int)
    /// MariaDB JSON: text in a LONGTEXT.
    case jsonText(packLength: Int)
    case geometry(packLength: Int)
    case vector(packLength: Int)
    /// MariaDB UUID: 16 bytes in MariaDB's record order, a `Value.uuid`.
    case mariaUUID
    /// MariaDB INET6: 16 bytes, a string as the server prints it (`2001:db8::1`, `::ffff:192.0.2.1`).
    case inet6
    /// MariaDB INET4: 4 bytes, a string as the server prints it (`192.0.2.1`).
    case inet4
    case null

    /// The plan for a table-map column, completed with catalog information when there is some.
    init(_ column: BinlogColumn, catalog: ColumnCatalogInfo?) throws {
        let unsigned = column.isUnsigned ?? catalog?.isUnsigned ?? false
        func charset() -> MySQLCharset {
            if let collation = column.collation { return MySQLCharset(collation: collation) }
            return catalog?.charset ?? .unknown
        }
        guard let type = MySQLColumnType(rawValue: column.realType) else {
            throw BinlogFormatError("unsupported column type \(column.realType)")
        }
        switch type {
        case .tiny: self = .integer(width: 1, unsigned: unsigned)
        case .short: self = .integer(width: 2, unsigned: unsigned)
        case .int24: self = .integer(width: 3, unsigned: unsigned)
        case .long: self = .integer(width: 4, unsigned: unsigned)
        case .longlong: self = .integer(width: 8, unsigned: unsigned)
        case .year: self = .year
        case .float: self = .float
        case .double: self = .double
        case .newdecimal: self = .newDecimal(precision: column.meta1, scale: column.meta2)
        case .date, .newdate: self = .date
        case .time: self = .time
        case .time2: self = .time2(fractionalDigits: column.meta1)
        case .datetime: self = .datetime
        case .datetime2: self = .datetime2(fractionalDigits: column.meta1)
        case .timestamp: self = .timestamp
        case .timestamp2: self = .timestamp2(fractionalDigits: column.meta1)
        case .bit: self = .bit(bitCount: column.meta1 * 8 + column.meta2)
        case .enumeration: self = .enumeration(packLength: column.meta1, values: column.enumValues ?? catalog?.enumValues)
        case .set: self = .set(packLength: column.meta1, values: column.setValues ?? catalog?.setValues)
        case .varchar, .varString, .string:
            let maxLength = column.meta1
            // MariaDB's UUID, INET6 and INET4 are fixed binary strings in the binlog; only the catalog names them.
            switch type == .string ? catalog?.dataType.lowercased() : nil {
            case "uuid": self = .mariaUUID
            case "inet6": self = .inet6
            case "inet4": self = .inet4
            default:
                let set = charset()
                self = .string(lengthBytes: maxLength > 255 ? 2 : 1, charset: set,
                               padBinaryTo: type == .string && set == .binary ? maxLength : 0)
            }
        case .tinyBlob, .mediumBlob, .longBlob, .blob:
            if catalog?.isJSONText == true {
                self = .jsonText(packLength: column.meta1)
            } else if column.collation == nil && catalog == nil {
                self = .blob(packLength: column.meta1, charset: .binary)  // BLOB or TEXT cannot be told apart
            } else {
                self = .blob(packLength: column.meta1, charset: charset())
            }
        case .json: self = .json(packLength: column.meta1)
        case .geometry: self = .geometry(packLength: column.meta1)
        case .vector: self = .vector(packLength: column.meta1)
        case .null: self = .null
        case .decimal, .typedArray:
            throw BinlogFormatError("column type \(type) (\(column.realType)) is not supported in row events")
        }
    }

    /// Precision and scale of the exact decimals this plan gives: DECIMAL(p, s), and BIGINT UNSIGNED as
    /// DECIMAL(20, 0) (its values reach 18446744073709551615, beyond Int64); nil for other plans.
    var exactDecimal: (precision: Int, scale: Int)? {
        switch self {
        case .newDecimal(let precision, let scale): return (precision, scale)
        case .integer(8, true): return (20, 0)
        default: return nil
        }
    }

    /// The `Value` kind columns of this plan hold.
    var kind: ValueKind {
        switch self {
        case .integer(let width, let unsigned): return width == 8 && unsigned ? .decimal : .int
        case .year: return .int
        case .float, .double: return .double
        case .newDecimal: return .decimal
        case .date: return .date
        case .time, .time2: return .time
        case .datetime, .datetime2: return .timestamp
        case .timestamp, .timestamp2: return .timestampTZ
        case .bit(let bits): return bits == 1 ? .bool : .bytes
        case .enumeration(_, let values), .set(_, let values): return values == nil ? .int : .string
        case .string(_, let charset, _), .blob(_, let charset): return charset == .binary ? .bytes : .string
        case .json, .jsonText: return .json
        case .geometry, .vector: return .bytes
        case .inet6, .inet4: return .string
        case .mariaUUID: return .uuid
        case .null: return .string
        }
    }
}

/// Converts column bytes to values: the exact encodings of every MySQL/MariaDB column type.
enum ColumnValueDecoder {
    static let digitsPerInteger = 9
    static let bytesForDigits = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4]

    /// Decodes one non-null column value at the cursor.
    @inline(__always)
    static func decode(_ plan: ColumnDecoding, _ cursor: inout ByteReader<[UInt8]>) throws -> Value {
        switch plan {
        case .integer(let width, let unsigned):
            let raw = try cursor.le(width)
            if unsigned {
                // BIGINT UNSIGNED is a decimal column: every value a decimal, whatever its size.
                if width < 8 { return .int(Int64(raw)) }
                return .decimal(ExactDecimal(negative: false, unscaledDigits: String(raw), scale: 0)!)
            }
            let shift = UInt64(64 - width * 8)
            return .int(Int64(bitPattern: raw << shift) >> Int64(shift))
        case .year:
            let raw = try cursor.u8()
            return .int(raw == 0 ? 0 : 1900 + Int64(raw))
        case .float:
            return .double(Double(Float(bitPattern: try cursor.u32())))
        case .double:
            return .double(Double(bitPattern: try cursor.u64()))
        case .newDecimal(let precision, let scale):
            return .decimal(try decimal(&cursor, precision: precision, scale: scale))
        case .date:
            let raw = try cursor.u24()
            return date(year: Int(raw >> 9), month: Int(raw >> 5 & 15), day: Int(raw & 31))
        case .time:
            let raw = try cursor.u24()
            let signed = Int64(Int32(bitPattern: raw << 8) >> 8)
            let magnitude = abs(signed)
            let seconds = magnitude / 10000 * 3600 + magnitude / 100 % 100 * 60 + magnitude % 100
            return .time(TimeOfDay(micros: (signed < 0 ? -1 : 1) * seconds * 1_000_000))
        case .time2(let digits):
            return .time(TimeOfDay(micros: try time2(&cursor, digits: digits)))
        case .datetime:
            let raw = try cursor.u64()
            let datePart = raw / 1_000_000, timePart = raw % 1_000_000
            return datetime(year: Int(datePart / 10000), month: Int(datePart / 100 % 100), day: Int(datePart % 100),
                            hour: Int(timePart / 10000), minute: Int(timePart / 100 % 100), second: Int(timePart % 100),
                            micros: 0)
        case .datetime2(let digits):
            let packed = Int64(try cursor.be(5)) - 0x80_0000_0000
            let fraction = try fractionMicros(&cursor, digits: digits)
            let ymd = packed >> 17, hms = packed & 0x1FFFF
            let yearMonth = ymd >> 5
            return datetime(year: Int(yearMonth / 13), month: Int(yearMonth % 13), day: Int(ymd & 31),
                            hour: Int(hms >> 12), minute: Int(hms >> 6 & 63), second: Int(hms & 63), micros: fraction)
        case .timestamp:
            let seconds = Int64(try cursor.u32())
            if seconds == 0 { return .null }  // the zero timestamp '0000-00-00 00:00:00'
            return .timestamp(Timestamp(micros: seconds * 1_000_000, isUTC: true))
        case .timestamp2(let digits):
            let seconds = Int64(try cursor.be(4))
            let fraction = try fractionMicros(&cursor, digits: digits)
            if seconds == 0 && fraction == 0 { return .null }
            return .timestamp(Timestamp(micros: seconds * 1_000_000 + fraction, isUTC: true))
        case .bit(let bits):
            let length = (bits + 7) / 8
            let bytes = try cursor.array(length)
            if bits == 1 { return .bool(bytes[0] & 1 == 1) }
            return .bytes(bytes)
        case .enumeration(let packLength, let values):
            let index = Int(try cursor.le(packLength))
            guard let values else { return .int(Int64(index)) }
            if index == 0 { return .string("") }  // the error value '' of an invalid insert
            guard index <= values.count else {
                throw BinlogFormatError("ENUM index \(index) is beyond the column's \(values.count) values")
            }
            return .string(values[index - 1])
        case .set(let packLength, let values):
            let bits = try cursor.le(packLength)
            guard let values else { return .int(Int64(bitPattern: bits)) }
            var members: [String] = []
            for (i, value) in values.enumerated() where i < 64 && bits & (1 << UInt64(i)) != 0 { members.append(value) }
            return .string(members.joined(separator: ","))
        case .string(let lengthBytes, let charset, let padTo):
            let length = Int(try cursor.le(lengthBytes))
            try cursor.need(length)
            defer { cursor.offset += length }
            if padTo > length {
                var bytes = Array(cursor.bytes[cursor.offset..<cursor.offset + length])
                bytes.append(contentsOf: repeatElement(0, count: padTo - length))
                return .bytes(bytes)
            }
            return text(cursor.bytes[cursor.offset..<cursor.offset + length], charset)
        case .blob(let packLength, let charset):
            let length = Int(try cursor.le(packLength))
            try cursor.need(length)
            defer { cursor.offset += length }
            return text(cursor.bytes[cursor.offset..<cursor.offset + length], charset)
        case .json(let packLength):
            let length = Int(try cursor.le(packLength))
            try cursor.need(length)
            defer { cursor.offset += length }
            if length == 0 { return .json("null") }
            return .json(try MySQLJSON.text(cursor.bytes, from: cursor.offset, length: length))
        case .jsonText(let packLength):
            let length = Int(try cursor.le(packLength))
            return .json(try cursor.utf8(length))
        case .geometry(let packLength), .vector(let packLength):
            let length = Int(try cursor.le(packLength))
            return .bytes(try cursor.array(length))
        case .mariaUUID:
            // 10.10+ keep time-based UUIDs in a segment-swapped record order, which the server converts only
            // when it prints them.
            return uuid(mariaRecord: try fixedBinary(&cursor, length: 16))
        case .inet6:
            return .string(inet6Text(try fixedBinary(&cursor, length: 16)))
        case .inet4:
            return .string(inet4Text(try fixedBinary(&cursor, length: 4)))
        case .null:
            return .null
        }
    }

    /// Writes one non-null column value at the cursor into the open row of `events`: integers and ASCII text
    /// directly, everything else through `decode`.
    @inline(__always)
    static func encode(_ plan: ColumnDecoding, _ cursor: inout ByteReader<[UInt8]>, into events: inout EncodedChanges) throws {
        let length: Int
        let charset: MySQLCharset
        switch plan {
        case .integer(let width, let unsigned):
            let raw = try cursor.le(width)
            if !unsigned {
                let shift = UInt64(64 - width * 8)
                return events.writeInt(Int64(bitPattern: raw << shift) >> Int64(shift))
            } else if width < 8 {
                return events.writeInt(Int64(raw))
            }
            return events.writeValue(.decimal(ExactDecimal(negative: false, unscaledDigits: String(raw), scale: 0)!))
        case .string(let lengthBytes, let textCharset, let padTo):
            let start = cursor.offset
            length = Int(try cursor.le(lengthBytes))
            guard padTo <= length else {
                cursor.offset = start
                return events.writeValue(try decode(plan, &cursor))
            }
            charset = textCharset
        case .blob(let packLength, let textCharset):
            length = Int(try cursor.le(packLength))
            charset = textCharset
        case .newDecimal(let precision, let scale):
            return try decimalDigits(&cursor, precision: precision, scale: scale) { negative, digits in
                events.writeDecimal(negative: negative, unscaledDigits: digits, scale: scale)
            }
        case .jsonText(let packLength):
            let length = Int(try cursor.le(packLength))
            try cursor.need(length)
            defer { cursor.offset += length }
            return cursor.bytes.withUnsafeBufferPointer { all in
                events.writeText(UnsafeBufferPointer(rebasing: all[cursor.offset..<cursor.offset + length]), json: true)
            }
        default:
            return events.writeValue(try decode(plan, &cursor))
        }
        try cursor.need(length)
        defer { cursor.offset += length }
        let range = cursor.offset..<cursor.offset + length
        switch charset {
        case .utf8, .ascii, .unknown, .latin1:
            let written = cursor.bytes.withUnsafeBufferPointer { all in
                let text = UnsafeBufferPointer(rebasing: all[range])
                guard text.allSatisfy({ $0 < 0x80 }) else { return false }
                events.writeText(text)
                return true
            }
            if !written { events.writeValue(Self.text(cursor.bytes[range], charset)) }
        default:
            events.writeValue(Self.text(cursor.bytes[range], charset))
        }
    }

    static func text(_ bytes: ArraySlice<UInt8>, _ charset: MySQLCharset) -> Value {
        if charset == .binary { return .bytes(Array(bytes)) }
        if let string = charset.decode(bytes) { return .string(string) }
        return .bytes(Array(bytes))
    }

    /// NEWDECIMAL: groups of 9 digits in 4 bytes, big-endian, leading/trailing partial groups in fewer bytes;
    /// the first bit is the (inverted) sign, and a negative value has every byte inverted.
    static func decimal(_ cursor: inout ByteReader<[UInt8]>, precision: Int, scale: Int) throws -> ExactDecimal {
        try decimalDigits(&cursor, precision: precision, scale: scale) { negative, digits in
            guard let value = ExactDecimal(negative: negative, unscaledDigits: String(decoding: digits, as: UTF8.self),
                                           scale: scale) else {
                throw BinlogFormatError("invalid DECIMAL(\(precision),\(scale)) value")
            }
            return value
        }
    }

    /// Reads a NEWDECIMAL and calls `body` with its sign and unscaled digits (ASCII, without leading zeros, "0" for
    /// zero) in a buffer on the stack.
    static func decimalDigits<Result>(
        _ cursor: inout ByteReader<[UInt8]>, precision: Int, scale: Int,
        _ body: (_ negative: Bool, _ digits: UnsafeBufferPointer<UInt8>) throws -> Result
    ) throws -> Result {
        let integerDigits = precision - scale
        let wholeIntegerGroups = integerDigits / digitsPerInteger, leadingDigits = integerDigits % digitsPerInteger
        let wholeFractionGroups = scale / digitsPerInteger, trailingDigits = scale % digitsPerInteger
        let size = wholeIntegerGroups * 4 + bytesForDigits[leadingDigits] + wholeFractionGroups * 4
            + bytesForDigits[trailingDigits]
        try cursor.need(size)
        let start = cursor.offset
        cursor.offset += size
        let negative = cursor.bytes[start] & 0x80 == 0
        let mask: UInt8 = negative ? 0xFF : 0x00
        var position = start
        func group(_ count: Int) -> UInt32 {
            var value: UInt32 = 0
            for i in 0..<count {
                var byte = cursor.bytes[position + i] ^ mask
                if position + i == start { byte ^= 0x80 }
                value = value << 8 | UInt32(byte)
            }
            position += count
            return value
        }
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: precision + 9) { digits in
            var count = 0
            /// Appends `value` as `width` digits; before the first nonzero digit, without its leading zeros.
            func append(_ value: UInt32, width: Int) {
                var width = width
                if count == 0 {
                    var significant = 0, v = value
                    while v > 0 {
                        significant += 1
                        v /= 10
                    }
                    width = min(width, significant)
                }
                var v = value
                for i in stride(from: count + width - 1, through: count, by: -1) {
                    digits[i] = UInt8(48 + v % 10)
                    v /= 10
                }
                count += width
            }
            if leadingDigits > 0 { append(group(bytesForDigits[leadingDigits]), width: leadingDigits) }
            for _ in 0..<wholeIntegerGroups { append(group(4), width: 9) }
            for _ in 0..<wholeFractionGroups { append(group(4), width: 9) }
            if trailingDigits > 0 { append(group(bytesForDigits[trailingDigits]), width: trailingDigits) }
            if count == 0 {
                digits[0] = 48
                count = 1
            }
            return try body(negative, UnsafeBufferPointer(rebasing: digits[..<count]))
        }
    }

    /// The fractional seconds of TIME2/DATETIME2/TIMESTAMP2 in microseconds (big-endian, 0-3 bytes).
    @inline(__always)
    static func fractionMicros(_ cursor: inout ByteReader<[UInt8]>, digits: Int) throws -> Int64 {
        switch digits {
        case 1, 2: return Int64(try cursor.u8()) * 10_000
        case 3, 4: return Int64(try cursor.be(2)) * 100
        case 5, 6: return Int64(try cursor.be(3))
        default: return 0
        }
    }

    /// TIME2: 3 bytes big-endian (sign bit offset) of hours/minutes/seconds, then the fraction; negative
    /// values borrow from the integer part when they have a fraction.
    static func time2(_ cursor: inout ByteReader<[UInt8]>, digits: Int) throws -> Int64 {
        var packed: Int64
        switch digits {
        case 1, 2:
            var integer = Int64(try cursor.be(3)) - 0x80_0000
            var fraction = Int64(try cursor.u8())
            if integer < 0 && fraction != 0 {
                integer += 1
                fraction -= 0x100
            }
            packed = integer << 24 + fraction * 10_000
        case 3, 4:
            var integer = Int64(try cursor.be(3)) - 0x80_0000
            var fraction = Int64(try cursor.be(2))
            if integer < 0 && fraction != 0 {
                integer += 1
                fraction -= 0x10000
            }
            packed = integer << 24 + fraction * 100
        case 5, 6:
            packed = Int64(try cursor.be(6)) - 0x8000_0000_0000
        default:
            packed = (Int64(try cursor.be(3)) - 0x80_0000) << 24
        }
        let negative = packed < 0
        if negative { packed = -packed }
        let hms = packed >> 24, fraction = packed & 0xFF_FFFF
        let hours = hms >> 12 & 0x3FF, minutes = hms >> 6 & 63, seconds = hms & 63
        let micros = (hours * 3600 + minutes * 60 + seconds) * 1_000_000 + fraction
        return negative ? -micros : micros
    }


    /// A DATE; zero dates and dates with a zero month or day (which MySQL allows) become null.
    static func date(year: Int, month: Int, day: Int) -> Value {
        guard month >= 1, month <= 12, day >= 1, day <= 31 else { return .null }
        return .date(Int32(TemporalText.days(year: Int64(year), month: month, day: day)))
    }

    /// A DATETIME as wall-clock microseconds; zero dates become null.
    static func datetime(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, micros: Int64) -> Value {
        guard month >= 1, month <= 12, day >= 1, day <= 31 else { return .null }
        let days = TemporalText.days(year: Int64(year), month: month, day: day)
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        return .timestamp(Timestamp(micros: seconds * 1_000_000 + micros, isUTC: false))
    }

    /// A fixed binary value (MariaDB's UUID, INET6, INET4) as the binlog sends it: like BINARY(n), a 1-byte
    /// length and the bytes without their trailing zero bytes, which this puts back.
    static func fixedBinary(_ cursor: inout ByteReader<[UInt8]>, length: Int) throws -> [UInt8] {
        let stored = Int(try cursor.u8())
        guard stored <= length else {
            throw BinlogFormatError("a \(length)-byte fixed binary value claims \(stored) bytes")
        }
        return try cursor.array(stored) + repeatElement(0, count: length - stored)
    }

    /// An INET4 address as MariaDB prints it: four decimal bytes.
    static func inet4Text(_ bytes: [UInt8]) -> String {
        bytes.map { String($0) }.joined(separator: ".")
    }

    /// An INET6 address as MariaDB prints it (RFC 5952): hex groups without leading zeros, the first longest run of
    /// two or more zero groups as `::`, and an IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible (`::a.b.c.d`,
    /// six zero groups then a non-zero address) address with its last four bytes in decimal.
    static func inet6Text(_ bytes: [UInt8]) -> String {
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        var runStart = -1, runLength = 0, start = 0
        while start < 8 {
            guard groups[start] == 0 else { start += 1; continue }
            var end = start
            while end < 8 && groups[end] == 0 { end += 1 }
            if end - start > runLength { (runStart, runLength) = (start, end - start) }
            start = end
        }
        if runStart == 0 && (runLength == 6 || (runLength == 5 && groups[5] == 0xFFFF)) {
            return (runLength == 5 ? "::ffff:" : "::") + inet4Text(Array(bytes[12..<16]))
        }
        guard runLength >= 2 else { return groups.map { String($0, radix: 16) }.joined(separator: ":") }
        let head = groups[..<runStart].map { String($0, radix: 16) }.joined(separator: ":")
        let tail = groups[(runStart + runLength)...].map { String($0, radix: 16) }.joined(separator: ":")
        return head + "::" + tail
    }

    /// MariaDB keeps a UUID `llllllll-mmmm-Vhhh-vsss-nnnnnnnnnnnn` of version 1-5 and the RFC variant in its
    /// record, and so in the binlog, with the five groups right to left (`nnnnnnnnnnnn vsss Vhhh mmmm llllllll`),
    /// so that time-based UUIDs index in time order; other UUIDs are kept in text order (10.10.6+, 10.11.5+).
    static func uuid(mariaRecord r: [UInt8]) -> Value {
        let swapped = r[6] & 0x80 != 0 && r[8] > 0 && r[8] < 0x60
        let b = swapped ? Array(r[12..<16] + r[10..<12] + r[8..<10] + r[6..<8] + r[0..<6]) : r
        let tuple = (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
        return .uuid(UUID(uuid: tuple))
    }
}
