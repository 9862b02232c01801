import Foundation
import SluiceConnectorKit
import SluiceCore
import SluiceLog

/// A source or sink as configured in a pipeline file.
public struct ConfiguredConnector: Sendable {
    /// The key under `sources:` or `sinks:`.
    public var name: String
    /// The connector type (`postgres`, `jsonl`, …).
    public var type: String
    /// Validated settings with defaults applied.
    public var config: ConnectorConfig
    /// Line of the connector's entry in the pipeline file.
    public var line: Int
}

/// Settings of the core log.
public struct LogSettings: Sendable {
    public var backend: String
    public var path: String
    public var sync: SyncPolicy
    public var retention: RetentionPolicy
    /// How often retention runs, in seconds.
    public var retentionInterval: Double
}

/// Runtime tuning: batching, backpressure, status, retries.
public struct RuntimeSettings: Sendable {
    /// Most events read from the log per sink batch.
    public var sinkBatchEvents: Int
    /// Most source batches queued for the log before sources wait (backpressure).
    public var maxInFlightBatches: Int
    /// How often a status line is logged, in seconds (0: never).
    public var statusInterval: Double
    /// A sink that has been idle this long is asked to flush, in seconds.
    public var flushInterval: Double
    /// First wait after a transient failure, in seconds; doubles per failure up to `retryMaxBackoff`.
    public var retryInitialBackoff: Double
    public var retryMaxBackoff: Double
    /// A component failing transiently this long without a success in between gives up and ends the run, in
    /// seconds (0: retry forever).
    public var maxRetryDuration: Double
    /// How long a graceful stop (SIGINT/SIGTERM) may take before the process exits anyway, in seconds (0: no limit).
    public var stopTimeout: Double
}

/// A validated pipeline file.
public struct PipelineConfig: Sendable {
    public var name: String
    public var file: String
    public var log: LogSettings
    public var sources: [ConfiguredConnector]
    public var sinks: [ConfiguredConnector]
    public var runtime: RuntimeSettings
    /// Cron schedule for sync jobs: `sluice run` then runs the pipeline until caught up at each tick.
    public var schedule: CronSchedule?
    /// Further top-level sections (for example `mcp`), validated by the extensions that declared them.
    public var sections: [String: ConfigValue]

    /// The stream a table's changes go to: `<pipeline>.<schema>.<table>`.
    public func stream(for table: TableID) -> String {
        "\(name).\(table.schema).\(table.name)"
    }

    /// True for the pipeline's change streams (not the system streams such as `_schemas`).
    public func isChangeStream(_ stream: String) -> Bool {
        stream.hasPrefix(name + ".")
    }
}

/// The system streams every log has.
public enum SystemStream {
    public static let schemas = "_schemas"
    public static let transactions = "_transactions"
    public static let audit = "_audit"
    public static let heartbeats = "_heartbeats"
}

/// The connectors a build knows, by type name.
public struct ConnectorRegistry: Sendable {
    public var sources: [String: any SourceConnector.Type]
    public var sinks: [String: any SinkConnector.Type]

    public init(sources: [any SourceConnector.Type] = [], sinks: [any SinkConnector.Type] = []) {
        self.sources = Dictionary(uniqueKeysWithValues: sources.map { ($0.spec.name, $0) })
        self.sinks = Dictionary(uniqueKeysWithValues: sinks.map { ($0.spec.name, $0) })
    }

    /// Every connector's spec, sources first, sorted by name.
    public var specs: [ConnectorSpec] {
        sources.values.map { $0.spec }.sorted { $0.name < $1.name } + sinks.values.map { $0.spec }.sorted { $0.name < $1.name }
    }

    public func spec(named name: String) -> ConnectorSpec? {
        sources[name]?.spec ?? sinks[name]?.spec
    }
}

/// Loads and validates pipeline files.
public struct PipelineLoader: Sendable {
    public var registry: ConnectorRegistry
    /// Extra top-level sections that other modules declare (name → fields).
    public var sections: [String: [FieldSpec]]

    public init(registry: ConnectorRegistry, sections: [String: [FieldSpec]] = [:]) {
        self.registry = registry
        self.sections = sections
    }

