import Foundation
import SluiceAvro

/// What one commit changes: files added and removed, a schema change, and summary properties.
public struct TableChange: Sendable {
    public var addedDataFiles: [DataFile] = []
    public var addedDeleteFiles: [DataFile] = []
    /// Paths of data and delete files this commit removes (compaction, copy-on-write).
    public var removedFiles: Set<String> = []
    /// Summary entries beyond the counts (`sluice.offsets`).
    public var summaryProperties: [(String, String)] = []
    /// The snapshot operation; nil picks append/overwrite/delete from the files.
    public var operation: String?
    /// Rewrite every manifest into one (compaction), dropping entries of removed files.
    public var rewriteManifests = false

    public init() {}

    var isEmpty: Bool { addedDataFiles.isEmpty && addedDeleteFiles.isEmpty && removedFiles.isEmpty }
}

/// A live file of the current snapshot with its data sequence number.
public struct LiveFile: Sendable, Hashable {
    public var file: DataFile
    public var sequenceNumber: Int64
    public var fileSequenceNumber: Int64
    public var snapshotId: Int64
}

/// Reads and commits one Iceberg table through its catalog: manifests, manifest lists, snapshots, optimistic
/// concurrency (a lost commit reloads the table and retries).
// @unchecked: `loaded` and the manifest caches are mutated only by the table's owner (the Iceberg sink actor, or
// one CLI command), which never shares a table between concurrent tasks.
public final class IcebergTable: @unchecked Sendable {
    public let catalog: any IcebergCatalog
    public private(set) var loaded: LoadedTable
    private var manifestCache: [String: [ManifestEntry]] = [:]
    private var manifestListCache: [String: [ManifestFile]] = [:]

    public init(catalog: any IcebergCatalog, loaded: LoadedTable) {
        self.catalog = catalog
        self.loaded = loaded
    }

    public var metadata: TableMetadata { loaded.metadata }
    public var identifier: TableIdentifier { loaded.identifier }

    /// Loads the table, or creates it with `schema` and `spec` when the catalog does not know it.
    public static func loadOrCreate(
        catalog: any IcebergCatalog, identifier: TableIdentifier, schema: () throws -> (IcebergSchema, PartitionSpec),
        properties: [(String, String)]
    ) throws -> IcebergTable {
        if let loaded = try catalog.loadTable(identifier) { return IcebergTable(catalog: catalog, loaded: loaded) }
        let (icebergSchema, spec) = try schema()
        let metadata = TableMetadata(
            location: catalog.defaultLocation(identifier), schema: icebergSchema, spec: spec, properties: properties)
        do {
            return IcebergTable(catalog: catalog, loaded: try catalog.createTable(identifier, metadata: metadata))
        } catch let error as IcebergError where error.code == .commitConflict {
            guard let loaded = try catalog.loadTable(identifier) else { throw error }
            return IcebergTable(catalog: catalog, loaded: loaded)
        }
    }

    /// Reloads the current metadata from the catalog.
    public func refresh() throws {
        guard let fresh = try catalog.loadTable(identifier) else {
            throw IcebergError(
                .notFound, "table \(identifier) disappeared from the catalog",
                hint: "was it dropped? restart the pipeline to create it again")
        }
        loaded = fresh
    }

    // MARK: Reading

    public func manifestFiles(_ snapshot: Snapshot) throws -> [ManifestFile] {
        if let cached = manifestListCache[snapshot.manifestList] { return cached }
        let reader = try AvroContainerReader(bytes: try LocalFiles.read(snapshot.manifestList))
        guard case .record(let record) = reader.schema else {
            throw IcebergError(.corruptMetadata, "the manifest list \(snapshot.manifestList) is not a record file")
        }
        let files = try reader.records().map { try ManifestFile(value: $0, schema: record) }
        manifestListCache[snapshot.manifestList] = files
        return files
    }

    public func entries(_ manifest: ManifestFile) throws -> [ManifestEntry] {
        if let cached = manifestCache[manifest.path] { return cached }
        let reader = try AvroContainerReader(bytes: try LocalFiles.read(manifest.path))
        guard case .record(let record) = reader.schema else {
            throw IcebergError(.corruptMetadata, "the manifest \(manifest.path) is not a record file")
        }
        let entries = try reader.records().map {
            try ManifestEntry(value: $0, schema: record, manifest: manifest, specId: manifest.partitionSpecId)
        }
        manifestCache[manifest.path] = entries
        return entries
    }

