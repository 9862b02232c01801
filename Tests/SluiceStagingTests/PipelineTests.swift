import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceLog
import SluiceRuntime
import Testing

@testable import SluiceDatabricks
@testable import SluiceSnowflake

/// A source that emits `StagingWorkload(count:keys:seed:)` in batches, storing its position with each batch so a
/// restarted pipeline continues after the last durable batch.
struct WorkloadSource: SourceConnector {
    static let spec = ConnectorSpec(
        name: "workload", role: .source, summary: "the staging tests' mixed workload",
        fields: [
            FieldSpec("count", .int, default: .int(1000), description: "changes"),
            FieldSpec("keys", .int, default: .int(50), description: "key space"),
            FieldSpec("seed", .int, default: .int(1), description: "seed"),
            FieldSpec("batch_size", .int, default: .int(97), description: "changes per batch"),
        ])

    let context: SourceContext
    init(context: SourceContext) throws { self.context = context }

    func run() async throws {
        let config = context.config
        let workload = StagingWorkload(
            count: config.int("count") ?? 1000, keys: config.int("keys") ?? 50,
            seed: UInt64(config.int("seed") ?? 1))
        let batchSize = config.int("batch_size") ?? 97
        var next = 0
        if let stored = try await context.loadState("next") { next = Int(String(decoding: stored, as: UTF8.self)) ?? 0 }
        var schemas = try await context.latestSchema(StagingWorkload.table) == nil ? [StagingWorkload.schema] : []
        while next < workload.events.count {
            let end = min(next + batchSize, workload.events.count)
            try await context.emit(
                SourceBatch(
                    schemas: schemas, events: Array(workload.events[next..<end]),
                    state: ["next": Array(String(end).utf8)]))
            schemas = []
            next = end
        }
        try await context.waitUntilDurable()
    }
}

@Suite(.serialized) struct PipelineTests {
    @Test func aPipelineRunFeedsBothSinksThroughTheCoreLog() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = ConnectorRegistry(
            sources: [WorkloadSource.self], sinks: [SnowflakeStageSink.self, DeltaSink.self])
        let yaml = """
            name: t
            log:
              path: \(directory)/log/t.sluicelog
              sync: normal
            sources:
              app:
                type: workload
                count: 3000
                keys: 150
                seed: 41
            sinks:
              stage:
                type: snowflake_stage
                path: \(directory)/stage
                max_file_rows: 400
                fsync: false
              lake:
                type: delta
                path: \(directory)/lake
                max_file_rows: 500
                current_file_rows: 60
                fsync: false
            runtime:
              status_interval: 0
              flush_interval: 50ms
              sink_batch_events: 333
            """
        let config = try PipelineLoader(registry: registry).load(text: yaml, file: "t.yaml", environment: [:])
        let log = try LogFactory.open(config.log)
        let runner = PipelineRunner(
            config: config, registry: registry, log: log, logger: Logger(label: "sluice.test"), untilCaughtUp: true)
        try await runner.run()
        try await log.close()

        let workload = StagingWorkload(count: 3000, keys: 150, seed: 41)
        let expected = try StagingChecker.writeExpected(workload, in: directory)
        try StagingChecker.expectStageMerges(
            workload, folder: directory + "/stage/shop.orders", testStage: directory + "/duck", expected: expected,
            replayBack: [1])
        try StagingChecker.expectDeltaTablesHold(workload, folder: directory + "/lake/shop.orders", expected: expected)
    }
}
