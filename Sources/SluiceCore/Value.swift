import Foundation

/// One column value of a change, exact to the source.
///
/// Equality is representational: two doubles are equal when their bits are (so NaN equals NaN and
/// `-0.0` differs from `0.0`), which is what round-trip checks need.
public enum Value: Sendable {
    case null
    /// A value the source did not send (an unchanged TOASTed column): never the same as null.
    case unchanged
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case decimal(ExactDecimal)
    case string(String)
    case bytes([UInt8])
    /// Days since 1970-01-01; `Value.dateInfinity` and `Value.dateNegativeInfinity` stand for ±infinity.
    case date(Int32)
    case time(TimeOfDay)
    case timestamp(Timestamp)
    case interval(Interval)
    case uuid(UUID)
    /// JSON document as text (the source's text; rendering minifies it).
    case json(String)
    case array([Value])

    /// The date that stands for PostgreSQL's `infinity`.
    public static let dateInfinity = Int32.max
    /// The date that stands for PostgreSQL's `-infinity`: `-Int32.max`, as DuckDB has it (Int32.min, PostgreSQL's
    /// own, is a finite date to DuckDB). Logs written before keep Int32.min, which decoding maps here.
    public static let dateNegativeInfinity = -Int32.max

    /// True for `.null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension Value: Hashable {
    public static func == (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null), (.unchanged, .unchanged): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.double(a), .double(b)): return a.bitPattern == b.bitPattern
        case let (.decimal(a), .decimal(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.bytes(a), .bytes(b)): return a == b
        case let (.date(a), .date(b)): return a == b
        case let (.time(a), .time(b)): return a == b
        case let (.timestamp(a), .timestamp(b)): return a == b
        case let (.interval(a), .interval(b)): return a == b
        case let (.uuid(a), .uuid(b)): return a == b
        case let (.json(a), .json(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .unchanged: hasher.combine(1)
        case .bool(let v): hasher.combine(v)
        case .int(let v): hasher.combine(v)
        case .double(let v): hasher.combine(v.bitPattern)
        case .decimal(let v): hasher.combine(v)
        case .string(let v): hasher.combine(v)
        case .bytes(let v): hasher.combine(v)
        case .date(let v): hasher.combine(v)
        case .time(let v): hasher.combine(v)
        case .timestamp(let v): hasher.combine(v)
        case .interval(let v): hasher.combine(v)
        case .uuid(let v): hasher.combine(v)
        case .json(let v): hasher.combine(v)
        case .array(let v): hasher.combine(v)
        }
    }
}

/// An exact decimal number of any precision, kept as its digits and scale (never a binary float).
///
/// `12.50` keeps its scale 2. NaN and ±Infinity (PostgreSQL `numeric`) are kept as such.
public struct ExactDecimal: Sendable, Hashable, CustomStringConvertible {
    /// A non-finite decimal.
    public enum Special: UInt8, Sendable, Hashable {
        case nan = 1, infinity = 2, negativeInfinity = 3
    }

    /// Whether a finite value is below zero (zero is never negative).
    public let isNegative: Bool
    /// ASCII digits of the unscaled value without leading zeros ("0" for zero).
    public let unscaledDigits: String
    /// Digits after the decimal point.
    public let scale: Int
    /// Set for NaN and ±Infinity; then the other fields are meaningless.
    public let special: Special?

    /// The largest scale (and exponent) accepted, far beyond any database's (PostgreSQL: 16,383 digits after
    /// the point, 131,072 before). The bound keeps damaged or hostile input from allocating without limit.
    public static let maxScale = 1 << 20

    /// A finite decimal `(-1)^negative × unscaled × 10^-scale`; nil when the digits are not ASCII digits or the
    /// scale is negative or above `maxScale`.
    public init?(negative: Bool, unscaledDigits digits: String, scale: Int) {
        let utf8 = digits.utf8
        guard scale >= 0, scale <= Self.maxScale, !utf8.isEmpty, utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let first = utf8.firstIndex { $0 != 48 }
        if let first {
            self.unscaledDigits = first == utf8.startIndex ? digits : String(Substring(utf8[first...]))
        } else {
            self.unscaledDigits = "0"
        }
        self.isNegative = negative && first != nil
        self.scale = scale
        self.special = nil
    }

    /// A non-finite decimal.
    public init(special: Special) {
        self.isNegative = special == .negativeInfinity
        self.unscaledDigits = "0"
        self.scale = 0
        self.special = special
    }

