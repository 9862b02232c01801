import Foundation
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceMySQL

/// Live tests against a real MariaDB 10.11 (`SLUICE_TEST_MYSQL_URL`); skipped without one unless
/// `SLUICE_REQUIRE_SERVERS` is set (CI), then they fail.
@Suite(.needsMySQL,
       .serialized)
struct LiveMariaDBTests {
    /// Column → SQL expression whose text is what `render` prints for the decoded value.
    static let columns: [(name: String, type: String, select: String)] = [
        ("id", "int primary key", "id"),
        ("ti", "tinyint", "ti"), ("tu", "tinyint unsigned", "tu"), ("si", "smallint", "si"),
        ("mi", "mediumint", "mi"), ("mu", "mediumint unsigned", "mu"), ("i", "int", "i"), ("iu", "int unsigned", "iu"),
        ("bi", "bigint", "bi"), ("bu", "bigint unsigned", "bu"),
        ("d1", "decimal(10,2)", "d1"), ("d2", "decimal(65,30)", "d2"), ("d3", "decimal(5,0)", "d3"),
        ("f", "float", "f"), ("db", "double", "db"),
        ("dt", "date", "dt"), ("tm", "time", "tm"), ("tm6", "time(6)", "tm6"), ("tm2", "time(2)", "tm2"),
        ("dtm", "datetime", "dtm"), ("dtm3", "datetime(3)", "dtm3"), ("dtm6", "datetime(6)", "dtm6"),
        ("ts", "timestamp(6) null", "unix_timestamp(ts)"), ("yr", "year", "yr"),
        ("b1", "bit(1)", "hex(b1)"), ("b9", "bit(9)", "hex(b9)"),
        ("e", "enum('a','b c','ü')", "e"), ("st", "set('x','y','z')", "st"),
        ("c", "char(5)", "c"), ("vc", "varchar(300)", "vc"), ("tx", "text", "tx"), ("lat", "varchar(10) charset latin1", "lat"),
        ("bn", "binary(4)", "hex(bn)"), ("vb", "varbinary(10)", "hex(vb)"), ("bl", "blob", "hex(bl)"),
        ("js", "json", "js"), ("u", "uuid", "u"), ("ip", "inet6", "ip"),
        ("g", "geometry", "hex(st_asbinary(g))"),
        // MariaDB's fixed binary types as the server prints them; values ending in zero bytes, which the binlog cuts.
        ("u1", "uuid", "u1"), ("ip2", "inet6", "ip2"), ("ip4", "inet4", "ip4"), ("bz", "binary(4)", "hex(bz)"),
    ]

