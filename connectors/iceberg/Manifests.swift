import SluiceAvro

/// What a data or delete file holds.
public enum FileContent: Int, Sendable, Hashable {
    case data = 0
    case positionDeletes = 1
    case equalityDeletes = 2
}

/// A data or delete file as a manifest describes it (`data_file`, record `r2`).
public struct DataFile: Sendable, Hashable {
    public var content: FileContent
    public var filePath: String
    public var fileFormat = "PARQUET"
    /// Partition values, one per partition-spec field, in the Avro form of their result type.
    public var partition: [AvroValue]
    public var recordCount: Int64
    public var fileSizeInBytes: Int64
    public var columnSizes: [Int: Int64] = [:]
    public var valueCounts: [Int: Int64] = [:]
    public var nullValueCounts: [Int: Int64] = [:]
    public var nanValueCounts: [Int: Int64] = [:]
    public var lowerBounds: [Int: [UInt8]] = [:]
    public var upperBounds: [Int: [UInt8]] = [:]
    public var splitOffsets: [Int64]? = nil
    public var equalityIds: [Int]? = nil
    public var sortOrderId: Int? = nil
    /// The partition spec the file was written with.
    public var specId: Int

    public init(
        content: FileContent, filePath: String, partition: [AvroValue], recordCount: Int64, fileSizeInBytes: Int64,
        specId: Int
    ) {
        self.content = content
        self.filePath = filePath
        self.partition = partition
        self.recordCount = recordCount
        self.fileSizeInBytes = fileSizeInBytes
        self.specId = specId
    }
}

/// A manifest entry's status.
public enum EntryStatus: Int, Sendable {
    case existing = 0
    case added = 1
    case deleted = 2
}

/// One `manifest_entry`: a file, its status and the snapshot and sequence numbers that own it.
public struct ManifestEntry: Sendable, Hashable {
    public var status: EntryStatus
    public var snapshotId: Int64?
    /// The data sequence number; nil in ADDED entries (inherited from the manifest).
    public var sequenceNumber: Int64?
    public var fileSequenceNumber: Int64?
    public var file: DataFile

    public init(
        status: EntryStatus, snapshotId: Int64?, sequenceNumber: Int64?, fileSequenceNumber: Int64?, file: DataFile
    ) {
        self.status = status
        self.snapshotId = snapshotId
        self.sequenceNumber = sequenceNumber
        self.fileSequenceNumber = fileSequenceNumber
        self.file = file
    }
}

/// Per-partition-field summary in a manifest list entry (record `r508`).
public struct FieldSummary: Sendable, Hashable {
    public var containsNull: Bool
    public var containsNaN: Bool?
    public var lowerBound: [UInt8]?
    public var upperBound: [UInt8]?
}

/// One `manifest_file` entry of a manifest list.
public struct ManifestFile: Sendable, Hashable {
    public var path: String
    public var length: Int64
    public var partitionSpecId: Int
    public var content: FileContent
    public var sequenceNumber: Int64
    public var minSequenceNumber: Int64
    public var addedSnapshotId: Int64
    public var addedFilesCount: Int32
    public var existingFilesCount: Int32
    public var deletedFilesCount: Int32
    public var addedRowsCount: Int64
    public var existingRowsCount: Int64
    public var deletedRowsCount: Int64
    public var partitions: [FieldSummary]?
}

/// The Avro schemas of Iceberg v2 manifests and manifest lists, with the spec's record names and field ids.
public enum ManifestSchemas {
    static func intMap(_ fieldId: Int, keyId: Int, valueId: Int, value: AvroSchema, name: String) -> AvroField {
        .optional(
            name,
            .array(
                AvroArray(
                    items: .record(
                        AvroRecord(
                            name: "k\(keyId)_v\(valueId)",
                            fields: [
                                AvroField(name: "key", type: .int, fieldId: keyId),
                                AvroField(name: "value", type: value, fieldId: valueId),
                            ])), logicalType: "map")), fieldId: fieldId)
    }

    /// The Avro type of a partition value for an Iceberg type.
    static func avroType(_ type: IcebergType) -> AvroSchema {
        switch type {
        case .boolean: return .boolean
        case .int: return .int
        case .long: return .long
        case .float: return .float
        case .double: return .double
        case .date: return .logical(base: .int, logicalType: "date", attributes: [])
        case .time: return .logical(base: .long, logicalType: "time-micros", attributes: [])
        case .timestamp:
            return .logical(
                base: .long, logicalType: "timestamp-micros", attributes: [AvroAttribute("adjust-to-utc", .bool(false))]
            )
        case .timestamptz:
            return .logical(
                base: .long, logicalType: "timestamp-micros", attributes: [AvroAttribute("adjust-to-utc", .bool(true))])
        case .string: return .string
        case .uuid: return .fixed(AvroFixed(name: "uuid_fixed", size: 16, logicalType: "uuid"))
        case .binary: return .bytes
        case .fixed(let length): return .fixed(AvroFixed(name: "fixed_\(length)", size: length))
        case .decimal(let p, let s):
            return .fixed(
                AvroFixed(
                    name: "decimal_\(p)_\(s)", size: DecimalBytes.minimumBytes(precision: p), logicalType: "decimal",
                    attributes: [AvroAttribute("precision", .int(Int64(p))), AvroAttribute("scale", .int(Int64(s)))]))
        case .list: return .bytes
        }
    }