    static let logFields: [FieldSpec] = [
        FieldSpec("backend", .oneOf(["sqlite"]), default: .string("sqlite"),
                  description: "log backend: sqlite (embedded, one file)", example: "sqlite"),
        FieldSpec("path", .string, description: "the log database file (default: data/<pipeline>.sluicelog)",
                  example: "data/orders.sluicelog"),
        FieldSpec("sync", .oneOf(SyncPolicy.allCases.map(\.rawValue)), default: .string("full"),
                  description: "full: fsync every append (survives power loss); normal: survives process crashes; off: tests only"),
        FieldSpec("retention", .object([
            FieldSpec("max_age", .duration, description: "drop records older than this", example: "7d"),
            FieldSpec("max_bytes", .size, description: "drop the oldest records of a stream above this size", example: "10GiB"),
            FieldSpec("compact", .bool, default: .bool(false), description: "keep only the newest record per key"),
            FieldSpec("interval", .duration, default: .duration(300), description: "how often retention runs"),
        ]), description: "retention of change streams"),
    ]

    static let runtimeFields: [FieldSpec] = [
        FieldSpec("sink_batch_events", .int, default: .int(5000), description: "most events per sink batch"),
        FieldSpec("max_in_flight_batches", .int, default: .int(4),
                  description: "source batches queued for the log before the source waits"),
        FieldSpec("status_interval", .duration, default: .duration(10), description: "how often a status line is logged (0: never)"),
        FieldSpec("flush_interval", .duration, default: .duration(1), description: "idle time after which sinks publish buffered output"),
        FieldSpec("retry_initial_backoff", .duration, default: .duration(1), description: "first wait after a transient error"),
        FieldSpec("retry_max_backoff", .duration, default: .duration(60), description: "longest wait between retries"),
        FieldSpec("max_retry_duration", .duration, default: .duration(300),
                  description: "a source, the log or a sink failing transiently this long without a success gives up: the run exits 1 (0: retry forever)"),
        FieldSpec("stop_timeout", .duration, default: .duration(30),
                  description: "how long SIGINT/SIGTERM may drain before the process exits anyway (0: no limit); nothing acknowledged is lost either way"),
    ]

