import Foundation
import SluiceCore
import SluiceTestSupport
@testable import SluiceMySQL

/// The recorded binlog files in `../shared/fixtures/mysql-binlogs` (a sibling of the repository).
enum Fixtures {
    static let directory = TestEnvironment.shared.appendingPathComponent("fixtures/mysql-binlogs")

    static var available: Bool { FileManager.default.fileExists(atPath: directory.path) }

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0 != "README.md" }.sorted()
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// Decodes a whole file, feeding it in pieces of `chunk` bytes.
    static func decode(_ name: String, chunk: Int = 1 << 20) throws -> [BinlogEvent] {
        try decode(bytes: try bytes(name), file: name, chunk: chunk)
    }

    static func decode(bytes: [UInt8], file: String, chunk: Int = 1 << 20) throws -> [BinlogEvent] {
        var decoder = BinlogEventDecoder(framing: .file, file: file)
        var events: [BinlogEvent] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + chunk)
            decoder.feed(bytes[offset..<end])
            offset = end
            while let event = try decoder.nextEvent() { events.append(event) }
        }
        try decoder.finish()
        return events
    }

    static var mariadbBinlog: String? {
        for path in ["/usr/bin/mariadb-binlog", "/usr/local/bin/mariadb-binlog", "/usr/bin/mysqlbinlog"]
        where FileManager.default.isExecutableFile(atPath: path) { return path }
        return nil
    }
}

/// Rows as `mariadb-binlog -vv --base64-output=decode-rows` prints them.
struct OracleRow: Equatable, CustomStringConvertible {
    var op: String
    var table: String
    var before: [Int: String]?
    var after: [Int: String]?
    /// Column number (from 1) → the type comment (`INT meta=0 …`).
    var types: [Int: String] = [:]

    var description: String { "\(op) \(table) before=\(before ?? [:]) after=\(after ?? [:])" }

    static func == (a: OracleRow, b: OracleRow) -> Bool {
        a.op == b.op && a.table == b.table && a.before == b.before && a.after == b.after
    }

    /// Runs the tool and parses the rows it prints (those before an error, if it stops at one).
    static func read(_ path: String) throws -> [OracleRow] {
        guard let tool = Fixtures.mariadbBinlog else { return [] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["-vv", "--base64-output=decode-rows", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var rows: [OracleRow] = []
        var current: OracleRow?
        var target = 0  // 1: before (WHERE), 2: after (SET)
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("### ") else { continue }
            let text = line.dropFirst(4)
            func start(_ op: String, _ prefix: String) {
                if let row = current { rows.append(row) }
                current = OracleRow(op: op, table: String(text.dropFirst(prefix.count)).replacingOccurrences(of: "`", with: ""))
            }
            if text.hasPrefix("INSERT INTO ") { start("insert", "INSERT INTO ") }
            else if text.hasPrefix("UPDATE ") { start("update", "UPDATE ") }
            else if text.hasPrefix("DELETE FROM ") { start("delete", "DELETE FROM ") }
            else if text == "WHERE" { target = 1; current?.before = [:] }
            else if text == "SET" { target = 2; current?.after = [:] }
            else if text.hasPrefix("  @") {
                let body = text.dropFirst(3)
                guard let eq = body.firstIndex(of: "="), let number = Int(body[..<eq]) else { continue }
                var value = String(body[body.index(after: eq)...])
                var type = ""
                if let comment = value.range(of: " /* ", options: .backwards) {
                    type = String(value[comment.upperBound...]).replacingOccurrences(of: " */", with: "")
                    value = String(value[..<comment.lowerBound])
                }
                current?.types[number] = type
                if target == 1 { current?.before?[number] = value } else { current?.after?[number] = value }
            }
        }
        if let row = current { rows.append(row) }
        return rows
    }
}

/// Renders our decoded values the way `mariadb-binlog -vv` prints them, for the comparison.
enum OracleRendering {
    static func render(_ value: Value, column: BinlogColumn, type: String) -> String {
        switch value {
        case .null: return "NULL"
        case .unchanged: return "<unchanged>"
        case .int(let v):
            if type.hasPrefix("ENUM") || type.hasPrefix("SET") { return String(v) }
            return String(v)
        case .decimal(let d): return d.description
        case .bool(let b):
            return type.hasPrefix("BIT") ? "b'\(b ? "1" : "0")'" : (b ? "1" : "0")
        case .string(let s):
            if type.hasPrefix("ENUM"), let values = column.enumValues {
                return String((values.firstIndex(of: s) ?? -1) + 1)
            }
            if type.hasPrefix("SET"), let values = column.setValues {
                var mask: UInt64 = 0
                for member in s.split(separator: ",") {
                    if let i = values.firstIndex(of: String(member)) { mask |= 1 << UInt64(i) }
                }
                let bits = String(mask, radix: 2)
                let width = max(8, ((bits.count + 7) / 8) * 8)
                return "b'" + String(repeating: "0", count: width - bits.count) + bits + "'"
            }
            return quoted(Array(s.utf8))
        case .bytes(let b):
            if type.hasPrefix("BIT(") {
                let bits = Int(type.dropFirst(4).prefix { $0.isNumber }) ?? b.count * 8
                var text = b.map { byte -> String in
                    let s = String(byte, radix: 2)
                    return String(repeating: "0", count: 8 - s.count) + s
                }.joined()
                text = String(text.suffix(bits))
                return "b'\(text)'"
            }
            return quoted(b)
        case .double(let d): return "\(d)"
        case .time(let t):
            let negative = t.micros < 0
            let m = abs(t.micros)
            let seconds = m / 1_000_000
            func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
            return "'\(negative ? "-" : "")\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))'"
        case .timestamp(let ts):
            if ts.isUTC && ts.micros % 1_000_000 == 0 { return String(ts.micros / 1_000_000) }
            return "\(ts)"
        default:
            return "\(value)"
        }
    }

    static func quoted(_ bytes: [UInt8]) -> String {
        var out = "'"
        for b in bytes {
            switch b {
            case UInt8(ascii: "'"): out += "\\'"
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20..<0x7F, 0x80...0xFF: out += String(UnicodeScalar(b))
            default:
                let hex = String(b, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out + "'"
    }
}