    /// The `r102` partition record for a spec over a schema.
    static func partitionRecord(spec: PartitionSpec, schema: IcebergSchema) -> AvroSchema {
        .record(
            AvroRecord(
                name: "r102",
                fields: spec.fields.map { field in
                    let sourceType = schema.field(id: field.sourceId)?.type ?? .long
                    return .optional(
                        field.name, avroType(field.resultType(sourceType: sourceType)), fieldId: field.fieldId)
                }))
    }

    /// The `manifest_entry` schema (format v2) for a spec.
    public static func manifestEntry(spec: PartitionSpec, schema: IcebergSchema) -> AvroSchema {
        let dataFile = AvroRecord(
            name: "r2",
            fields: [
                AvroField(
                    name: "content", type: .int, fieldId: 134,
                    doc: "Contents of the file: 0=data, 1=position deletes, 2=equality deletes"),
                AvroField(name: "file_path", type: .string, fieldId: 100, doc: "Location URI with FS scheme"),
                AvroField(
                    name: "file_format", type: .string, fieldId: 101, doc: "File format name: avro, orc, or parquet"),
                AvroField(
                    name: "partition", type: partitionRecord(spec: spec, schema: schema), fieldId: 102,
                    doc: "Partition data tuple, schema based on the partition spec"),
                AvroField(name: "record_count", type: .long, fieldId: 103, doc: "Number of records in the file"),
                AvroField(name: "file_size_in_bytes", type: .long, fieldId: 104, doc: "Total file size in bytes"),
                intMap(108, keyId: 117, valueId: 118, value: .long, name: "column_sizes"),
                intMap(109, keyId: 119, valueId: 120, value: .long, name: "value_counts"),
                intMap(110, keyId: 121, valueId: 122, value: .long, name: "null_value_counts"),
                intMap(137, keyId: 138, valueId: 139, value: .long, name: "nan_value_counts"),
                intMap(125, keyId: 126, valueId: 127, value: .bytes, name: "lower_bounds"),
                intMap(128, keyId: 129, valueId: 130, value: .bytes, name: "upper_bounds"),
                .optional("key_metadata", .bytes, fieldId: 131, doc: "Encryption key metadata blob"),
                .optional(
                    "split_offsets", .array(AvroArray(items: .long, elementId: 133)), fieldId: 132,
                    doc: "Splittable offsets"),
                .optional(
                    "equality_ids", .array(AvroArray(items: .int, elementId: 136)), fieldId: 135,
                    doc: "Equality comparison field IDs"),
                .optional("sort_order_id", .int, fieldId: 140, doc: "Sort order ID"),
            ])
        return .record(
            AvroRecord(
                name: "manifest_entry",
                fields: [
                    AvroField(name: "status", type: .int, fieldId: 0),
                    .optional("snapshot_id", .long, fieldId: 1),
                    .optional("sequence_number", .long, fieldId: 3),
                    .optional("file_sequence_number", .long, fieldId: 4),
                    AvroField(name: "data_file", type: .record(dataFile), fieldId: 2),
                ]))
    }