    /// The live data and delete files of a snapshot (the current one by default).
    public func liveFiles(_ snapshot: Snapshot? = nil) throws -> (data: [LiveFile], deletes: [LiveFile]) {
        guard let snapshot = snapshot ?? metadata.currentSnapshot else { return ([], []) }
        var data: [LiveFile] = []
        var deletes: [LiveFile] = []
        for manifest in try manifestFiles(snapshot) {
            for entry in try entries(manifest) where entry.status != .deleted {
                let live = LiveFile(
                    file: entry.file, sequenceNumber: entry.sequenceNumber ?? manifest.sequenceNumber,
                    fileSequenceNumber: entry.fileSequenceNumber ?? manifest.sequenceNumber,
                    snapshotId: entry.snapshotId ?? manifest.addedSnapshotId)
                if entry.file.content == .data { data.append(live) } else { deletes.append(live) }
            }
        }
        return (data, deletes)
    }

    /// The log offsets Sluice recorded in the newest snapshot that has them (`sluice.offsets`).
    public func committedOffsets() -> [String: Int64] {
        for snapshot in metadata.currentAncestry {
            if let text = snapshot.summaryValue(IcebergSink.offsetsSummaryKey),
                case .object(let pairs)? = try? AvroJSON.parse(text)
            {
                var out: [String: Int64] = [:]
                for (stream, value) in pairs { if let offset = value.intValue { out[stream] = offset } }
                return out
            }
        }
        return [:]
    }

    // MARK: Writing

    /// A new file location under the table's data folder.
    public func newDataFileLocation(prefix: String = "data", partitionPath: String? = nil) -> String {
        var location = metadata.location + "/data/"
        if let partitionPath { location += partitionPath + "/" }
        let stamp = String(Int64(Date().timeIntervalSince1970 * 1000))
        return location + "\(prefix)-\(stamp)-\(UUID().uuidString.lowercased()).parquet"
    }

    /// Commits a metadata change without a snapshot (`make` returns nil for no change); retries lost commits.
    public func updateMetadata(_ make: (TableMetadata) throws -> TableMetadata?) throws {
        try commitMetadata(describedAs: "metadata change", make)
    }

    /// Changes the table's schema (a new schema id becomes current); no snapshot. Retries lost commits.
    public func updateSchema(_ make: (TableMetadata) throws -> IcebergSchema?) throws {
        try commitMetadata(describedAs: "schema change") { metadata in
            guard let schema = try make(metadata) else { return nil }
            var next = metadata
            var newSchema = schema
            if let existing = next.schemas.first(where: {
                $0.fields == schema.fields && $0.identifierFieldIds == schema.identifierFieldIds
            }) {
                next.currentSchemaId = existing.schemaId
            } else {
                newSchema.schemaId = (next.schemas.map(\.schemaId).max() ?? -1) + 1
                next.schemas.append(newSchema)
                next.currentSchemaId = newSchema.schemaId
            }
            next.lastColumnId = max(next.lastColumnId, newSchema.highestFieldId)
            return next
        }
    }

    /// Commits what `make` derives from the current metadata, re-deriving it from the fresh table after each lost
    /// commit, 50 times at most.
    private func commitMetadata(describedAs change: String, _ make: (TableMetadata) throws -> TableMetadata?) throws {
        for _ in 0..<50 {
            guard var next = try make(metadata) else { return }
            next.lastUpdatedMs = max(Int64(Date().timeIntervalSince1970 * 1000), metadata.lastUpdatedMs)
            do {
                loaded = try catalog.commit(base: loaded, metadata: next)
                return
            } catch let error as IcebergError where error.code == .commitConflict {
                try refresh()
            }
        }
        throw IcebergError(
            .commitConflict, "table \(identifier): the \(change) lost 50 commits in a row",
            hint: "another writer commits continuously; retry later")
    }

