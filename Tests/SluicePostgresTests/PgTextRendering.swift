import Foundation
import SluiceCore
import SluiceTestSupport

/// Renders a captured value the way PostgreSQL prints it (TimeZone UTC, DateStyle ISO), written
/// independently of the connector's parser so that comparing with the server's own text checks the parse.
enum PgTextRendering {
    static func render(_ value: Value, float4: Bool = false) -> String {
        switch value {
        case .null: return "<NULL>"
        case .unchanged: return "<UNCHANGED>"
        case .bool(let b): return b ? "t" : "f"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
            var text = float4 ? Float(d).description : d.description
            if text.hasSuffix(".0") { text.removeLast(2) }
            return text
        case .decimal(let d): return d.description
        case .string(let s): return s
        case .bytes(let b): return "\\x" + b.map { String(format: "%02x", $0) }.joined()
        case .date(let days):
            if days == Value.dateInfinity { return "infinity" }
            if days == Value.dateNegativeInfinity { return "-infinity" }
            return date(Int64(days))
        case .time(let t):
            var text = time(t.micros)
            if let offset = t.utcOffsetSeconds { text += zone(Int(offset)) }
            return text
        case .timestamp(let ts):
            if ts.micros == Timestamp.infinityMicros { return "infinity" }
            if ts.micros == Timestamp.negativeInfinityMicros { return "-infinity" }
            let days = floorDiv(ts.micros, 86_400_000_000)
            let rest = ts.micros - days * 86_400_000_000
            var text = date(days, bcSuffix: false) + " " + time(rest)
            if ts.isUTC { text += "+00" }
            if civilDate(fromDays: days).year <= 0 { text += " BC" }
            return text
        case .interval(let i): return "\(i.months) \(i.days) \(i.micros)"
        case .uuid(let u): return u.uuidString.lowercased()
        case .json(let j): return j
        case .array(let items): return "{" + items.map(arrayElement).joined(separator: ",") + "}"
        }
    }

    private static func arrayElement(_ value: Value) -> String {
        if case .null = value { return "NULL" }
        if case .array = value { return render(value) }
        let text = render(value)
        let needsQuotes = text.isEmpty || text.uppercased() == "NULL"
            || text.contains(where: { "{},\"\\ ".contains($0) })
        guard needsQuotes else { return text }
        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    static func date(_ days: Int64, bcSuffix: Bool = true) -> String {
        let (y, m, d) = civilDate(fromDays: days)
        let year = y <= 0 ? 1 - y : y
        let text = String(format: "%04lld-%02lld-%02lld", year, m, d)
        return y <= 0 && bcSuffix ? text + " BC" : text
    }

    static func time(_ micros: Int64) -> String {
        let seconds = micros / 1_000_000, fraction = micros % 1_000_000
        var text = String(format: "%02lld:%02lld:%02lld", seconds / 3600, seconds / 60 % 60, seconds % 60)
        if fraction != 0 {
            var digits = String(format: "%06lld", fraction)
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text
    }

    static func zone(_ offset: Int) -> String {
        let sign = offset < 0 ? "-" : "+"
        let a = abs(offset)
        var text = sign + String(format: "%02d", a / 3600)
        if a % 3600 != 0 || a % 60 != 0 { text += String(format: ":%02d", a / 60 % 60) }
        if a % 60 != 0 { text += String(format: ":%02d", a % 60) }
        return text
    }
}
