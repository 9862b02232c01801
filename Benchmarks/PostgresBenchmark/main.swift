// Benchmark: the PostgreSQL source against the PostgreSQL project's own tools, in the same run.
//
//   PostgresBenchmark [URL]        (default: $SLUICE_BENCH_PG_URL, else $SLUICE_TEST_PG_URL)
//
// 1. Streaming: /work/shared/bench/pg-workload.sh (~270k changes) decoded by pg_recvlogical (pg-peer.sh) from
//    one slot and by Sluice from another, into a durable SQLite log (sync full), to the same end LSN.
// 2. Snapshot: 1M rows read by Sluice (initial_only, into the durable log) vs `\copy (select …) to /dev/null`.
// Prints both figures and the ratio for each, and peak RSS. Environment: SLUICE_BENCH_DIR (the scripts),
// SLUICE_BENCH_ROWS (workload rows, default 200000), SLUICE_BENCH_SNAPSHOT_ROWS (default 1000000),
// SLUICE_BENCH_RUNS (snapshot repetitions for a median, default 3), SLUICE_BENCH_BIG_TX_ROWS (rows of the single
// large transaction of part 3, default 2000000), SLUICE_BENCH_LATENCY_RATE (transactions/s of part 4, default 2000),
// SLUICE_BENCH_LATENCY_SECONDS (default 10), SLUICE_BENCH_PARTS (default stream,snapshot,bigtx,latency).
// 3. One 2M-row transaction (the server streams it in progress; Sluice buffers it within stream_buffer_memory and
//    spills the rest), decoded into the durable log: time and peak RSS during that part.
// 4. Commit-to-log latency: pgbench commits one-row transactions at a steady rate (-R) while Sluice streams them into
//    the durable log; per transaction, the time from its commit (server commit timestamp) until the append of its
//    batch returned. Prints the achieved rate, p50/p99/max and peak RSS during that part.
import Foundation
import Logging
import SluiceCore
import SluiceLog
import SluicePostgres
import SluiceRuntime

let environment = ProcessInfo.processInfo.environment
guard let url = CommandLine.arguments.dropFirst().first ?? environment["SLUICE_BENCH_PG_URL"]
    ?? environment["SLUICE_TEST_PG_URL"] else {
    FileHandle.standardError.write(Data("usage: PostgresBenchmark POSTGRES_URL (or set SLUICE_TEST_PG_URL)\n".utf8))
    exit(2)
}
/// The shared benchmark scripts, beside the repository (`../shared/bench`).
let scripts = environment["SLUICE_BENCH_DIR"] ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("shared/bench").path
let workloadRows = Int(environment["SLUICE_BENCH_ROWS"] ?? "") ?? 200_000
let snapshotRows = Int(environment["SLUICE_BENCH_SNAPSHOT_ROWS"] ?? "") ?? 1_000_000
/// SLUICE_BENCH_NO_LOG=1 measures the connector alone (events encoded but not appended).
let skipLog = environment["SLUICE_BENCH_NO_LOG"] != nil
let target = skipLog ? "without the log (SLUICE_BENCH_NO_LOG)" : "into durable log"
let runs = max(1, Int(environment["SLUICE_BENCH_RUNS"] ?? "") ?? 3)
let bigTransactionRows = Int(environment["SLUICE_BENCH_BIG_TX_ROWS"] ?? "") ?? 2_000_000
let latencyRate = Int(environment["SLUICE_BENCH_LATENCY_RATE"] ?? "") ?? 2000
let latencySeconds = Int(environment["SLUICE_BENCH_LATENCY_SECONDS"] ?? "") ?? 10
let parts = Set((environment["SLUICE_BENCH_PARTS"] ?? "stream,snapshot,bigtx,latency").split(separator: ",").map(String.init))