    /// Commits `change` as a new snapshot. `validate` runs against the base of every attempt (the fresh table after
    /// a lost commit) and may throw to abandon the commit. `beforePublish` is a test hook that runs after the
    /// manifests are written and before the catalog commit.
    @discardableResult
    public func commit(
        _ change: TableChange, validate: (IcebergTable) throws -> Void = { _ in },
        beforePublish: () throws -> Void = {}
    ) throws -> Snapshot {
        var attempt = 0
        while true {
            attempt += 1
            try validate(self)
            var written: [String] = []
            do {
                let (metadata, snapshot) = try prepare(change, written: &written)
                try beforePublish()
                loaded = try catalog.commit(base: loaded, metadata: metadata)
                pruneCaches()
                return snapshot
            } catch let error as IcebergError where error.code == .commitConflict && attempt < 50 {
                for path in written { unlink(LocalFiles.path(path)) }
                try refresh()
                // Jittered backoff before the retry against another writer. It blocks the calling thread: the
                // Iceberg sink's own thread (`ThreadExecutor`) or a one-shot CLI command, never the cooperative pool.
                usleep(UInt32.random(in: 1_000...20_000) * UInt32(min(attempt, 10)))
            } catch {
                // The files may be referenced if the catalog did commit (a lost reply); leave them to remove-orphans.
                throw error
            }
        }
    }

