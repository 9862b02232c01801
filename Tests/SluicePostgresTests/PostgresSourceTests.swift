import Foundation
import SluiceCore
import SluicePostgres
import SluiceRuntime
import SluiceTestSupport
import Testing

@Suite("PostgreSQL source against a real server", .needsPostgres)
struct PostgresSourceTests {
    private func names(_ base: String) -> (table: String, slot: String, publication: String) {
        let name = uniqueName(base)
        return (name, name + "_slot", name + "_pub")
    }

    private func config(_ n: (table: String, slot: String, publication: String), _ extra: [String: ConfigValue] = [:])
        -> [String: ConfigValue]
    {
        var values: [String: ConfigValue] = [
            "slot": .string(n.slot), "publication": .string(n.publication), "tables": .list([.string(n.table)]),
            "status_interval": .duration(1),
        ]
        for (key, value) in extra { values[key] = value }
        return values
    }

    // MARK: Types

    private static let typeColumns: [(name: String, type: String, expected: String)] = [
        ("b", "bool", "b::text"), ("i2", "int2", "i2::text"), ("i4", "int4", "i4::text"), ("i8", "int8", "i8::text"),
        ("n", "numeric", "n::text"), ("n2", "numeric(30,6)", "n2::text"), ("f4", "float4", "f4::text"),
        ("f8", "float8", "f8::text"), ("ch", "char(5)", "ch::text"), ("vc", "varchar(20)", "vc::text"),
        ("tx", "text", "tx::text"), ("by", "bytea", "by::text"), ("d", "date", "d::text"), ("tm", "time", "tm::text"),
        ("ttz", "timetz", "ttz::text"), ("ts", "timestamp", "ts::text"), ("tstz", "timestamptz", "tstz::text"),
        ("iv", "interval", """
            ((extract(year from iv) * 12 + extract(month from iv))::int || ' ' || extract(day from iv)::int || ' ' ||
             (extract(hour from iv) * 3600000000 + extract(minute from iv) * 60000000
              + extract(microseconds from iv))::bigint)
            """),
        ("u", "uuid", "u::text"), ("j", "json", "j::text"), ("jb", "jsonb", "jb::text"), ("ai", "int[]", "ai::text"),
        ("atx", "text[]", "atx::text"), ("an", "numeric[]", "an::text"), ("ats", "timestamptz[]", "ats::text"),
        ("a2", "int[][]", "a2::text"), ("e", "MOOD", "e::text"), ("dom", "POSINT", "dom::text"),
        ("comp", "PAIR", "row_to_json(comp)::text"), ("ip", "inet", "ip::text"), ("cid", "cidr", "cid::text"),
        ("mac", "macaddr", "mac::text"), ("m", "money", "m::numeric::text"), ("bt", "bit(4)", "bt::text"),
        ("vb", "varbit", "vb::text"), ("pt", "point", "pt::text"), ("ae", "MOOD[]", "ae::text"),
    ]

