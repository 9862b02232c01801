import Foundation
import Logging
import SluiceCore
import SluiceConnectorKit

/// A sink that writes each captured table into an Apache Iceberg v2 table, effectively once.
///
/// Every commit is one snapshot whose summary records, under `sluice.offsets`, the next log offset of each stream
/// it covers. On start the sink resumes from that record, and skips records the table already holds, so a crash at
/// any point (before or after data files, before or after the catalog commit) neither loses nor doubles a change.
/// Files written by a commit that never published are orphans; `sluice iceberg remove-orphans` deletes them.
public actor IcebergSink: SinkConnector {
    /// The thread of this type's sinks: their file, SQLite and compression calls block it, never the cooperative pool.
    private static let thread = ThreadExecutor(name: "iceberg-sink")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { Self.thread.asUnownedSerialExecutor() }

    public static let spec = IcebergSinkConfiguration.spec
    /// The snapshot summary key holding `{stream: nextOffset}` as JSON.
    public static let offsetsSummaryKey = "sluice.offsets"

    let configuration: IcebergSinkConfiguration
    let pipeline: String
    let logger: Logger
    let catalog: any IcebergCatalog
    var writers: [String: TableWriter] = [:]
    var failpoint: (@Sendable (CommitStage) throws -> Void)?

    public init(context: SinkContext) throws {
        configuration = try IcebergSinkConfiguration(config: context.config)
        pipeline = context.pipeline
        logger = context.logger
        do {
            catalog = try configuration.makeCatalog()
        } catch {
            throw SluiceError(
                .invalidConfiguration, "cannot open the Iceberg catalog",
                location: "sinks.\(context.config.instanceName).catalog_uri", underlying: error)
        }
    }

    /// Sets a failure injection point on every table writer (tests).
    func setFailpoint(_ failpoint: (@Sendable (CommitStage) throws -> Void)?) {
        self.failpoint = failpoint
        for writer in writers.values { writer.failpoint = failpoint }
    }

    /// The table a stream lands in, guessed from the stream name `<pipeline>.<schema>.<table>`.
    func tableID(forStream stream: String) -> TableID? {
        let prefix = pipeline + "."
        guard stream.hasPrefix(prefix) else { return nil }
        let rest = stream.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: ".") else { return nil }
        return TableID(database: "", schema: String(rest[..<dot]), name: String(rest[rest.index(after: dot)...]))
    }

    public func resumeOffsets(streams: [String]) async throws -> [String: Int64]? {
        var result: [String: Int64] = [:]
        for stream in streams {
            if let writer = writers[stream] {
                result[stream] = writer.committedNext
                continue
            }
            guard let table = tableID(forStream: stream), !configuration.tableTemplate.contains("{database}") else {
                continue
            }
            let identifier = configuration.tableIdentifier(pipeline: pipeline, table: table)
            if let loaded = try wrap("loading table \(identifier)", { try catalog.loadTable(identifier) }),
                let offset = IcebergTable(catalog: catalog, loaded: loaded).committedOffsets()[stream]
            {
                result[stream] = offset
            }
        }
        return result
    }

    private func writer(for batch: SinkBatch) throws -> TableWriter {
        if let writer = writers[batch.stream] { return writer }
        let identifier = configuration.tableIdentifier(pipeline: pipeline, table: batch.table)
        guard let first = batch.records.first, let source = batch.schemas[first.event.schemaVersion] else {
            throw IcebergError(.corruptMetadata, "stream \(batch.stream) has no schema for its first record")
        }
        let configuration = self.configuration
        let table = try IcebergTable.loadOrCreate(
            catalog: catalog, identifier: identifier,
            schema: {
                let schema = try TableWriter.evolvedSchema(
                    current: nil, lastColumnId: 0, source: source, mode: configuration.mode)
                let spec =
                    try configuration.partitionBy.map { try PartitionRequest($0).spec(schema: schema) }
                    ?? .unpartitioned
                return (schema, spec)
            },
            properties: [
                ("write.format.default", "parquet"),
                ("write.parquet.compression-codec", "\(configuration.compression)"),
                ("sluice.mode", configuration.mode.rawValue), ("sluice.stream", batch.stream),
            ])
        let writer = TableWriter(
            stream: batch.stream, table: table, configuration: configuration,
            logger: logger)
        writer.failpoint = failpoint
        writers[batch.stream] = writer
        logger.info(
            "writing stream \(batch.stream) to Iceberg table \(identifier)",
            metadata: ["sluice.resume-offset": .stringConvertible(writer.committedNext)])
        return writer
    }

    public func write(_ batch: SinkBatch) async throws -> [String: Int64] {
        try wrap("writing stream \(batch.stream)") {
            let writer = try writer(for: batch)
            try writer.add(batch)
            return [batch.stream: writer.committedNext]
        }
    }

    public func flush() async throws -> [String: Int64] {
        try wrap("committing") {
            var result: [String: Int64] = [:]
            for (stream, writer) in writers {
                try writer.commit()
                result[stream] = writer.committedNext
            }
            return result
        }
    }

    public func close() async throws {
        writers.removeAll()
    }

    /// Turns Iceberg errors into `SluiceError`s the runtime understands (I/O and lost commits are transient).
    private func wrap<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as IcebergError {
            // A failed commit leaves the writer's buffer intact: a retried write skips what it already buffered.
            let code: SluiceError.Code = error.code == .invalidConfiguration ? .invalidConfiguration : .sink
            throw SluiceError(
                code, "Iceberg sink: \(what) failed", hint: error.hint,
                isTransient: error.code == .io || error.code == .commitConflict, underlying: error)
        } catch let error as SluiceError {
            throw error
        } catch {
            throw SluiceError(.sink, "Iceberg sink: \(what) failed", isTransient: false, underlying: error)
        }
    }
}