    private func prepare(_ change: TableChange, written: inout [String]) throws -> (TableMetadata, Snapshot) {
        let base = metadata
        let parent = base.currentSnapshot
        let snapshotId = Int64.random(in: 1...Int64.max)
        let sequenceNumber = base.lastSequenceNumber + 1
        let schema = base.currentSchema
        let spec = base.defaultSpec
        var manifests: [ManifestFile] = []
        var removedData: [DataFile] = []
        var removedDeletes: [DataFile] = []

        /// A live entry of a parent manifest as the new snapshot lists it: sequence numbers made explicit, and
        /// DELETED when the change removes its file (which is then counted as removed), else EXISTING.
        func carryForward(_ entry: ManifestEntry, of manifest: ManifestFile) -> ManifestEntry {
            var kept = entry
            kept.sequenceNumber = entry.sequenceNumber ?? manifest.sequenceNumber
            kept.fileSequenceNumber = entry.fileSequenceNumber ?? manifest.sequenceNumber
            guard change.removedFiles.contains(entry.file.filePath) else {
                kept.status = .existing
                return kept
            }
            kept.status = .deleted
            kept.snapshotId = snapshotId
            if entry.file.content == .data {
                removedData.append(entry.file)
            } else {
                removedDeletes.append(entry.file)
            }
            return kept
        }

        // Carry over or rewrite the parent's manifests.
        if let parent {
            let parentManifests = try manifestFiles(parent)
            // Like Iceberg's manifest merging: past this many manifests, fold them into one per content type.
            if change.rewriteManifests || parentManifests.count >= Self.manifestMergeThreshold {
                var byKey: [String: [ManifestEntry]] = [:]
                for manifest in parentManifests {
                    for entry in try entries(manifest) where entry.status != .deleted {
                        let kept = carryForward(entry, of: manifest)
                        byKey["\(manifest.partitionSpecId)-\(entry.file.content == .data ? 0 : 1)", default: []].append(
                            kept)
                    }
                }
                for (key, entries) in byKey.sorted(by: { $0.key < $1.key }) where !entries.isEmpty {
                    let specId = Int(key.split(separator: "-")[0]) ?? spec.specId
                    let content: FileContent = key.hasSuffix("-0") ? .data : .positionDeletes
                    let manifestSpec = base.spec(id: specId) ?? spec
                    manifests.append(
                        try writeManifest(
                            entries, spec: manifestSpec, schema: schema, content: content, snapshotId: snapshotId,
                            sequenceNumber: sequenceNumber, written: &written))
                }
            } else {
                for manifest in parentManifests {
                    let touched =
                        try !change.removedFiles.isEmpty
                        && entries(manifest).contains {
                            $0.status != .deleted && change.removedFiles.contains($0.file.filePath)
                        }
                    guard touched else {
                        // A manifest whose entries are all DELETED describes nothing live any more.
                        if manifest.addedFilesCount + manifest.existingFilesCount > 0 { manifests.append(manifest) }
                        continue
                    }
                    let entries = try entries(manifest)
                    var rewritten: [ManifestEntry] = []
                    for entry in entries where entry.status != .deleted {
                        rewritten.append(carryForward(entry, of: manifest))
                    }
                    let manifestSpec = base.spec(id: manifest.partitionSpecId) ?? spec
                    manifests.append(
                        try writeManifest(
                            rewritten, spec: manifestSpec, schema: schema, content: manifest.content,
                            snapshotId: snapshotId,
                            sequenceNumber: sequenceNumber, written: &written))
                }
            }
        }
        guard removedData.count + removedDeletes.count == change.removedFiles.count else {
            throw IcebergError(.commitConflict, "files to remove are no longer live in table \(identifier)")
        }

        // New files first in the manifest list: readers plan newest first.
        var added: [ManifestFile] = []
        for (files, content) in [(change.addedDataFiles, FileContent.data), (change.addedDeleteFiles, .positionDeletes)]
        where !files.isEmpty {
            let entries = files.map {
                ManifestEntry(
                    status: .added, snapshotId: snapshotId, sequenceNumber: nil, fileSequenceNumber: nil, file: $0)
            }
            added.append(
                try writeManifest(
                    entries, spec: spec, schema: schema, content: content, snapshotId: snapshotId,
                    sequenceNumber: sequenceNumber, written: &written))
        }
        manifests = added + manifests

        // Manifest list.
        let listLocation =
            metadata.location + "/metadata/snap-\(snapshotId)-1-\(UUID().uuidString.lowercased()).avro"
        var listMetadata: [(String, String)] = [
            ("snapshot-id", String(snapshotId)), ("sequence-number", String(sequenceNumber)), ("format-version", "2"),
        ]
        listMetadata.insert(("parent-snapshot-id", parent.map { String($0.snapshotId) } ?? "null"), at: 1)
        var list = try AvroContainerWriter(
            schema: ManifestSchemas.manifestFile, codec: .deflate, metadata: listMetadata)
        for manifest in manifests { try list.append(manifest.avroValue()) }
        try LocalFiles.writeAtomically(try list.finish(), to: listLocation)
        written.append(listLocation)
        manifestListCache[listLocation] = manifests

        // Summary.
        let addedRecords = change.addedDataFiles.reduce(0) { $0 + $1.recordCount }
        let addedSize = (change.addedDataFiles + change.addedDeleteFiles).reduce(0) { $0 + $1.fileSizeInBytes }
        let removedSize = (removedData + removedDeletes).reduce(0) { $0 + $1.fileSizeInBytes }
        let positionDeleteFiles = change.addedDeleteFiles.filter { $0.content == .positionDeletes }
        let equalityDeleteFiles = change.addedDeleteFiles.filter { $0.content == .equalityDeletes }
        let addedPositionDeletes = positionDeleteFiles.reduce(0) { $0 + $1.recordCount }
        let addedEqualityDeletes = equalityDeleteFiles.reduce(0) { $0 + $1.recordCount }
        var totalDataFiles: Int64 = 0
        var totalRecords: Int64 = 0
        var totalDeleteFiles: Int64 = 0
        var totalPositionDeletes: Int64 = 0
        for manifest in manifests {
            let files = Int64(manifest.addedFilesCount + manifest.existingFilesCount)
            let rows = manifest.addedRowsCount + manifest.existingRowsCount
            if manifest.content == .data {
                totalDataFiles += files
                totalRecords += rows
            } else {
                totalDeleteFiles += files
                totalPositionDeletes += rows
            }
        }
        let previousSize = Int64(parent?.summaryValue("total-files-size") ?? "") ?? 0
        let operation =
            change.operation
            ?? (change.removedFiles.isEmpty && change.addedDeleteFiles.isEmpty
                ? "append" : (change.addedDataFiles.isEmpty && change.removedFiles.isEmpty ? "delete" : "overwrite"))
        var summary: [(String, String)] = [("operation", operation)]
        func put(_ key: String, _ value: Int64, always: Bool = false) {
            if value != 0 || always { summary.append((key, String(value))) }
        }
        put("added-data-files", Int64(change.addedDataFiles.count))
        put("added-records", addedRecords)
        put("added-files-size", addedSize)
        put("added-delete-files", Int64(change.addedDeleteFiles.count))
        put("added-position-delete-files", Int64(positionDeleteFiles.count))
        put("added-position-deletes", addedPositionDeletes)
        put("added-equality-delete-files", Int64(equalityDeleteFiles.count))
        put("added-equality-deletes", addedEqualityDeletes)
        put("deleted-data-files", Int64(removedData.count))
        put("deleted-records", removedData.reduce(0) { $0 + $1.recordCount })
        put("removed-delete-files", Int64(removedDeletes.count))
        put("removed-position-delete-files", Int64(removedDeletes.count))
        put("removed-position-deletes", removedDeletes.reduce(0) { $0 + $1.recordCount })
        put("removed-files-size", removedSize)
        put("total-records", totalRecords, always: true)
        put("total-files-size", max(0, previousSize + addedSize - removedSize), always: true)
        put("total-data-files", totalDataFiles, always: true)
        put("total-delete-files", totalDeleteFiles, always: true)
        put("total-position-deletes", totalPositionDeletes, always: true)
        put("total-equality-deletes", 0, always: true)
        summary += change.summaryProperties
        if !change.summaryProperties.contains(where: { $0.0 == IcebergSink.offsetsSummaryKey }),
            let carried = base.currentAncestry.lazy.compactMap({ $0.summaryValue(IcebergSink.offsetsSummaryKey) }).first
        {
            // Maintenance commits keep the sink's record of what the table holds.
            summary.append((IcebergSink.offsetsSummaryKey, carried))
        }

        let now = max(Int64(Date().timeIntervalSince1970 * 1000), base.lastUpdatedMs)
        let snapshot = Snapshot(
            snapshotId: snapshotId, parentSnapshotId: parent?.snapshotId, sequenceNumber: sequenceNumber,
            timestampMs: now, manifestList: listLocation, summary: summary, schemaId: schema.schemaId)
        var next = base
        next.snapshots.append(snapshot)
        next.currentSnapshotId = snapshotId
        next.lastSequenceNumber = sequenceNumber
        next.lastUpdatedMs = now
        next.snapshotLog.append((snapshotId, now))
        return (next, snapshot)
    }

