import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceDevConnectors
import SluiceLog
@testable import SluiceRuntime
import SluiceTestSupport
import Synchronization
import Testing

/// A source that emits numbered single-event batches and, after each `onDurable`, checks through a
/// second, independent connection that the batch really is in the log file.
struct CheckingSource: SourceConnector {
    static let spec = ConnectorSpec(name: "checking", role: .source, summary: "test source", fields: [
        FieldSpec("batches", .int, default: .int(50), description: "batches to emit"),
        FieldSpec("log_path", .string, required: true, description: "the log file to check"),
    ])
    static let violations = Mutex<[String]>([])
    let context: SourceContext

    init(context: SourceContext) throws { self.context = context }

    func run() async throws {
        let batches = context.config.int("batches") ?? 50
        let checker = try SQLiteChangeLog(path: context.config.string("log_path")!, syncPolicy: .full)
        let table = TableID(database: "db", schema: "s", name: "t")
        let schema = TableSchema(table: table, version: 1, columns: [
            ColumnSchema(name: "id", sourceType: "int", kind: .int, nullable: false)], primaryKey: ["id"])
        for i in 0..<batches {
            let durable = Atomic<Bool>(false)
            let event = ChangeEvent(
                op: .insert, connector: "checking", table: table, schemaVersion: 1, before: nil,
                after: Row(columns: ["id"], values: [.int(Int64(i))]),
                position: SourcePosition(sortKey: SourcePosition.sortKey(UInt64(i)), text: "\(i)"), commitTimeMicros: 0)
            try await context.emit(SourceBatch(
                schemas: i == 0 ? [schema] : [], events: [event], state: ["pos": [UInt8(i)]],
                onDurable: { durable.store(true, ordering: .sequentiallyConsistent) }))
            try await context.waitUntilDurable()
            guard durable.load(ordering: .sequentiallyConsistent) else {
                Self.violations.withLock { $0.append("batch \(i): waitUntilDurable returned before onDurable") }
                continue
            }
            let stored = try await checker.stream("p.s.t")?.nextOffset ?? 0
            let state = try await checker.state("source.src.pos")
            if stored < Int64(i + 1) || state != [UInt8(i)] {
                Self.violations.withLock { $0.append("batch \(i): acknowledged but the log holds \(stored) events, state \(state ?? [])") }
            }
        }
        try await checker.close()
    }
}

@Test func sourceIsAcknowledgedOnlyAfterTheBatchIsDurable() async throws {
    let dir = try TestEnvironment.temporaryFolder("sluice-runner")
    defer { try? FileManager.default.removeItem(at: dir) }
    let logPath = dir.appendingPathComponent("p.sluicelog").path
    let yaml = """
        name: p
        log: {path: \(logPath)}
        sources:
          src: {type: checking, batches: 40, log_path: \(logPath)}
        sinks:
          rec: {type: recording}
        runtime: {status_interval: 0, flush_interval: 10ms}
        """
    let registry = ConnectorRegistry(sources: [CheckingSource.self], sinks: [RecordingSink.self])
    let config = try PipelineLoader(registry: registry).load(text: yaml, file: "p.yaml", environment: [:])
    let log = try LogFactory.open(config.log)
    let runner = PipelineRunner(config: config, registry: registry, log: log, logger: Logger(label: "test"), untilCaughtUp: true)
    try await runner.run()
    #expect(CheckingSource.violations.withLock { $0 } == [])
    #expect(RecordingSink.offsets(pipeline: "p") == Array(0..<40))
    #expect(try await log.consumerOffset(consumer: "sink.rec", stream: "p.s.t") == 40)
    let schemas = try await log.read(stream: SystemStream.schemas, from: 0, limit: 10)
    #expect(schemas.count == 1)
    try await log.close()
}

@Test func batchQueueAppliesBackpressure() async throws {
    let queue = BatchQueue(capacity: 2)
    let put = Atomic<Int>(0)
    let producer = Task {
        for _ in 0..<5 {
            try await queue.put(.init(source: "s", batch: SourceBatch()))
            put.add(1, ordering: .sequentiallyConsistent)
        }
    }
    let filled = try await waitUntil(timeout: 10, interval: .milliseconds(5)) {
        put.load(ordering: .sequentiallyConsistent) >= 2
    }
    #expect(filled, "the producer did not queue two batches within 10 s")
    // Proving that a third put waits needs a grace period, not an event: nothing signals a put that never happens.
    try await Task.sleep(for: .milliseconds(100))
    #expect(put.load(ordering: .sequentiallyConsistent) == 2, "the producer waits once two batches are queued")
    var taken = 0
    while taken < 5 { taken += await queue.takeAll().count }
    try await producer.value
    #expect(put.load(ordering: .sequentiallyConsistent) == 5)
    await queue.close()
    await #expect(throws: CancellationError.self) { try await queue.put(.init(source: "s", batch: SourceBatch())) }
}

