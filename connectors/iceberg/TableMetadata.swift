import Foundation
import SluiceAvro

/// One field of a partition spec: a transform of a source column.
public struct PartitionField: Sendable, Hashable {
    /// The transforms Sluice writes.
    public enum Transform: String, Sendable, Hashable {
        case identity, day, hour, void
    }

    public var sourceId: Int
    public var fieldId: Int
    public var name: String
    public var transform: Transform

    public init(sourceId: Int, fieldId: Int, name: String, transform: Transform) {
        self.sourceId = sourceId
        self.fieldId = fieldId
        self.name = name
        self.transform = transform
    }

    var json: AvroJSON {
        .object([
            ("name", .string(name)), ("transform", .string(transform.rawValue)),
            ("source-id", .int(Int64(sourceId))), ("field-id", .int(Int64(fieldId))),
        ])
    }

    /// The partition value's Iceberg type.
    func resultType(sourceType: IcebergType) -> IcebergType {
        switch transform {
        case .identity: return sourceType
        case .day: return .date
        case .hour: return .int
        case .void: return sourceType
        }
    }
}

/// A partition spec: how rows are grouped into files.
public struct PartitionSpec: Sendable, Hashable {
    public var specId: Int
    public var fields: [PartitionField]

    public init(specId: Int, fields: [PartitionField]) {
        self.specId = specId
        self.fields = fields
    }

    public static let unpartitioned = PartitionSpec(specId: 0, fields: [])

    var json: AvroJSON { .object([("spec-id", .int(Int64(specId))), ("fields", fieldsJSON)]) }
    /// The fields alone, as manifests carry them in their `partition-spec` header.
    var fieldsJSON: AvroJSON { .array(fields.map(\.json)) }

    init(json: AvroJSON) throws {
        specId = Int(json["spec-id"]?.intValue ?? 0)
        fields = try (json["fields"]?.arrayValue ?? []).map { field in
            guard let sourceId = field["source-id"]?.intValue, let fieldId = field["field-id"]?.intValue,
                let name = field["name"]?.stringValue, let transformName = field["transform"]?.stringValue
            else {
                throw IcebergError(.corruptMetadata, "a partition field lacks source-id, field-id, name or transform")
            }
            guard let transform = PartitionField.Transform(rawValue: transformName) else {
                throw IcebergError(
                    .unsupported, "the table is partitioned by '\(transformName)', which Sluice cannot write",
                    hint: "use identity, day or hour partitioning, or write to a new table")
            }
            return PartitionField(sourceId: Int(sourceId), fieldId: Int(fieldId), name: name, transform: transform)
        }
    }
}

/// One snapshot of a table: a manifest list and a summary.
public struct Snapshot: Sendable, Hashable {
    public var snapshotId: Int64
    public var parentSnapshotId: Int64?
    public var sequenceNumber: Int64
    public var timestampMs: Int64
    public var manifestList: String
    /// `operation` plus counts, and Sluice's `sluice.offsets`.
    public var summary: [(String, String)]
    public var schemaId: Int?

    public init(
        snapshotId: Int64, parentSnapshotId: Int64?, sequenceNumber: Int64, timestampMs: Int64, manifestList: String,
        summary: [(String, String)], schemaId: Int?
    ) {
        self.snapshotId = snapshotId
        self.parentSnapshotId = parentSnapshotId
        self.sequenceNumber = sequenceNumber
        self.timestampMs = timestampMs
        self.manifestList = manifestList
        self.summary = summary
        self.schemaId = schemaId
    }

    public static func == (lhs: Snapshot, rhs: Snapshot) -> Bool {
        lhs.snapshotId == rhs.snapshotId && lhs.manifestList == rhs.manifestList
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(snapshotId) }

    /// A summary value.
    public func summaryValue(_ key: String) -> String? { summary.first { $0.0 == key }?.1 }

    var json: AvroJSON {
        var pairs: [(String, AvroJSON)] = [("snapshot-id", .int(snapshotId))]
        if let parentSnapshotId { pairs.append(("parent-snapshot-id", .int(parentSnapshotId))) }
        pairs += [
            ("sequence-number", .int(sequenceNumber)), ("timestamp-ms", .int(timestampMs)),
            ("manifest-list", .string(manifestList)),
            ("summary", .object(summary.map { ($0.0, .string($0.1)) })),
        ]
        if let schemaId { pairs.append(("schema-id", .int(Int64(schemaId)))) }
        return .object(pairs)
    }