    /// Manifests a snapshot may carry before a commit merges them.
    static let manifestMergeThreshold = 100

    /// Keeps only the current snapshot's manifests in the caches (manifests are immutable; memory is not free).
    private func pruneCaches() {
        guard let current = metadata.currentSnapshot, let manifests = manifestListCache[current.manifestList] else {
            return
        }
        let keep = Set(manifests.map(\.path))
        manifestCache = manifestCache.filter { keep.contains($0.key) }
        manifestListCache = [current.manifestList: manifests]
    }

    private func writeManifest(
        _ entries: [ManifestEntry], spec: PartitionSpec, schema: IcebergSchema, content: FileContent, snapshotId: Int64,
        sequenceNumber: Int64, written: inout [String]
    ) throws -> ManifestFile {
        let location = metadata.location + "/metadata/\(UUID().uuidString.lowercased())-m0.avro"
        let avroSchema = ManifestSchemas.manifestEntry(spec: spec, schema: schema)
        var writer = try AvroContainerWriter(
            schema: avroSchema, codec: .deflate,
            metadata: [
                ("schema", schema.json.text), ("schema-id", String(schema.schemaId)),
                ("partition-spec", spec.fieldsJSON.text), ("partition-spec-id", String(spec.specId)),
                ("format-version", "2"), ("content", content == .data ? "data" : "deletes"),
            ])
        var added: Int32 = 0
        var existing: Int32 = 0
        var deleted: Int32 = 0
        var addedRows: Int64 = 0
        var existingRows: Int64 = 0
        var deletedRows: Int64 = 0
        var minSequence = sequenceNumber
        var summaries = spec.fields.map { _ in
            FieldSummary(containsNull: false, containsNaN: false, lowerBound: nil, upperBound: nil)
        }
        var lowers: [Cell?] = Array(repeating: nil, count: spec.fields.count)
        var uppers: [Cell?] = Array(repeating: nil, count: spec.fields.count)
        for entry in entries {
            try writer.append(entry.avroValue())
            switch entry.status {
            case .added:
                added += 1
                addedRows += entry.file.recordCount
            case .existing:
                existing += 1
                existingRows += entry.file.recordCount
            case .deleted:
                deleted += 1
                deletedRows += entry.file.recordCount
            }
            if entry.status != .deleted { minSequence = min(minSequence, entry.sequenceNumber ?? sequenceNumber) }
            for (index, value) in entry.file.partition.enumerated() where index < summaries.count {
                let cell = PartitionValues.cell(value)
                if cell.isNull {
                    summaries[index].containsNull = true
                } else {
                    if lowers[index] == nil || CellOrder.less(cell, lowers[index]!) { lowers[index] = cell }
                    if uppers[index] == nil || CellOrder.less(uppers[index]!, cell) { uppers[index] = cell }
                }
            }
        }
        for (index, field) in spec.fields.enumerated() {
            let type = field.resultType(sourceType: schema.field(id: field.sourceId)?.type ?? .long)
            summaries[index].lowerBound = lowers[index].flatMap { SingleValue.bytes($0, type: type) }
            summaries[index].upperBound = uppers[index].flatMap { SingleValue.bytes($0, type: type) }
        }
        let bytes = try writer.finish()
        try LocalFiles.writeAtomically(bytes, to: location)
        written.append(location)
        let manifest = ManifestFile(
            path: location, length: Int64(bytes.count), partitionSpecId: spec.specId, content: content,
            sequenceNumber: sequenceNumber, minSequenceNumber: minSequence, addedSnapshotId: snapshotId,
            addedFilesCount: added, existingFilesCount: existing, deletedFilesCount: deleted, addedRowsCount: addedRows,
            existingRowsCount: existingRows, deletedRowsCount: deletedRows, partitions: summaries)
        // Entries as readers see them after inheritance.
        manifestCache[location] = entries.map { entry in
            var inherited = entry
            if inherited.sequenceNumber == nil { inherited.sequenceNumber = sequenceNumber }
            if inherited.fileSequenceNumber == nil { inherited.fileSequenceNumber = sequenceNumber }
            return inherited
        }
        return manifest
    }
}

