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

/// A sink that never skips: what the log says must match what the sinks and the world outside it know.
@Suite(.serialized) struct LogTruthTests {
    /// The log restored from an older copy (or its -wal file lost) is behind what the jsonl sink already published:
    /// the run is refused instead of skipping what the log holds again.
    @Test func sinkAheadOfALogThatLostItsTailIsRefused() throws {
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        func pipeline(count: Int) throws {
            try TestPipeline(name: "tail", sources: TestPipeline.generatorSource(
                count: count, rate: 0, batchSize: 500, keys: 100, tables: ["orders"])).write(in: dir)
        }
        try pipeline(count: 2000)
        let first = try runSluice(["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"], in: dir)
        #expect(first.succeeded, "\(first.err)")
        let logDir = dir.appendingPathComponent("log"), backup = dir.appendingPathComponent("log-backup")
        try FileManager.default.copyItem(at: logDir, to: backup)
        try pipeline(count: 5000)
        let second = try runSluice(["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"], in: dir)
        #expect(second.succeeded, "\(second.err)")
        let output = dir.appendingPathComponent("out/tail.generator.orders.jsonl")
        #expect(try jsonLines(output).count == 5000)

        try FileManager.default.removeItem(at: logDir)
        try FileManager.default.moveItem(at: backup, to: logDir)  // the log lost its tail: it holds 2,000 events
        let third = try runSluice(["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"], in: dir)
        #expect(third.status == 1, "\(third.endDescription): \(third.err)")
        #expect(third.err.contains("sink files has already published stream tail.generator.orders up to offset 5000")
                    && third.err.contains("lost its tail"), "\(third.err)")
        #expect(try jsonLines(output).count == 5000, "the sink's output changed")
    }

    /// Offsets missing from the log (not removed by retention or compaction) stop the sink, naming them.
    @Test func sinkStopsAtAGapInsteadOfSkippingIt() async throws {
        let dir = try TestEnvironment.temporaryFolder("sluice-runner")
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = """
            name: gap
            log: {path: \(dir.appendingPathComponent("p.sluicelog").path)}
            sources:
              gen: {type: generator, tables: [t], count: 50, rate: 0, batch_size: 10}
            sinks:
              rec: {type: recording}
            runtime: {status_interval: 0}
            """
        let registry = ConnectorRegistry(sources: [GeneratorSource.self], sinks: [RecordingSink.self])
        let config = try PipelineLoader(registry: registry).load(text: yaml, file: "p.yaml", environment: [:])
        let log = LogWithAHole(try LogFactory.open(config.log), missing: 17)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let runner = PipelineRunner(config: config, registry: registry, log: log, logger: logger, untilCaughtUp: true)
        let error = await #expect(throws: SluiceError.self) { try await runner.run() }
        try await log.close()
        #expect(error?.message.contains("offsets 17..<18 of stream gap.generator.t are missing") == true,
                "\(String(describing: error))")
        #expect(RecordingSink.offsets(pipeline: "gap").allSatisfy { $0 < 17 }, "the sink went past the gap")
    }

    /// Retention by age never removes records a sink has not committed: the lagging sink still gets every one.
    @Test func retentionKeepsWhatASinkHasNotCommitted() async throws {
        let dir = try TestEnvironment.temporaryFolder("sluice-runner")
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = """
            name: lag
            log:
              path: \(dir.appendingPathComponent("p.sluicelog").path)
              retention: {max_age: 1ms, interval: 20ms}
            sources:
              gen: {type: generator, tables: [t], count: 400, rate: 0, batch_size: 50}
            sinks:
              slow: {type: gated}
            runtime: {status_interval: 0, sink_batch_events: 50}
            """
        let registry = ConnectorRegistry(sources: [GeneratorSource.self], sinks: [GatedSink.self])
        let config = try PipelineLoader(registry: registry).load(text: yaml, file: "p.yaml", environment: [:])
        let log = try LogFactory.open(config.log)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let runner = PipelineRunner(config: config, registry: registry, log: log, logger: logger, untilCaughtUp: true)
        GatedSink.reset()
        let run = Task { try await runner.run() }
        // The sink holds its first batch while the source finishes and retention runs many times over.
        let appended = try await waitUntil(timeout: 20, interval: .milliseconds(20)) {
            (try? await log.stream("lag.generator.t"))?.nextOffset == 400
        }
        #expect(appended)
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await log.stream("lag.generator.t")?.firstOffset == 0, "retention removed uncommitted records")
        GatedSink.open()
        try await run.value
        #expect(GatedSink.received() == Array(0..<400), "the sink skipped records")
        // Once committed, they may go.
        try await log.applyRetention(RetentionPolicy(maxAgeSeconds: 0), streams: ["lag.generator.t"])
        #expect(try await log.stream("lag.generator.t")?.firstOffset == 400)
        try await log.close()
    }
}