    init(json: AvroJSON) throws {
        guard let id = json["snapshot-id"]?.intValue, let manifestList = json["manifest-list"]?.stringValue else {
            throw IcebergError(
                .corruptMetadata, "a snapshot lacks snapshot-id or manifest-list (v1 manifests lists are not supported)"
            )
        }
        snapshotId = id
        parentSnapshotId = json["parent-snapshot-id"]?.intValue
        sequenceNumber = json["sequence-number"]?.intValue ?? 0
        timestampMs = json["timestamp-ms"]?.intValue ?? 0
        self.manifestList = manifestList
        if case .object(let pairs)? = json["summary"] {
            summary = pairs.map { ($0.0, $0.1.stringValue ?? $0.1.text) }
        } else {
            summary = []
        }
        schemaId = json["schema-id"]?.intValue.map { Int($0) }
    }
}

/// Iceberg format-v2 table metadata: everything a `vN.metadata.json` holds.
public struct TableMetadata: Sendable {
    public var tableUUID: String
    public var location: String
    public var lastSequenceNumber: Int64
    public var lastUpdatedMs: Int64
    public var lastColumnId: Int
    public var schemas: [IcebergSchema]
    public var currentSchemaId: Int
    public var partitionSpecs: [PartitionSpec]
    public var defaultSpecId: Int
    public var lastPartitionId: Int
    public var properties: [(String, String)]
    public var currentSnapshotId: Int64?
    public var snapshots: [Snapshot]
    public var snapshotLog: [(snapshotId: Int64, timestampMs: Int64)]
    public var metadataLog: [(file: String, timestampMs: Int64)]
    /// Keys this type does not model (statistics, other refs, …), kept as they were.
    var otherKeys: [(String, AvroJSON)] = []

    /// A new, empty table.
    public init(location: String, schema: IcebergSchema, spec: PartitionSpec, properties: [(String, String)]) {
        tableUUID = UUID().uuidString.lowercased()
        self.location = location
        lastSequenceNumber = 0
        lastUpdatedMs = Int64(Date().timeIntervalSince1970 * 1000)
        lastColumnId = schema.highestFieldId
        schemas = [schema]
        currentSchemaId = schema.schemaId
        partitionSpecs = [spec]
        defaultSpecId = spec.specId
        lastPartitionId = spec.fields.map(\.fieldId).max() ?? 999
        self.properties = properties
        currentSnapshotId = nil
        snapshots = []
        snapshotLog = []
        metadataLog = []
    }

    public var currentSchema: IcebergSchema { schemas.first { $0.schemaId == currentSchemaId } ?? schemas[0] }
    public var defaultSpec: PartitionSpec {
        partitionSpecs.first { $0.specId == defaultSpecId } ?? .unpartitioned
    }
    public var currentSnapshot: Snapshot? {
        guard let currentSnapshotId else { return nil }
        return snapshots.first { $0.snapshotId == currentSnapshotId }
    }

    public func snapshot(id: Int64) -> Snapshot? { snapshots.first { $0.snapshotId == id } }
    public func spec(id: Int) -> PartitionSpec? { partitionSpecs.first { $0.specId == id } }
    public func schema(id: Int) -> IcebergSchema? { schemas.first { $0.schemaId == id } }

    public func property(_ key: String) -> String? { properties.first { $0.0 == key }?.1 }

    /// The current snapshot and its ancestors, newest first.
    public var currentAncestry: [Snapshot] {
        var out: [Snapshot] = []
        var next = currentSnapshot
        var seen = Set<Int64>()
        while let snapshot = next, seen.insert(snapshot.snapshotId).inserted {
            out.append(snapshot)
            next = snapshot.parentSnapshotId.flatMap { self.snapshot(id: $0) }
        }
        return out
    }

