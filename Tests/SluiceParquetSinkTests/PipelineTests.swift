import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceLog
import SluiceParquetSink
import SluiceRuntime
import SluiceTestSupport
import Testing

/// A source that emits the round-trip events (every `Value` kind and op) in a few batches.
struct EveryKindSource: SourceConnector {
    static let spec = ConnectorSpec(name: "every-kind", role: .source, summary: "test source", fields: [])
    let context: SourceContext

    init(context: SourceContext) throws { self.context = context }

    func run() async throws {
        let events = ValueRoundTripTests.events()
        for start in stride(from: 0, to: events.count, by: 8) {
            try await context.emit(SourceBatch(
                schemas: start == 0 ? [SinkFixtures.schema()] : [],
                events: Array(events[start..<min(start + 8, events.count)])))
        }
        try await context.waitUntilDurable()
    }
}

/// Runs the pipelines end to end: the runtime's runner in process, and the `sluice` executable with the generator,
/// also killed with SIGKILL at random moments.
@Suite(.serialized) struct PipelineTests {
    @Test func runnerCommitsWhatThePublishedFilesHold() async throws {
        let folder = try SinkFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let yaml = """
            name: p
            log: {path: \(folder.path)/p.sluicelog}
            sources:
              src: {type: every-kind}
            sinks:
              files: {type: parquet, path: \(folder.path)/out, include_before: true}
            runtime: {status_interval: 0, flush_interval: 10ms}
            """
        let registry = ConnectorRegistry(sources: [EveryKindSource.self], sinks: [ParquetFileSink.self])
        let config = try PipelineLoader(registry: registry).load(text: yaml, file: "p.yaml", environment: [:])
        let log = try LogFactory.open(config.log)
        let runner = PipelineRunner(
            config: config, registry: registry, log: log, logger: Logger(label: "test"), untilCaughtUp: true)
        try await runner.run()
        #expect(try await log.consumerOffset(consumer: "sink.files", stream: SinkFixtures.stream) == 30)
        try await log.close()

        let files = try ParquetReaders.read(SinkFixtures.publishedFiles(in: folder.appendingPathComponent("out")))
        let events = ValueRoundTripTests.events().enumerated().filter { $0.element.op != .message }
        let offsets = files.flatMap { $0.pyarrowValues["_offset"] ?? [] }.compactMap { $0 as? String }
        #expect(offsets == events.map { String($0.offset) })
        for (index, column) in SinkFixtures.everyKindColumns.enumerated() {
            let expected = events.map {
                ExpectedRendering.render(ValueRoundTripTests.expectedImage($0.element)[index], column: column)
            }
            for engine in ["pyarrow", "duckdb"] {
                let actual = files.flatMap {
                    (engine == "pyarrow" ? $0.pyarrowValues : $0.duckdbValues)[column.name] ?? []
                }
                #expect(jsonEqual(actual, expected), "\(engine) \(column.name)")
            }
        }
    }

    static let changes = 30_000

    func writeGeneratorPipeline(in folder: URL, rate: Int) throws {
        let sources = TestPipeline.generatorSource(
            count: Self.changes, rate: rate, batchSize: 250, keys: 300, tables: ["orders", "customers", "items"])
        let sinks = """
              files:
                type: parquet
                path: out
                compression: snappy
                max_file_rows: 1500
                include_before: true
            """
        try TestPipeline(name: "crash", sources: sources, sinks: sinks).write(in: folder)
    }

    func runToCompletion(in folder: URL) throws {
        let final = try runProcess(
            try TestEnvironment.sluiceExecutable(), ["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"],
            in: folder)
        #expect(final.succeeded, "the final run failed (\(final.endDescription)): \(final.err)")
    }

    /// Every generated change is in exactly one published file, per table the offsets are dense from 0, each
    /// file's name covers exactly its rows' offsets without overlapping another file, no temporary file is left,
    /// and per key the versions follow each other.
    func checkExactlyOnce(_ out: URL) throws {
        #expect(SinkFixtures.hiddenFiles(in: out).isEmpty, "temporary files left: \(SinkFixtures.hiddenFiles(in: out))")
        var positions: [Int] = []
        for table in ["orders", "customers", "items"] {
            let paths = SinkFixtures.publishedFiles(in: out.appendingPathComponent("generator.\(table)"))
            #expect(!paths.isEmpty, "no files for \(table)")
            let files = try ParquetReaders.read(paths)
            var offsets: [Int] = []
            var lastVersion: [Int: Int] = [:]
            for file in files {
                let fileOffsets = (file.pyarrowValues["_offset"] ?? []).compactMap {
                    ($0 as? String).flatMap { Int($0) }
                }
                let name = (file.path as NSString).lastPathComponent.dropLast(".parquet".count)
                let parts = name.split(separator: "-")
                let first = Int(parts[parts.count - 2])!, last = Int(parts[parts.count - 1])!
                #expect(
                    fileOffsets.first == first && fileOffsets.last == last,
                    "\(file.path) holds \(fileOffsets.first ?? -1)…\(fileOffsets.last ?? -1)")
                #expect(jsonEqual(file.duckdbValues["_offset"], file.pyarrowValues["_offset"]))
                offsets += fileOffsets
                let ops = file.pyarrowValues["_op"] ?? []
                let ids = file.pyarrowValues["id"] ?? []
                let versions = file.pyarrowValues["version"] ?? []
                for (row, position) in (file.pyarrowValues["_position"] ?? []).enumerated() {
                    positions.append(Int(position as! String)!)
                    let id = Int(ids[row] as! String)!, version = Int(versions[row] as! String)!
                    switch ops[row] as! String {
                    case "c": #expect(lastVersion[id] == nil && version == 1, "\(table) key \(id) inserted twice")
                    case "u":
                        #expect(lastVersion[id] == version - 1,
                                "\(table) key \(id): \(version) after \(lastVersion[id] ?? -1)")
                    case "d": #expect(lastVersion[id] == version, "\(table) key \(id) deleted at \(version)")
                    default: Issue.record("unexpected op \(ops[row])")
                    }
                    lastVersion[id] = ops[row] as! String == "d" ? nil : version
                }
            }
            #expect(offsets == Array(0..<offsets.count), "offsets of \(table) are not dense and unique")
        }
        #expect(positions.sorted() == Array(0..<Self.changes), "every generated change exactly once")
    }

    @Test func generatorToParquetEndToEnd() throws {
        let folder = try SinkFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try writeGeneratorPipeline(in: folder, rate: 0)
        try runToCompletion(in: folder)
        try checkExactlyOnce(folder.appendingPathComponent("out"))
    }

    @Test func sigkillWhileWritingLeavesNoPartialOrDuplicateFile() throws {
        let folder = try SinkFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try writeGeneratorPipeline(in: folder, rate: 15_000)
        var generator = SystemRandomNumberGenerator()
        var killsWithTemporaryFiles = 0
        for _ in 0..<8 {
            let process = try startSluice(["run", "pipeline.yaml", "--log-level", "error"], in: folder)
            process.kill(after: Double.random(in: 0.1...0.9, using: &generator))  // a random crash point
            #expect(process.wasKilled(by: SIGKILL), "the run was not ended by the kill (\(process.endDescription))")
            if !SinkFixtures.hiddenFiles(in: folder.appendingPathComponent("out")).isEmpty {
                killsWithTemporaryFiles += 1
            }
        }
        #expect(killsWithTemporaryFiles > 0, "no kill hit a file being written")
        try runToCompletion(in: folder)
        try checkExactlyOnce(folder.appendingPathComponent("out"))
    }
}
