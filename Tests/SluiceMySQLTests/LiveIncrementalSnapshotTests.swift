import Foundation
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceMySQL

/// Incremental snapshots (`sluice snapshot`) while the binlog streams, against the shared live MariaDB.
extension LiveMariaDBTests {
    @Test func incrementalSnapshotUnderConcurrentWritesLosesAndDoublesNothing() async throws {
        let db = try LiveServer.database("sluice_t_incr")
        try Workload.createTable(db, rows: 6_000)
        // Streaming starts after the rows were written: only the incremental snapshot can bring them.
        let start = try LiveServer.position(db)
        let runtime = RecordingRuntime()
        let config: [String: ConfigValue] = [
            "start_position": .string(start), "snapshot_mode": .string("never"), "snapshot_chunk_size": .int(400),
            "max_batch_events": .int(250), "include": .list([.string("sluice_t_incr.*")]),
        ]
        var url = config
        url["url"] = .string(try TestServers.mysql())
        let workload = try Workload(database: "sluice_t_incr")
        workload.start()

        // 1. A live source (never caught up) picks the request up while the writes go on.
        runtime.setSnapshotRequests(["sluice_t_incr.t"])
        let live = Task { try await MySQLSource(context: runtime.context(url, untilCaughtUp: false)).run() }
        _ = try await waitUntil(timeout: 90) { runtime.pendingSnapshotRequests.isEmpty }
        #expect(runtime.pendingSnapshotRequests.isEmpty, "the live source did not finish the snapshot in 90 s")
        let firstReads = runtime.events.filter { $0.op == .read }.count
        // 2. The same again with --until-caught-up (chunks that need newer events reopen the stream), crashing
        // twice on the way: the snapshot resumes after the last chunk in the log.
        // Let the writes go on a little past the snapshot while the live source streams them.
        #expect(try await workload.waitForChanges(moreThan: workload.changes + 20), "the writes stopped")
        try await stopSource(live)
        runtime.setSnapshotRequests(["sluice_t_incr.t"])
        for crashAfter in [4, 7] {
            try await runtime.runCrashing(after: crashAfter) { try await runtime.run(config) }
        }
        try await runtime.run(config)
        #expect(runtime.pendingSnapshotRequests.isEmpty)
        try workload.stop()
        try await runtime.run(config)  // the rest of the stream

        let events = runtime.events
        let disorder = zip(events, events.dropFirst()).first { !$0.position.sortKey.lexicographicallyPrecedes($1.position.sortKey) }
        #expect(disorder == nil, "positions not increasing: \(disorder.map { "\($0.op) \($0.position.text) then \($1.op) \($1.position.text)" } ?? "")")
        #expect(workload.changes > 100, "the writes ran during the snapshots (\(workload.changes) changes)")
        #expect(firstReads >= 5_000, "\(firstReads) rows read by the live snapshot")
        let table = try db.query("SELECT id, v, s FROM t")
        ChangeChecker.check(events.map(CheckedChange.init), table: table, "incremental snapshots", incrementalReads: true)
        #expect(runtime.state(MySQLIncrementalState.key) == nil, "progress left after the end")
    }

    @Test func incrementalSnapshotOfAnUncapturedTableIsRefused() async throws {
        let db = try LiveServer.database("sluice_t_incr_refused")
        try Workload.createTable(db, rows: 10)
        let runtime = RecordingRuntime()
        runtime.setSnapshotRequests(["sluice_t_incr_refused.nope", "sluice_t_incr_refused.t"])
        try await runtime.run(["start_position": .string(try LiveServer.position(db)), "snapshot_mode": .string("never"),
                               "snapshot_chunk_size": .int(3), "include": .list([.string("sluice_t_incr_refused.t")])])
        // The request for a table this source does not capture is cleared without rows; the other one is done.
        #expect(runtime.pendingSnapshotRequests.isEmpty)
        let reads = runtime.events.filter { $0.op == .read }
        #expect(reads.count == 10)
        // Four chunks put at the same point of a quiet binlog still get increasing positions.
        #expect(zip(reads, reads.dropFirst()).allSatisfy { $0.position.sortKey.lexicographicallyPrecedes($1.position.sortKey) })
    }
}