    /// The metadata JSON.
    public var json: AvroJSON {
        var pairs: [(String, AvroJSON)] = [
            ("format-version", .int(2)), ("table-uuid", .string(tableUUID)), ("location", .string(location)),
            ("last-sequence-number", .int(lastSequenceNumber)), ("last-updated-ms", .int(lastUpdatedMs)),
            ("last-column-id", .int(Int64(lastColumnId))), ("current-schema-id", .int(Int64(currentSchemaId))),
            ("schemas", .array(schemas.map(\.json))), ("default-spec-id", .int(Int64(defaultSpecId))),
            ("partition-specs", .array(partitionSpecs.map(\.json))),
            ("last-partition-id", .int(Int64(lastPartitionId))), ("default-sort-order-id", .int(0)),
            ("sort-orders", .array([.object([("order-id", .int(0)), ("fields", .array([]))])])),
            ("properties", .object(properties.map { ($0.0, .string($0.1)) })),
            ("current-snapshot-id", currentSnapshotId.map { .int($0) } ?? .int(-1)),
        ]
        var refs: [(String, AvroJSON)] = []
        if let currentSnapshotId {
            refs.append(("main", .object([("snapshot-id", .int(currentSnapshotId)), ("type", .string("branch"))])))
        }
        pairs += [
            ("refs", .object(refs)),
            ("snapshots", .array(snapshots.map(\.json))),
            ("statistics", .array([])),
            (
                "snapshot-log",
                .array(
                    snapshotLog.map {
                        .object([("timestamp-ms", .int($0.timestampMs)), ("snapshot-id", .int($0.snapshotId))])
                    })
            ),
            (
                "metadata-log",
                .array(
                    metadataLog.map {
                        .object([("timestamp-ms", .int($0.timestampMs)), ("metadata-file", .string($0.file))])
                    })
            ),
        ]
        let modelled = Set(pairs.map(\.0))
        pairs += otherKeys.filter { !modelled.contains($0.0) }
        return .object(pairs)
    }

    /// Parses v2 metadata JSON.
    public init(json: AvroJSON) throws {
        guard json["format-version"]?.intValue == 2 else {
            throw IcebergError(
                .unsupported, "the table is not Iceberg format version 2",
                hint:
                    "upgrade the table to format version 2 "
                    + "(Spark: ALTER TABLE … SET TBLPROPERTIES ('format-version'='2'))"
            )
        }
        guard let uuid = json["table-uuid"]?.stringValue, let location = json["location"]?.stringValue,
            let schemasJSON = json["schemas"]?.arrayValue
        else { throw IcebergError(.corruptMetadata, "the metadata lacks table-uuid, location or schemas") }
        tableUUID = uuid
        self.location = location
        lastSequenceNumber = json["last-sequence-number"]?.intValue ?? 0
        lastUpdatedMs = json["last-updated-ms"]?.intValue ?? 0
        lastColumnId = Int(json["last-column-id"]?.intValue ?? 0)
        schemas = try schemasJSON.map(IcebergSchema.init(json:))
        currentSchemaId = Int(json["current-schema-id"]?.intValue ?? 0)
        partitionSpecs = try (json["partition-specs"]?.arrayValue ?? []).map(PartitionSpec.init(json:))
        if partitionSpecs.isEmpty { partitionSpecs = [.unpartitioned] }
        defaultSpecId = Int(json["default-spec-id"]?.intValue ?? 0)
        lastPartitionId = Int(json["last-partition-id"]?.intValue ?? 999)
        if case .object(let pairs)? = json["properties"] {
            properties = pairs.map { ($0.0, $0.1.stringValue ?? $0.1.text) }
        } else {
            properties = []
        }
        let current = json["current-snapshot-id"]?.intValue
        currentSnapshotId = current == -1 ? nil : current
        if let main = json["refs"]?["main"]?["snapshot-id"]?.intValue { currentSnapshotId = main }
        snapshots = try (json["snapshots"]?.arrayValue ?? []).map(Snapshot.init(json:))
        snapshotLog = (json["snapshot-log"]?.arrayValue ?? []).compactMap { entry in
            guard let id = entry["snapshot-id"]?.intValue, let time = entry["timestamp-ms"]?.intValue else {
                return nil
            }
            return (id, time)
        }
        metadataLog = (json["metadata-log"]?.arrayValue ?? []).compactMap { entry in
            guard let file = entry["metadata-file"]?.stringValue, let time = entry["timestamp-ms"]?.intValue else {
                return nil
            }
            return (file, time)
        }
        if case .object(let pairs) = json {
            let known: Set<String> = [
                "format-version", "table-uuid", "location", "last-sequence-number", "last-updated-ms",
                "last-column-id", "current-schema-id", "schemas", "default-spec-id", "partition-specs",
                "last-partition-id", "default-sort-order-id", "sort-orders", "properties", "current-snapshot-id",
                "refs", "snapshots", "statistics", "snapshot-log", "metadata-log",
            ]
            otherKeys = pairs.filter { !known.contains($0.0) }
        }
    }
}