/// Partition values: computing them from rows and converting between Avro and cells.
enum PartitionValues {
    static func cell(_ value: AvroValue) -> Cell {
        switch value {
        case .null: return .null
        case .boolean(let b): return .bool(b)
        case .int(let v): return .long(Int64(v))
        case .long(let v): return .long(v)
        case .float(let v): return .double(Double(v))
        case .double(let v): return .double(v)
        case .string(let s): return .string(s)
        case .bytes(let b), .fixed(let b): return .bytes(b)
        default: return .null
        }
    }

    /// The partition tuple of a row (cells in schema order).
    static func values(row: [Cell], schema: IcebergSchema, spec: PartitionSpec) -> [AvroValue] {
        spec.fields.map { field in
            guard let index = schema.fields.firstIndex(where: { $0.id == field.sourceId }) else { return .null }
            let cell = row[index]
            let sourceType = schema.fields[index].type
            switch (field.transform, cell) {
            case (_, .null), (.void, _): return .null
            case (.day, .long(let v)):
                if sourceType == .date { return .int(Int32(truncatingIfNeeded: v)) }
                return .int(Int32(truncatingIfNeeded: CellConversion.floorDivide(v, 86_400_000_000)))
            case (.hour, .long(let v)):
                return .int(Int32(truncatingIfNeeded: CellConversion.floorDivide(v, 3_600_000_000)))
            case (.identity, .bool(let b)): return .boolean(b)
            case (.identity, .long(let v)):
                if sourceType == .int || sourceType == .date { return .int(Int32(truncatingIfNeeded: v)) }
                return .long(v)
            case (.identity, .double(let d)): return .double(d)
            case (.identity, .string(let s)): return .string(s)
            case (.identity, .bytes(let b)):
                return sourceType == .binary ? .bytes(b) : .fixed(b)
            case (.identity, .decimal(let v)):
                if case .decimal(let p, _) = sourceType {
                    let size = DecimalBytes.minimumBytes(precision: p)
                    let minimal = DecimalBytes.minimal(v)
                    let pad: UInt8 = v < 0 ? 0xFF : 0
                    return .fixed(Array(repeating: pad, count: max(0, size - minimal.count)) + minimal)
                }
                return .null
            default: return .null
            }
        }
    }

    /// The folder of a partition (`ts_day=2026-01-02`), as Hive-style readers expect.
    static func path(_ values: [AvroValue], spec: PartitionSpec) -> String? {
        guard !spec.fields.isEmpty else { return nil }
        return zip(spec.fields, values).map { field, value -> String in
            let text: String
            switch (field.transform, value) {
            case (_, .null): text = "null"
            case (.day, .int(let days)):
                let date = Date(timeIntervalSince1970: Double(days) * 86_400)
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = [.withFullDate]
                text = formatter.string(from: date)
            case (_, .int(let v)): text = String(v)
            case (_, .long(let v)): text = String(v)
            case (_, .string(let s)): text = s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s
            case (_, .boolean(let b)): text = String(b)
            default: text = "value"
            }
            return "\(field.name)=\(text)"
        }.joined(separator: "/")
    }
}