    static let rows: [String] = [
        """
        (1, -128, 255, -32768, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, \
        18446744073709551615, -12345678.91, -12345678901234567890123456789012345.123456789012345678901234567891, \
        99999, 1.5, -2.5e-300, '1000-01-01', '-838:59:59', '-00:00:00.000001', '123:04:05.50', \
        '1000-01-01 00:00:00', '9999-12-31 23:59:59.999', '2024-02-29 12:34:56.000001', '2038-01-19 03:14:07.999999', \
        2155, b'1', b'100000001', 'ü', 'x,z', 'ab', repeat('é', 300), 'line\\nbreak ☃ 😀', 'café', \
        x'0102', x'00ff', x'deadbeef', '{"a": [1, 2.5, "x"], "b": null}', '0189e5b4-6f2e-7c3a-9b1d-2a3b4c5d6e7f', \
        '2001:db8::1', ST_GeomFromText('POINT(1 2)'), '123e4567-e89b-12d3-a456-426614170000', '2001:db8:0:1::', \
        '192.0.2.0', x'01000000')
        """,
        """
        (2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.00, 0, 0, 0, 0, '2000-01-01', '00:00:00', '838:59:59.999999', '-01:00:00.01', \
        '2000-01-01 00:00:00', '2000-01-01 00:00:00.000', '2000-01-01 00:00:00', '1970-01-01 00:00:01', 0, b'0', b'0', \
        'a', '', '', '', '', '', x'', x'', x'', '[]', '6ba7b810-9dad-11d1-80b4-00c04fd430c8', '::ffff:1.2.3.4', NULL, \
        '00000000-0000-0000-0000-000000000000', '::', '0.0.0.0', x'00000000')
        """,
        "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            + "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            + "NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    ]

    /// A new database `name` whose table `t` has `columns` and holds `rows`; returns it and the binlog position
    /// before the rows were inserted.
    static func everyTypeTable(_ name: String) throws -> (db: MySQLConnection, start: String) {
        let db = try LiveServer.database(name)
        try db.execute("SET NAMES utf8mb4")
        try db.execute("SET time_zone = '+00:00'")
        try db.execute("CREATE TABLE t (" + columns.map { "`\($0.name)` \($0.type)" }.joined(separator: ", ") + ")")
        let start = try LiveServer.position(db)
        try db.execute("INSERT INTO t VALUES " + rows.joined(separator: ", "))
        return (db, start)
    }

    @Test func everyTypeRoundTripsExactly() async throws {
        let (db, start) = try Self.everyTypeTable("sluice_t_types")
        try db.execute("UPDATE t SET vc = 'changed', bu = 18446744073709551614 WHERE id = 1")
        let selected = try db.query("SELECT " + Self.columns.map(\.select).joined(separator: ", ") + " FROM t ORDER BY id")
        try db.execute("DELETE FROM t WHERE id = 2")
        let runtime = RecordingRuntime()
        try await runtime.run(["start_position": .string(start), "tables": .list([.string("sluice_t_types.t")])])
        let events = runtime.events
        #expect(events.map(\.op) == [.insert, .insert, .insert, .update, .delete])
        var expected = Dictionary(uniqueKeysWithValues: selected.map { (Int($0[0]!)!, $0) })
        // The update's after image is the row as selected; the insert of row 1 had the old two values.
        let afterImages = events.filter { $0.op == .insert || $0.op == .update }.compactMap(\.after)
        let finalImages = [afterImages[3], afterImages[1], afterImages[2]]
        for image in finalImages {
            guard case .int(let id) = image.values[0] else { Issue.record("no id"); continue }
            let found = expected.removeValue(forKey: Int(id))
            let row = try #require(found)
            for (index, column) in Self.columns.enumerated() {
                let ours = Self.render(image.values[index], column: column.name)
                let theirs = row[index] ?? "NULL"
                if column.name == "f" || column.name == "db" {
                    #expect(ours == theirs || Double(ours) == Double(theirs), "\(column.name) of row \(id): \(ours) vs \(theirs)")
                } else {
                    #expect(ours == theirs, "\(column.name) of row \(id): ours \(ours), server \(theirs)")
                }
            }
        }
        let schema = try #require(runtime.schemas.first)
        #expect(schema.primaryKey == ["id"])
        #expect(schema.columns.map(\.name) == Self.columns.map(\.name))
        #expect(schema.columns.first { $0.name == "js" }?.kind == .json)
        #expect(schema.columns.first { $0.name == "u" }?.kind == .uuid)
        #expect(schema.columns.first { $0.name == "u1" }?.kind == .uuid)
        #expect(schema.columns.first { $0.name == "ip" }?.kind == .string)
        #expect(schema.columns.first { $0.name == "ip4" }?.kind == .string)
        #expect(schema.columns.first { $0.name == "bz" }?.kind == .bytes)
        #expect(schema.columns.first { $0.name == "bu" }?.kind == .decimal)
        // BIGINT UNSIGNED: DECIMAL(20, 0), and every value a decimal (small ones used to be ints).
        let unsignedBig = schema.columns.first { $0.name == "bu" }
        #expect(unsignedBig?.precision == 20 && unsignedBig?.scale == 0)
        for value in events.compactMap({ $0.after?["bu"] }) {
            switch value {
            case .decimal, .null: break
            default: Issue.record("bigint unsigned value \(value) is not a decimal")
            }
        }
    }

    static func render(_ value: Value, column: String) -> String {
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        func date(_ days: Int64) -> String {
            let (y, m, d) = civilDate(fromDays: days)
            return "\(String(repeating: "0", count: max(0, 4 - String(y).count)))\(y)-\(two(m))-\(two(d))"
        }
        func fraction(_ micros: Int64, digits: Int) -> String {
            guard digits > 0 else { return "" }
            let text = String(micros)
            return "." + (String(repeating: "0", count: 6 - text.count) + text).prefix(digits)
        }
        let digits = ["tm6": 6, "tm2": 2, "dtm3": 3, "dtm6": 6, "ts": 6][column] ?? 0
        switch value {
        case .null: return "NULL"
        case .int(let v): return column == "yr" ? String(repeating: "0", count: max(0, 4 - String(v).count)) + String(v) : String(v)
        case .decimal(let d): return d.description
        case .double(let d): return column == "f" ? "\(Float(d))" : "\(d)"
        case .bool(let b): return b ? "1" : "0"
        case .string(let s): return s
        case .bytes(let b):
            var hex = HexBytes.encode(b).uppercased()
            if column == "b9" { while hex.hasPrefix("0") && hex.count > 1 { hex.removeFirst() } }
            if column == "g" { return HexBytes.encode(Array(b.dropFirst(4))).uppercased() }  // SRID, then WKB
            return hex
        case .date(let d): return date(Int64(d))
        case .time(let t):
            let m = abs(t.micros), s = m / 1_000_000
            return "\(t.micros < 0 ? "-" : "")\(two(s / 3600)):\(two(s / 60 % 60)):\(two(s % 60))"
                + fraction(m % 1_000_000, digits: digits)
        case .timestamp(let ts):
            if ts.isUTC { return "\(ts.micros / 1_000_000)" + fraction(ts.micros % 1_000_000, digits: digits) }
            let days = ts.micros >= 0 ? ts.micros / 86_400_000_000 : (ts.micros - 86_399_999_999) / 86_400_000_000
            let rest = ts.micros - days * 86_400_000_000, s = rest / 1_000_000
            return "\(date(days)) \(two(s / 3600)):\(two(s / 60 % 60)):\(two(s % 60))" + fraction(rest % 1_000_000, digits: digits)
        case .json(let j): return j
        case .uuid(let u): return u.uuidString.lowercased()
        default: return "\(value)"
        }
    }

    /// A listed table that does not exist stops the source at start with its name (it used to capture nothing).
    @Test func listedTableThatDoesNotExistIsAnError() async throws {
        let db = try LiveServer.database("sluice_t_listed")
        try db.execute("CREATE TABLE present (id int primary key)")
        let runtime = RecordingRuntime()
        await #expect {
            try await runtime.run(["tables": .list([.string("sluice_t_listed.present"), .string("sluice_t_listed.typo")])])
        } throws: { error in
            guard let error = error as? SluiceError else { return false }
            return error.code == .sourceSetup && error.message.contains("sluice_t_listed.typo")
                && !error.message.contains("sluice_t_listed.present,")
        }
        try await runtime.run(["tables": .list([.string("sluice_t_listed.present")])])  // an existing one runs
    }

