import Foundation

/// The JSON rendering of events that `sluice log read` prints and MCP returns (see ARCHITECTURE.md).
///
/// One object per event, Debezium-style; values exact: decimals as strings, timestamps ISO-8601 with
/// microseconds, bytes base64, NaN/Infinity as strings, unchanged columns left out and listed.
public enum JSONRendering {
    /// Renders one event as a single-line JSON object.
    public static func render(_ event: ChangeEvent, stream: String, offset: Int64, appendedAtMicros: Int64) -> String {
        var out = JSONText()
        out.beginObject()
        out.key("stream"); out.string(stream)
        out.key("offset"); out.raw(String(offset))
        out.key("op"); out.string(event.op.rawValue)
        var unchanged: [String] = []
        out.key("before"); writeImage(event.before, to: &out, unchanged: &unchanged)
        out.key("after"); writeImage(event.after, to: &out, unchanged: &unchanged)
        if !unchanged.isEmpty {
            out.key("unchanged")
            out.beginArray()
            for name in unchanged { out.string(name) }
            out.endArray()
        }
        out.key("source")
        out.beginObject()
        out.key("connector"); out.string(event.connector)
        out.key("db"); out.string(event.table.database)
        out.key("schema"); out.string(event.table.schema)
        out.key("table"); out.string(event.table.name)
        out.key("position"); out.string(event.position.text)
        out.key("txId")
        if let tx = event.transactionID { out.string(tx) } else { out.raw("null") }
        if let order = event.orderInTransaction {
            out.key("txOrder"); out.raw(String(order))
        }
        out.key("snapshot"); out.raw(event.isSnapshot ? "true" : "false")
        out.key("ts_ms"); out.raw(String(floorDiv(event.commitTimeMicros, 1000)))
        out.key("schemaVersion"); out.raw(String(event.schemaVersion))
        out.endObject()
        out.key("ts_ms"); out.raw(String(floorDiv(appendedAtMicros, 1000)))
        out.endObject()
        return out.text
    }

    private static func writeImage(_ row: Row?, to out: inout JSONText, unchanged: inout [String]) {
        guard let row else {
            out.raw("null")
            return
        }
        out.beginObject()
        for (name, value) in zip(row.columns, row.values) {
            if case .unchanged = value {
                if !unchanged.contains(name) { unchanged.append(name) }
                continue
            }
            out.key(name)
            writeValue(value, to: &out)
        }
        out.endObject()
    }

    /// Renders one value as JSON text (`.unchanged` renders as null; images leave it out instead).
    public static func render(_ value: Value) -> String {
        var out = JSONText()
        writeValue(value, to: &out)
        return out.text
    }

    static func writeValue(_ value: Value, to out: inout JSONText) {
        switch value {
        case .null, .unchanged: out.raw("null")
        case .bool(let b): out.raw(b ? "true" : "false")
        case .int(let i): out.raw(String(i))
        case .double(let d):
            if d.isNaN {
                out.string("NaN")
            } else if d.isInfinite {
                out.string(d < 0 ? "-Infinity" : "Infinity")
            } else {
                out.raw(String(d))
            }
        case .decimal(let d): out.string(d.description)
        case .string(let s): out.string(s)
        case .bytes(let b): out.string(Data(b).base64EncodedString())
        case .date(let d): out.string(TemporalText.date(d))
        case .time(let t): out.string(TemporalText.time(t))
        case .timestamp(let t): out.string(TemporalText.timestamp(t))
        case .interval(let i): out.string(TemporalText.interval(i))
        case .uuid(let u): out.string(u.uuidString.lowercased())
        case .json(let text): out.raw(minifiedJSON(text))
        case .array(let elements):
            out.beginArray()
            for e in elements { writeValue(e, to: &out) }
            out.endArray()
        }
    }

    /// The JSON text with insignificant white space removed (so that it fits on one line); `null` when empty.
    static func minifiedJSON(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        var inString = false
        var escaped = false
        for b in text.utf8 {
            if inString {
                out.append(b)
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
            } else if b == UInt8(ascii: " ") || b == UInt8(ascii: "\n") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\r") {
                continue
            } else {
                if b == UInt8(ascii: "\"") { inString = true }
                out.append(b)
            }
        }
        return out.isEmpty ? "null" : String(decoding: out, as: UTF8.self)
    }
}

/// A small, fast JSON text builder that keeps key order and handles commas: the one JSON writer of Sluice.
public struct JSONText: Sendable {
    /// How the text is spaced and escaped.
    public enum Style: Sendable {
        /// No spaces; `"`, `\\`, newline, return and tab escaped by letter, other control characters as `\u00xx`.
        case compact
        /// MySQL's rendering of JSON documents: `{"a": 1, "b": [1, 2]}`, backspace and form feed escaped by letter too.
        case mysql
    }

    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]
    private let spaced: Bool

    public init(style: Style = .compact) {
        spaced = style == .mysql
        bytes.reserveCapacity(256)
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] {
            bytes.append(UInt8(ascii: ","))
            if spaced { bytes.append(UInt8(ascii: " ")) }
        }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    public mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    public mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes an object key; the next value call writes its value.
    public mutating func key(_ name: String) {
        separate()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        if spaced { bytes.append(UInt8(ascii: " ")) }
        needsComma[needsComma.count - 1] = false
    }

    public mutating func string(_ s: String) {
        separate()
        appendQuoted(s)
    }

    /// Writes already-valid JSON text (a number, `null`, `true`, a nested document).
    public mutating func raw(_ json: String) {
        separate()
        bytes.append(contentsOf: json.utf8)
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 48 + nibble : 87 + nibble
    }

    private mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 0x0A: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0x08 where spaced: bytes.append(contentsOf: [92, UInt8(ascii: "b")])
            case 0x0C where spaced: bytes.append(contentsOf: [92, UInt8(ascii: "f")])
            case 0..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(Self.hexDigit(b >> 4))
                bytes.append(Self.hexDigit(b & 0xF))
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// Floor division (rounds toward negative infinity), for splitting microseconds into days and seconds.
@usableFromInline
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// ISO-8601 text for dates, times, timestamps and intervals (proleptic Gregorian, astronomical years).
public enum TemporalText {
    static let microsPerDay: Int64 = 86_400_000_000

