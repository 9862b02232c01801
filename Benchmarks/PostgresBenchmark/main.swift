// Benchmark: the PostgreSQL source against the PostgreSQL project's own tools, in the same run.
//
//   PostgresBenchmark [URL]        (default: $SLUICE_BENCH_PG_URL, else $SLUICE_TEST_PG_URL)
//
// 1. Streaming: /work/shared/bench/pg-workload.sh (~270k changes) decoded by pg_recvlogical (pg-peer.sh) from
//    one slot and by Sluice from another, into a durable SQLite log (sync full), to the same end LSN
//    (Sluice: caught up to the server's current LSN when it started, which is the workload's end).
// 2. Snapshot: 1M rows read by Sluice (initial_only, into the durable log) vs `\copy (select …) to /dev/null`.
// Prints both figures and the ratio for each, and peak RSS. Environment: SLUICE_BENCH_DIR (the scripts),
// SLUICE_BENCH_ROWS (workload rows, default 200000), SLUICE_BENCH_SNAPSHOT_ROWS (default 1000000),
// SLUICE_BENCH_RUNS (snapshot repetitions for a median, default 3), SLUICE_BENCH_BIG_TX_ROWS (rows of the single
// large transaction of part 3, default 2000000), SLUICE_BENCH_LATENCY_RATE (transactions/s of part 4, default 2000),
// SLUICE_BENCH_LATENCY_SECONDS (default 10), SLUICE_BENCH_PARTS (default stream,snapshot,bigtx,latency).
// 3. One 2M-row transaction (the server streams it in progress; Sluice buffers it within stream_buffer_memory and
//    spills the rest), decoded into the durable log: time and peak RSS during that part.
// 4. Commit-to-log latency: pgbench commits one-row transactions at a steady rate (-R) while Sluice streams them into
//    the durable log; per transaction, the time from its commit (server commit timestamp) until the runner reported
//    its batch durable (onDurable). Prints the achieved rate, p50/p99/max and peak RSS during that part.
// Sluice's side of every part runs the pipeline runtime of `sluice run` (PipelineRunner: source, batch queue,
// appender, SQLite core log with sync full; parts 1 and 3 as with --until-caught-up), without sinks; each run starts
// from a fresh log. SLUICE_BENCH_NO_LOG=1 instead runs the source alone with batches counted and dropped.
import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceLog
import SluicePostgres
import SluiceRuntime
import Synchronization

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
    _ = FileManager.default.createFile(atPath: output, contents: nil)  // a temporary file, never /dev/null
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

/// The process's peak RSS over the peaks before each reset (resetPeakRSS keeps it).
nonisolated(unsafe) var overallPeakMegabytes = 0.0

