import Foundation
import SluiceCore
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
        url["url"] = .string(LiveServer.url ?? "")
        let workload = try Workload(database: "sluice_t_incr")
        workload.start()

        // 1. A live source (never caught up) picks the request up while the writes go on.
        runtime.snapshotRequests.withLock { $0 = ["sluice_t_incr.t"] }
        let live = Task { try await MySQLSource(context: runtime.context(url, untilCaughtUp: false)).run() }
        let deadline = ContinuousClock.now + .seconds(90)
        while !runtime.snapshotRequests.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(runtime.snapshotRequests.withLock { $0.isEmpty }, "the live source did not finish the snapshot in 90 s")
        let firstReads = runtime.events.filter { $0.op == .read }.count
        // 2. The same again with --until-caught-up (chunks that need newer events reopen the stream), crashing
        // twice on the way: the snapshot resumes after the last chunk in the log.
        try await Task.sleep(for: .milliseconds(300))
        live.cancel()
        _ = await live.result
        runtime.snapshotRequests.withLock { $0 = ["sluice_t_incr.t"] }
        for crashAfter in [4, 7] {
            runtime.budget.withLock { $0 = crashAfter }
            do { try await runtime.run(config) } catch {}
        }
        runtime.budget.withLock { $0 = nil }
        try await runtime.run(config)
        #expect(runtime.snapshotRequests.withLock { $0.isEmpty })
        try workload.stop()
        try await runtime.run(config)  // the rest of the stream

        let events = runtime.events
        let disorder = zip(events, events.dropFirst()).first { !$0.position.sortKey.lexicographicallyPrecedes($1.position.sortKey) }
        #expect(disorder == nil, "positions not increasing: \(disorder.map { "\($0.op) \($0.position.text) then \($1.op) \($1.position.text)" } ?? "")")
        #expect(workload.changes > 100, "the writes ran during the snapshots (\(workload.changes) changes)")
        #expect(firstReads >= 5_000, "\(firstReads) rows read by the live snapshot")
        let table = try db.query("SELECT id, v, s FROM t")
        ChangeChecker.check(events.map(CheckedChange.init), table: table, "incremental snapshots", incrementalReads: true)
        #expect(runtime.stored.withLock { $0.state[MySQLIncrementalState.key] } == nil, "progress left after the end")
    }

    @Test func incrementalSnapshotOfAnUncapturedTableIsRefused() async throws {
        let db = try LiveServer.database("sluice_t_incr_refused")
        try Workload.createTable(db, rows: 10)
        let runtime = RecordingRuntime()
        runtime.snapshotRequests.withLock { $0 = ["sluice_t_incr_refused.nope", "sluice_t_incr_refused.t"] }
        try await runtime.run(["start_position": .string(try LiveServer.position(db)), "snapshot_mode": .string("never"),
                               "snapshot_chunk_size": .int(3), "include": .list([.string("sluice_t_incr_refused.t")])])
        // The request for a table this source does not capture is cleared without rows; the other one is done.
        #expect(runtime.snapshotRequests.withLock { $0 }.isEmpty)
        let reads = runtime.events.filter { $0.op == .read }
        #expect(reads.count == 10)
        // Four chunks put at the same point of a quiet binlog still get increasing positions.
        #expect(zip(reads, reads.dropFirst()).allSatisfy { $0.position.sortKey.lexicographicallyPrecedes($1.position.sortKey) })
    }
}
