import Foundation
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceMySQL

/// Snapshot, GTID state and purged-binlog tests against the shared live MariaDB; in the serialized live suite
/// because one of them purges binary logs.
extension LiveMariaDBTests {
    @Test func snapshotValuesMatchTheBinlogsExactly() async throws {
        let (_, start) = try Self.everyTypeTable("sluice_t_snaptypes")
        let streamed = RecordingRuntime()
        try await streamed.run(["start_position": .string(start), "tables": .list([.string("sluice_t_snaptypes.t")])])
        let snapshot = RecordingRuntime()
        try await snapshot.run(["snapshot_mode": .string("initial_only"), "snapshot_chunk_size": .int(2),
                                "tables": .list([.string("sluice_t_snaptypes.t")])])
        let read = snapshot.events
        #expect(read.count == 3 && read.allSatisfy { $0.op == .read && $0.isSnapshot })
        let inserts = streamed.events
        #expect(inserts.count == 3)
        for (ours, binlog) in zip(read, inserts) {
            for (index, name) in binlog.after!.columns.enumerated() {
                #expect(ours.after!.values[index] == binlog.after!.values[index],
                        "\(name): snapshot \(ours.after!.values[index]) vs binlog \(binlog.after!.values[index])")
            }
        }
        let snapshotSchema = try #require(snapshot.schemas.first), binlogSchema = try #require(streamed.schemas.first)
        #expect(snapshotSchema.hasSameShape(as: binlogSchema))
        for (a, b) in zip(snapshotSchema.columns, binlogSchema.columns) where a != b { Issue.record("schema: \(a) vs \(b)") }
    }

    @Test func snapshotUnderConcurrentWritesThenStreaming() async throws {
        let (db, workload) = try Workload.startedOnNewTable(database: "sluice_t_snapconc", rows: 20_000)
        let runtime = RecordingRuntime()
        let config: [String: ConfigValue] = ["snapshot_mode": .string("initial"), "snapshot_chunk_size": .int(500),
                                             "max_batch_events": .int(300), "include": .list([.string("sluice_t_snapconc.*")])]
        try await runtime.run(config)
        // The writes go on past the snapshot, so that the second run streams some.
        #expect(try await workload.waitForChanges(moreThan: workload.changes + 20), "the writes stopped")
        try workload.stop()
        try await runtime.run(config)  // the rest of the stream
        let events = runtime.events
        let reads = events.filter { $0.op == .read }.count
        #expect(reads >= 20_000 - workload.changes && events.count > reads, "\(reads) rows read, \(events.count) events")
        #expect(workload.changes > 50, "the writes ran during the snapshot (\(workload.changes) changes)")
        let table = try db.query("SELECT id, v, s FROM t")
        ChangeChecker.check(events.map(CheckedChange.init), table: table, "snapshot then stream")
        let state = try MySQLSnapshotState.decode(try #require(runtime.state(MySQLSnapshotState.key)))
        #expect(state.done && state.tables.count == 1 && state.tables[0].rowsDone == Int64(reads))
    }

    @Test func interruptedSnapshotResumesUnderANewSnapshot() async throws {
        let (db, workload) = try Workload.startedOnNewTable(database: "sluice_t_snapresume", rows: 15_000)
        let runtime = RecordingRuntime()
        let config: [String: ConfigValue] = ["snapshot_mode": .string("initial"), "snapshot_chunk_size": .int(400),
                                             "include": .list([.string("sluice_t_snapresume.*")])]
        for crashAfter in [6, 9] {
            try await runtime.runCrashing(after: crashAfter) { try await runtime.run(config) }
            // Writes between the crashes, so that each restart snapshots a changed table.
            #expect(try await workload.waitForChanges(moreThan: workload.changes + 20), "the writes stopped")
        }
        try await runtime.run(config)
        try workload.stop()
        try await runtime.run(config)
        let state = try MySQLSnapshotState.decode(try #require(runtime.state(MySQLSnapshotState.key)))
        #expect(state.done && state.tables[0].segments.count == 3, "segments: \(state.tables[0].segments)")
        let events = runtime.events
        let table = try db.query("SELECT id, v, s FROM t")
        ChangeChecker.check(events.map(CheckedChange.init), table: table, "resumed snapshot")
    }

    @Test func gtidStateIsStoredWithThePosition() async throws {
        let db = try LiveServer.database("sluice_t_gtid")
        try db.execute("CREATE TABLE t (id int primary key)")
        let start = try LiveServer.position(db)
        for id in 1...5 { try db.execute("INSERT INTO t VALUES (\(id))") }
        let runtime = RecordingRuntime()
        try await runtime.run(["start_position": .string(start), "tables": .list([.string("sluice_t_gtid.t")])])
        let resume = try MySQLResumeState.decode(try #require(runtime.state(MySQLResumeState.key)))
        let server = try db.query("SELECT @@gtid_binlog_pos")[0][0]
        #expect(resume.gtidState == server && resume.gtidState != nil, "stored \(resume.gtidState ?? "nil"), server \(server ?? "nil")")
        // A snapshot stores the GTID state of its consistent point.
        let snapshot = RecordingRuntime()
        try await snapshot.run(["snapshot_mode": .string("initial_only"), "tables": .list([.string("sluice_t_gtid.t")])])
        let point = try MySQLResumeState.decode(try #require(snapshot.state(MySQLResumeState.key)))
        #expect(point.gtidState == server)
    }

    /// `start_position: latest` is resolved once: a source that fails before its first change (a connection cut)
    /// resumes where it started, not at the newer latest position (which skipped the changes in between).
    @Test func latestStartIsStoredBeforeTheFirstChange() async throws {
        let db = try LiveServer.database("sluice_t_latest")
        try db.execute("CREATE TABLE t (id int primary key)")
        let runtime = RecordingRuntime()
        var values: [String: ConfigValue] = ["tables": .list([.string("sluice_t_latest.t")])]
        values["url"] = .string(try TestServers.mysql())
        let source = try MySQLSource(context: runtime.context(values, untilCaughtUp: false))
        let streaming = Task { try await source.run() }
        let stored = try await waitUntil(timeout: 3) { runtime.state(MySQLResumeState.key) != nil }
        streaming.cancel()  // the crash: within a second, long before an idle source stores its position on its own
        _ = await streaming.result
        #expect(stored, "the start position was not stored at start")
        try db.execute("INSERT INTO t VALUES (1)")
        try await runtime.run(["tables": .list([.string("sluice_t_latest.t")])])
        #expect(runtime.events.map(\.op) == [.insert], "the change made after the crash was skipped")
    }

    @Test func purgedPositionIsAClearErrorOrTakesANewSnapshot() async throws {
        let db = try LiveServer.database("sluice_t_purge")
        try db.execute("CREATE TABLE t (id int primary key, v int)")
        try db.execute("INSERT INTO t VALUES (1, 1), (2, 2)")
        let runtime = RecordingRuntime()
        let tables: [String: ConfigValue] = ["tables": .list([.string("sluice_t_purge.t")])]
        try await runtime.run(tables)  // stores the current position
        try db.execute("INSERT INTO t VALUES (3, 3)")
        try db.execute("FLUSH BINARY LOGS")
        try db.execute("INSERT INTO t VALUES (4, 4)")
        try db.execute("DELETE FROM t WHERE id = 2")  // lost with the purged binlog: the re-snapshot must clear row 2
        try db.execute("FLUSH BINARY LOGS")
        let current = try db.query("SHOW MASTER STATUS")[0][0]!
        try db.execute("PURGE BINARY LOGS TO '\(current)'")
        do {
            try await runtime.run(tables)
            Issue.record("resuming from a purged binlog did not fail")
        } catch let error as SluiceError {
            #expect(error.message.contains("purged") && error.hint?.contains("when_needed") == true, "\(error)")
        }
        var resnapshot = tables
        resnapshot["snapshot_mode"] = .string("when_needed")
        let before = runtime.events.count
        try await runtime.run(resnapshot)
        let again = runtime.events.dropFirst(before)
        #expect(again.first?.op == .truncate, "the re-snapshot does not start with a truncate: \(again.map(\.op))")
        #expect(Set(again.filter { $0.op == .read }.compactMap { $0.after?["id"] }) == [.int(1), .int(3), .int(4)])
        // Replayed in order, everything captured leaves exactly the table's rows (row 2 does not survive).
        var rows: Set<Value> = []
        for event in runtime.events {
            switch event.op {
            case .read, .insert, .update: if let id = event.after?["id"] { rows.insert(id) }
            case .delete: if let id = event.before?["id"] { rows.remove(id) }
            case .truncate: rows.removeAll()
            default: break
            }
        }
        #expect(rows == [.int(1), .int(3), .int(4)])
        try db.execute("INSERT INTO t VALUES (5, 5)")
        try await runtime.run(resnapshot)
        #expect(runtime.events.last?.op == .insert && runtime.events.last?.after?["id"] == .int(5))
    }
}