    /// Year, month, day for days since 1970-01-01 (civil-from-days).
    @inlinable
    public static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Microseconds of a `.ffffff` fraction at `index` of `text` (0 when there is none), moving `index` past it.
    /// Digits beyond the sixth are skipped (truncated). The sources parse their servers' time text with it.
    @inlinable
    public static func fractionMicros<Text: Collection<UInt8>>(_ text: Text, _ index: inout Text.Index) -> Int64 {
        guard index < text.endIndex, text[index] == UInt8(ascii: ".") else { return 0 }
        text.formIndex(after: &index)
        var micros: Int64 = 0
        var count = 0
        while index < text.endIndex, text[index] &- 48 < 10 {
            if count < 6 {
                micros = micros * 10 + Int64(text[index] &- 48)
                count += 1
            }
            text.formIndex(after: &index)
        }
        while count < 6 {
            micros *= 10
            count += 1
        }
        return micros
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (days-from-civil).
    @inlinable
    public static func days(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    static func yearText(_ year: Int64) -> String {
        year < 0 ? "-" + pad(-year, 4) : pad(year, 4)
    }

    /// `YYYY-MM-DD`, or `infinity` / `-infinity`.
    public static func date(_ days: Int32) -> String {
        if days == Value.dateInfinity { return "infinity" }
        if days == Value.dateNegativeInfinity { return "-infinity" }
        let c = civil(fromDays: Int64(days))
        return "\(yearText(c.year))-\(pad(Int64(c.month), 2))-\(pad(Int64(c.day), 2))"
    }

    /// `HH:MM:SS.ffffff` (hours may exceed 23 and the time may be negative, as MySQL TIME), plus `+hh:mm` for timetz.
    public static func time(_ t: TimeOfDay) -> String {
        let negative = t.micros < 0
        let m = t.micros.magnitude
        let hours = m / 3_600_000_000
        let minutes = m / 60_000_000 % 60
        let seconds = m / 1_000_000 % 60
        let fraction = m % 1_000_000
        var text = (negative ? "-" : "") + pad(Int64(hours), 2) + ":" + pad(Int64(minutes), 2) + ":"
            + pad(Int64(seconds), 2) + "." + pad(Int64(fraction), 6)
        if let offset = t.utcOffsetSeconds { text += offsetText(offset) }
        return text
    }

    static func offsetText(_ seconds: Int32) -> String {
        let m = Int64(seconds.magnitude)
        var text = (seconds < 0 ? "-" : "+") + pad(m / 3600, 2) + ":" + pad(m / 60 % 60, 2)
        if m % 60 != 0 { text += ":" + pad(m % 60, 2) }
        return text
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffff` with `Z` when UTC-adjusted, or `infinity` / `-infinity`.
    public static func timestamp(_ t: Timestamp) -> String {
        if t.micros == Timestamp.infinityMicros { return "infinity" }
        if t.micros == Timestamp.negativeInfinityMicros { return "-infinity" }
        let days = floorDiv(t.micros, microsPerDay)
        // Not `micros - days * microsPerDay`: that product overflows for the earliest timestamps.
        let remainder = t.micros % microsPerDay
        let inDay = remainder < 0 ? remainder + microsPerDay : remainder
        let c = civil(fromDays: days)
        let time = time(TimeOfDay(micros: inDay))
        return "\(yearText(c.year))-\(pad(Int64(c.month), 2))-\(pad(Int64(c.day), 2))T\(time)\(t.isUTC ? "Z" : "")"
    }

    /// ISO-8601 duration, e.g. `P1Y2M3DT4H5M6.000007S`; components keep their own signs; zero is `PT0S`.
    public static func interval(_ i: Interval) -> String {
        var text = "P"
        let years = i.months / 12
        let months = i.months % 12
        if years != 0 { text += "\(years)Y" }
        if months != 0 { text += "\(months)M" }
        if i.days != 0 { text += "\(i.days)D" }
        if i.micros != 0 {
            text += "T"
            let negative = i.micros < 0
            let m = i.micros.magnitude
            let sign = negative ? "-" : ""
            let hours = m / 3_600_000_000
            let minutes = m / 60_000_000 % 60
            let micros = m % 60_000_000
            if hours != 0 { text += "\(sign)\(hours)H" }
            if minutes != 0 { text += "\(sign)\(minutes)M" }
            if micros != 0 {
                let seconds = micros / 1_000_000
                let fraction = micros % 1_000_000
                text += "\(sign)\(seconds)" + (fraction == 0 ? "" : "." + pad(Int64(fraction), 6)) + "S"
            }
        }
        return text == "P" ? "PT0S" : text
    }
}