    private static let typeRows: [String] = [
        """
        true, 32767, -2147483648, 9223372036854775807, 12345678901234567890.0123456789, -0.000001, 1.1, 0.1,
        'ab', 'héllo "x"', E'line\\nbreak\\ttab', '\\x00ff10', '2024-02-29', '23:59:59.999999', '12:00:00+05:30',
        '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.5-08', '1 year 2 months -3 days 04:05:06.789',
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, null], "b": "x"}', '{"b": 2, "a": [1, 2.50]}',
        '{1,NULL,-3}', ARRAY['a b', 'c"d', 'e\\f', '', 'NULL', NULL], '{1.50,NaN,-2}',
        ARRAY['2024-01-01 00:00:00+00'::timestamptz, 'infinity'], '{{1,2},{3,4}}', 'happy', 7, ROW(1, 'x, y'),
        '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', 1234.56, B'1010', B'101', '(1.5,2)', '{sad,happy}'
        """,
        """
        false, -32768, 0, -9223372036854775808, 'NaN', 99999999999999999999999.999999, 'NaN', '-Infinity',
        '', '', '', '\\x', '0044-03-15 BC', '00:00:00', '00:00:00-08', 'infinity', '-infinity', '-1 mons -00:00:00.5',
        '00000000-0000-0000-0000-000000000000', 'null', '[]', '{}', '{}', '{Infinity,-Infinity}', '{}', '{{NULL}}',
        'sad', 1, ROW(NULL, NULL), '::1', '::/0', 'ff:ff:ff:ff:ff:ff', -0.01, B'0000', B'', '(0,0)', '{}'
        """,
        "NULL, NULL, NULL, NULL, NULL, NULL, 'Infinity', NULL, NULL, NULL, NULL, NULL, 'infinity', '24:00:00', NULL,"
            + " '0001-01-01 00:00:00 BC', '200000-12-31 23:59:59.999999+00', 'PT0S', NULL, NULL, NULL, NULL, NULL,"
            + " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL",
    ]

