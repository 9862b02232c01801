/// Settings of a `ParquetWriter`. The defaults match pyarrow's `write_table` except the codec (pyarrow: snappy).
public struct ParquetWriterOptions: Sendable {
    /// Page compression. Default: zstd.
    public var compression: ParquetCompression = .zstd
    /// Codec level; nil uses pyarrow's defaults (zstd 1, gzip 6). Ignored for snappy and uncompressed.
    public var compressionLevel: Int?
    /// A row group ends once its buffered (compressed) pages reach this many bytes. Default 128 MiB.
    public var rowGroupSize = 128 << 20
    /// A row group ends at this many rows at the latest. Default 1 Mi rows (pyarrow's default).
    public var maxRowsPerRowGroup = 1 << 20
    /// A data page ends once its encoded values reach about this many bytes (before compression). Default 1 MiB.
    public var pageSize = 1 << 20
    /// Dictionary-encode columns (all but BOOLEAN). Default true.
    public var dictionaryEnabled = true
    /// A column chunk falls back from dictionary to PLAIN encoding once its dictionary exceeds this many
    /// bytes. Default 1 MiB.
    public var dictionaryPageSizeLimit = 1 << 20
    /// BYTE_ARRAY min/max statistics longer than this are truncated (min to a prefix, max to a short greater
    /// value, both marked inexact). Default 64 bytes.
    public var statisticsTruncationLength = 64
    /// Application metadata stored in the footer's `key_value_metadata`, written in key order.
    public var keyValueMetadata: [String: String] = [:]
    /// The footer's `created_by`.
    public var createdBy = "sluice"
    /// fsync the file before `close()` returns (when the writer opened it by path or was given a descriptor).
    /// Default false.
    public var syncOnClose = false

    public init() {}
}

/// What `ParquetWriter.close()` wrote.
public struct ParquetFileSummary: Sendable {
    /// Rows in the file.
    public var rowCount: Int64
    /// Size of the file in bytes.
    public var fileSize: Int64
    /// Row groups in the file.
    public var rowGroupCount: Int
    /// The footer as written.
    public var metadata: ParquetFormat.FileMetaData
}

/// Writes one Parquet file from batches of column values.
///
/// ```swift
/// let schema = try ParquetSchema(columns: [ParquetColumn(name: "id", type: .int64, isNullable: false)])
/// let writer = try ParquetWriter(path: temporaryPath, schema: schema)
/// var columns = schema.makeColumnBuffers()
/// try columns[0].append(Int64(42))
/// try writer.append(columns: columns)
/// let summary = try writer.close()
/// ```
///
/// Batches are split into row groups of at most `maxRowsPerRowGroup` rows or about `rowGroupSize` bytes; a row
/// group's pages stay in memory until it ends. A writer is used from one task at a time. After any error the
/// writer refuses further batches; the file is then incomplete and should be deleted.
public final class ParquetWriter {
    /// The file's schema.
    public let schema: ParquetSchema
    /// The writer's settings.
    public let options: ParquetWriterOptions

    private let output: ParquetFileOutput
    private let compressor: PageCompressor
    private let chunkWriters: [ColumnChunkWriter]
    private var rowGroups: [ParquetFormat.RowGroup] = []
    private var rowsInRowGroup = 0
    private var rowCount: Int64 = 0
    private var isOpen = true

    /// Rows appended so far.
    public var appendedRowCount: Int64 { rowCount }

    /// Bytes written so far plus an estimate of the open row group's pages and dictionaries (before the
    /// footer): what a sink compares with its file size limit.
    public var estimatedFileSize: Int64 { output.position + Int64(bufferedBytes) }

    /// Creates (or truncates) the file at `path`; write to a temporary name and rename after `close()`.
    public convenience init(
        path: String, schema: ParquetSchema, options: ParquetWriterOptions = ParquetWriterOptions()
    ) throws(ParquetError) {
        try self.init(output: ParquetFileOutput(path: path), schema: schema, options: options)
    }

    /// Writes to `fileDescriptor`, which must be open for writing at the start of an empty file. The caller
    /// keeps ownership and closes it after `close()`.
    public convenience init(
        fileDescriptor: Int32, schema: ParquetSchema, options: ParquetWriterOptions = ParquetWriterOptions()
    ) throws(ParquetError) {
        try self.init(output: ParquetFileOutput(fileDescriptor: fileDescriptor), schema: schema, options: options)
    }

    private init(output: ParquetFileOutput, schema: ParquetSchema, options: ParquetWriterOptions) throws(ParquetError) {
        guard options.pageSize > 0, options.rowGroupSize > 0, options.maxRowsPerRowGroup > 0,
            options.statisticsTruncationLength > 0
        else {
            throw ParquetError(
                code: .invalidSchema,
                message: "pageSize, rowGroupSize, maxRowsPerRowGroup and statisticsTruncationLength must be positive")
        }
        self.schema = schema
        self.options = options
        self.output = output
        self.compressor = try PageCompressor(options.compression, level: options.compressionLevel)
        self.chunkWriters = schema.columns.map { ColumnChunkWriter(column: $0, options: options) }
        try output.write(Array("PAR1".utf8))
    }

