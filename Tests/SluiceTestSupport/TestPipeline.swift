import Foundation

/// The `pipeline.yaml` of a test that runs the `sluice` executable: pipeline `name` with its log at
/// `log/NAME.sluicelog`, the given sources and sinks, and a runtime that prints no status and flushes every 50 ms.
public struct TestPipeline: Sendable {
    public var name: String
    /// The entries under `sources:`, each indented by two spaces.
    public var sources: String
    /// The entries under `sinks:`, each indented by two spaces.
    public var sinks: String
    /// More settings under `log:` (`sync: normal`).
    public var log: [String]
    /// More settings under `runtime:` (`sink_batch_events: 250`).
    public var runtime: [String]

    public init(
        name: String, sources: String, sinks: String = TestPipeline.jsonlSink, log: [String] = [],
        runtime: [String] = []
    ) {
        self.name = name
        self.sources = sources
        self.sinks = sinks
        self.log = log
        self.runtime = runtime
    }

    /// A sink `files` writing JSON lines into `out/`.
    public static let jsonlSink = """
          files:
            type: jsonl
            path: out
        """

    /// Runtime settings that retry a lost source server within a few seconds.
    public static let quickRetries = ["retry_initial_backoff: 200ms", "retry_max_backoff: 2s"]

    /// A generator source `gen`: `count` changes to `keys` keys of each of `tables`, `rate` a second.
    public static func generatorSource(count: Int, rate: Int, batchSize: Int, keys: Int, tables: [String]) -> String {
        """
          gen:
            type: generator
            count: \(count)
            rate: \(rate)
            batch_size: \(batchSize)
            keys: \(keys)
            tables: [\(tables.joined(separator: ", "))]
        """
    }

    /// The YAML text.
    public var yaml: String {
        let head = ["name: \(name)", "log:", "  path: log/\(name).sluicelog"] + log.map { "  " + $0 }
        let runtimeLines = ["runtime:", "  status_interval: 0", "  flush_interval: 50ms"] + runtime.map { "  " + $0 }
        return (head + ["sources:", sources, "sinks:", sinks] + runtimeLines).joined(separator: "\n") + "\n"
    }

    /// Writes `yaml` to `directory/pipeline.yaml`.
    public func write(in directory: URL) throws {
        try yaml.write(to: directory.appendingPathComponent("pipeline.yaml"), atomically: true, encoding: .utf8)
    }
}