/// Runs a shell command; returns stdout (trimmed). Exits on failure.
@discardableResult
func shell(_ command: String) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", command]
    let output = NSTemporaryDirectory() + "pgbench-\(UUID().uuidString).out"
    FileManager.default.createFile(atPath: output, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: output) }
    process.standardOutput = FileHandle(forWritingAtPath: output)
    do { try process.run() } catch {
        print("could not run: \(command): \(error)")
        exit(1)
    }
    process.waitUntilExit()
    let text = String(decoding: FileManager.default.contents(atPath: output) ?? Data(), as: UTF8.self)
    guard process.terminationStatus == 0 else {
        print("command failed (\(process.terminationStatus)): \(command)")
        exit(1)
    }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}

@discardableResult
func sql(_ text: String) -> String {
    shell("PGOPTIONS='-c client_min_messages=warning' psql '\(url)' -XAtq -v ON_ERROR_STOP=1 -c \"\(text)\"")
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func peakRSSMegabytes() -> Double { statusMegabytes("VmHWM:") }

func statusMegabytes(_ field: String) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb / 1024
}

/// Resets the peak RSS (VmHWM) to the current RSS (Linux: `5` to /proc/self/clear_refs); false when not possible.
func resetPeakRSS() -> Bool {
    guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
    defer { try? handle.close() }
    return (try? handle.write(contentsOf: Data("5".utf8))) != nil
}

/// Commit-to-durable latencies, one per source transaction (µs).
final class LatencyRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: Set<String> = []
    private var latencies: [Int64] = []

    var count: Int { lock.withLock { latencies.count } }
    var values: [Int64] { lock.withLock { latencies } }

    /// Records the first event of each transaction in a batch that has just become durable.
    func record(_ events: [ChangeEvent]) {
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        lock.withLock {
            for event in events where event.op == .insert {
                guard let transaction = event.transactionID, seen.insert(transaction).inserted else { continue }
                latencies.append(now - event.commitTimeMicros)
            }
        }
    }
}

/// A minimal runtime: each batch is appended to a durable SQLite log (sync full) when emitted, and
/// `onDurable` runs after the append. While an append runs, the source's reader thread keeps receiving, so
/// the next batch grows under load (as with the pipeline runner's queue).
final class DurableLogSink: @unchecked Sendable {
    let log: SQLiteChangeLog
    let path: String
    let url: String
    private let lock = NSLock()
    private var eventCount = 0
    private var state: [String: [UInt8]] = [:]
    private var schemas: [TableID: TableSchema] = [:]

    var events: Int { lock.withLock { eventCount } }
    /// Called with each batch's events once the batch is durable (set before the source runs).
    var afterAppend: (([ChangeEvent]) -> Void)?

    init(url: String) throws {
        self.url = url
        path = NSTemporaryDirectory() + "sluice-pgbench-\(UUID().uuidString).sluicelog"
        log = try SQLiteChangeLog(path: path, syncPolicy: .full)
    }

    private func append(_ batch: SourceBatch) async throws {
        var byStream: [String: [LogRecordDraft]] = [:]
        var order: [String] = []
        let known: [TableID: TableSchema] = lock.withLock {
            for schema in batch.schemas { schemas[schema.table] = schema }
            return schemas
        }
        for schema in batch.schemas {
            if byStream["_schemas"] == nil { order.append("_schemas") }
            byStream["_schemas", default: []].append(LogRecordDraft(
                key: Array(schema.table.qualifiedName.utf8), payload: Array("\(schema.version)".utf8),
                position: schema.position, timestampMicros: 0))
        }
        // Per-table lookups once per run of events of the same table (as a runtime would cache them).
        var currentTable: TableID?
        var stream = ""
        var primaryKey: [String] = []
        var records: [LogRecordDraft] = []
        records.reserveCapacity(batch.events.count)
        func finishRun() {
            guard currentTable != nil, !records.isEmpty else { return }
            if byStream[stream] == nil {
                order.append(stream)
                byStream[stream] = records  // the run's records move, without copying them
            } else {
                byStream[stream]!.append(contentsOf: records)
            }
            records = []
        }
        for event in batch.events {
            if event.table != currentTable {
                finishRun()
                currentTable = event.table
                stream = "bench.\(event.table.schema).\(event.table.name)"
                primaryKey = known[event.table]?.primaryKey ?? []
            }
            let key = event.key(primaryKey: primaryKey).map(EventCoding.encodeKey)
            records.append(LogRecordDraft(key: key, payload: EventCoding.encode(event), position: event.position,
                                          timestampMicros: event.commitTimeMicros))
        }
        finishRun()
        if !skipLog {
            try await log.append(AppendBatch(records: order.map { ($0, byStream[$0]!) }, state: batch.state))
        }
        lock.withLock {
            eventCount += batch.events.count
            for (key, value) in batch.state { state[key] = value }
        }
        afterAppend?(batch.events)
        batch.onDurable?()
    }

