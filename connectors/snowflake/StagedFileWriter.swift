import Foundation
import SluiceCore
import SluiceParquet
import SluiceStaging

/// Writes a batch of change rows as one Parquet file for the stage.
///
/// Columns: `_op`, `_position`, `_offset`, `_commit_ts` (TIMESTAMP(MICROS, UTC)), `_unchanged` (list of column
/// names), then the table's columns in the Parquet mapping of `ValueColumnMapping` (all nullable: a delete carries
/// only the key), except uuid, written as its canonical text so Snowflake loads it into VARCHAR.
enum StagedFileWriter {
    /// The Parquet columns of a staged file for one schema version.
    static func parquetSchema(for schema: TableSchema) throws -> ParquetSchema {
        var columns = [
            ParquetColumn(name: StagingColumns.op, type: .string, isNullable: false),
            ParquetColumn(name: StagingColumns.position, type: .string, isNullable: false),
            ParquetColumn(name: StagingColumns.offset, type: .int64, isNullable: false),
            ParquetColumn(name: StagingColumns.commitTime, type: .timestamp(isAdjustedToUTC: true), isNullable: false),
            ParquetColumn.list(
                name: StagingColumns.unchanged, elementType: .string, isNullable: true,
                element: ParquetColumn.ListElement(isNullable: false)),
        ]
        for source in schema.columns {
            guard !StagingColumns.reserved.contains(source.name) else {
                throw SluiceError(
                    .sink, "column \(source.name) of \(schema.table) has a name the staging files use themselves",
                    location: "table \(schema.table)", hint: "rename the column at the source or exclude the table")
            }
            var column: ParquetColumn
            do {
                column = try ParquetColumn(source: source)
            } catch {
                throw SluiceError(
                    .sink, "column \(source.name) of \(schema.table) cannot be staged as Parquet",
                    location: "table \(schema.table)", underlying: error)
            }
            column.isNullable = true
            columns.append(column)
        }
        do {
            return try ParquetSchema(columns: columns)
        } catch {
            throw SluiceError(.sink, "the staging file schema of \(schema.table) is invalid", underlying: error)
        }
    }

    /// Writes `pending` to `path` (created or truncated) and returns the file's size.
    static func write(
        _ pending: PendingRows, to path: String, compression: ParquetCompression, sync: Bool
    ) throws -> Int64 {
        let schema = try parquetSchema(for: pending.schema)
        var options = ParquetWriterOptions()
        options.compression = compression
        options.syncOnClose = sync
        options.keyValueMetadata = [
            "sluice.table": pending.schema.table.qualifiedName,
            "sluice.schema_version": String(pending.schema.version),
            "sluice.first_offset": String(pending.firstOffset),
            "sluice.last_offset": String(pending.lastOffset),
        ]
        do {
            let writer = try ParquetWriter(path: path, schema: schema, options: options)
            var buffers = schema.makeColumnBuffers(reservingCapacity: min(pending.rows.count, 65_536))
            var index = 0
            while index < pending.rows.count {
                let end = min(index + 65_536, pending.rows.count)
                for row in pending.rows[index..<end] {
                    try buffers[0].append(row.op.rawValue)
                    try buffers[1].append(row.positionText)
                    try buffers[2].append(row.offset)
                    try buffers[3].append(row.commitTimeMicros)
                    if row.unchanged.isEmpty {
                        try buffers[4].appendNull()
                    } else {
                        try buffers[4].beginList()
                        for name in row.unchanged { try buffers[4].append(name) }
                        try buffers[4].endList()
                    }
                    for (column, value) in row.values.enumerated() {
                        try buffers[5 + column].append(value)
                    }
                }
                try writer.append(columns: buffers)
                for column in buffers.indices { buffers[column].removeAll() }
                index = end
            }
            return try writer.close().fileSize
        } catch {
            throw SluiceError(
                .sink, "writing the staged file \(path) of \(pending.schema.table) failed",
                location: "log offsets \(pending.firstOffset)-\(pending.lastOffset)",
                hint: "see the cause; nothing was staged, the sink retries from the same offsets", underlying: error)
        }
    }
}