    @Test("every type round-trips exactly, from the snapshot and from the stream")
    func typesRoundTrip() async throws {
        let url = try TestServers.postgres()
        let n = names("types")
        let suffix = n.table
        let columns = Self.typeColumns.map { column -> (name: String, type: String, expected: String) in
            (column.name, column.type.replacingOccurrences(of: "MOOD", with: "mood_\(suffix)")
                .replacingOccurrences(of: "POSINT", with: "posint_\(suffix)")
                .replacingOccurrences(of: "PAIR", with: "pair_\(suffix)"), column.expected)
        }
        try psql(url, """
            CREATE TYPE mood_\(suffix) AS ENUM ('sad', 'happy');
            CREATE DOMAIN posint_\(suffix) AS int CHECK (VALUE > 0);
            CREATE TYPE pair_\(suffix) AS (a int, b text);
            CREATE TABLE \(n.table) (id int PRIMARY KEY, \(columns.map { "\($0.name) \($0.type)" }.joined(separator: ", ")));
            """)
        defer {
            cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table])
            _ = try? psql(url, "DROP TYPE IF EXISTS mood_\(suffix), pair_\(suffix) CASCADE; DROP DOMAIN IF EXISTS posint_\(suffix)")
        }
        let columnList = columns.map(\.name).joined(separator: ", ")
        for (index, row) in Self.typeRows.enumerated() {
            try psql(url, "INSERT INTO \(n.table) (id, \(columnList)) VALUES (\(index + 1), \(row))")
        }
        let log = RecordingRuntime()
        let context = log.context(url: url, config(n))
        try await runSource(context) {
            if log.events(of: n.table).count == 3 && recordingFailure("counting rows", { try psql(url, "SELECT count(*) FROM \(n.table) WHERE id > 100") }) == "0" {
                _ = recordingFailure("copying rows") { try psql(url, "INSERT INTO \(n.table) SELECT id + 100, \(columnList) FROM \(n.table) WHERE id < 100") }
            }
            return log.events(of: n.table).count >= 6
        }
        let events = log.events(of: n.table)
        #expect(events.filter(\.isSnapshot).count == 3)
        #expect(events.filter { $0.op == .insert }.count == 3)
        let expectedSQL = "SELECT id, " + columns.map { column in
            let text = column.expected == "\(column.name)::text" ? "format('%s', \(column.name))" : column.expected
            // A composite whose fields are all NULL is itself `IS NULL` in SQL: test it through its JSON.
            if column.expected.hasPrefix("row_to_json") { return "coalesce(\(column.expected), '<NULL>')" }
            return "CASE WHEN \(column.name) IS NULL THEN '<NULL>' ELSE \(text) END"
        }.joined(separator: ", ")
            + " FROM \(n.table) ORDER BY id"
        let expectedRows = try psql(url, expectedSQL).split(separator: "\u{1E}").map { $0.split(separator: "\u{1F}",
                                                                                        omittingEmptySubsequences: false) }
        var mismatches: [String] = []
        for expected in expectedRows {
            let id = Int64(expected[0])!
            guard let event = events.first(where: { $0.after?["id"] == .int(id) }), let after = event.after else {
                mismatches.append("row \(id) missing")
                continue
            }
            for (index, column) in columns.enumerated() {
                let ours = PgTextRendering.render(after[column.name] ?? .unchanged, float4: column.type == "float4")
                if ours != String(expected[index + 1]) {
                    mismatches.append("row \(id) \(column.name) (\(column.type)): ours \(ours) server \(expected[index + 1])")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        // The schema names each type and kind.
        let schema = try #require(log.schemas.last { $0.table.name == n.table })
        #expect(schema.columns.first { $0.name == "n2" }?.precision == 30)
        #expect(schema.columns.first { $0.name == "n2" }?.scale == 6)
        #expect(schema.columns.first { $0.name == "dom" }?.kind == .int)
        #expect(schema.columns.first { $0.name == "ai" }?.elementKind == .int)
        #expect(schema.columns.first { $0.name == "pt" }?.sourceType == "point")
        #expect(schema.primaryKey == ["id"])
    }

    // MARK: Snapshot and streaming

    @Test("a snapshot under concurrent writes, then streaming, equals the table; restart neither loses nor doubles")
    func snapshotConcurrentAndRestart() async throws {
        let url = try TestServers.postgres()
        let n = names("snap")
        try psql(url, """
            CREATE TABLE \(n.table) (id int PRIMARY KEY, v int NOT NULL, note text);
            INSERT INTO \(n.table) SELECT g, 0, 'n' || g FROM generate_series(1, 20000) g;
            """)
        defer { cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table]) }
        // Concurrent writer: updates, inserts and deletes while the snapshot runs.
        let writer = Task.detached {
            for round in 1...40 {
                try psql(url, """
                    UPDATE \(n.table) SET v = v + 1 WHERE id % 97 = \(round % 97);
                    INSERT INTO \(n.table) VALUES (\(100_000 + round), \(round), 'new');
                    DELETE FROM \(n.table) WHERE id = \(round * 300);
                    """)
            }
        }
        let log = RecordingRuntime()
        let context = log.context(url: url, config(n, ["snapshot_chunk_size": .int(1000)]))
        // First run: stop after part of the snapshot.
        try await runSource(context, until: { log.events(of: n.table).count >= 5000 })
        try await writer.value
        // Second run: resumes the snapshot under a new exported snapshot, then streams.
        try psql(url, "INSERT INTO \(n.table) SELECT g, 1, 'late' FROM generate_series(200001, 200100) g")
        try await runSource(log.context(url: url, config(n, ["snapshot_chunk_size": .int(1000)])), until: {
            self.replay(log.events(of: n.table)) == recordingFailure("reading the table", { try self.tableState(url, n.table) })
        })
        // Third run after more writes: nothing missing, nothing doubled.
        let before = log.events(of: n.table).filter { !$0.isSnapshot }.count
        try psql(url, "UPDATE \(n.table) SET v = v + 10 WHERE id <= 50; DELETE FROM \(n.table) WHERE id BETWEEN 51 AND 60")
        try await runSource(log.context(url: url, config(n)), until: {
            self.replay(log.events(of: n.table)) == recordingFailure("reading the table", { try self.tableState(url, n.table) })
        })
        let streamed = log.events(of: n.table).filter { !$0.isSnapshot }
        #expect(streamed.count == before + 60)
        let positions = streamed.map(\.position)
        #expect(Set(positions).count == positions.count, "a streamed change was emitted twice")
        #expect(zip(positions, positions.dropFirst()).allSatisfy { $0 < $1 }, "positions must increase")
    }

    @Test("a snapshot of a table with a text and uuid primary key resumes after a restart without losing or keeping stale rows")
    func snapshotTextKeyRestart() async throws {
        let url = try TestServers.postgres()
        let n = names("snaptext")
        try psql(url, """
            CREATE TABLE \(n.table) (k text, u uuid, v int NOT NULL, PRIMARY KEY (k, u));
            INSERT INTO \(n.table) SELECT 'key ' || (g % 37), md5(g::text)::uuid, g FROM generate_series(1, 30000) g;
            """)
        defer { cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table]) }
        let log = RecordingRuntime()
        // First run: stop after part of the snapshot.
        try await runSource(log.context(url: url, config(n, ["snapshot_chunk_size": .int(500)])), until: {
            log.events(of: n.table).count >= 3000
        })
        let firstRun = log.events(of: n.table)
        #expect(firstRun.count < 30000, "the first run was meant to stop mid-snapshot")
        // Within one run, keyset chunks over the text and uuid key read each row once.
        let firstKeys = firstRun.compactMap { $0.after.map(textKey) }
        #expect(Set(firstKeys).count == firstKeys.count, "a row was read twice")
        // Meanwhile rows read in the first run change and go; then the snapshot resumes and streaming follows.
        try psql(url, """
            DELETE FROM \(n.table) WHERE v % 10 = 0;
            UPDATE \(n.table) SET v = -v WHERE v % 7 = 0;
            INSERT INTO \(n.table) SELECT 'late ' || g, md5('late' || g)::uuid, g FROM generate_series(1, 100) g;
            """)
        try await runSource(log.context(url: url, config(n, ["snapshot_chunk_size": .int(500)])), until: {
            self.replayText(log.events(of: n.table)) == recordingFailure("reading the table", { try self.textTableState(url, n.table) })
        })
        let events = log.events(of: n.table)
        let resumed = events[firstRun.count...]
        #expect(resumed.first?.op == .truncate, "the interrupted table is cleared before it is read again")
        let secondKeys = resumed.filter { $0.op == .read }.compactMap { $0.after.map(textKey) }
        #expect(Set(secondKeys).count == secondKeys.count, "a row was read twice")
        // Later changes stream through.
        try psql(url, "UPDATE \(n.table) SET v = v + 1000 WHERE k = 'key 3'; DELETE FROM \(n.table) WHERE k = 'key 4'")
        try await runSource(log.context(url: url, config(n)), until: {
            self.replayText(log.events(of: n.table)) == recordingFailure("reading the table", { try self.textTableState(url, n.table) })
        })
    }

    private func textKey(_ row: Row) -> String {
        "\(PgTextRendering.render(row["k"] ?? .null))|\(PgTextRendering.render(row["u"] ?? .null))"
    }

    /// Applies events in log order to get the rows of a (k, u)-keyed table ("k|u" → v).
    private func replayText(_ events: [ChangeEvent]) -> [String: String] {
        replay(events, key: textKey) { PgTextRendering.render($0["v"] ?? .null) }
    }

    private func textTableState(_ url: String, _ table: String) throws -> [String: String] {
        try psqlRows(url, "SELECT k, u, v FROM \(table)").reduce(into: [:]) { rows, parts in
            rows["\(parts[0])|\(parts[1])"] = String(parts[2])
        }
    }

    /// Applies events in log order to get the table's rows (id → "v|note").
    private func replay(_ events: [ChangeEvent]) -> [Int64: String] {
        replay(events, key: { row -> Int64? in if case .int(let id)? = row["id"] { return id } else { return nil } }) { after in
            "\(PgTextRendering.render(after["v"] ?? .null))|\(PgTextRendering.render(after["note"] ?? .null))"
        }
    }

    private func tableState(_ url: String, _ table: String) throws -> [Int64: String] {
        try psqlRows(url, "SELECT id, v, coalesce(note, '<NULL>') FROM \(table)").reduce(into: [:]) { rows, parts in
            rows[Int64(parts[0])!] = "\(parts[1])|\(parts[2])"
        }
    }

    /// Applies events in log order to get a table's rows: `key` of each image (nil: skip it) → `value` of the
    /// after image; an update first removes its before image's key, a delete removes it, a truncate empties all.
    private func replay<Key: Hashable>(
        _ events: [ChangeEvent], key: (Row) -> Key?, value: (Row) -> String
    ) -> [Key: String] {
        var rows: [Key: String] = [:]
        for event in events {
            switch event.op {
            case .read, .insert, .update:
                guard let after = event.after, let newKey = key(after) else { continue }
                if let before = event.before, let oldKey = key(before) { rows[oldKey] = nil }
                rows[newKey] = value(after)
            case .delete:
                if let before = event.before, let oldKey = key(before) { rows[oldKey] = nil }
            case .truncate: rows = [:]
            default: break
            }
        }
        return rows
    }

    /// The rows psql prints for `query`, each split into its fields.
    private func psqlRows(_ url: String, _ query: String) throws -> [[Substring]] {
        try psql(url, query).split(separator: "\u{1E}").map {
            $0.split(separator: "\u{1F}", omittingEmptySubsequences: false)
        }
    }

    @Test("an UPDATE that leaves a TOASTed column unchanged carries the unchanged marker, never null")
    func toastUnchanged() async throws {
        let url = try TestServers.postgres()
        let n = names("toast")
        try psql(url, "CREATE TABLE \(n.table) (id int PRIMARY KEY, v int, big text)")
        defer { cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table]) }
        let log = RecordingRuntime()
        try await runSource(log.context(url: url, config(n, ["snapshot_mode": .string("never")])), until: {
            if slotActive(url, n.slot), recordingFailure("counting rows", { try psql(url, "SELECT count(*) FROM \(n.table)") }) == "0" {
                _ = recordingFailure("writing the test changes") {
                    try psql(url, """
                        INSERT INTO \(n.table) VALUES (1, 1, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 4000) g));
                        UPDATE \(n.table) SET v = 2 WHERE id = 1;
                        """)
                }
            }
            return log.events(of: n.table).count >= 2
        })
        let update = try #require(log.events(of: n.table).first { $0.op == .update })
        #expect(update.after?["big"] == .unchanged)
        #expect(update.after?["v"] == .int(2))
        #expect(update.after?.unchangedColumns == ["big"])
        let insert = try #require(log.events(of: n.table).first { $0.op == .insert })
        if case .string(let big)? = insert.after?["big"] { #expect(big.utf8.count == 128_000) } else { Issue.record("no big") }
    }

    @Test("column add and drop mid-stream give new schema versions before the events that use them")
    func schemaChanges() async throws {
        let url = try TestServers.postgres()
        let n = names("ddl")
        try psql(url, "CREATE TABLE \(n.table) (id int PRIMARY KEY, a text)")
        defer { cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table]) }
        let log = RecordingRuntime()
        let step = Box(0)
        try await runSource(log.context(url: url, config(n, ["snapshot_mode": .string("never")])), until: {
            let count = log.events(of: n.table).count
            if count == 0 && step.value == 0 && slotActive(url, n.slot) {
                step.value = 1
                _ = recordingFailure("writing the test changes") {
                    try psql(url, """
                        INSERT INTO \(n.table) VALUES (1, 'x');
                        ALTER TABLE \(n.table) ADD COLUMN b numeric(10,2);
                        INSERT INTO \(n.table) VALUES (2, 'y', 1.50);
                        ALTER TABLE \(n.table) DROP COLUMN a;
                        INSERT INTO \(n.table) VALUES (3, 2.25);
                        ALTER TABLE \(n.table) RENAME COLUMN b TO c;
                        UPDATE \(n.table) SET c = 3 WHERE id = 3;
                        TRUNCATE \(n.table);
                        """)
                }
            }
            return count >= 5
        })
        let events = log.events(of: n.table)
        #expect(events.map(\.op) == [.insert, .insert, .insert, .update, .truncate])
        #expect(events.map(\.schemaVersion) == [1, 2, 3, 4, 4])
        let versions = log.schemas.filter { $0.table.name == n.table }
        #expect(versions.map(\.version) == [1, 2, 3, 4])
        #expect(versions.map { $0.columns.map(\.name) } == [["id", "a"], ["id", "a", "b"], ["id", "b"], ["id", "c"]])
        if events.count > 1 { #expect(events[1].after?["b"] == .decimal(ExactDecimal("1.50")!)) }
    }

    @Test("messages, transaction markers and order within a transaction")
    func messagesAndMarkers() async throws {
        let url = try TestServers.postgres()
        let n = names("msg")
        try psql(url, "CREATE TABLE \(n.table) (id int PRIMARY KEY)")
        defer { cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table]) }
        let log = RecordingRuntime()
        let prefix = "outbox_\(n.table)"
        let sent = Box(false)
        try await runSource(log.context(url: url, config(n, ["snapshot_mode": .string("never"),
                                                              "emit_transaction_markers": .bool(true)])), until: {
            if !sent.value && slotActive(url, n.slot) {
                sent.value = true
                _ = recordingFailure("writing the test changes") {
                    try psql(url, """
                        BEGIN; INSERT INTO \(n.table) VALUES (1);
                        SELECT pg_logical_emit_message(true, '\(prefix)', '{"order": 1}');
                        INSERT INTO \(n.table) VALUES (2); COMMIT;
                        """)
                }
            }
            return log.events.contains { $0.op == .commit }
        })
        let events = log.events.filter { $0.table.name == n.table || $0.table.name == prefix || $0.op == .begin || $0.op == .commit }
        #expect(events.map(\.op) == [.begin, .insert, .message, .insert, .commit])
        #expect(events.map { $0.orderInTransaction ?? -1 } == [0, 1, 2, 3, 4])
        #expect(Set(events.map { $0.transactionID ?? "" }).count == 1)
        let message = events[2]
        #expect(message.table.schema == "_messages")
        #expect(message.after?["content"] == .string(#"{"order": 1}"#))
        #expect(message.after?["transactional"] == .bool(true))
    }

    @Test("a 200k-row transaction streamed by the server stays within bounded memory")
    func largeTransaction() async throws {
        let url = try TestServers.postgres()
        let n = names("big")
        try psql(url, "CREATE TABLE \(n.table) (id int PRIMARY KEY, pad text)")
        defer { cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table]) }
        let log = RecordingRuntime()
        let sent = Box(false)
        let rows = 200_000
        // A small server work_mem makes the server stream the transaction; a small buffer makes Sluice spill it.
        try await runSource(log.context(url: url, config(n, [
            "snapshot_mode": .string("never"), "logical_decoding_work_mem": .string("1MB"),
            "stream_buffer_memory": .size(4 << 20),
        ])), timeout: 180, until: {
            if !sent.value && slotActive(url, n.slot) {
                sent.value = true
                _ = recordingFailure("writing the test changes") {
                    try psql(url, """
                        BEGIN;
                        INSERT INTO \(n.table) SELECT g, repeat('x', 20) FROM generate_series(1, \(rows)) g;
                        SAVEPOINT s; INSERT INTO \(n.table) VALUES (-1, 'aborted'); ROLLBACK TO SAVEPOINT s;
                        COMMIT;
                        """)
                }
            }
            return log.events(of: n.table).count >= rows
        })
        let events = log.events(of: n.table)
        #expect(events.count == rows)
        #expect(!events.contains { $0.after?["id"] == .int(-1) }, "a rolled-back subtransaction leaked")
        #expect(Set(events.map(\.position)).count == rows)
        let stats = try psql(url, "SELECT stream_txns > 0 FROM pg_stat_replication_slots WHERE slot_name = '\(n.slot)'")
        #expect(stats == "t", "the server did not stream the transaction")
    }

    @Test("50 MB written to an uncaptured table does not make the slot retain WAL")
    func uncapturedWritesAdvanceSlot() async throws {
        let url = try TestServers.postgres()
        let n = names("idle")
        let other = n.table + "_other"
        try psql(url, "CREATE TABLE \(n.table) (id int PRIMARY KEY); CREATE TABLE \(other) (id int, pad text)")
        defer { cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table, other]) }
        let log = RecordingRuntime()
        let written = Box(false)
        let target = Box("")
        try await runSource(log.context(url: url, config(n, ["snapshot_mode": .string("never")])), timeout: 120, until: {
            if !written.value && slotActive(url, n.slot) {
                written.value = true
                let filled = recordingFailure("writing WAL for another table") {
                    try psql(url, "INSERT INTO \(other) SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 170000) g")
                }
                guard filled != nil,
                    let lsn = recordingFailure("reading the WAL position", { try psql(url, "SELECT pg_current_wal_lsn()") })
                else { return true }
                target.value = lsn
            }
            guard !target.value.isEmpty else { return false }
            let caught = recordingFailure("reading the slot's flush position") {
                try psql(url, """
                    SELECT confirmed_flush_lsn >= '\(target.value)'::pg_lsn FROM pg_replication_slots WHERE slot_name = '\(n.slot)'
                    """)
            }
            return caught == "t"
        })
        let retained = try psql(url, """
            SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) FROM pg_replication_slots
            WHERE slot_name = '\(n.slot)'
            """)
        #expect((Double(retained) ?? .infinity) < 1_000_000, "slot still retains \(retained) bytes")
        #expect(log.events(of: n.table).isEmpty)
    }

    @Test("until caught up returns after the changes committed before the start")
    func untilCaughtUp() async throws {
        let url = try TestServers.postgres()
        let n = names("catchup")
        try psql(url, "CREATE TABLE \(n.table) (id int PRIMARY KEY)")
        defer { cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table]) }
        let log = RecordingRuntime()
        // First run creates the slot and snapshots (empty), then returns.
        try await PostgresSource(context: log.context(url: url, config(n), untilCaughtUp: true)).run()
        try psql(url, "INSERT INTO \(n.table) SELECT generate_series(1, 500)")
        try await PostgresSource(context: log.context(url: url, config(n), untilCaughtUp: true)).run()
        #expect(log.events(of: n.table).count == 500)
        // Nothing new: returns at once and emits nothing more.
        try await PostgresSource(context: log.context(url: url, config(n), untilCaughtUp: true)).run()
        #expect(log.events(of: n.table).count == 500)
    }

    @Test("a dropped slot takes a new snapshot after a truncate of each table, so rows deleted meanwhile vanish; with snapshot_mode never it stops the source")
    func droppedSlotResnapshotsWithATruncate() async throws {
        let url = try TestServers.postgres()
        let n = names("lostslot")
        try psql(url, "CREATE TABLE \(n.table) (id int PRIMARY KEY); INSERT INTO \(n.table) VALUES (1), (2), (3)")
        defer { cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table]) }
        let log = RecordingRuntime()
        try await PostgresSource(context: log.context(url: url, config(n), untilCaughtUp: true)).run()
        try psql(url, "INSERT INTO \(n.table) VALUES (4)")
        try await PostgresSource(context: log.context(url: url, config(n), untilCaughtUp: true)).run()
        // The operator drops the slot; meanwhile a row is deleted and one inserted: neither change can be streamed.
        _ = waitUntilBlocking(timeout: 5, interval: 0.1) { !slotActive(url, n.slot) }
        try psql(url, "SELECT pg_drop_replication_slot('\(n.slot)')")
        try psql(url, "DELETE FROM \(n.table) WHERE id = 2; INSERT INTO \(n.table) VALUES (5)")
        do {
            try await PostgresSource(context: log.context(url: url, config(n, ["snapshot_mode": .string("never")]),
                                                          untilCaughtUp: true)).run()
            Issue.record("a lost slot with snapshot_mode never did not stop the source")
        } catch let error as SluiceError {
            #expect(error.message.contains("is gone") && error.hint?.contains("snapshot_mode") == true, "\(error)")
        }
        let before = log.events(of: n.table).count
        try await PostgresSource(context: log.context(url: url, config(n), untilCaughtUp: true)).run()
        let resnapshot = log.events(of: n.table).dropFirst(before)
        #expect(resnapshot.first?.op == .truncate, "\(resnapshot.map(\.op))")
        // Replayed in order, the events leave exactly the table's rows.
        #expect(replayedIDs(log.events(of: n.table)) == [1, 3, 4, 5])
    }

    @Test("a publication dropped under the slot stops the source with the fix (re-created or not), and the fix recovers")
    func droppedPublicationStopsTheSource() async throws {
        let url = try TestServers.postgres()
        let n = names("lostpub")
        try psql(url, "CREATE TABLE \(n.table) (id int PRIMARY KEY); INSERT INTO \(n.table) VALUES (1), (2)")
        defer { cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table]) }
        let log = RecordingRuntime()
        try await PostgresSource(context: log.context(url: url, config(n), untilCaughtUp: true)).run()
        try psql(url, "INSERT INTO \(n.table) VALUES (3)")
        _ = waitUntilBlocking(timeout: 5, interval: 0.1) { !slotActive(url, n.slot) }
        try psql(url, "DROP PUBLICATION \(n.publication)")
        try psql(url, "DELETE FROM \(n.table) WHERE id = 1")
        do {
            try await PostgresSource(context: log.context(url: url, config(n), untilCaughtUp: true)).run()
            Issue.record("a dropped publication did not stop the source")
        } catch let error as SluiceError {
            #expect(!error.isTransient && error.message.contains("does not exist but slot"), "\(error)")
            #expect(error.hint?.contains("pg_drop_replication_slot('\(n.slot)')") == true, "\(error)")
        }
        // Re-created by hand: the slot still cannot decode the delete made while it was gone; never retried forever.
        try psql(url, "CREATE PUBLICATION \(n.publication) FOR TABLE \(n.table)")
        do {
            try await PostgresSource(context: log.context(url: url, config(n), untilCaughtUp: true)).run()
            Issue.record("a re-created publication let the slot decode changes made while it was gone")
        } catch let error as SluiceError {
            #expect(!error.isTransient && error.hint?.contains("pg_drop_replication_slot") == true, "\(error)")
        }
        // The fix the errors name: drop the slot and run again.
        _ = waitUntilBlocking(timeout: 5, interval: 0.1) { !slotActive(url, n.slot) }
        try psql(url, "SELECT pg_drop_replication_slot('\(n.slot)')")
        try await PostgresSource(context: log.context(url: url, config(n), untilCaughtUp: true)).run()
        #expect(replayedIDs(log.events(of: n.table)) == [2, 3])
    }

    @Test("setup errors say what to fix")
    func setupErrors() async throws {
        let url = try TestServers.postgres()
        let n = names("setup")
        try psql(url, "CREATE TABLE \(n.table) (v int)")  // no key, default replica identity
        defer { cleanUp(url, slot: n.slot, publication: n.publication, tables: [n.table]) }
        let log = RecordingRuntime()
        do {
            try await PostgresSource(context: log.context(url: url, config(n))).run()
            Issue.record("expected a replica identity error")
        } catch let error as SluiceError {
            #expect(error.code == .sourceSetup)
            #expect(error.hint?.contains("REPLICA IDENTITY FULL") == true)
        }
        do {
            var values = config(n)
            values["password"] = .string("s3cret-do-not-print")
            try await PostgresSource(context: log.context(url: url.replacingOccurrences(of: "127.0.0.1", with: "127.0.0.1:1"),
                                                          values)).run()
        } catch {
            #expect(!"\(error)".contains("s3cret"))
        }
    }
}