/// Resets the peak RSS (VmHWM) to the current RSS (Linux: `5` to /proc/self/clear_refs); false when not possible.
@MainActor func resetPeakRSS() -> Bool {
    overallPeakMegabytes = max(overallPeakMegabytes, peakRSSMegabytes())
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

/// The loader wants a sink; the benchmark removes it after loading (it measures the source into the log).
struct DiscardSink: SinkConnector {
    static let spec = ConnectorSpec(name: "discard", role: .sink, summary: "drops batches", fields: [])
    init(context: SinkContext) {}
    func write(_ batch: SinkBatch) async throws -> [String: Int64] { [:] }
    func flush() async throws -> [String: Int64] { [:] }
}

/// The latency part's source: the PostgreSQL source, unchanged, whose batches' `onDurable` also records, per
/// transaction, the wall-clock time from the server's commit timestamp until the runner reported the batch durable.
/// The runner calls `onDurable` after `log.append` returned (sync full: after the fsync), in batch order, and before
/// the source may acknowledge the LSN, so this is the commit-to-durable-in-the-log latency a sink or an operator
/// sees; server and benchmark share the machine's clock.
struct LatencyProbedPostgresSource: SourceConnector {
    static var spec: ConnectorSpec { PostgresSource.spec }
    static let recorder = LatencyRecorder()
    let source: PostgresSource

    init(context: SourceContext) throws {
        var context = context
        let emit = context.emit
        context.emit = { batch in
            var batch = batch
            let events = batch.events, onDurable = batch.onDurable
            batch.onDurable = {
                Self.recorder.record(events)
                onDurable?()
            }
            try await emit(batch)
        }
        source = try PostgresSource(context: context)
    }

    func run() async throws { try await source.run() }
}

/// One pipeline run: the pipeline runtime of `sluice run` (source, batch queue, appender, SQLite core log with
/// sync full), without sinks, from a fresh log that is removed afterwards.
struct PipelineRun {
    var seconds: Double
    /// Change events durable in the log (the pipeline's table streams; not `_schemas`).
    var events: Int
}

/// `source` are the postgres source's fields (besides url); stops when the source returns (caught up with
/// `untilCaughtUp`, or after an initial_only snapshot), or when `whileRunning` asks it to stop. `whileRunning`
/// runs on the main actor, so its blocking shell commands do not take one of the few cooperative threads the
/// runtime and the source run on.
func runPipeline(_ source: [String: String], untilCaughtUp: Bool, probed: Bool = false,
                 whileRunning: (@MainActor @Sendable (PipelineRunner) async throws -> Void)? = nil) async throws
    -> PipelineRun {
    let path = NSTemporaryDirectory() + "sluice-pgbench-\(UUID().uuidString).sluicelog"
    defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
    let fields = source.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
    let yaml = """
        name: bench
        log: {path: "\(path)", sync: full}
        runtime: {status_interval: 0}
        sources:
          pg: {type: postgres, url: "\(url)", \(fields)}
        sinks:
          none: {type: discard}
        """
    let registry = ConnectorRegistry(sources: [probed ? LatencyProbedPostgresSource.self : PostgresSource.self],
                                     sinks: [DiscardSink.self])
    var config = try PipelineLoader(registry: registry).load(text: yaml, file: "bench.yaml", environment: [:])
    config.sinks = []  // measured: the source into the durable log
    var logger = Logger(label: "bench.postgres")
    logger.logLevel = .warning
    let log = try LogFactory.open(config.log)
    let runner = PipelineRunner(config: config, registry: registry, log: log, logger: logger,
                                untilCaughtUp: untilCaughtUp)
    let start = ContinuousClock.now
    if let whileRunning {
        async let stopper: Void = whileRunning(runner)
        try await runner.run()
        try await stopper
    } else {
        try await runner.run()
    }
    let elapsed = seconds(since: start)
    let events = try await log.streams().filter { config.isChangeStream($0.name) }.reduce(0) { $0 + Int($1.count) }
    try await log.close()
    return PipelineRun(seconds: elapsed, events: events)
}

/// SLUICE_BENCH_NO_LOG: the same source with batches counted and dropped instead of appended (the decoding
/// ceiling; no runtime, no log).
func decodeOnly(_ source: [String: String], untilCaughtUp: Bool) async throws -> PipelineRun {
    var values: [String: ConfigValue] = ["url": .string(url)]
    for (key, value) in source {
        values[key] = value == "true" ? .bool(true) : value == "false" ? .bool(false) : .string(value)
    }
    let counted = Mutex<Int>(0)
    var logger = Logger(label: "bench.postgres")
    logger.logLevel = .warning
    let context = SourceContext(
        pipeline: "bench", config: ConnectorConfig(instanceName: "pg", values: values), logger: logger,
        untilCaughtUp: untilCaughtUp,
        emit: { batch in
            counted.withLock { $0 += batch.eventCount }
            batch.onDurable?()
        },
        loadState: { _ in nil }, loadStates: { _ in [:] }, waitUntilDurable: {}, latestSchema: { _ in nil },
        pendingSnapshotRequests: { [] })
    let start = ContinuousClock.now
    try await PostgresSource(context: context).run()
    return PipelineRun(seconds: seconds(since: start), events: counted.withLock { $0 })
}

/// Runs the source into the durable log through the runtime (or, with SLUICE_BENCH_NO_LOG, without it).
func runSource(_ source: [String: String], untilCaughtUp: Bool) async throws -> PipelineRun {
    skipLog ? try await decodeOnly(source, untilCaughtUp: untilCaughtUp)
        : try await runPipeline(source, untilCaughtUp: untilCaughtUp)
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

let streamRun = try await runSource([
    "slot": "sluice_bench_sluice", "publication": "sluice_bench", "create_slot": "false",
    "create_publication": "false", "snapshot_mode": "never",
], untilCaughtUp: true)
let changes = streamRun.events, sluiceSeconds = streamRun.seconds
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
let snapshotReset = resetPeakRSS()
let snapshotRSSBefore = statusMegabytes("VmRSS:")
var copyTimes: [Double] = []
var snapshotTimes: [Double] = []
for _ in 0..<runs {
    let start = ContinuousClock.now
    shell("psql '\(url)' -XAtq -c '\\copy (select * from \(snapshotTable)) to /dev/null'")
    copyTimes.append(seconds(since: start))
    let snapshot = try await runSource([
        "slot": "sluice_bench_snapshot_slot", "publication": "sluice_bench_snapshot",
        "snapshot_mode": "initial_only", "create_publication": "false",
    ], untilCaughtUp: false)
    snapshotTimes.append(snapshot.seconds)
    if snapshot.events != snapshotRows { print("warning: the snapshot emitted \(snapshot.events) rows, expected \(snapshotRows)") }
    sql("SELECT pg_drop_replication_slot('sluice_bench_snapshot_slot')")
}
let copyRate = Double(snapshotRows) / median(copyTimes)
let snapshotRate = Double(snapshotRows) / median(snapshotTimes)
print(String(format: "snapshot: %d rows (median of %d); \\copy to /dev/null %.2f s (%.0f rows/s); Sluice \(target) "
             + "%.2f s (%.0f rows/s); ratio %.2f", snapshotRows, runs, median(copyTimes), copyRate, median(snapshotTimes),
             snapshotRate, snapshotRate / copyRate)
      + String(format: "; RSS before %.0f MB, peak during it ", snapshotRSSBefore)
      + (snapshotReset ? String(format: "%.0f MB", peakRSSMegabytes()) : "n/a (clear_refs unavailable)"))
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
    let big = try await runSource([
        "slot": table, "publication": table, "create_slot": "false", "create_publication": "false",
        "snapshot_mode": "never",
    ], untilCaughtUp: true)
    let bigSeconds = big.seconds
    let streamedTransactions = sql("SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '\(table)'")
    if big.events != bigTransactionRows { print("warning: \(big.events) events, expected \(bigTransactionRows)") }
    sql("SELECT pg_drop_replication_slot('\(table)')")
    sql("DROP PUBLICATION IF EXISTS \(table); DROP TABLE IF EXISTS \(table)")
    let peak = reset ? String(format: "%.0f MB", peakRSSMegabytes()) : "n/a (clear_refs unavailable)"
    print(String(format: "large transaction: %d rows in one transaction \(target) in %.2f s (%.0f rows/s); ",
                 big.events, bigSeconds, Double(big.events) / bigSeconds)
          + "streamed in progress by the server: \(streamedTransactions == "0" ? "no" : "yes"); "
          + String(format: "RSS before %.0f MB, peak during it ", rssBefore) + peak)
}
// MARK: 4. Commit-to-log latency

if parts.contains("latency") {
    let table = "sluice_bench_latency"
    createCapturedTable(table, columns: "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v int, note text")
    let reset = resetPeakRSS()
    let rssBefore = statusMegabytes("VmRSS:")
    // Per transaction: wall-clock µs from its commit (the server's commit timestamp) until the runner reported its
    // batch durable in the log (LatencyProbedPostgresSource).
    let latencies = LatencyProbedPostgresSource.recorder
    let script = NSTemporaryDirectory() + "sluice-latency-\(UUID().uuidString).sql"
    try "INSERT INTO \(table)(v, note) VALUES (1, 'a small change');\n".write(toFile: script, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: script) }
    let pgbench = Mutex<String>("")
    let committed = Mutex<Int>(0)
    print("writing \(latencyRate) transactions/s for \(latencySeconds) s (pgbench -R, one INSERT per transaction)…")
    _ = try await runPipeline([
        "slot": table, "publication": table, "create_slot": "false", "create_publication": "false",
        "snapshot_mode": "never",
    ], untilCaughtUp: false, probed: true) { runner in
        while sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '\(table)' AND active") != "1" {
            try await Task.sleep(for: .milliseconds(50))
        }
        let output = shell("pgbench -n -c 4 -j 2 -R \(latencyRate) -T \(latencySeconds) -f '\(script)' '\(url)' 2>&1")
        pgbench.withLock { $0 = output }
        let count = Int(sql("SELECT count(*) FROM \(table)")) ?? 0
        committed.withLock { $0 = count }
        let deadline = ContinuousClock.now + .seconds(60)
        while latencies.count < count && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        runner.requestStop()
    }
    let committedCount = committed.withLock { $0 }
    sql("SELECT pg_drop_replication_slot('\(table)')")
    sql("DROP PUBLICATION IF EXISTS \(table); DROP TABLE IF EXISTS \(table)")
    let achieved = pgbench.withLock { $0 }.split(separator: "\n").first { $0.hasPrefix("tps = ") }
        .flatMap { Double($0.dropFirst(6).prefix { $0 != " " }) } ?? .nan
    let sorted = latencies.values.sorted()
    if sorted.count != committedCount {
        print("warning: \(sorted.count) transactions in the log, \(committedCount) committed")
    }
    func percentile(_ p: Double) -> Double {
        sorted.isEmpty ? .nan : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
    }
    let peak = reset ? String(format: "%.0f MB", peakRSSMegabytes()) : "n/a (clear_refs unavailable)"
    print(String(format: "latency: %d transactions at %.0f tx/s achieved (target %d); commit to durable in the log "
                 + "p50 %.2f ms, p99 %.2f ms, max %.2f ms; RSS before %.0f MB, peak during it ", committedCount, achieved,
                 latencyRate, percentile(0.5), percentile(0.99), percentile(1), rssBefore) + peak)
}
print(String(format: "peak RSS of the process: %.0f MB", max(overallPeakMegabytes, peakRSSMegabytes())))
