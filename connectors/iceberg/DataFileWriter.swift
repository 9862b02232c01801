import Foundation
import SluiceAvro
import SluiceParquet

/// Writes one Parquet data file of an Iceberg table: a `field_id` on every column (so readers match columns by
/// id, not name) and the per-column statistics manifests carry.
final class DataFileWriter {
    let schema: IcebergSchema
    let localPath: String
    let fileURI: String
    let partition: [AvroValue]
    let specId: Int
    let content: FileContent
    private let writer: ParquetWriter
    private var buffers: [ColumnValues]
    private var statistics: [ColumnStatistics]
    /// Columns whose longs are written as INT32 (Iceberg `int`).
    private let narrowIntegers: [Bool]
    /// Columns whose doubles are written as FLOAT (Iceberg `float`).
    private let narrowFloats: [Bool]
    private(set) var rowCount: Int64 = 0
    private var bufferedRows = 0
    private var bufferedBytes = 0
    private let temporaryPath: String

    /// Rows buffered before they are handed to the Parquet writer.
    static let batchRows = 8192

    init(
        schema: IcebergSchema, localPath: String, fileURI: String, partition: [AvroValue], specId: Int,
        content: FileContent = .data, compression: ParquetCompression = .zstd
    ) throws {
        self.schema = schema
        self.localPath = localPath
        self.fileURI = fileURI
        self.partition = partition
        self.specId = specId
        self.content = content
        let columns = schema.fields.map(Self.parquetColumn)
        let parquetSchema = try ParquetSchema(columns: columns)
        var options = ParquetWriterOptions()
        options.compression = compression
        options.keyValueMetadata = ["iceberg.schema": schema.json.text]
        temporaryPath = localPath + ".tmp"
        try FileManager.default.createDirectory(
            atPath: (localPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        writer = try ParquetWriter(path: temporaryPath, schema: parquetSchema, options: options)
        buffers = parquetSchema.makeColumnBuffers(reservingCapacity: Self.batchRows)
        statistics = Array(repeating: ColumnStatistics(), count: schema.fields.count)
        narrowIntegers = schema.fields.map { $0.type == .int }
        narrowFloats = schema.fields.map { $0.type == .float }
    }

    /// The Parquet column of an Iceberg field, with its field id.
    static func parquetColumn(_ field: IcebergField) -> ParquetColumn {
        if case .list(let elementId, let element, let elementRequired) = field.type {
            return .list(
                name: field.name, elementType: parquetType(element), isNullable: !field.required,
                fieldId: Int32(field.id),
                element: ParquetColumn.ListElement(isNullable: !elementRequired, fieldId: Int32(elementId)))
        }
        return ParquetColumn(
            name: field.name, type: parquetType(field.type), isNullable: !field.required, fieldId: Int32(field.id))
    }

    static func parquetType(_ type: IcebergType) -> ParquetColumnType {
        switch type {
        case .boolean: return .boolean
        case .int: return .int32
        case .long: return .int64
        case .float: return .float
        case .double: return .double
        case .date: return .date
        case .time: return .time(isAdjustedToUTC: false)
        case .timestamp: return .timestamp(isAdjustedToUTC: false)
        case .timestamptz: return .timestamp(isAdjustedToUTC: true)
        case .string: return .string
        case .uuid: return .uuid
        case .binary, .fixed: return .bytes
        case .decimal(let p, let s): return .decimal(precision: p, scale: s)
        case .list(_, let element, _): return parquetType(element)
        }
    }

    /// Appends a row: one cell per schema field, in field order.
    func append(_ row: [Cell]) throws {
        for index in row.indices {
            let cell = row[index]
            statistics[index].add(cell)
            switch cell {
            case .null: try buffers[index].appendNull()
            case .long(let v) where !narrowIntegers[index]: try buffers[index].append(v)
            case .string(let s): try buffers[index].append(s)
            case .bool(let b): try buffers[index].append(b)
            case .double(let d) where !narrowFloats[index]: try buffers[index].append(d)
            case .decimal(let v) where v >= Int128(Int64.min) && v <= Int128(Int64.max):
                try buffers[index].append(Int64(v))
            default: try Self.append(cell, to: &buffers[index], type: schema.fields[index].type)
            }
        }
        rowCount += 1
        bufferedRows += 1
        if bufferedRows >= Self.batchRows { try flushBuffers() }
    }

    static func append(_ cell: Cell, to column: inout ColumnValues, type: IcebergType) throws {
        switch cell {
        case .null: try column.appendNull()
        case .bool(let b): try column.append(b)
        case .long(let v):
            if case .int = type { try column.append(Int64(Int32(truncatingIfNeeded: v))) } else { try column.append(v) }
        case .double(let d):
            if case .float = type { try column.append(Float(d)) } else { try column.append(d) }
        case .decimal(let v): try column.append(decimalUnscaledBigEndian: DecimalBytes.minimal(v))
        case .string(let s): try column.append(s)
        case .bytes(let b): try column.append(bytes: b)
        case .list(let items):
            try column.beginList()
            let element: IcebergType
            if case .list(_, let e, _) = type { element = e } else { element = type }
            for item in items { try append(item, to: &column, type: element) }
            try column.endList()
        }
    }

    private func flushBuffers() throws {
        guard bufferedRows > 0 else { return }
        try writer.append(columns: buffers)
        for index in buffers.indices { buffers[index].removeAll() }
        bufferedRows = 0
    }

    /// Closes the file (fsynced, renamed into place) and returns its manifest description.
    func finish() throws -> DataFile {
        try flushBuffers()
        let summary = try writer.close()
        let descriptor = open(temporaryPath, O_RDONLY)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
        guard rename(temporaryPath, localPath) == 0 else {
            throw IcebergError(
                .io, "cannot rename \(temporaryPath) to \(localPath): \(String(cString: strerror(errno)))")
        }
        var file = DataFile(
            content: content, filePath: fileURI, partition: partition, recordCount: rowCount,
            fileSizeInBytes: summary.fileSize, specId: specId)
        var sizes: [Int: Int64] = [:]
        for rowGroup in summary.metadata.rowGroups {
            for (index, chunk) in rowGroup.columns.enumerated() where index < schema.fields.count {
                sizes[schema.fields[index].id, default: 0] += chunk.metaData?.totalCompressedSize ?? 0
            }
        }
        file.columnSizes = sizes
        for (index, field) in schema.fields.enumerated() {
            let stats = statistics[index]
            if case .list = field.type { continue }
            file.valueCounts[field.id] = stats.valueCount
            file.nullValueCounts[field.id] = stats.nullCount
            if field.type == .double || field.type == .float { file.nanValueCounts[field.id] = stats.nanCount }
            if let lower = stats.lowerBytes(type: field.type) { file.lowerBounds[field.id] = lower }
            if let upper = stats.upperBytes(type: field.type) { file.upperBounds[field.id] = upper }
        }
        file.splitOffsets = summary.metadata.rowGroups.compactMap { group in
            group.fileOffset
                ?? group.columns.first.flatMap { $0.metaData.map { $0.dictionaryPageOffset ?? $0.dataPageOffset } }
        }.sorted()
        return file
    }

    /// Removes the unfinished file after a failure.
    func abandon() {
        unlink(temporaryPath)
    }
}

/// The schema of position delete files (reserved field ids from the spec).
enum PositionDeleteSchema {
    static let filePathId = 2_147_483_546
    static let posId = 2_147_483_545
    static let schema = IcebergSchema(
        schemaId: 0,
        fields: [
            IcebergField(id: filePathId, name: "file_path", required: true, type: .string),
            IcebergField(id: posId, name: "pos", required: true, type: .long),
        ])
}
