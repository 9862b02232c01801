import Foundation
import SluiceCore

/// Converts the text protocol's column values (connection charset utf8mb4, time zone UTC) to the same
/// `Value`s the binlog decoder produces for the column's plan.
enum SnapshotValues {
    struct Unparsable: Error, CustomStringConvertible {
        var text: String
        var description: String { "unexpected value text '\(text.prefix(40))'" }
    }

    static func parse(_ bytes: [UInt8], _ plan: ColumnDecoding) throws -> Value {
        func text() -> String { String(decoding: bytes, as: UTF8.self) }
        switch plan {
        case .integer(let width, let unsigned):
            let s = text()
            if width == 8 && unsigned {
                guard UInt64(s) != nil, let d = ExactDecimal(negative: false, unscaledDigits: s, scale: 0) else {
                    throw Unparsable(text: s)
                }
                return .decimal(d)
            }
            guard let value = Int64(s) else { throw Unparsable(text: s) }
            return .int(value)
        case .year:
            guard let value = Int64(text()) else { throw Unparsable(text: text()) }
            return .int(value)
        case .float, .double:
            guard let value = Double(text()) else { throw Unparsable(text: text()) }
            return .double(value)
        case .newDecimal(_, let scale):
            var digits = "", negative = false, fraction = 0, seenPoint = false
            for c in text().unicodeScalars {
                switch c {
                case "-": negative = true
                case "+": break
                case ".": seenPoint = true
                case "0"..."9":
                    digits.unicodeScalars.append(c)
                    if seenPoint { fraction += 1 }
                default: throw Unparsable(text: text())
                }
            }
            if fraction < scale { digits += String(repeating: "0", count: scale - fraction) }
            guard let value = ExactDecimal(negative: negative, unscaledDigits: digits.isEmpty ? "0" : digits,
                                           scale: max(scale, fraction)) else { throw Unparsable(text: text()) }
            return .decimal(value)
        case .date:
            guard let (y, m, d) = ymd(bytes, 0) else { throw Unparsable(text: text()) }
            return ColumnValueDecoder.date(year: y, month: m, day: d)
        case .time, .time2:
            guard let micros = time(bytes) else { throw Unparsable(text: text()) }
            return .time(TimeOfDay(micros: micros))
        case .datetime, .datetime2, .timestamp, .timestamp2:
            guard let (y, m, d) = ymd(bytes, 0), bytes.count >= 19, let hms = clock(bytes, 11) else {
                throw Unparsable(text: text())
            }
            let value = ColumnValueDecoder.datetime(year: y, month: m, day: d, hour: hms.0, minute: hms.1, second: hms.2,
                                                    micros: fraction(bytes, 19))
            switch plan {
            case .timestamp, .timestamp2:
                guard case .timestamp(let ts) = value else { return .null }  // the zero timestamp
                return .timestamp(Timestamp(micros: ts.micros, isUTC: true))
            default:
                return value
            }
        case .bit(let bits):
            if bits == 1 { return .bool((bytes.last ?? 0) & 1 == 1) }
            let length = (bits + 7) / 8
            if bytes.count < length { return .bytes(Array(repeating: 0, count: length - bytes.count) + bytes) }
            return .bytes(bytes)
        case .enumeration(_, let values), .set(_, let values):
            if values == nil, let number = Int64(text()) { return .int(number) }
            return .string(text())
        case .string(_, let charset, _), .blob(_, let charset):
            if charset == .binary { return .bytes(bytes) }
            return .string(text())
        case .json, .jsonText:
            return .json(text())
        case .geometry, .vector:
            return .bytes(bytes)
        case .inet6:
            guard bytes.count == 16 else { throw Unparsable(text: text()) }
            return .string(ColumnValueDecoder.inet6Text(bytes))
        case .inet4:
            guard bytes.count == 4 else { throw Unparsable(text: text()) }
            return .string(ColumnValueDecoder.inet4Text(bytes))
        case .mariaUUID:
            guard let uuid = UUID(uuidString: text()) else { throw Unparsable(text: text()) }
            return .uuid(uuid)
        case .null:
            return .null
        }
    }

    private static func number(_ bytes: [UInt8], _ start: Int, _ count: Int) -> Int? {
        guard start + count <= bytes.count else { return nil }
        var value = 0
        for i in start..<start + count {
            let c = bytes[i]
            guard c >= 48, c <= 57 else { return nil }
            value = value * 10 + Int(c - 48)
        }
        return value
    }

    /// `YYYY-MM-DD` at `start`.
    private static func ymd(_ bytes: [UInt8], _ start: Int) -> (Int, Int, Int)? {
        guard let y = number(bytes, start, 4), let m = number(bytes, start + 5, 2), let d = number(bytes, start + 8, 2) else {
            return nil
        }
        return (y, m, d)
    }

    /// `HH:MM:SS` at `start`.
    private static func clock(_ bytes: [UInt8], _ start: Int) -> (Int, Int, Int)? {
        guard let h = number(bytes, start, 2), let m = number(bytes, start + 3, 2), let s = number(bytes, start + 6, 2) else {
            return nil
        }
        return (h, m, s)
    }

    /// Microseconds of `.ffffff` at `start` (0 when absent).
    private static func fraction(_ bytes: [UInt8], _ start: Int) -> Int64 {
        var index = start
        return TemporalText.fractionMicros(bytes, &index)
    }

    /// `[-]H+:MM:SS[.ffffff]` → microseconds.
    private static func time(_ bytes: [UInt8]) -> Int64? {
        var i = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { i = 1 }
        var hours = 0, digits = 0
        while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
            hours = hours * 10 + Int(bytes[i] - 48)
            i += 1
            digits += 1
        }
        guard digits > 0, i < bytes.count, bytes[i] == UInt8(ascii: ":"),
              let m = number(bytes, i + 1, 2), let s = number(bytes, i + 4, 2) else { return nil }
        let micros = Int64(hours * 3600 + m * 60 + s) * 1_000_000 + fraction(bytes, i + 6)
        return negative ? -micros : micros
    }
}