    /// The `manifest_file` schema (format v2) of manifest lists.
    public static let manifestFile: AvroSchema = .record(
        AvroRecord(
            name: "manifest_file",
            fields: [
                AvroField(name: "manifest_path", type: .string, fieldId: 500, doc: "Location URI with FS scheme"),
                AvroField(name: "manifest_length", type: .long, fieldId: 501, doc: "Total file size in bytes"),
                AvroField(name: "partition_spec_id", type: .int, fieldId: 502, doc: "Spec ID used to write"),
                AvroField(
                    name: "content", type: .int, fieldId: 517, doc: "Contents of the manifest: 0=data, 1=deletes"),
                AvroField(
                    name: "sequence_number", type: .long, fieldId: 515,
                    doc: "Sequence number when the manifest was added"),
                AvroField(
                    name: "min_sequence_number", type: .long, fieldId: 516,
                    doc: "Lowest sequence number in the manifest"),
                AvroField(
                    name: "added_snapshot_id", type: .long, fieldId: 503, doc: "Snapshot ID that added the manifest"),
                AvroField(name: "added_files_count", type: .int, fieldId: 504, doc: "Added entry count"),
                AvroField(name: "existing_files_count", type: .int, fieldId: 505, doc: "Existing entry count"),
                AvroField(name: "deleted_files_count", type: .int, fieldId: 506, doc: "Deleted entry count"),
                AvroField(name: "added_rows_count", type: .long, fieldId: 512, doc: "Added rows count"),
                AvroField(name: "existing_rows_count", type: .long, fieldId: 513, doc: "Existing rows count"),
                AvroField(name: "deleted_rows_count", type: .long, fieldId: 514, doc: "Deleted rows count"),
                .optional(
                    "partitions",
                    .array(
                        AvroArray(
                            items: .record(
                                AvroRecord(
                                    name: "r508",
                                    fields: [
                                        AvroField(
                                            name: "contains_null", type: .boolean, fieldId: 509,
                                            doc: "True if any file has a null partition value"),
                                        .optional(
                                            "contains_nan", .boolean, fieldId: 518,
                                            doc: "True if any file has a nan partition value"),
                                        .optional(
                                            "lower_bound", .bytes, fieldId: 510,
                                            doc: "Partition lower bound for all files"),
                                        .optional(
                                            "upper_bound", .bytes, fieldId: 511,
                                            doc: "Partition upper bound for all files"),
                                    ])), elementId: 508)), fieldId: 507, doc: "Summary for each partition"),
                .optional("key_metadata", .bytes, fieldId: 519, doc: "Encryption key metadata blob"),
            ]))
}

// MARK: - Encoding and decoding

extension ManifestEntry {
    func avroValue() -> AvroValue {
        func intMap(_ map: [Int: Int64]) -> AvroValue {
            map.isEmpty
                ? .null
                : .array(map.sorted { $0.key < $1.key }.map { .record([.int(Int32($0.key)), .long($0.value)]) })
        }
        func bytesMap(_ map: [Int: [UInt8]]) -> AvroValue {
            map.isEmpty
                ? .null
                : .array(map.sorted { $0.key < $1.key }.map { .record([.int(Int32($0.key)), .bytes($0.value)]) })
        }
        let dataFile: AvroValue = .record([
            .int(Int32(file.content.rawValue)), .string(file.filePath), .string(file.fileFormat),
            .record(file.partition), .long(file.recordCount), .long(file.fileSizeInBytes),
            intMap(file.columnSizes), intMap(file.valueCounts), intMap(file.nullValueCounts),
            intMap(file.nanValueCounts),
            bytesMap(file.lowerBounds), bytesMap(file.upperBounds), .null,
            file.splitOffsets.map { .array($0.map { .long($0) }) } ?? .null,
            file.equalityIds.map { .array($0.map { .int(Int32($0)) }) } ?? .null,
            file.sortOrderId.map { .int(Int32($0)) } ?? .null,
        ])
        return .record([
            .int(Int32(status.rawValue)), snapshotId.map { .long($0) } ?? .null,
            sequenceNumber.map { .long($0) } ?? .null, fileSequenceNumber.map { .long($0) } ?? .null, dataFile,
        ])
    }