    func context(_ values: [String: ConfigValue], untilCaughtUp: Bool) -> SourceContext {
        var config = values
        config["url"] = .string(url)
        var logger = Logger(label: "bench.postgres")
        logger.logLevel = .warning
        return SourceContext(
            pipeline: "bench", config: ConnectorConfig(instanceName: "pg", values: config), logger: logger,
            untilCaughtUp: untilCaughtUp,
            emit: { [self] batch in try await append(batch) },
            loadState: { [self] key in lock.withLock { state[key] } },
            loadStates: { [self] prefix in lock.withLock { state.filter { $0.key.hasPrefix(prefix) } } },
            waitUntilDurable: {},
            latestSchema: { [self] table in lock.withLock { schemas[table] } },
            pendingSnapshotRequests: { [] })
    }

    /// Runs a source to completion (until caught up, or initial_only); returns the seconds it took.
    func run(_ values: [String: ConfigValue], untilCaughtUp: Bool) async throws -> Double {
        let start = ContinuousClock.now
        try await PostgresSource(context: context(values, untilCaughtUp: untilCaughtUp)).run()
        return seconds(since: start)
    }

    func remove() async {
        try? await log.close()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}

print("PostgreSQL source benchmark (server \(sql("SHOW server_version")), \(ProcessInfo.processInfo.activeProcessorCount) cores)")
// MARK: 1. Streaming

shell("'\(scripts)/pg-workload.sh' setup '\(url)'")  // also the table the snapshot part copies
if parts.contains("stream") {
for slot in ["sluice_bench_peer", "sluice_bench_sluice"] {
    sql("SELECT pg_drop_replication_slot('\(slot)') FROM pg_replication_slots WHERE slot_name = '\(slot)'")
    sql("SELECT pg_create_logical_replication_slot('\(slot)', 'pgoutput')")
}
print("writing the workload (\(workloadRows) rows in transactions of 10, then updates and deletes)…")
let endLSN = shell("'\(scripts)/pg-workload.sh' run '\(url)' \(workloadRows) 10").split(separator: "\n").last.map(String.init) ?? ""
print("end LSN \(endLSN)")

let peerOutput = shell("'\(scripts)/pg-peer.sh' '\(url)' sluice_bench_peer '\(endLSN)'")
let peerSeconds = Double(peerOutput.split(separator: " ").first { $0.hasPrefix("seconds=") }?.dropFirst(8) ?? "") ?? .nan

let streamSink = try DurableLogSink(url: url)
let sluiceSeconds = try await streamSink.run([
    "slot": .string("sluice_bench_sluice"), "publication": .string("sluice_bench"), "create_slot": .bool(false),
    "create_publication": .bool(false), "snapshot_mode": .string("never"),
], untilCaughtUp: true)
let changes = streamSink.events
await streamSink.remove()
for slot in ["sluice_bench_peer", "sluice_bench_sluice"] {
    sql("SELECT pg_drop_replication_slot('\(slot)') FROM pg_replication_slots WHERE slot_name = '\(slot)'")
}
let peerRate = Double(changes) / peerSeconds
let sluiceRate = Double(changes) / sluiceSeconds
print(String(format: "streaming: %d changes; pg_recvlogical %.2f s (%.0f changes/s); Sluice \(target) %.2f s "
             + "(%.0f changes/s); ratio %.2f", changes, peerSeconds, peerRate, sluiceSeconds, sluiceRate,
             sluiceRate / peerRate))
}

// MARK: 2. Snapshot

if parts.contains("snapshot") {
let snapshotTable = "sluice_bench_snapshot"
sql("DROP TABLE IF EXISTS \(snapshotTable)")
sql("""
    CREATE TABLE \(snapshotTable) (LIKE sluice_bench_orders INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)
    """)
sql("""
    INSERT INTO \(snapshotTable)(id,customer_id,sku,qty,price,status,note,payload,active)
    SELECT g, g % 5000, 'SKU-' || (g % 997), g % 7, (g % 10000) / 100.0, 'new', repeat('x', 40),
           jsonb_build_object('k', g, 'tags', jsonb_build_array('a','b')), g % 2 = 0
    FROM generate_series(1, \(snapshotRows)) g
    """)
sql("VACUUM ANALYZE \(snapshotTable)")
sql("DROP PUBLICATION IF EXISTS sluice_bench_snapshot; CREATE PUBLICATION sluice_bench_snapshot FOR TABLE \(snapshotTable)")
var copyTimes: [Double] = []
var snapshotTimes: [Double] = []
for _ in 0..<runs {
    let start = ContinuousClock.now
    shell("psql '\(url)' -XAtq -c '\\copy (select * from \(snapshotTable)) to /dev/null'")
    copyTimes.append(seconds(since: start))
    let sink = try DurableLogSink(url: url)
    snapshotTimes.append(try await sink.run([
        "slot": .string("sluice_bench_snapshot_slot"), "publication": .string("sluice_bench_snapshot"),
        "snapshot_mode": .string("initial_only"), "create_publication": .bool(false),
    ], untilCaughtUp: false))
    if sink.events != snapshotRows { print("warning: the snapshot emitted \(sink.events) rows, expected \(snapshotRows)") }
    await sink.remove()
    sql("SELECT pg_drop_replication_slot('sluice_bench_snapshot_slot')")
}
let copyRate = Double(snapshotRows) / median(copyTimes)
let snapshotRate = Double(snapshotRows) / median(snapshotTimes)
print(String(format: "snapshot: %d rows (median of %d); \\copy to /dev/null %.2f s (%.0f rows/s); Sluice \(target) "
             + "%.2f s (%.0f rows/s); ratio %.2f", snapshotRows, runs, median(copyTimes), copyRate, median(snapshotTimes),
             snapshotRate, snapshotRate / copyRate))
sql("DROP PUBLICATION IF EXISTS sluice_bench_snapshot; DROP TABLE IF EXISTS \(snapshotTable)")
}

// MARK: 3. One large transaction

/// (Re)creates `table` with its own publication and pgoutput slot, both named after it.
func createCapturedTable(_ table: String, columns: String) {
    sql("DROP PUBLICATION IF EXISTS \(table); DROP TABLE IF EXISTS \(table)")
    sql("CREATE TABLE \(table) (\(columns))")
    sql("CREATE PUBLICATION \(table) FOR TABLE \(table)")
    sql("SELECT pg_drop_replication_slot('\(table)') FROM pg_replication_slots WHERE slot_name = '\(table)'")
    sql("SELECT pg_create_logical_replication_slot('\(table)', 'pgoutput')")
}

if parts.contains("bigtx") && bigTransactionRows > 0 {
    let table = "sluice_bench_bigtx"
    createCapturedTable(table, columns: "id int PRIMARY KEY, qty int, pad text")
    print("writing one transaction of \(bigTransactionRows) rows…")
    sql("INSERT INTO \(table) SELECT g, g % 100, repeat('x', 40) FROM generate_series(1, \(bigTransactionRows)) g")
    let reset = resetPeakRSS()
    let rssBefore = statusMegabytes("VmRSS:")
    let sink = try DurableLogSink(url: url)
    let bigSeconds = try await sink.run([
        "slot": .string(table), "publication": .string(table), "create_slot": .bool(false),
        "create_publication": .bool(false), "snapshot_mode": .string("never"),
    ], untilCaughtUp: true)
    let streamedTransactions = sql("SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '\(table)'")
    if sink.events != bigTransactionRows { print("warning: \(sink.events) events, expected \(bigTransactionRows)") }
    await sink.remove()
    sql("SELECT pg_drop_replication_slot('\(table)')")
    sql("DROP PUBLICATION IF EXISTS \(table); DROP TABLE IF EXISTS \(table)")
    let peak = reset ? String(format: "%.0f MB", peakRSSMegabytes()) : "n/a (clear_refs unavailable)"
    print(String(format: "large transaction: %d rows in one transaction \(target) in %.2f s (%.0f rows/s); ",
                 sink.events, bigSeconds, Double(sink.events) / bigSeconds)
          + "streamed in progress by the server: \(streamedTransactions == "0" ? "no" : "yes"); "
          + String(format: "RSS before %.0f MB, peak during it ", rssBefore) + peak)
}
// MARK: 4. Commit-to-log latency

if parts.contains("latency") {
    let table = "sluice_bench_latency"
    createCapturedTable(table, columns: "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v int, note text")
    let reset = resetPeakRSS()
    let rssBefore = statusMegabytes("VmRSS:")
    let sink = try DurableLogSink(url: url)
    // Per transaction: wall-clock µs from its commit (the server's commit timestamp) until its batch is durable.
    let latencies = LatencyRecorder()
    sink.afterAppend = { events in latencies.record(events) }
    let source = Task {
        try await sink.run([
            "slot": .string(table), "publication": .string(table), "create_slot": .bool(false),
            "create_publication": .bool(false), "snapshot_mode": .string("never"),
        ], untilCaughtUp: false)
    }
    while sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '\(table)' AND active") != "1" {
        try await Task.sleep(for: .milliseconds(50))
    }
    let script = NSTemporaryDirectory() + "sluice-latency-\(UUID().uuidString).sql"
    try "INSERT INTO \(table)(v, note) VALUES (1, 'a small change');\n".write(toFile: script, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: script) }
    print("writing \(latencyRate) transactions/s for \(latencySeconds) s (pgbench -R, one INSERT per transaction)…")
    let pgbench = shell("pgbench -n -c 4 -j 2 -R \(latencyRate) -T \(latencySeconds) -f '\(script)' '\(url)' 2>&1")
    let committed = Int(sql("SELECT count(*) FROM \(table)")) ?? 0
    let deadline = ContinuousClock.now + .seconds(60)
    while latencies.count < committed && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    source.cancel()
    _ = try? await source.value
    await sink.remove()
    sql("SELECT pg_drop_replication_slot('\(table)')")
    sql("DROP PUBLICATION IF EXISTS \(table); DROP TABLE IF EXISTS \(table)")
    let achieved = pgbench.split(separator: "\n").first { $0.hasPrefix("tps = ") }
        .flatMap { Double($0.dropFirst(6).prefix { $0 != " " }) } ?? .nan
    let sorted = latencies.values.sorted()
    if sorted.count != committed { print("warning: \(sorted.count) transactions in the log, \(committed) committed") }
    func percentile(_ p: Double) -> Double {
        sorted.isEmpty ? .nan : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
    }
    let peak = reset ? String(format: "%.0f MB", peakRSSMegabytes()) : "n/a (clear_refs unavailable)"
    print(String(format: "latency: %d transactions at %.0f tx/s achieved (target %d); commit to durable in the log "
                 + "p50 %.2f ms, p99 %.2f ms, max %.2f ms; RSS before %.0f MB, peak during it ", committed, achieved,
                 latencyRate, percentile(0.5), percentile(0.99), percentile(1), rssBefore) + peak)
}
print(String(format: "peak RSS: %.0f MB", peakRSSMegabytes()))
