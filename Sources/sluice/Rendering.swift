import Foundation
import SluiceCore
import SluiceLog
import SluiceRuntime

/// JSON lines for log records: change events in the JSON rendering; schemas as their JSON.
enum LogRendering {
    static func line(_ record: LogRecord) throws -> String {
        if record.stream.hasPrefix("_") && record.stream != SystemStream.transactions {
            var out = JSONText()
            out.beginObject()
            out.key("stream"); out.string(record.stream)
            out.key("offset"); out.raw(String(record.offset))
            out.key("ts_ms"); out.raw(String(record.appendedAtMicros / 1000))
            out.key("record"); out.raw(String(decoding: record.payload, as: UTF8.self))
            out.endObject()
            return out.text
        }
        let event = try EventCoding.decode(record.payload)
        return JSONRendering.render(event, stream: record.stream, offset: record.offset, appendedAtMicros: record.appendedAtMicros)
    }
}

/// Parses `--since` values: ISO-8601 times or ages such as `10m`.
enum TimeArgument {
    static func micros(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text) {
            return Int64(date.timeIntervalSince1970 * 1_000_000)
        }
        if let seconds = ConfigValidator.parseDuration(text) {
            return Int64((Date().timeIntervalSince1970 - seconds) * 1_000_000)
        }
        return nil
    }
}

/// Connector documentation generated from the spec.
enum SpecDocs {
    static func text(_ spec: ConnectorSpec) -> String {
        var lines = ["\(spec.name) (\(spec.role.rawValue)): \(spec.summary)", "", "settings:"]
        for field in spec.fields {
            var line = "  \(field.name): \(field.type)"
            if field.required { line += ", required" }
            if let d = field.defaultValue { line += ", default \(d)" }
            if field.secret { line += ", secret" }
            lines.append(line)
            lines.append("      \(field.description)")
            if let example = field.example { lines.append("      e.g. \(field.name): \(example)") }
        }
        return lines.joined(separator: "\n")
    }

    static func markdown(_ spec: ConnectorSpec) -> String {
        var lines = ["| setting | type | required | default | description |", "|---|---|---|---|---|"]
        for field in spec.fields {
            let def = field.defaultValue.map { "`\($0)`" } ?? ""
            var description = field.description + (field.secret ? " (secret: never logged)" : "")
            if let example = field.example { description += " Example: `\(example)`" }
            lines.append("| `\(field.name)` | \(field.type) | \(field.required ? "yes" : "") | \(def) | \(description) |")
        }
        return lines.joined(separator: "\n")
    }
}