    /// Decodes an entry of any writer's manifest by field id, inheriting null sequence numbers.
    init(value: AvroValue, schema: AvroRecord, manifest: ManifestFile, specId: Int) throws {
        guard let fields = value.fields else {
            throw IcebergError(.corruptMetadata, "a manifest entry is not a record")
        }
        func byId(_ id: Int, _ record: AvroRecord, _ values: [AvroValue]) -> AvroValue? {
            guard let index = record.fields.firstIndex(where: { $0.fieldId == id }), index < values.count else {
                return nil
            }
            return values[index]
        }
        guard let statusValue = byId(0, schema, fields)?.integer, let status = EntryStatus(rawValue: Int(statusValue)),
            let fileIndex = schema.fields.firstIndex(where: { $0.fieldId == 2 }),
            case .record(let fileSchema) = schema.fields[fileIndex].type.optionalBranch
                ?? schema.fields[fileIndex].type,
            let fileValues = fields[fileIndex].fields
        else { throw IcebergError(.corruptMetadata, "a manifest entry lacks status or data_file") }
        self.status = status
        snapshotId = byId(1, schema, fields)?.integer ?? (status == .added ? manifest.addedSnapshotId : nil)
        sequenceNumber = byId(3, schema, fields)?.integer
        fileSequenceNumber = byId(4, schema, fields)?.integer
        if status == .added {
            if sequenceNumber == nil { sequenceNumber = manifest.sequenceNumber }
            if fileSequenceNumber == nil { fileSequenceNumber = manifest.sequenceNumber }
        }
        func intMap(_ id: Int) -> [Int: Int64] {
            var out: [Int: Int64] = [:]
            for item in byId(id, fileSchema, fileValues)?.items ?? [] {
                if let pair = item.fields, pair.count == 2, let k = pair[0].integer, let v = pair[1].integer {
                    out[Int(k)] = v
                }
            }
            return out
        }
        func bytesMap(_ id: Int) -> [Int: [UInt8]] {
            var out: [Int: [UInt8]] = [:]
            for item in byId(id, fileSchema, fileValues)?.items ?? [] {
                if let pair = item.fields, pair.count == 2, let k = pair[0].integer, let v = pair[1].byteArray {
                    out[Int(k)] = v
                }
            }
            return out
        }
        guard let path = byId(100, fileSchema, fileValues)?.string,
            let recordCount = byId(103, fileSchema, fileValues)?.integer,
            let size = byId(104, fileSchema, fileValues)?.integer
        else {
            throw IcebergError(.corruptMetadata, "a manifest entry's data_file lacks file_path, record_count or size")
        }
        let contentValue = byId(134, fileSchema, fileValues)?.integer ?? 0
        var file = DataFile(
            content: FileContent(rawValue: Int(contentValue)) ?? .data, filePath: path,
            partition: byId(102, fileSchema, fileValues)?.fields ?? [], recordCount: recordCount,
            fileSizeInBytes: size, specId: specId)
        file.fileFormat = byId(101, fileSchema, fileValues)?.string ?? "PARQUET"
        file.columnSizes = intMap(108)
        file.valueCounts = intMap(109)
        file.nullValueCounts = intMap(110)
        file.nanValueCounts = intMap(137)
        file.lowerBounds = bytesMap(125)
        file.upperBounds = bytesMap(128)
        file.splitOffsets = byId(132, fileSchema, fileValues)?.items?.compactMap(\.integer)
        file.equalityIds = byId(135, fileSchema, fileValues)?.items?.compactMap { $0.integer.map { Int($0) } }
        file.sortOrderId = byId(140, fileSchema, fileValues)?.integer.map { Int($0) }
        self.file = file
    }
}

extension ManifestFile {
    func avroValue() -> AvroValue {
        .record([
            .string(path), .long(length), .int(Int32(partitionSpecId)), .int(Int32(content == .data ? 0 : 1)),
            .long(sequenceNumber), .long(minSequenceNumber), .long(addedSnapshotId), .int(addedFilesCount),
            .int(existingFilesCount), .int(deletedFilesCount), .long(addedRowsCount), .long(existingRowsCount),
            .long(deletedRowsCount),
            partitions.map { summaries in
                .array(
                    summaries.map { summary in
                        .record([
                            .boolean(summary.containsNull), summary.containsNaN.map { .boolean($0) } ?? .null,
                            summary.lowerBound.map { .bytes($0) } ?? .null,
                            summary.upperBound.map { .bytes($0) } ?? .null,
                        ])
                    })
            } ?? .null,
            .null,
        ])
    }

    init(value: AvroValue, schema: AvroRecord) throws {
        guard let fields = value.fields else {
            throw IcebergError(.corruptMetadata, "a manifest list entry is not a record")
        }
        func byId(_ id: Int) -> AvroValue? {
            guard let index = schema.fields.firstIndex(where: { $0.fieldId == id }), index < fields.count else {
                return nil
            }
            return fields[index]
        }
        guard let path = byId(500)?.string, let length = byId(501)?.integer, let spec = byId(502)?.integer,
            let addedSnapshot = byId(503)?.integer
        else {
            throw IcebergError(.corruptMetadata, "a manifest list entry lacks path, length, spec id or snapshot id")
        }
        self.path = path
        self.length = length
        partitionSpecId = Int(spec)
        content = byId(517)?.integer == 1 ? .positionDeletes : .data
        sequenceNumber = byId(515)?.integer ?? 0
        minSequenceNumber = byId(516)?.integer ?? sequenceNumber
        addedSnapshotId = addedSnapshot
        addedFilesCount = Int32(byId(504)?.integer ?? 0)
        existingFilesCount = Int32(byId(505)?.integer ?? 0)
        deletedFilesCount = Int32(byId(506)?.integer ?? 0)
        addedRowsCount = byId(512)?.integer ?? 0
        existingRowsCount = byId(513)?.integer ?? 0
        deletedRowsCount = byId(514)?.integer ?? 0
        partitions = byId(507)?.items?.map { item in
            let f = item.fields ?? []
            return FieldSummary(
                containsNull: f.first.map { $0 == .boolean(true) } ?? true,
                containsNaN: f.count > 1 ? (f[1].isNull ? nil : f[1] == .boolean(true)) : nil,
                lowerBound: f.count > 2 ? f[2].byteArray : nil, upperBound: f.count > 3 ? f[3].byteArray : nil)
        }
    }
}