/// A sink whose writes wait until the test opens the gate; records the offsets it was given.
struct GatedSink: SinkConnector {
    static let spec = ConnectorSpec(name: "gated", role: .sink, summary: "test sink", fields: [])
    private static let state = Mutex<(open: Bool, offsets: [Int64])>((false, []))
    static func reset() { state.withLock { $0 = (false, []) } }
    static func open() { state.withLock { $0.open = true } }
    static func received() -> [Int64] { state.withLock { $0.offsets } }

    init(context: SinkContext) throws {}

    func write(_ batch: SinkBatch) async throws -> [String: Int64] {
        while !Self.state.withLock({ $0.open }) { try await Task.sleep(for: .milliseconds(10)) }
        Self.state.withLock { $0.offsets += batch.records.map(\.offset) }
        return [batch.stream: batch.nextOffset]
    }

    func flush() async throws -> [String: Int64] { [:] }
}

/// A log that lost one record of every change stream (as a damaged file or an edit outside Sluice would):
/// reads skip `missing`.
final class LogWithAHole: ChangeLog {
    let base: any ChangeLog
    let missing: Int64

    init(_ base: any ChangeLog, missing: Int64) {
        self.base = base
        self.missing = missing
    }

    func read(stream: String, from offset: Int64, limit: Int) async throws -> [LogRecord] {
        let records = try await base.read(stream: stream, from: offset, limit: limit)
        return stream.hasPrefix("_") ? records : records.filter { $0.offset != missing }
    }

    func append(_ batch: AppendBatch) async throws -> [String: Range<Int64>] { try await base.append(batch) }
    func offset(stream: String, atOrAfterTimestamp micros: Int64) async throws -> Int64 {
        try await base.offset(stream: stream, atOrAfterTimestamp: micros)
    }
    func offset(stream: String, atOrAfterPosition position: SourcePosition) async throws -> Int64 {
        try await base.offset(stream: stream, atOrAfterPosition: position)
    }
    func streams() async throws -> [StreamInfo] { try await base.streams() }
    func stream(_ name: String) async throws -> StreamInfo? { try await base.stream(name) }
    func state(_ key: String) async throws -> [UInt8]? { try await base.state(key) }
    func states(prefix: String) async throws -> [String: [UInt8]] { try await base.states(prefix: prefix) }
    func setState(_ key: String, _ value: [UInt8]?) async throws { try await base.setState(key, value) }
    func consumerOffset(consumer: String, stream: String) async throws -> Int64 {
        try await base.consumerOffset(consumer: consumer, stream: stream)
    }
    func commitConsumerOffset(consumer: String, stream: String, nextOffset: Int64) async throws {
        try await base.commitConsumerOffset(consumer: consumer, stream: stream, nextOffset: nextOffset)
    }
    func applyRetention(_ policy: RetentionPolicy, streams: [String]?) async throws -> Int64 {
        try await base.applyRetention(policy, streams: streams)
    }
    func waitForAppend(after version: UInt64, timeout: Duration) async throws -> UInt64 {
        try await base.waitForAppend(after: version, timeout: timeout)
    }
    func dataVersion() async throws -> Int64 { try await base.dataVersion() }
    func hasChanged(since version: Int64) async throws -> Bool { try await base.hasChanged(since: version) }
    func close() async throws { try await base.close() }
}
