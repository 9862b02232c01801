// sluice: the command line (`run`, `validate`, `log`, `mcp`, `serve`, `audit`, `snapshot`, `iceberg`, `connectors`)
// and the registry of connectors it is built with.

import ArgumentParser
import Foundation
import SluiceCore
import SluiceIceberg
import SluiceRuntime

/// `sluice iceberg compact|expire-snapshots|remove-orphans PIPELINE.yaml [TABLE]`: maintenance of the tables the
/// pipeline's iceberg sinks write. Every command commits optimistically, so it is safe while the sink runs.
struct IcebergCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iceberg", abstract: "Maintain the Iceberg tables of a pipeline's iceberg sinks.",
        discussion:
            "Safe while the pipeline runs: each command commits optimistically and retries when the sink commits "
            + "first.",
        subcommands: [Compact.self, ExpireSnapshots.self, RemoveOrphans.self])

    /// The pipeline, table and sink selection every subcommand takes.
    struct Target: ParsableArguments {
        @Argument(help: "The pipeline file.") var pipeline: String
        @Argument(help: "The table: NAME or NAMESPACE.NAME (default: every table of the sink's namespace).") var table:
            String?
        @Option(help: "The iceberg sink to use (default: every iceberg sink of the pipeline).") var sink: String?

        /// The tables selected, each with its sink's configuration.
        func tables() throws -> [(IcebergTable, IcebergSinkConfiguration)] {
            let config = try loader.load(path: pipeline)
            let sinks = config.sinks.filter { $0.type == IcebergSink.spec.name && (sink == nil || $0.name == sink) }
            guard !sinks.isEmpty else {
                throw ValidationError(
                    sink.map { "the pipeline has no iceberg sink named '\($0)'" }
                        ?? "the pipeline \(pipeline) has no iceberg sink")
            }
            var result: [(IcebergTable, IcebergSinkConfiguration)] = []
            for configured in sinks {
                let settings = try IcebergSinkConfiguration(config: configured.config)
                let catalog = try settings.makeCatalog()
                var identifiers: [TableIdentifier]
                if let table {
                    let parts = table.split(separator: ".", omittingEmptySubsequences: false)
                    identifiers = [
                        parts.count > 1
                            ? TableIdentifier(
                                namespace: parts.dropLast().joined(separator: "."), name: String(parts.last!))
                            : TableIdentifier(namespace: settings.namespace, name: table)
                    ]
                } else {
                    identifiers = try catalog.listTables(namespace: settings.namespace)
                }
                for identifier in identifiers {
                    guard let loaded = try catalog.loadTable(identifier) else {
                        throw ValidationError("sink \(configured.name) has no table \(identifier)")
                    }
                    result.append((IcebergTable(catalog: catalog, loaded: loaded), settings))
                }
            }
            return result
        }
    }

    struct Compact: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge small data files and apply delete files.")
        @OptionGroup var target: Target
        @Option(help: "Target data file size in bytes (default: the sink's target_file_size).") var targetFileSize:
            Int64?

        func run() async throws {
            for (table, settings) in try target.tables() {
                do {
                    let result = try TableMaintenance.compact(
                        table, targetFileSize: targetFileSize ?? settings.targetFileSize,
                        compression: settings.compression)
                    print("\(table.identifier): \(result)")
                } catch {
                    throw RuntimeFailure(error: error)
                }
            }
        }
    }

    struct ExpireSnapshots: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "expire-snapshots", abstract: "Remove old snapshots and the files only they reference.")
        @OptionGroup var target: Target
        @Option(help: "Expire snapshots older than this: an age (7d, 12h) or an ISO-8601 time.") var olderThan = "7d"
        @Option(help: "Snapshots of the current branch to keep whatever their age.") var retainLast = 1

        func run() async throws {
            guard let micros = TimeArgument.micros(olderThan) else {
                throw ValidationError("--older-than: '\(olderThan)' is neither an ISO-8601 time nor an age like 7d")
            }
            for (table, _) in try target.tables() {
                do {
                    let result = try TableMaintenance.expireSnapshots(
                        table, olderThanMs: micros / 1000, retainLast: max(1, retainLast))
                    print("\(table.identifier): expired \(result.snapshots) snapshots, deleted \(result.files) files")
                } catch {
                    throw RuntimeFailure(error: error)
                }
            }
        }
    }

    struct RemoveOrphans: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-orphans",
            abstract: "Delete files in a table's folder that no snapshot references (left by crashed commits).")
        @OptionGroup var target: Target
        @Option(
            help: "Only files older than this (an age or an ISO-8601 time); younger ones may be a running commit's.")
        var olderThan = "1d"
        @Flag(help: "List the files without deleting them.") var dryRun = false

        func run() async throws {
            guard let micros = TimeArgument.micros(olderThan) else {
                throw ValidationError("--older-than: '\(olderThan)' is neither an ISO-8601 time nor an age like 1d")
            }
            for (table, _) in try target.tables() {
                do {
                    let removed = try TableMaintenance.removeOrphans(
                        table, olderThan: Date(timeIntervalSince1970: Double(micros) / 1_000_000), dryRun: dryRun)
                    for path in removed { print(path) }
                    print("\(table.identifier): \(dryRun ? "would remove" : "removed") \(removed.count) orphan files")
                } catch {
                    throw RuntimeFailure(error: error)
                }
            }
        }
    }
}