/// A source that fails transiently on a script: attempts 1-3 fail at once, attempt 4 emits a batch and then fails,
/// attempt 5 fails at once, attempt 6 finishes. Records when each attempt started.
struct FlakySource: SourceConnector {
    static let spec = ConnectorSpec(name: "flaky", role: .source, summary: "test source", fields: [])
    static let starts = Mutex<[ContinuousClock.Instant]>([])
    let context: SourceContext

    init(context: SourceContext) throws { self.context = context }

    func run() async throws {
        let attempt = Self.starts.withLock { $0.append(.now); return $0.count }
        if attempt == 4 {
            let table = TableID(database: "db", schema: "s", name: "t")
            let schema = TableSchema(table: table, version: 1, columns: [
                ColumnSchema(name: "id", sourceType: "int", kind: .int, nullable: false)], primaryKey: ["id"])
            let event = ChangeEvent(
                op: .insert, connector: "flaky", table: table, schemaVersion: 1, before: nil,
                after: Row(columns: ["id"], values: [.int(1)]),
                position: SourcePosition(sortKey: SourcePosition.sortKey(1), text: "1"), commitTimeMicros: 0)
            try await context.emit(SourceBatch(schemas: [schema], events: [event], state: [:]))
            try await context.waitUntilDurable()
        }
        if attempt < 6 { throw SluiceError(.connection, "connection lost (attempt \(attempt))", isTransient: true) }
    }
}

/// The retry backoff doubles while a source keeps failing, and starts over once it delivered changes again.
@Test func sourceBackoffResetsAfterARecovery() async throws {
    let dir = try TestEnvironment.temporaryFolder("sluice-runner")
    defer { try? FileManager.default.removeItem(at: dir) }
    let yaml = """
        name: p
        log: {path: \(dir.appendingPathComponent("p.sluicelog").path)}
        sources:
          src: {type: flaky}
        runtime: {status_interval: 0, retry_initial_backoff: 150ms, retry_max_backoff: 10s}
        """
    let registry = ConnectorRegistry(sources: [FlakySource.self], sinks: [])
    let config = try PipelineLoader(registry: registry).load(text: yaml, file: "p.yaml", environment: [:])
    let log = try LogFactory.open(config.log)
    var logger = Logger(label: "test")
    logger.logLevel = .error
    let runner = PipelineRunner(config: config, registry: registry, log: log, logger: logger, untilCaughtUp: true)
    try await runner.run()
    try await log.close()
    let starts = FlakySource.starts.withLock { $0 }
    #expect(starts.count == 6)
    let waits = zip(starts.dropFirst(), starts).map { ($0 - $1) / .milliseconds(1) }
    // 150, 300, 600 ms while failing; after attempt 4 delivered a batch: 150 ms again (not 1200), then 300.
    #expect(waits[0] >= 140 && waits[1] >= 290 && waits[2] >= 590, "\(waits)")
    #expect(waits[3] < 1000 && waits[3] < waits[2], "the backoff did not start over after the recovery: \(waits)")
}

// MARK: Failures end the run loudly, and stops are bounded

/// A source whose server refuses it (`fails: refused`: wrong password, a non-transient error) or keeps dropping it
/// (`fails: transient`). Counts its attempts.
struct FailingSource: SourceConnector {
    static let spec = ConnectorSpec(name: "failing", role: .source, summary: "test source", fields: [
        FieldSpec("fails", .oneOf(["refused", "transient"]), required: true, description: "how it fails"),
    ])
    static let attempts = Atomic<Int>(0)
    let context: SourceContext

    init(context: SourceContext) throws { self.context = context }

    func run() async throws {
        Self.attempts.add(1, ordering: .sequentiallyConsistent)
        if context.config.string("fails") == "refused" {
            throw SluiceError(.sourceSetup, "access denied for user 'capture'", hint: "check user and password")
        }
        throw SluiceError(.connection, "connection refused", isTransient: true)
    }
}

/// A sink whose writes always fail transiently (the object store is down).
struct DownSink: SinkConnector {
    static let spec = ConnectorSpec(name: "down", role: .sink, summary: "test sink", fields: [])
    init(context: SinkContext) throws {}
    func write(_ batch: SinkBatch) async throws -> [String: Int64] {
        throw SluiceError(.sink, "the store answered 503", isTransient: true)
    }
    func flush() async throws -> [String: Int64] { [:] }
}