    @Test func ddlMidStreamDecodesOnBothSides() async throws {
        let db = try LiveServer.database("sluice_t_ddl")
        try db.execute("CREATE TABLE t (id int primary key, a varchar(10), b int)")
        let start = try LiveServer.position(db)
        try db.execute("INSERT INTO t VALUES (1, 'one', 10)")
        try db.execute("ALTER TABLE t ADD COLUMN c date")
        try db.execute("INSERT INTO t VALUES (2, 'two', 20, '2020-02-02')")
        try db.execute("ALTER TABLE t DROP COLUMN a")
        try db.execute("INSERT INTO t VALUES (3, 30, '2030-03-03')")
        try db.execute("ALTER TABLE t MODIFY COLUMN c date AFTER id")
        try db.execute("INSERT INTO t VALUES (4, '2040-04-04', 40)")
        try db.execute("UPDATE t SET b = 41 WHERE id = 4")
        let runtime = RecordingRuntime()
        try await runtime.run(["start_position": .string(start), "include": .list([.string("sluice_t_ddl.*")])])
        let events = runtime.events
        #expect(events.count == 5)
        let shapes = events.map { $0.after!.columns }
        #expect(shapes == [["id", "a", "b"], ["id", "a", "b", "c"], ["id", "b", "c"], ["id", "c", "b"], ["id", "c", "b"]])
        #expect(events[0].after!["a"] == .string("one"))
        #expect(events[1].after!["c"] == .date(18294))
        #expect(events[2].after!["b"] == .int(30))
        #expect(events[3].after!["c"] == .date(25661) && events[3].after!["b"] == .int(40))
        #expect(events.map(\.schemaVersion) == [1, 2, 3, 4, 4])
        #expect(runtime.schemas.map(\.version) == [1, 2, 3, 4])
    }

