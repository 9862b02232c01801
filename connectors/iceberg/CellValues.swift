import Foundation
import SluiceAvro
import SluiceCore

/// A value converted to its Iceberg column type: what goes into Parquet and into column statistics.
public indirect enum Cell: Sendable, Hashable {
    case null
    case bool(Bool)
    /// int, long, date (days), time, timestamp, timestamptz (µs).
    case long(Int64)
    case double(Double)
    /// The unscaled value at the column's scale.
    case decimal(Int128)
    case string(String)
    /// binary, fixed, uuid (16 bytes, RFC 4122 order).
    case bytes([UInt8])
    case list([Cell])

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// Big-endian two's-complement helpers for Iceberg decimals.
public enum DecimalBytes {
    /// The fewest bytes that hold any unscaled value of `precision` digits (Iceberg's fixed size for decimals).
    public static func minimumBytes(precision: Int) -> Int {
        var bytes = 1
        while bytes < 17 {
            // The largest magnitude of a signed bytes*8-bit integer, compared in digits.
            let maxDigits = Int(floor(Double(8 * bytes - 1) * log10(2.0)))
            if maxDigits >= precision { return bytes }
            bytes += 1
        }
        return 16
    }

    /// The shortest big-endian two's-complement bytes of `value` (Iceberg's single-value form of a decimal).
    public static func minimal(_ value: Int128) -> [UInt8] {
        var bytes: [UInt8] = (0..<16).map { UInt8(truncatingIfNeeded: value >> (8 * (15 - $0))) }
        while bytes.count > 1 {
            let first = bytes[0]
            let nextNegative = bytes[1] & 0x80 != 0
            if (first == 0 && !nextNegative) || (first == 0xFF && nextNegative) {
                bytes.removeFirst()
            } else {
                break
            }
        }
        return bytes
    }
}

/// Converts source `Value`s to `Cell`s of the table's column types.
enum CellConversion {
    struct Mismatch: Error {
        var expected: IcebergType
        var got: String
    }

    static func cell(_ value: Value, as type: IcebergType) throws -> Cell {
        switch value {
        case .null, .unchanged: return .null
        default: break
        }
        switch type {
        case .boolean:
            if case .bool(let b) = value { return .bool(b) }
        case .int, .long:
            switch value {
            case .int(let i): return .long(i)
            case .bool(let b): return .long(b ? 1 : 0)
            default: break
            }
        case .float, .double:
            switch value {
            case .double(let d): return .double(d)
            case .int(let i): return .double(Double(i))
            default: break
            }
        case .decimal(_, let scale):
            switch value {
            case .decimal(let decimal):
                // NaN/±Infinity, or more than 38 digits: no Iceberg decimal holds it (never a silent null).
                if decimal.special == nil, let unscaled = unscaled(decimal, scale: scale) { return .decimal(unscaled) }
            case .int(let i):
                let decimal = ExactDecimal(negative: i < 0, unscaledDigits: String(i.magnitude), scale: 0)!
                if let unscaled = unscaled(decimal, scale: scale) { return .decimal(unscaled) }
            default: break
            }
        case .date:
            if case .date(let d) = value { return .long(Int64(d)) }
            if case .timestamp(let t) = value { return .long(floorDivide(t.micros, 86_400_000_000)) }
        case .time:
            if case .time(let t) = value { return .long(t.micros) }
        case .timestamp, .timestamptz:
            switch value {
            case .timestamp(let t): return .long(t.micros)
            case .date(let d): return .long(Int64(d) * 86_400_000_000)
            default: break
            }
        case .string:
            switch value {
            case .string(let s), .json(let s): return .string(s)
            default:
                let json = JSONRendering.render(value)
                if json.hasPrefix("\""), json.hasSuffix("\""),
                    let text = try? JSONDecoder().decode(String.self, from: Data(json.utf8))
                {
                    return .string(text)
                }
                return .string(json)
            }
        case .uuid:
            if case .uuid(let u) = value { return .bytes(withUnsafeBytes(of: u.uuid) { Array($0) }) }
        case .binary, .fixed:
            switch value {
            case .bytes(let b): return .bytes(b)
            case .string(let s): return .bytes(Array(s.utf8))
            default: break
            }
        case .list(_, let element, _):
            if case .array(let items) = value { return .list(try items.map { try cell($0, as: element) }) }
        }
        throw Mismatch(expected: type, got: "\(value)".prefix(20).description)
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// The unscaled integer of `decimal` at `scale`, rounding half away from zero when the value has more digits.
    static func unscaled(_ decimal: ExactDecimal, scale: Int) -> Int128? {
        let digitCount = decimal.unscaledDigits.utf8.count
        if decimal.scale <= scale, digitCount + scale - decimal.scale <= 38 {
            // No rounding: accumulate the digits, then shift by the missing scale.
            var value: Int128 = 0
            for digit in decimal.unscaledDigits.utf8 { value = value &* 10 &+ Int128(digit &- 48) }
            for _ in 0..<(scale - decimal.scale) { value = value &* 10 }
            return decimal.isNegative ? -value : value
        }
        var digits = Array(decimal.unscaledDigits.utf8)
        var roundUp = false
        if decimal.scale < scale {
            digits += Array(repeating: UInt8(ascii: "0"), count: scale - decimal.scale)
        } else if decimal.scale > scale {
            let drop = decimal.scale - scale
            if drop >= digits.count {
                roundUp = drop == digits.count && digits.first.map { $0 >= UInt8(ascii: "5") } == true
                digits = [UInt8(ascii: "0")]
            } else {
                roundUp = digits[digits.count - drop] >= UInt8(ascii: "5")
                digits.removeLast(drop)
            }
        }
        guard digits.count <= 38 else { return nil }
        var value: Int128 = 0
        for d in digits { value = value * 10 + Int128(d - 48) }
        if roundUp { value += 1 }
        return decimal.isNegative ? -value : value
    }
}

/// Iceberg's single-value binary serialization (Appendix D), for bounds and partition summaries.
enum SingleValue {
    static func bytes(_ cell: Cell, type: IcebergType) -> [UInt8]? {
        switch (cell, type) {
        case (.bool(let b), _): return [b ? 1 : 0]
        case (.long(let v), .int), (.long(let v), .date):
            return littleEndian(UInt64(UInt32(truncatingIfNeeded: v)), count: 4)
        case (.long(let v), _): return littleEndian(UInt64(bitPattern: v), count: 8)
        case (.double(let d), .float): return littleEndian(UInt64(Float(d).bitPattern), count: 4)
        case (.double(let d), _): return littleEndian(d.bitPattern, count: 8)
        case (.decimal(let v), _): return DecimalBytes.minimal(v)
        case (.string(let s), _): return Array(s.utf8)
        case (.bytes(let b), _): return b
        default: return nil
        }
    }

    static func littleEndian(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    /// Decodes a bound back to a cell (for compaction and tests).
    static func cell(_ bytes: [UInt8], type: IcebergType) -> Cell? {
        func le() -> UInt64 { bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        switch type {
        case .boolean: return bytes.first.map { .bool($0 != 0) }
        case .int, .date: return bytes.count == 4 ? .long(Int64(Int32(bitPattern: UInt32(le())))) : nil
        case .long, .time, .timestamp, .timestamptz: return bytes.count == 8 ? .long(Int64(bitPattern: le())) : nil
        case .double: return bytes.count == 8 ? .double(Double(bitPattern: le())) : nil
        case .string: return .string(String(decoding: bytes, as: UTF8.self))
        default: return .bytes(bytes)
        }
    }
}

/// Orders cells of one column type the way Iceberg compares values for bounds.
enum CellOrder {
    static func less(_ a: Cell, _ b: Cell) -> Bool {
        switch (a, b) {
        case (.bool(let x), .bool(let y)): return !x && y
        case (.long(let x), .long(let y)): return x < y
        case (.double(let x), .double(let y)): return x < y
        case (.decimal(let x), .decimal(let y)): return x < y
        case (.string(let x), .string(let y)): return utf8Less(x, y)
        case (.bytes(let x), .bytes(let y)): return x.lexicographicallyPrecedes(y)
        default: return false
        }
    }

    /// Byte-wise UTF-8 order (Iceberg's string order), with memcmp on contiguous storage.
    static func utf8Less(_ x: String, _ y: String) -> Bool {
        if x == y { return false }
        if let result = x.utf8.withContiguousStorageIfAvailable({ a in
            y.utf8.withContiguousStorageIfAvailable { b -> Bool in
                let common = min(a.count, b.count)
                let order = common == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, common)
                return order != 0 ? order < 0 : a.count < b.count
            }
        }), let result {
            return result
        }
        return x.utf8.lexicographicallyPrecedes(y.utf8)
    }
}

/// Column statistics of one data file, as manifests carry them.
struct ColumnStatistics {
    var valueCount: Int64 = 0
    var nullCount: Int64 = 0
    var nanCount: Int64 = 0
    var lower: Cell?
    var upper: Cell?

    /// Longest string or binary bound kept; longer values get a truncated lower bound and no upper bound.
    static let boundLength = 16
    var upperTruncated = false

    mutating func add(_ cell: Cell) {
        valueCount += 1
        switch cell {
        case .null:
            nullCount += 1
            return
        case .double(let d) where d.isNaN:
            nanCount += 1
            return
        case .list:
            return
        default: break
        }
        if lower == nil || CellOrder.less(cell, lower!) { lower = cell }
        if upper == nil || CellOrder.less(upper!, cell) { upper = cell }
    }

    func lowerBytes(type: IcebergType) -> [UInt8]? {
        guard let lower else { return nil }
        switch lower {
        case .string(let s) where s.count > Self.boundLength:
            return Array(String(s.prefix(Self.boundLength)).utf8)
        case .bytes(let b) where b.count > Self.boundLength && type == .binary:
            return Array(b.prefix(Self.boundLength))
        default: return SingleValue.bytes(lower, type: type)
        }
    }

    func upperBytes(type: IcebergType) -> [UInt8]? {
        guard let upper else { return nil }
        switch upper {
        case .string(let s) where s.count > Self.boundLength: return nil
        case .bytes(let b) where b.count > Self.boundLength && type == .binary: return nil
        default: return SingleValue.bytes(upper, type: type)
        }
    }
}