    /// Appends a batch: one `ColumnValues` per schema column, in schema order, all with the same row count.
    public func append(columns: [ColumnValues]) throws(ParquetError) {
        guard isOpen else {
            throw ParquetError(code: .writerClosed, message: "the writer is closed or failed; open a new file")
        }
        try validate(columns)
        do {
            try write(columns)
        } catch {
            isOpen = false
            throw error
        }
    }

    /// Ends the current row group now (if it has rows), e.g. before a pause in the stream.
    public func flushRowGroup() throws(ParquetError) {
        guard isOpen else {
            throw ParquetError(code: .writerClosed, message: "the writer is closed or failed; open a new file")
        }
        do {
            try endRowGroup()
        } catch {
            isOpen = false
            throw error
        }
    }

    /// Ends the last row group, writes the footer and closes the file (if the writer opened it).
    @discardableResult
    public func close() throws(ParquetError) -> ParquetFileSummary {
        guard isOpen else {
            throw ParquetError(code: .writerClosed, message: "the writer is closed or failed; open a new file")
        }
        isOpen = false
        try endRowGroup()
        let metadata = ParquetFormat.FileMetaData(
            version: 1, schema: schema.schemaElements(), numRows: rowCount, rowGroups: rowGroups,
            keyValueMetadata: options.keyValueMetadata.isEmpty
                ? nil
                : options.keyValueMetadata.sorted { $0.key < $1.key }.map {
                    ParquetFormat.KeyValue(key: $0.key, value: $0.value)
                },
            createdBy: options.createdBy,
            columnOrders: Array(repeating: .typeDefinedOrder, count: schema.columns.count))
        let footer = metadata.encoded()
        try output.write(footer)
        let length = UInt32(footer.count)
        try output.write([
            UInt8(truncatingIfNeeded: length), UInt8(truncatingIfNeeded: length >> 8),
            UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 24),
        ])
        try output.write(Array("PAR1".utf8))
        try output.finish(sync: options.syncOnClose)
        return ParquetFileSummary(
            rowCount: rowCount, fileSize: output.position, rowGroupCount: rowGroups.count, metadata: metadata)
    }

    private func validate(_ columns: [ColumnValues]) throws(ParquetError) {
        guard columns.count == schema.columns.count else {
            throw ParquetError(
                code: .batchMismatch,
                message: "the batch has \(columns.count) columns but the schema has \(schema.columns.count); "
                    + "build batches with schema.makeColumnBuffers()")
        }
        let rows = columns[0].rowCount
        for (values, column) in zip(columns, schema.columns) {
            let expected = values.column
            guard expected.name == column.name, expected.type == column.type,
                expected.isNullable == column.isNullable,
                expected.listElement?.isNullable == column.listElement?.isNullable
            else {
                throw ParquetError(
                    code: .batchMismatch,
                    message: "the batch's column \"\(expected.name)\" does not match the schema's column at its "
                        + "position; build batches with schema.makeColumnBuffers()",
                    column: column.name)
            }
            guard !values.hasOpenList else {
                throw ParquetError(
                    code: .batchMismatch, message: "a list was begun but not ended; call endList()",
                    column: column.name, row: values.rowCount)
            }
            guard values.rowCount == rows else {
                throw ParquetError(
                    code: .batchMismatch,
                    message: "the column has \(values.rowCount) rows but column \"\(columns[0].column.name)\" has "
                        + "\(rows); append one value (or null) per row to every column",
                    column: column.name)
            }
        }
    }

    /// Rows per step between page-size and row-group-size checks.
    private static let sliceRows = 4096

    private func write(_ columns: [ColumnValues]) throws(ParquetError) {
        let rows = columns[0].rowCount
        for writer in chunkWriters {
            writer.startBatch()
        }
        var written = 0
        while written < rows {
            let slice = min(rows - written, Self.sliceRows, options.maxRowsPerRowGroup - rowsInRowGroup)
            for (writer, values) in zip(chunkWriters, columns) {
                try writer.write(values, rowCount: slice, compressor: compressor)
            }
            written += slice
            rowsInRowGroup += slice
            rowCount += Int64(slice)
            if rowsInRowGroup >= options.maxRowsPerRowGroup || bufferedBytes >= options.rowGroupSize {
                try endRowGroup()
            }
        }
    }

    private var bufferedBytes: Int {
        chunkWriters.reduce(0) { $0 + $1.bufferedBytes }
    }

    private func endRowGroup() throws(ParquetError) {
        guard rowsInRowGroup > 0 else { return }
        let start = output.position
        var chunks: [ParquetFormat.ColumnChunk] = []
        for writer in chunkWriters {
            chunks.append(try writer.finishChunk(to: output, compressor: compressor))
        }
        let uncompressed = chunks.reduce(Int64(0)) { $0 + ($1.metaData?.totalUncompressedSize ?? 0) }
        rowGroups.append(
            ParquetFormat.RowGroup(
                columns: chunks, totalByteSize: uncompressed, numRows: Int64(rowsInRowGroup), fileOffset: start,
                totalCompressedSize: output.position - start,
                ordinal: rowGroups.count <= Int(Int16.max) ? Int16(rowGroups.count) : nil))
        rowsInRowGroup = 0
    }
}
