import Foundation
import SluiceCore
import SluiceParquet
import SluiceConnectorKit

/// One file being written for one stream: rows go to column buffers, buffers go to a `ParquetWriter` writing a
/// temporary file, and `finish` closes (fsyncs) it so the sink can publish it under its offset-range name.
///
/// Covers the log offsets `firstOffset...lastOffset` of its stream: every record in that range is either a row
/// of the file or a change the layout does not write.
final class OpenParquetFile {
    let stream: String
    let table: TableID
    let rowLayout: ChangeRowLayout
    /// `commit_date=` value, when partitioned.
    let commitDate: String?
    let folder: String
    let temporaryPath: String
    let firstOffset: Int64
    private(set) var lastOffset: Int64
    private(set) var rowCount = 0
    let openedAt = ContinuousClock.now

    private let writer: ParquetWriter
    private var buffers: [ColumnValues]
    private var bufferedRows = 0
    private var bufferedBytes = 0

    /// Rows buffered before they are handed to the Parquet writer.
    static let bufferRows = 4096
    /// Value bytes buffered before they are handed to the Parquet writer.
    static let bufferBytes = 4 << 20

    init(
        stream: String, table: TableID, rowLayout: ChangeRowLayout, commitDate: String?, folder: String,
        firstOffset: Int64, options: ParquetWriterOptions
    ) throws {
        self.stream = stream
        self.table = table
        self.rowLayout = rowLayout
        self.commitDate = commitDate
        self.folder = folder
        self.firstOffset = firstOffset
        self.lastOffset = firstOffset
        temporaryPath = folder + "/" + PublishedFiles.temporaryName(stream: stream, firstOffset: firstOffset)
        do {
            writer = try ParquetWriter(path: temporaryPath, schema: rowLayout.parquetSchema, options: options)
        } catch {
            throw SluiceError(
                .sink, "cannot start a Parquet file for table \(table.qualifiedName) at offset \(firstOffset) of "
                    + "stream \(stream)", location: temporaryPath,
                hint: "check the sink's path, its permissions and free space", underlying: error)
        }
        buffers = rowLayout.parquetSchema.makeColumnBuffers(reservingCapacity: Self.bufferRows)
    }

    /// The published name's path once the file ends at `lastOffset`.
    var finalPath: String {
        folder + "/" + PublishedFiles.publishedName(stream: stream, firstOffset: firstOffset, lastOffset: lastOffset)
    }

    /// About how large the file is so far (written pages plus buffered values).
    var estimatedSize: Int64 { writer.estimatedFileSize + Int64(bufferedBytes) }

    /// Appends a change as a row.
    func append(_ record: SinkRecord) throws {
        do {
            bufferedBytes += try rowLayout.appendRow(record, to: &buffers)
        } catch {
            throw SluiceError(
                .sink, "the change at offset \(record.offset) of stream \(stream) (table \(table.qualifiedName), "
                    + "op \(record.event.op.rawValue)) cannot be written to Parquet",
                location: "offset \(record.offset)",
                hint: "the value does not fit the column's type from the table schema; fix the source's schema "
                    + "or exclude the column", underlying: error)
        }
        rowCount += 1
        bufferedRows += 1
        lastOffset = record.offset
        if bufferedRows >= Self.bufferRows || bufferedBytes >= Self.bufferBytes {
            try writeBuffers()
        }
    }

    /// Extends the range over a change the layout does not write (so the published name covers it).
    func cover(offset: Int64) {
        lastOffset = max(lastOffset, offset)
    }

    /// Hands buffered rows to the writer.
    func writeBuffers() throws {
        guard bufferedRows > 0 else { return }
        do {
            try writer.append(columns: buffers)
        } catch {
            throw SluiceError(
                .sink, "writing the Parquet file for table \(table.qualifiedName) (stream \(stream), offsets "
                    + "\(firstOffset)–\(lastOffset)) failed", location: temporaryPath,
                hint: "check free disk space; after a restart the sink resumes after its last published file",
                underlying: error)
        }
        for index in buffers.indices {
            buffers[index].removeAll()
        }
        bufferedRows = 0
        bufferedBytes = 0
    }

    /// Writes the remaining rows and the footer, fsyncs and closes the temporary file.
    func finish() throws -> ParquetFileSummary {
        try writeBuffers()
        do {
            return try writer.close()
        } catch {
            throw SluiceError(
                .sink, "finishing the Parquet file for table \(table.qualifiedName) (stream \(stream), offsets "
                    + "\(firstOffset)–\(lastOffset)) failed", location: temporaryPath,
                hint: "check free disk space; after a restart the sink resumes after its last published file",
                underlying: error)
        }
    }

    /// Abandons the file: removes the temporary file (the writer closes its descriptor when released).
    func discard() {
        try? FileManager.default.removeItem(atPath: temporaryPath)
    }
}
