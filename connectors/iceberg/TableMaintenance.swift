import Foundation
import SluiceAvro
import SluiceParquet

/// Table maintenance: compaction, snapshot expiry and orphan removal. Each commits optimistically, so it is safe
/// while a sink writes the table: a maintenance commit that loses to the sink reloads and retries (or restarts
/// when the sink added deletes against files it rewrites), and the sink rebuilds its key index when compaction
/// replaced files it points into.
public enum TableMaintenance {
    /// What compaction did.
    public struct CompactionResult: Sendable, CustomStringConvertible {
        public var rewrittenDataFiles = 0
        public var appliedDeleteFiles = 0
        public var writtenDataFiles = 0
        public var rows: Int64 = 0

        public var description: String {
            if rewrittenDataFiles == 0 && appliedDeleteFiles == 0 { return "nothing to compact" }
            return "rewrote \(rewrittenDataFiles) data files and applied \(appliedDeleteFiles) delete files into "
                + "\(writtenDataFiles) data files (\(rows) rows)"
        }
    }

    struct ConcurrentDeletes: Error {}

    /// Merges small files and applies delete files, per partition. A partition is rewritten when it has delete
    /// files or more than one file smaller than `targetFileSize`.
    public static func compact(
        _ table: IcebergTable, targetFileSize: Int64 = 128 << 20, compression: ParquetCompression = .zstd
    ) throws -> CompactionResult {
        for _ in 0..<10 {
            do {
                return try compactOnce(table, targetFileSize: targetFileSize, compression: compression)
            } catch is ConcurrentDeletes {
                try table.refresh()
            }
        }
        throw IcebergError(
            .commitConflict, "compaction of \(table.identifier) kept losing to concurrent deletes",
            hint: "retry when the sink is less busy")
    }

    private static func compactOnce(
        _ table: IcebergTable, targetFileSize: Int64, compression: ParquetCompression
    ) throws -> CompactionResult {
        try table.refresh()
        let base = table.metadata
        let schema = base.currentSchema
        let spec = base.defaultSpec
        let (data, deletes) = try table.liveFiles()
        let baseDeletePaths = Set(deletes.map(\.file.filePath))
        var byPartition: [[AvroValue]: (data: [LiveFile], deletes: [LiveFile])] = [:]
        for file in data { byPartition[file.file.partition, default: ([], [])].data.append(file) }
        for file in deletes { byPartition[file.file.partition, default: ([], [])].deletes.append(file) }
        var result = CompactionResult()
        var change = TableChange()
        change.operation = "replace"
        change.rewriteManifests = true
        var written: [String] = []
        do {
            for (partition, group) in byPartition {
                let small = group.data.filter { $0.file.fileSizeInBytes < targetFileSize * 3 / 4 }
                guard !group.deletes.isEmpty || small.count > 1 || group.data.first?.file.specId != spec.specId
                else { continue }
                let rewrite = group.deletes.isEmpty ? small : group.data
                // Position deletes by data file.
                var deletedPositions: [String: Set<Int64>] = [:]
                var equalityDeletes: [(sequence: Int64, ids: [Int], keys: Set<[Cell]>)] = []
                for delete in group.deletes {
                    if delete.file.content == .positionDeletes {
                        for row in try DataFileReader.read(
                            location: delete.file.filePath, schema: PositionDeleteSchema.schema)
                        {
                            if case .string(let path) = row[0], case .long(let pos) = row[1] {
                                deletedPositions[path, default: []].insert(pos)
                            }
                        }
                    } else {
                        let ids = delete.file.equalityIds ?? []
                        let keySchema = IcebergSchema(schemaId: 0, fields: ids.compactMap { schema.field(id: $0) })
                        let keys = Set(try DataFileReader.read(location: delete.file.filePath, schema: keySchema))
                        equalityDeletes.append((delete.sequenceNumber, ids, keys))
                    }
                }
                var rows: [[Cell]] = []
                for file in rewrite.sorted(by: { $0.sequenceNumber < $1.sequenceNumber }) {
                    let removed = deletedPositions[file.file.filePath] ?? []
                    for (position, row) in try DataFileReader.read(location: file.file.filePath, schema: schema)
                        .enumerated()
                    {
                        if removed.contains(Int64(position)) { continue }
                        let deletedByEquality = equalityDeletes.contains { delete in
                            guard delete.sequence > file.sequenceNumber else { return false }
                            let key = delete.ids.compactMap { id in
                                schema.fields.firstIndex { $0.id == id }.map { row[$0] }
                            }
                            return delete.keys.contains(key)
                        }
                        if !deletedByEquality { rows.append(row) }
                    }
                }
                var writer: DataFileWriter?
                var estimated: Int64 = 0
                for row in rows {
                    if writer == nil {
                        let location = table.newDataFileLocation(
                            prefix: "compacted", partitionPath: PartitionValues.path(partition, spec: spec))
                        writer = try DataFileWriter(
                            schema: schema, localPath: LocalFiles.path(location), fileURI: location,
                            partition: partition, specId: spec.specId, compression: compression)
                        written.append(location)
                    }
                    try writer!.append(row)
                    estimated += TableWriter.estimatedSize(row)
                    if estimated / 4 >= targetFileSize {
                        change.addedDataFiles.append(try writer!.finish())
                        writer = nil
                        estimated = 0
                    }
                }
                if let writer { change.addedDataFiles.append(try writer.finish()) }
                for file in rewrite { change.removedFiles.insert(file.file.filePath) }
                for file in group.deletes { change.removedFiles.insert(file.file.filePath) }
                result.rewrittenDataFiles += rewrite.count
                result.appliedDeleteFiles += group.deletes.count
                result.rows += Int64(rows.count)
            }
            result.writtenDataFiles = change.addedDataFiles.count
            guard !change.removedFiles.isEmpty else { return result }
            let rewritten = change.removedFiles
            try table.commit(
                change,
                validate: { current in
                    // Deletes committed since the base that point into files being rewritten would be lost: start over.
                    for delete in try current.liveFiles().deletes where !baseDeletePaths.contains(delete.file.filePath)
                    {
                        guard delete.file.content == .positionDeletes else { throw ConcurrentDeletes() }
                        if let lower = delete.file.lowerBounds[PositionDeleteSchema.filePathId],
                            let upper = delete.file.upperBounds[PositionDeleteSchema.filePathId], lower == upper
                        {
                            if rewritten.contains(String(decoding: lower, as: UTF8.self)) { throw ConcurrentDeletes() }
                            continue
                        }
                        let targets = try DataFileReader.read(
                            location: delete.file.filePath, schema: PositionDeleteSchema.schema)
                        if targets.contains(where: {
                            if case .string(let path) = $0[0] { rewritten.contains(path) } else { true }
                        }) {
                            throw ConcurrentDeletes()
                        }
                    }
                })
            return result
        } catch {
            for path in written { unlink(LocalFiles.path(path)) }
            throw error
        }
    }