    @Test func restartResumesWithoutGapsOrDuplicates() async throws {
        let db = try LiveServer.database("sluice_t_restart")
        try db.execute("CREATE TABLE t (id int primary key, v int)")
        let start = try LiveServer.position(db)
        // A multi-row transaction (batches split inside it), single-row transactions and a rotation.
        try db.execute("INSERT INTO t VALUES " + (1...40).map { "(\($0), \($0))" }.joined(separator: ","))
        for id in 41...50 { try db.execute("INSERT INTO t VALUES (\(id), \(id))") }
        try db.execute("FLUSH BINARY LOGS")
        try db.execute("UPDATE t SET v = v + 1 WHERE id <= 45")
        try db.execute("DELETE FROM t WHERE id > 45")
        let config: [String: ConfigValue] = ["start_position": .string(start), "max_batch_events": .int(7),
                                             "tables": .list([.string("sluice_t_restart.t")])]
        let reference = RecordingRuntime()
        try await reference.run(config)
        let all = reference.events
        #expect(all.count == 100)
        // Crash after 1, 2, … batches; restart from the stored state each time.
        for crashAfter in [1, 3, 6] {
            let runtime = RecordingRuntime()
            try await runtime.runCrashing(after: crashAfter) { try await runtime.run(config) }
                try await runtime.run(config)
            let events = runtime.events
            #expect(events.count == all.count, "crash after \(crashAfter) batches")
            #expect(events.map(\.position) == all.map(\.position))
            #expect(events.map(\.after) == all.map(\.after) && events.map(\.before) == all.map(\.before))
        }
        let files = Set(all.map { $0.position.text.split(separator: ":")[0] })
        #expect(files.count == 2, "the events span the rotation")
    }

    @Test func compressedEventsDecode() async throws {
        let db = try LiveServer.database("sluice_t_compressed")
        try db.execute("CREATE TABLE t (id int primary key, v text)")
        try db.execute("SET GLOBAL log_bin_compress = ON")
        defer { try? db.execute("SET GLOBAL log_bin_compress = OFF") }
        let writer = try LiveServer.connect()
        try writer.execute("USE sluice_t_compressed")
        let start = try LiveServer.position(writer)
        try writer.execute("INSERT INTO t VALUES (1, repeat('compress me ', 100)), (2, 'x')")
        try writer.execute("UPDATE t SET v = 'y' WHERE id = 2")
        let runtime = RecordingRuntime()
        try await runtime.run(["start_position": .string(start), "tables": .list([.string("sluice_t_compressed.t")])])
        let events = runtime.events
        #expect(events.map(\.op) == [.insert, .insert, .update])
        #expect(events.first?.after?["v"] == .string(String(repeating: "compress me ", count: 100)))
    }
}