    /// Reads, substitutes, parses and validates a pipeline file; throws `ConfigErrors` naming every problem.
    public func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PipelineConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigErrors(file: path, entries: [.init(path: "", line: nil, message: "cannot read the file: \(error.localizedDescription)")])
        }
        return try load(text: text, file: path, environment: environment)
    }

    /// Validates pipeline YAML text.
    public func load(text: String, file: String, environment: [String: String]) throws -> PipelineConfig {
        let root = try ConfigDocument.parse(text, environment: environment, file: file)
        var v = ConfigValidator()
        guard case .mapping(let pairs) = root.content else {
            throw ConfigErrors(file: file, entries: [.init(path: "", line: root.line, message: "expected a mapping with name, sources and sinks")])
        }
        let known = ["name", "log", "sources", "sinks", "runtime", "schedule"] + sections.keys.sorted()
        for pair in pairs where !known.contains(pair.key) {
            var message = "unknown key '\(pair.key)'"
            if let s = ConfigValidator.closest(pair.key, among: known) { message += "; did you mean '\(s)'?" }
            v.fail(pair.key, pair.keyLine, message)
        }
        var name = "pipeline"
        if let node = root["name"], let text = node.scalar {
            if text.range(of: "^[A-Za-z0-9_-]+$", options: .regularExpression) != nil {
                name = text
            } else {
                v.fail("name", node.line, "use letters, digits, '_' and '-' only (it prefixes stream names)")
            }
        } else {
            v.fail("name", root.line, "missing required key 'name' (the pipeline's name, e.g. name: orders)")
        }
        let logValues = root["log"].map { v.validateObject($0, fields: Self.logFields, path: "log") }
            ?? v.validateObject(ConfigNode(content: .mapping([]), line: root.line), fields: Self.logFields, path: "log")
        let runtimeValues = v.validateObject(root["runtime"] ?? ConfigNode(content: .mapping([]), line: root.line),
                                             fields: Self.runtimeFields, path: "runtime")
        let sources = connectors(root["sources"], role: .source, path: "sources", root: root, validator: &v)
        // No sinks is a log-only pipeline: capture into the log, read it over MCP or `sluice log read`.
        let sinks = root["sinks"].map { connectors($0, role: .sink, path: "sinks", root: root, validator: &v) } ?? []
        var schedule: CronSchedule?
        if let node = root["schedule"] {
            if let text = node.scalar {
                do { schedule = try CronSchedule(text) } catch { v.fail("schedule", node.line, "\(error)") }
            } else {
                v.fail("schedule", node.line, "expected a cron expression such as '*/15 * * * *'")
            }
        }
        var sectionValues: [String: ConfigValue] = [:]
        for (section, fields) in sections {
            if let node = root[section] { sectionValues[section] = .map(v.validateObject(node, fields: fields, path: section)) }
        }
        if !v.errors.isEmpty { throw ConfigErrors(file: file, entries: v.errors) }

        let logConfig = ConnectorConfig(instanceName: "log", values: logValues)
        let retention = logConfig.object("retention")
        let runtime = ConnectorConfig(instanceName: "runtime", values: runtimeValues)
        return PipelineConfig(
            name: name,
            file: file,
            log: LogSettings(
                backend: logConfig.string("backend") ?? "sqlite",
                path: logConfig.string("path") ?? "data/\(name).sluicelog",
                sync: SyncPolicy(rawValue: logConfig.string("sync") ?? "full") ?? .full,
                retention: RetentionPolicy(
                    maxAgeSeconds: retention?.duration("max_age").map { Int64($0) },
                    maxBytes: retention?.size("max_bytes"),
                    compactByKey: retention?.bool("compact") ?? false),
                retentionInterval: retention?.duration("interval") ?? 300),
            sources: sources,
            sinks: sinks,
            runtime: RuntimeSettings(
                sinkBatchEvents: max(1, runtime.int("sink_batch_events") ?? 5000),
                maxInFlightBatches: max(1, runtime.int("max_in_flight_batches") ?? 4),
                statusInterval: runtime.duration("status_interval") ?? 10,
                flushInterval: runtime.duration("flush_interval") ?? 1,
                retryInitialBackoff: runtime.duration("retry_initial_backoff") ?? 1,
                retryMaxBackoff: runtime.duration("retry_max_backoff") ?? 60,
                maxRetryDuration: runtime.duration("max_retry_duration") ?? 300,
                stopTimeout: runtime.duration("stop_timeout") ?? 30),
            schedule: schedule,
            sections: sectionValues)
    }

    private func connectors(
        _ node: ConfigNode?, role: ConnectorSpec.Role, path: String, root: ConfigNode, validator v: inout ConfigValidator
    ) -> [ConfiguredConnector] {
        guard let node else {
            v.fail(path, root.line, "missing required key '\(path)' (a mapping of names to \(role) settings with a 'type')")
            return []
        }
        guard case .mapping(let pairs) = node.content, !pairs.isEmpty || role == .sink else {
            v.fail(path, node.line, "expected a mapping of names to \(role) settings, each with a 'type'")
            return []
        }
        let available: [String] = role == .source ? registry.sources.keys.sorted() : registry.sinks.keys.sorted()
        var result: [ConfiguredConnector] = []
        for pair in pairs {
            let entryPath = "\(path).\(pair.key)"
            guard case .mapping(let fields) = pair.value.content else {
                v.fail(entryPath, pair.keyLine, "expected the \(role)'s settings, starting with 'type'")
                continue
            }
            guard let typeNode = pair.value["type"], let type = typeNode.scalar else {
                v.fail(entryPath, pair.keyLine, "missing required key 'type' (one of: \(available.joined(separator: ", ")))")
                continue
            }
            let spec = role == .source ? registry.sources[type]?.spec : registry.sinks[type]?.spec
            guard let spec else {
                var message = "unknown \(role) type '\(type)'"
                if let s = ConfigValidator.closest(type, among: available) { message += "; did you mean '\(s)'?" }
                message += " (available: \(available.joined(separator: ", ")))"
                v.fail("\(entryPath).type", typeNode.line, message)
                continue
            }
            let settings = ConfigNode(content: .mapping(fields.filter { $0.key != "type" }), line: pair.value.line)
            let values = v.validateObject(settings, fields: spec.fields, path: entryPath)
            result.append(ConfiguredConnector(
                name: pair.key, type: type, config: ConnectorConfig(instanceName: pair.key, values: values), line: pair.keyLine))
        }
        return result
    }
}