    /// Every file a snapshot references: its manifest list, manifests, and data and delete files.
    static func reachableFiles(_ table: IcebergTable, snapshots: [Snapshot], liveOnly: Bool) throws -> Set<String> {
        var files = Set<String>()
        for snapshot in snapshots {
            files.insert(snapshot.manifestList)
            for manifest in try table.manifestFiles(snapshot) {
                files.insert(manifest.path)
                for entry in try table.entries(manifest) where !liveOnly || entry.status != .deleted {
                    files.insert(entry.file.filePath)
                }
            }
        }
        return files
    }

    /// Removes snapshots older than `olderThanMs` (keeping the newest `retainLast` of the current branch), then
    /// deletes the files only they referenced. Returns the number of snapshots and files removed.
    public static func expireSnapshots(
        _ table: IcebergTable, olderThanMs: Int64, retainLast: Int = 1
    ) throws -> (snapshots: Int, files: Int) {
        var expired: [Snapshot] = []
        try table.updateMetadata { metadata in
            let ancestry = metadata.currentAncestry
            var keep = Set(ancestry.prefix(max(1, retainLast)).map(\.snapshotId))
            for snapshot in metadata.snapshots where snapshot.timestampMs >= olderThanMs {
                keep.insert(snapshot.snapshotId)
            }
            if let current = metadata.currentSnapshotId { keep.insert(current) }
            expired = metadata.snapshots.filter { !keep.contains($0.snapshotId) }
            guard !expired.isEmpty else { return nil }
            var next = metadata
            next.snapshots = metadata.snapshots.filter { keep.contains($0.snapshotId) }
            next.snapshotLog = metadata.snapshotLog.filter { keep.contains($0.snapshotId) }
            return next
        }
        guard !expired.isEmpty else { return (0, 0) }
        let retained = table.metadata.snapshots
        let stillNeeded = try reachableFiles(table, snapshots: retained, liveOnly: true)
        let candidates = try reachableFiles(table, snapshots: expired, liveOnly: false)
        var removed = 0
        for path in candidates.subtracting(stillNeeded) where unlink(LocalFiles.path(path)) == 0 { removed += 1 }
        return (expired.count, removed)
    }

    /// Deletes files under the table's location that no snapshot or metadata version references and that are
    /// older than `olderThan` (files a running sink is writing are younger). Returns the paths removed.
    public static func removeOrphans(_ table: IcebergTable, olderThan: Date, dryRun: Bool = false) throws -> [String] {
        try table.refresh()
        let metadata = table.metadata
        var referenced = Set(
            try reachableFiles(table, snapshots: metadata.snapshots, liveOnly: false).map(LocalFiles.path))
        referenced.insert(LocalFiles.path(table.loaded.metadataLocation))
        for entry in metadata.metadataLog { referenced.insert(LocalFiles.path(entry.file)) }
        let root = LocalFiles.path(metadata.location)
        var removed: [String] = []
        for folder in ["data", "metadata"] {
            guard let enumerator = FileManager.default.enumerator(atPath: root + "/" + folder) else { continue }
            while let relative = enumerator.nextObject() as? String {
                let path = root + "/" + folder + "/" + relative
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue
                else {
                    continue
                }
                if referenced.contains(path) || relative == "version-hint.text" { continue }
                // The filesystem catalog's numbered versions stay (the newest is found by probing).
                if folder == "metadata", relative.hasPrefix("v"), relative.hasSuffix(".metadata.json") { continue }
                let attributes = try? FileManager.default.attributesOfItem(atPath: path)
                let modified = attributes?[.modificationDate] as? Date ?? Date()
                guard modified < olderThan else { continue }
                if dryRun || unlink(path) == 0 { removed.append(path) }
            }
        }
        return removed.sorted()
    }
}