/// Runs `runner` for at most `seconds`; returns its error (nil when it returned) and how long it ran, or records a
/// failure and stops it when it is still running then.
func runBounded(_ runner: PipelineRunner, seconds: Double) async -> (error: (any Error)?, elapsed: Duration) {
    let started = ContinuousClock.now
    let run = Task { try await runner.run() }
    let watchdog = Task {
        try await Task.sleep(for: .seconds(seconds))
        Issue.record("the run was still going after \(seconds) s")
        runner.requestStop()
    }
    let result = await run.result
    watchdog.cancel()
    if case .failure(let error) = result { return (error, ContinuousClock.now - started) }
    return (nil, ContinuousClock.now - started)
}

func quietRunner(_ yaml: String, sources: [any SourceConnector.Type], sinks: [any SinkConnector.Type], untilCaughtUp: Bool)
    throws -> (PipelineRunner, any ChangeLog)
{
    let registry = ConnectorRegistry(sources: sources, sinks: sinks)
    let config = try PipelineLoader(registry: registry).load(text: yaml, file: "p.yaml", environment: [:])
    let log = try LogFactory.open(config.log)
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return (PipelineRunner(config: config, registry: registry, log: log, logger: logger, untilCaughtUp: untilCaughtUp), log)
}

/// A source refused at start (wrong password) ends a plain run at once, with that error: before, the sinks kept the run
/// going silently until SIGINT.
@Test(arguments: [false, true]) func refusedSourceEndsTheRunAtOnce(untilCaughtUp: Bool) async throws {
    let dir = try TestEnvironment.temporaryFolder("sluice-runner")
    defer { try? FileManager.default.removeItem(at: dir) }
    let (runner, log) = try quietRunner("""
        name: refused
        log: {path: \(dir.appendingPathComponent("p.sluicelog").path)}
        sources:
          src: {type: failing, fails: refused}
        sinks:
          rec: {type: recording}
        runtime: {status_interval: 0}
        """, sources: [FailingSource.self], sinks: [RecordingSink.self], untilCaughtUp: untilCaughtUp)
    let (error, elapsed) = await runBounded(runner, seconds: 10)
    try await log.close()
    #expect("\(error.map { "\($0)" } ?? "no error")".contains("access denied"), "\(String(describing: error))")
    #expect(elapsed < .seconds(3), "the refusal took \(elapsed) to end the run")
}

/// A source that keeps failing transiently is retried with warnings until `max_retry_duration`, then the run ends with
/// an error naming the component and the last failure.
@Test func transientFailuresGiveUpAfterMaxRetryDuration() async throws {
    let dir = try TestEnvironment.temporaryFolder("sluice-runner")
    defer { try? FileManager.default.removeItem(at: dir) }
    FailingSource.attempts.store(0, ordering: .sequentiallyConsistent)
    let (runner, log) = try quietRunner("""
        name: giveup
        log: {path: \(dir.appendingPathComponent("p.sluicelog").path)}
        sources:
          src: {type: failing, fails: transient}
        sinks:
          rec: {type: recording}
        runtime: {status_interval: 0, retry_initial_backoff: 50ms, retry_max_backoff: 200ms, max_retry_duration: 800ms}
        """, sources: [FailingSource.self], sinks: [RecordingSink.self], untilCaughtUp: false)
    let (error, elapsed) = await runBounded(runner, seconds: 10)
    try await log.close()
    let text = error.map { "\($0)" } ?? "no error"
    #expect(text.contains("source src kept failing for 800ms") && text.contains("connection refused"), "\(text)")
    #expect(elapsed >= .milliseconds(800) && elapsed < .seconds(3), "gave up after \(elapsed)")
    #expect(FailingSource.attempts.load(ordering: .sequentiallyConsistent) >= 4)
}

/// A stop request ends a sink's retry wait at once (before, a sink slept out its whole backoff: up to a minute).
@Test func stopInterruptsARetryWait() async throws {
    let dir = try TestEnvironment.temporaryFolder("sluice-runner")
    defer { try? FileManager.default.removeItem(at: dir) }
    let (runner, log) = try quietRunner("""
        name: stopwait
        log: {path: \(dir.appendingPathComponent("p.sluicelog").path)}
        sources:
          gen: {type: generator, tables: [t], count: 10, rate: 0}
        sinks:
          store: {type: down}
        runtime: {status_interval: 0, retry_initial_backoff: 60s, max_retry_duration: 0}
        """, sources: [GeneratorSource.self], sinks: [DownSink.self], untilCaughtUp: false)
    let run = Task { try await runner.run() }
    try await Task.sleep(for: .milliseconds(500))  // the sink has failed once and waits out its 60 s backoff
    let stopped = ContinuousClock.now
    runner.requestStop()
    let result = await run.result
    try await log.close()
    #expect(ContinuousClock.now - stopped < .seconds(3), "the stop waited for the backoff")
    #expect(throws: SluiceError.self) { try result.get() }  // the sink never wrote: its failure is the run's
}
