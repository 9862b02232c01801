import Foundation
import Logging
import SluiceCore
import SluiceParquet
import SluiceConnectorKit

/// A sink that writes change streams to Parquet files, one folder per table, each file named by the log offset
/// range it holds.
///
/// Files are written under a temporary hidden name, fsynced, renamed to
/// `<stream>-<firstOffset>-<lastOffset>.parquet` and the folder fsynced; only then are their offsets reported
/// durable. On start the sink removes temporary files an earlier run left and resumes each stream after the
/// highest last offset among its published files, so a replay after a crash never writes a record that a
/// published file already holds: no partial and no duplicate file is ever visible.
///
/// A file is published when it reaches `max_file_size`, `max_file_rows` or `max_file_age`, when the table's
/// schema version or (with `partition_by_commit_date`) the commit date changes, and when the runtime flushes
/// (idle, caught up, shutdown).
public actor ParquetFileSink: SinkConnector {
    /// The thread of this type's sinks: their file, SQLite and compression calls block it, never the cooperative pool.
    private static let thread = ThreadExecutor(name: "parquet-sink")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { Self.thread.asUnownedSerialExecutor() }

    public static var spec: ConnectorSpec { ParquetSinkConfiguration.spec }

    /// What the sink knows about one stream.
    private struct StreamProgress {
        /// Records below this offset are in published files or produce no row: durable.
        var durableNext: Int64?
        /// Records below this offset were handled (published, buffered or skipped); earlier ones are ignored.
        var handledNext: Int64
        var openFile: OpenParquetFile?
    }

    let configuration: ParquetSinkConfiguration
    let logger: Logger
    private let writerOptions: ParquetWriterOptions
    /// Per stream (file-name form), the offset after the last published file found at start.
    private let publishedNextOffsets: [String: Int64]
    private var streams: [String: StreamProgress] = [:]
    private var rowLayouts: [TableID: [Int: ChangeRowLayout]] = [:]
    private var createdFolders: Set<String> = []

    public init(context: SinkContext) throws {
        configuration = try ParquetSinkConfiguration(config: context.config)
        logger = context.logger
        var options = ParquetWriterOptions()
        options.compression = configuration.compression
        options.rowGroupSize = configuration.rowGroupBytes
        options.maxRowsPerRowGroup = configuration.rowGroupRows
        options.syncOnClose = true
        options.createdBy = "sluice parquet sink"
        writerOptions = options
        try PublishedFiles.store.makeFolder(configuration.path)
        let scan = try PublishedFiles.scan(root: configuration.path, streamPrefix: context.pipeline + ".")
        if scan.publishedFileCount > 0 {
            context.logger.info("found published Parquet files; each stream resumes after its last file",
                                metadata: ["sluice.files": .stringConvertible(scan.publishedFileCount)])
        }
        for path in scan.removedTemporaryFiles {
            context.logger.info("removed an unpublished temporary file left by an earlier run",
                                metadata: ["sluice.file": .string(path)])
        }
        publishedNextOffsets = scan.nextOffsets
    }

    /// Each stream resumes after the highest last offset of its published files (streams without files use
    /// the log's consumer offset).
    public func resumeOffsets(streams names: [String]) async throws -> [String: Int64]? {
        var result: [String: Int64] = [:]
        for name in names {
            guard let next = publishedNextOffsets[PathComponent.safe(name)] else { continue }
            var state = progress(name)
            state.durableNext = max(state.durableNext ?? next, next)
            streams[name] = state
            result[name] = next
        }
        return result
    }

    public func write(_ batch: SinkBatch) async throws -> [String: Int64] {
        var state = progress(batch.stream)
        do {
            try write(batch, into: &state)
        } catch {
            streams[batch.stream] = state
            throw error
        }
        streams[batch.stream] = state
        // Also files of streams that have been quiet while others kept the sink busy.
        for name in streams.keys.sorted() {
            if let open = streams[name]?.openFile, open.isOlder(than: configuration.maxFileAgeSeconds) {
                var aged = streams[name]!
                try publish(&aged)
                streams[name] = aged
            }
        }
        return durableOffsets()
    }

    private func write(_ batch: SinkBatch, into state: inout StreamProgress) throws {
        for record in batch.records where record.offset >= state.handledNext {
            let event = record.event
            let rowLayout = try layout(for: batch, version: event.schemaVersion, offset: record.offset)
            guard rowLayout.writesRow(for: event.op) else {
                if let open = state.openFile {
                    open.cover(offset: record.offset)
                } else {
                    state.durableNext = record.offset + 1
                }
                state.handledNext = record.offset + 1
                continue
            }
            let commitDate = configuration.partitionByCommitDate
                ? PublishedFiles.commitDate(micros: event.commitTimeMicros) : nil
            if let open = state.openFile,
                open.rowLayout.tableSchema.version != event.schemaVersion || open.commitDate != commitDate
            {
                try publish(&state)
            }
            if state.openFile == nil {
                let folder = PublishedFiles.folder(root: configuration.path, table: batch.table, commitDate: commitDate)
                if !createdFolders.contains(folder) {
                    try PublishedFiles.store.makeFolder(folder)
                    createdFolders.insert(folder)
                }
                var options = writerOptions
                options.keyValueMetadata = metadata(stream: batch.stream, rowLayout: rowLayout)
                state.openFile = try OpenParquetFile(
                    stream: batch.stream, table: batch.table, rowLayout: rowLayout, commitDate: commitDate,
                    folder: folder, firstOffset: record.offset, options: options)
            }
            let open = state.openFile!
            do {
                // A key-changing update is, in the changelog, the delete of the old key and then the new row.
                if rowLayout.layout == .changelog,
                    let delete = record.keyChangeDelete(primaryKey: rowLayout.tableSchema.primaryKey)
                {
                    try open.append(delete)
                }
                try open.append(record)
            } catch {
                open.discard()
                state.openFile = nil
                throw error
            }
            state.handledNext = record.offset + 1
            if open.rowCount >= configuration.maxFileRows || open.estimatedSize >= configuration.maxFileBytes {
                try publish(&state)
            }
        }
    }

    /// Publishes every open file.
    public func flush() async throws -> [String: Int64] {
        for name in streams.keys.sorted() where streams[name]?.openFile != nil {
            var state = streams[name]!
            try publish(&state)
            streams[name] = state
        }
        return durableOffsets()
    }

    /// Removes the temporary files of files still open (after a failure; a normal stop flushes first).
    public func close() async throws {
        for name in streams.keys {
            streams[name]?.openFile?.discard()
            streams[name]?.openFile = nil
        }
    }

    // MARK: Internals

    private func progress(_ stream: String) -> StreamProgress {
        if let state = streams[stream] { return state }
        let state = StreamProgress(
            durableNext: nil, handledNext: publishedNextOffsets[PathComponent.safe(stream)] ?? 0)
        streams[stream] = state
        return state
    }

    private func durableOffsets() -> [String: Int64] {
        streams.compactMapValues(\.durableNext)
    }

    /// The row layout of a schema version of the batch's table.
    private func layout(for batch: SinkBatch, version: Int, offset: Int64) throws -> ChangeRowLayout {
        if let known = rowLayouts[batch.table]?[version] { return known }
        guard let schema = batch.schemas[version] else {
            throw SluiceError(
                .sink, "the change at offset \(offset) of stream \(batch.stream) uses schema version \(version) "
                    + "of table \(batch.table.qualifiedName), which the log's _schemas stream does not hold",
                hint: "the log is incomplete or damaged; re-snapshot the table")
        }
        let built = try ChangeRowLayout(
            tableSchema: schema, layout: configuration.layout, includeBefore: configuration.includeBefore)
        rowLayouts[batch.table, default: [:]][version] = built
        return built
    }

    /// Finishes the stream's open file, publishes it under its offset-range name, and marks its offsets durable.
    private func publish(_ state: inout StreamProgress) throws {
        guard let open = state.openFile else { return }
        state.openFile = nil
        let summary: ParquetFileSummary
        do {
            summary = try open.finish()
            try PublishedFiles.store.publish(open.temporaryPath, as: open.finalPath)
        } catch {
            open.discard()
            throw error
        }
        state.durableNext = open.lastOffset + 1
        logger.debug("published a Parquet file", metadata: [
            "sluice.file": .string(open.finalPath), "sluice.rows": .stringConvertible(summary.rowCount),
            "sluice.bytes": .stringConvertible(summary.fileSize),
        ])
    }

    private func metadata(stream: String, rowLayout: ChangeRowLayout) -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let schemaJSON = (try? encoder.encode(rowLayout.tableSchema)).map { String(decoding: $0, as: UTF8.self) }
        var metadata = [
            "sluice.stream": stream,
            "sluice.table": rowLayout.tableSchema.table.qualifiedName,
            "sluice.schema_version": String(rowLayout.tableSchema.version),
            "sluice.layout": configuration.layout.rawValue,
        ]
        metadata["sluice.table_schema"] = schemaJSON
        return metadata
    }
}

extension OpenParquetFile {
    /// Whether the file has been open at least `seconds`.
    func isOlder(than seconds: Double) -> Bool {
        ContinuousClock.now - openedAt >= .milliseconds(Int64(seconds * 1000))
    }
}