    /// Parses `-123.4500`, `+1`, `.5`, `1e-3`, `NaN`, `Infinity`, `-Infinity` (the scale is kept as written).
    public init?(_ text: String) {
        switch text.lowercased() {
        case "nan": self.init(special: .nan); return
        case "infinity", "+infinity", "inf": self.init(special: .infinity); return
        case "-infinity", "-inf": self.init(special: .negativeInfinity); return
        default: break
        }
        var bytes = Substring(text).utf8[...]
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        var exponent = 0
        if let e = bytes.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            guard let exp = Int(String(decoding: bytes[bytes.index(after: e)...], as: UTF8.self)),
                exp.magnitude <= UInt(Self.maxScale)
            else { return nil }
            exponent = exp
            bytes = bytes[..<e]
        }
        var digits: [UInt8] = []
        var scale = 0
        var seenPoint = false
        for b in bytes {
            if b == UInt8(ascii: ".") {
                if seenPoint { return nil }
                seenPoint = true
            } else if b >= 48 && b <= 57 {
                digits.append(b)
                if seenPoint { scale += 1 }
            } else {
                return nil
            }
        }
        guard !digits.isEmpty else { return nil }
        scale -= exponent
        if scale < -Self.maxScale { return nil }
        if scale < 0 {
            digits.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: -scale))
            scale = 0
        }
        self.init(negative: negative, unscaledDigits: String(decoding: digits, as: UTF8.self), scale: scale)
    }

    /// The number of significant digits of the unscaled value.
    public var precision: Int { max(unscaledDigits.utf8.count, scale) }

    /// The canonical text: `-123.4500`, `0.05`, `NaN`, `Infinity`, `-Infinity`.
    public var description: String {
        switch special {
        case .nan: return "NaN"
        case .infinity: return "Infinity"
        case .negativeInfinity: return "-Infinity"
        case nil: break
        }
        var out = isNegative ? "-" : ""
        let digits = unscaledDigits
        if scale == 0 {
            out += digits
        } else if digits.utf8.count > scale {
            let split = digits.index(digits.endIndex, offsetBy: -scale)
            out += digits[..<split] + "." + digits[split...]
        } else {
            out += "0." + String(repeating: "0", count: scale - digits.utf8.count) + digits
        }
        return out
    }
}

/// A timestamp in microseconds since 1970-01-01T00:00:00, with or without UTC adjustment.
///
/// `Int64.max` and `Int64.min` stand for PostgreSQL's `infinity` and `-infinity`.
public struct Timestamp: Sendable, Hashable {
    /// Microseconds since the epoch (UTC when `isUTC`, else wall-clock time with no zone).
    public var micros: Int64
    /// True for `timestamptz`-like values adjusted to UTC.
    public var isUTC: Bool

    public init(micros: Int64, isUTC: Bool) {
        self.micros = micros
        self.isUTC = isUTC
    }

    /// The micros of `infinity` and `-infinity`: Int64.max and -Int64.max (as DuckDB has them; Int64.min, found in
    /// logs written before, is mapped to -Int64.max when decoded).
    public static let infinityMicros = Int64.max
    public static let negativeInfinityMicros = -Int64.max

    public static func infinity(isUTC: Bool) -> Timestamp { Timestamp(micros: infinityMicros, isUTC: isUTC) }
    public static func negativeInfinity(isUTC: Bool) -> Timestamp {
        Timestamp(micros: negativeInfinityMicros, isUTC: isUTC)
    }

    public var isInfinite: Bool { micros == Self.infinityMicros || micros == Self.negativeInfinityMicros }
}

/// A time of day in microseconds, optionally with a UTC offset (`timetz`).
///
/// MySQL `TIME` is a duration: it may be negative or above 24 hours, so `micros` is not bounded to a day.
public struct TimeOfDay: Sendable, Hashable {
    public var micros: Int64
    /// Seconds east of UTC for `timetz`; nil for a time without zone.
    public var utcOffsetSeconds: Int32?

    public init(micros: Int64, utcOffsetSeconds: Int32? = nil) {
        self.micros = micros
        self.utcOffsetSeconds = utcOffsetSeconds
    }
}

/// A calendar interval as PostgreSQL keeps it: months, days and microseconds, each with its own sign.
public struct Interval: Sendable, Hashable {
    public var months: Int32
    public var days: Int32
    public var micros: Int64

    public init(months: Int32, days: Int32, micros: Int64) {
        self.months = months
        self.days = days
        self.micros = micros
    }
}
