import Foundation
import Logging
import SluiceAvro
import SluiceCore
import SluiceConnectorKit

/// Points in a commit where tests inject failures (a crash at that moment).
public enum CommitStage: String, Sendable {
    /// Data and delete files are written; no manifest yet.
    case afterDataFiles
    /// Manifests and the manifest list are written; the catalog does not point at them yet.
    case beforeCatalogCommit
    /// The catalog points at the new metadata; the sink has not recorded it in memory.
    case afterCatalogCommit
}

/// Buffers one stream's changes and commits them to its Iceberg table, effectively once.
final class TableWriter {
    /// Where a key's newest buffered change left it.
    enum PendingState {
        /// Its row is at this position of a data file of the pending commit.
        case row(file: String, position: Int64)
        case deleted
    }

    struct StaleKeyIndex: Error {}

    let stream: String
    let table: IcebergTable
    let configuration: IcebergSinkConfiguration
    let logger: Logger
    var failpoint: (@Sendable (CommitStage) throws -> Void)?

    /// The next offset the table holds for this stream (from its snapshot summary).
    private(set) var committedNext: Int64
    private var pendingNext: Int64?
    private var sourceVersion: Int?
    private var primaryKey: [String] = []
    /// Source column name → index in the current Iceberg schema's fields.
    private var fieldIndex: [String: Int] = [:]
    /// Data files of the pending commit still being written, per partition, with their estimated raw size.
    private var openFiles: [[AvroValue]: (writer: DataFileWriter, estimatedBytes: Int64)] = [:]
    /// Data files of the pending commit already closed (rolled at the target size, or before a commit attempt).
    private var finishedFiles: [DataFile] = []
    /// The partition of every data file of the pending commit, by location.
    private var pendingPartitions: [String: [AvroValue]] = [:]
    /// Every file the pending commit wrote (removed if it is abandoned).
    private var pendingPaths: [String] = []
    /// Upsert: the newest state of every key the pending commit touches.
    private var pendingKeys: [RowKey: PendingState] = [:]
    /// Upsert: rows of the pending commit's own files that a later change of their key superseded.
    private var supersededPositions: [String: [Int64]] = [:]
    /// A row buffer reused for every change (no allocation per row).
    private var scratchRow: [Cell] = []
    /// The field indexes of `_op`, `_position`, `_commit_ts`, `_tx_id`, `_offset` (append mode).
    private var changelogFields: [Int?] = []
    private var pendingTruncate = false
    private var lastCommit = ContinuousClock.now
    private var keyIndex: KeyIndex?
    private var cachedFile: (path: String, rows: [[Cell]])?
    /// The offset of the commit whose files are closed and waiting to be published (a retried commit reuses them).
    private var closedCommitOffset: Int64?
    private var warnedUnchanged = false

    static let changelogColumns = ["_op", "_position", "_commit_ts", "_tx_id", "_offset"]
    /// Append mode: the columns written as null because the source did not send them and no before image had them.
    static let unchangedColumn = "_unchanged"

    init(stream: String, table: IcebergTable, configuration: IcebergSinkConfiguration, logger: Logger) {
        self.stream = stream
        self.table = table
        self.configuration = configuration
        self.logger = logger
        committedNext = table.committedOffsets()[stream] ?? 0
    }

    /// Changes buffered since the last commit (several changes of one key count each).
    private var pendingChanges = 0
    var pendingCount: Int { pendingChanges }

    // MARK: Schemas

    /// Makes the table's schema fit a source schema version (committing buffered rows first).
    func useSourceSchema(_ source: TableSchema) throws {
        if sourceVersion == source.version { return }
        if configuration.mode == .upsert && source.primaryKey.isEmpty {
            throw IcebergError(
                .invalidConfiguration, "table \(source.table) has no primary key, which upsert mode needs",
                hint: "set mode: append for this sink, or give the table a primary key / replica identity")
        }
        if pendingCount > 0 || pendingTruncate { try commit() }
        let mode = configuration.mode
        try table.updateSchema { metadata in
            let evolved = try Self.evolvedSchema(
                current: metadata.currentSchema, lastColumnId: metadata.lastColumnId, source: source, mode: mode)
            let current = metadata.currentSchema
            if evolved.fields == current.fields && evolved.identifierFieldIds == current.identifierFieldIds {
                return nil
            }
            logger.info(
                "evolving the schema of Iceberg table \(table.identifier)",
                metadata: [
                    "sluice.stream": .string(stream), "sluice.schema-version": .stringConvertible(source.version),
                ])
            return evolved
        }
        let schema = table.metadata.currentSchema
        fieldIndex = Dictionary(uniqueKeysWithValues: schema.fields.enumerated().map { ($0.element.name, $0.offset) })
        imageLayout = nil
        changelogFields = []
        if primaryKey != source.primaryKey { keyIndex = nil }
        primaryKey = source.primaryKey
        sourceVersion = source.version
    }
    // MARK: Buffering

    /// Adds a batch's records (those the table does not hold yet), committing when `commit_rows` or
    /// `commit_interval` is reached. Rows go straight into the pending commit's Parquet files.
    func add(_ batch: SinkBatch) throws {
        for record in batch.records where record.offset >= max(committedNext, pendingNext ?? 0) {
            let event = record.event
            if event.schemaVersion != sourceVersion, let source = batch.schemas[event.schemaVersion] {
                try useSourceSchema(source)
            }
            guard sourceVersion != nil else {
                throw IcebergError(
                    .corruptMetadata, "no schema version \(event.schemaVersion) for \(batch.table) in the log",
                    hint: "the _schemas stream lacks it; was it removed by retention?")
            }
            switch configuration.mode {
            case .append: try addChangelogRow(record)
            case .upsert: try addUpsert(event)
            }
            pendingNext = record.offset + 1
            pendingChanges += 1
            if pendingTruncate || pendingCount >= configuration.commitRows { try commit() }
        }
        if pendingNext != nil, ContinuousClock.now - lastCommit >= .seconds(configuration.commitIntervalSeconds) {
            try commit()
        }
    }

    /// The field index of each column of the last image layout seen (rows of one schema share their layout).
    private var imageLayout: (columns: [String], fields: [Int?], types: [IcebergType?])?

    /// Fills `scratchRow` (one cell per field, nulls elsewhere) from a row image.
    private func fillScratchRow(_ image: Row?, schema: IcebergSchema) throws {
        if scratchRow.count != schema.fields.count {
            scratchRow = [Cell](repeating: .null, count: schema.fields.count)
        } else {
            for index in scratchRow.indices { scratchRow[index] = .null }
        }
        guard let image else { return }
        if imageLayout?.columns != image.columns {
            let fields = image.columns.map { fieldIndex[$0] }
            imageLayout = (image.columns, fields, fields.map { $0.map { schema.fields[$0].type } })
        }
        let layout = imageLayout!
        for column in image.values.indices {
            guard let index = layout.fields[column], let type = layout.types[column] else { continue }
            scratchRow[index] = try cell(image.values[column], column: image.columns[column], type: type)
        }
    }

    /// A value as a cell of the column's type; a value the type cannot hold (NaN in a decimal(p, s), more digits
    /// than it has) stops the sink naming the column, never a silent null.
    private func cell(_ value: Value, column: String, type: IcebergType) throws -> Cell {
        do {
            return try CellConversion.cell(value, as: type)
        } catch let mismatch as CellConversion.Mismatch {
            throw IcebergError(
                .unsupported,
                "column \(column) of stream \(stream) holds a value (\(mismatch.got)) that does not fit \(mismatch.expected)",
                hint: "a NaN or infinite numeric needs a column without precision (written as text); otherwise widen "
                    + "the column or write to a new table")
        }
    }

    /// Appends `scratchRow` to the pending data file of its partition; returns the file and position.
    private func appendScratchRow() throws -> (file: String, position: Int64) {
        let schema = table.metadata.currentSchema
        let spec = table.metadata.defaultSpec
        let partition = spec.fields.isEmpty ? [] : PartitionValues.values(row: scratchRow, schema: schema, spec: spec)
        var open = openFiles[partition]
        if open == nil {
            let location = table.newDataFileLocation(partitionPath: PartitionValues.path(partition, spec: spec))
            let writer = try DataFileWriter(
                schema: schema, localPath: LocalFiles.path(location), fileURI: location, partition: partition,
                specId: spec.specId, compression: configuration.compression)
            pendingPaths.append(location)
            pendingPartitions[location] = partition
            open = (writer, 0)
        }
        let writer = open!.writer
        let position = writer.rowCount
        try writer.append(scratchRow)
        let estimated = open!.estimatedBytes + Self.estimatedSize(scratchRow)
        // Compressed Parquet is typically a quarter of the raw size.
        if estimated / 4 >= configuration.targetFileSize {
            finishedFiles.append(try writer.finish())
            openFiles[partition] = nil
        } else {
            openFiles[partition] = (writer, estimated)
        }
        return (writer.fileURI, position)
    }

    private func addChangelogRow(_ record: SinkRecord) throws {
        let event = record.event
        guard [.insert, .update, .delete, .read, .truncate].contains(event.op) else { return }
        // A key-changing update is, in the changelog, the delete of the old key and then the new row.
        if let delete = record.keyChangeDelete(primaryKey: primaryKey) { try addChangelogRow(delete) }
        let schema = table.metadata.currentSchema
        try fillScratchRow(event.after ?? event.before, schema: schema)
        var unchanged: [Cell] = []
        if let after = event.after, !after.unchangedColumns.isEmpty {
            // Unchanged TOAST values: take them from the before image when the source sent one, else name them.
            for name in after.unchangedColumns {
                if let index = fieldIndex[name], let value = event.before?[name], value != .unchanged {
                    scratchRow[index] = try cell(value, column: name, type: schema.fields[index].type)
                } else {
                    unchanged.append(.string(name))
                }
            }
        }
        if let index = fieldIndex[Self.unchangedColumn] { scratchRow[index] = unchanged.isEmpty ? .null : .list(unchanged) }
        if changelogFields.count != Self.changelogColumns.count {
            changelogFields = Self.changelogColumns.map { fieldIndex[$0] }
        }
        let values: [Cell] = [
            .string(event.op.rawValue), .string(event.position.text), .long(event.commitTimeMicros),
            event.transactionID.map { .string($0) } ?? .null, .long(record.offset),
        ]
        for (field, value) in zip(changelogFields, values) {
            if let field { scratchRow[field] = value }
        }
        _ = try appendScratchRow()
    }

    private func keyCells(_ event: ChangeEvent, schema: IcebergSchema) throws -> [Cell] {
        guard let key = event.key(primaryKey: primaryKey) else {
            throw IcebergError(
                .corruptMetadata, "a change of stream \(stream) lacks its primary-key values",
                hint: "the source must send key columns in every change (replica identity)")
        }
        return try zip(primaryKey, key).map { name, value in
            guard let index = fieldIndex[name] else {
                throw IcebergError(.incompatibleSchema, "the table lacks key column \(name)")
            }
            return try CellConversion.cell(value, as: schema.fields[index].type)
        }
    }

    private func addUpsert(_ event: ChangeEvent) throws {
        var schema = table.metadata.currentSchema
        switch event.op {
        case .truncate:
            // Commit what came before, then (once the caller recorded this offset) a snapshot removing every file.
            if pendingCount > 0 { try commit() }
            pendingTruncate = true
            return
        case .insert, .update, .read, .delete: break
        default: return
        }
        // A key change is a delete of the old key and an upsert of the new one.
        if let delete = event.keyChangeDelete(primaryKey: primaryKey) {
            record(RowKey(try keyCells(delete, schema: schema)), .deleted)
        }
        let key = RowKey(try keyCells(event, schema: schema))
        if event.op == .delete {
            record(key, .deleted)
            return
        }
        var previous: [Cell]?
        if let after = event.after, !after.unchangedColumns.isEmpty,
            after.unchangedColumns.contains(where: { event.before?[$0] == nil || event.before?[$0] == .unchanged })
        {
            // The old value is in the table: publish what is buffered first, then read the row back.
            if pendingKeys[key] != nil {
                try commit()
                schema = table.metadata.currentSchema
            }
            previous = try currentRow(key)
        }
        try fillScratchRow(event.after, schema: schema)
        if let after = event.after, !after.unchangedColumns.isEmpty {
            for name in after.unchangedColumns {
                guard let index = fieldIndex[name] else { continue }
                if let value = event.before?[name], value != .unchanged {
                    scratchRow[index] = try cell(value, column: name, type: schema.fields[index].type)
                } else if let previous, index < previous.count {
                    scratchRow[index] = previous[index]
                } else if !warnedUnchanged {
                    warnedUnchanged = true
                    logger.warning(
                        "a change of \(stream) left column \(name) unchanged and no earlier value is known; writing null")
                }
            }
        }
        let (file, position) = try appendScratchRow()
        record(key, .row(file: file, position: position))
    }

    /// Records a key's newest state; a row of the pending commit it supersedes gets a position delete.
    private func record(_ key: RowKey, _ state: PendingState) {
        if pendingKeys.isEmpty { pendingKeys.reserveCapacity(min(configuration.commitRows, 1 << 20)) }
        if case .row(let file, let position)? = pendingKeys.updateValue(state, forKey: key) {
            supersededPositions[file, default: []].append(position)
        }
    }

    /// The row a key has in the table's current snapshot.
    private func currentRow(_ key: RowKey) throws -> [Cell]? {
        do {
            return try indexedRow(key)
        } catch {
            // Compaction and snapshot expiry may have removed the file the index points into: reload and retry.
            try table.refresh()
            keyIndex = nil
            cachedFile = nil
            return try indexedRow(key)
        }
    }

    private func indexedRow(_ key: RowKey) throws -> [Cell]? {
        try ensureKeyIndex()
        guard let location = keyIndex?.locations[key], let path = keyIndex?.files[Int(location.file)] else {
            return nil
        }
        if cachedFile?.path != path {
            cachedFile = (path, try DataFileReader.read(location: path, schema: table.metadata.currentSchema))
        }
        guard let rows = cachedFile?.rows, Int(location.position) < rows.count else { return nil }
        return rows[Int(location.position)]
    }

    // MARK: Key index

    private func ensureKeyIndex() throws {
        if keyIndex == nil { keyIndex = try buildKeyIndex() }
    }

    /// Reads the key columns of every live data file, minus position deletes.
    private func buildKeyIndex() throws -> KeyIndex {
        // Read the newest snapshot: maintenance may have replaced (and expired) the files of an older one.
        try table.refresh()
        let schema = table.metadata.currentSchema
        let keyFields = try primaryKey.map { name -> IcebergField in
            guard let field = schema.field(named: name) else {
                throw IcebergError(.incompatibleSchema, "the table lacks key column \(name)")
            }
            return field
        }
        let keySchema = IcebergSchema(schemaId: schema.schemaId, fields: keyFields)
        let (data, deletes) = try table.liveFiles()
        if deletes.contains(where: { $0.file.content == .equalityDeletes }) && configuration.deletes == .position {
            throw IcebergError(
                .unsupported, "table \(table.identifier) has equality delete files",
                hint: "run `sluice iceberg compact` to apply them, or set deletes: equality")
        }
        var deleted: [String: Set<Int64>] = [:]
        for delete in deletes where delete.file.content == .positionDeletes {
            for row in try DataFileReader.read(location: delete.file.filePath, schema: PositionDeleteSchema.schema) {
                if case .string(let path) = row[0], case .long(let pos) = row[1] {
                    deleted[path, default: []].insert(pos)
                }
            }
        }
        var index = KeyIndex()
        for live in data.sorted(by: { $0.sequenceNumber < $1.sequenceNumber }) {
            let id = index.fileId(live.file.filePath, partition: live.file.partition)
            let removed = deleted[live.file.filePath] ?? []
            for (position, row) in try DataFileReader.read(location: live.file.filePath, schema: keySchema).enumerated()
            where !removed.contains(Int64(position)) {
                index.locations[RowKey(row)] = RowLocation(file: id, position: Int64(position))
            }
        }
        logger.debug("built the key index of \(table.identifier): \(index.locations.count) rows in \(data.count) files")
        return index
    }
    // MARK: Committing

    /// Commits everything buffered as one snapshot that records the stream's next offset.
    func commit() throws {
        lastCommit = .now
        guard let next = pendingNext, next > committedNext || pendingTruncate else {
            pendingNext = nil
            pendingChanges = 0
            return
        }
        var offsets = table.committedOffsets()
        offsets[stream] = next
        let offsetsJSON = AvroJSON.object(offsets.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) }).text
        var change = TableChange()
        change.summaryProperties = [(IcebergSink.offsetsSummaryKey, offsetsJSON)]
        do {
            if pendingTruncate {
                let (data, deletes) = try table.liveFiles()
                change.removedFiles = Set((data + deletes).map(\.file.filePath))
                change.operation = "delete"
                try publish(change, stream: stream)
                keyIndex = KeyIndex()
                pendingTruncate = false
            } else {
                try closePendingFiles(next: next)
                change.addedDataFiles = finishedFiles
                try failpoint?(.afterDataFiles)
                if configuration.mode == .append {
                    try publish(change, stream: stream)
                } else {
                    try commitUpserts(change)
                }
            }
        } catch {
            // The catalog may have taken the commit before the failure (a lost reply, a crash hook): if the table
            // records our offset, the commit landed.
            guard (try? table.refresh()) != nil, table.committedOffsets()[stream] == next else { throw error }
            keyIndex = nil
            logger.info("the commit of \(stream) up to offset \(next) landed despite an error: \(error)")
        }
        committedNext = next
        resetPending()
    }

    /// Closes the pending commit's open files (once: a retried commit publishes the same files).
    private func closePendingFiles(next: Int64) throws {
        guard closedCommitOffset != next else { return }
        for (_, open) in openFiles.sorted(by: { $0.value.writer.fileURI < $1.value.writer.fileURI }) {
            finishedFiles.append(try open.writer.finish())
        }
        openFiles.removeAll()
        closedCommitOffset = next
    }

    private func resetPending() {
        pendingNext = nil
        pendingChanges = 0
        openFiles.removeAll()
        finishedFiles.removeAll()
        pendingPartitions.removeAll()
        pendingPaths.removeAll()
        pendingKeys.removeAll()
        supersededPositions.removeAll()
        closedCommitOffset = nil
        cachedFile = nil
    }

    private func publish(_ change: TableChange, stream: String, validate: (IcebergTable) throws -> Void = { _ in })
        throws
    {
        let failpoint = self.failpoint
        try table.commit(
            change,
            validate: { table in
                // Another writer of the same stream must not have committed past us.
                if let theirs = table.committedOffsets()[stream], theirs > self.committedNext {
                    throw IcebergError(
                        .commitConflict, "another writer committed stream \(stream) up to offset \(theirs)",
                        hint: "run one sink per table; restart to resume from the table's offsets")
                }
                try validate(table)
            }, beforePublish: { try failpoint?(.beforeCatalogCommit) })
        try failpoint?(.afterCatalogCommit)
    }

    private func commitUpserts(_ base: TableChange) throws {
        let schema = table.metadata.currentSchema
        var change = base
        if configuration.deletes == .equality {
            let keyFields = primaryKey.compactMap { schema.field(named: $0) }
            let keySchema = IcebergSchema(schemaId: schema.schemaId, fields: keyFields)
            if !pendingKeys.isEmpty {
                let location = table.newDataFileLocation(prefix: "eq-deletes")
                let writer = try DataFileWriter(
                    schema: keySchema, localPath: LocalFiles.path(location), fileURI: location, partition: [],
                    specId: table.metadata.defaultSpecId, content: .equalityDeletes,
                    compression: configuration.compression)
                for key in pendingKeys.keys { try writer.append(key.cells) }
                var file = try writer.finish()
                file.equalityIds = keyFields.map(\.id)
                pendingPaths.append(location)
                change.addedDeleteFiles = [file]
            }
            // Equality deletes never apply to files of their own commit: superseded rows need position deletes.
            var written: [String] = []
            change.addedDeleteFiles += try writePositionDeletes(
                supersededPositions, partitions: pendingPartitions, written: &written)
            pendingPaths += written
            try publish(change, stream: stream)
            return
        }

        var attempts = 0
        while true {
            attempts += 1
            try ensureKeyIndex()
            guard let index = keyIndex else { return }
            var deletesByFile = supersededPositions
            var referenced = Set<String>()
            for key in pendingKeys.keys {
                if let location = index.locations[key] {
                    let path = index.files[Int(location.file)]
                    deletesByFile[path, default: []].append(location.position)
                    referenced.insert(path)
                }
            }
            var attemptChange = change
            var deleteFiles: [String] = []
            var partitions = pendingPartitions
            for path in referenced { partitions[path] = index.partitions[path] ?? [] }
            attemptChange.addedDeleteFiles = try writePositionDeletes(
                deletesByFile, partitions: partitions, written: &deleteFiles)
            do {
                try publish(
                    attemptChange, stream: stream,
                    validate: { table in
                        guard !referenced.isEmpty else { return }
                        let live = Set(try table.liveFiles().data.map(\.file.filePath))
                        if !referenced.isSubset(of: live) { throw StaleKeyIndex() }
                    })
                break
            } catch is StaleKeyIndex where attempts < 5 {
                // Compaction rewrote files the index points into: rebuild it from the table and redo the deletes.
                for path in deleteFiles { unlink(LocalFiles.path(path)) }
                logger.info("Iceberg table \(table.identifier) was compacted meanwhile; rebuilding the key index")
                keyIndex = nil
            } catch {
                pendingPaths += deleteFiles
                throw error
            }
        }
        // The table now holds the new rows; record where.
        var index = keyIndex ?? KeyIndex()
        for (key, state) in pendingKeys {
            switch state {
            case .deleted:
                index.locations.removeValue(forKey: key)
            case .row(let file, let position):
                let id = index.fileId(file, partition: pendingPartitions[file] ?? [])
                index.locations[key] = RowLocation(file: id, position: position)
            }
        }
        keyIndex = index
    }

    private func writePositionDeletes(
        _ deletesByFile: [String: [Int64]], partitions: [String: [AvroValue]], written: inout [String]
    ) throws -> [DataFile] {
        guard !deletesByFile.isEmpty else { return [] }
        // Position deletes apply within a partition: one delete file per partition, sorted by path and position.
        var byPartition: [[AvroValue]: [String]] = [:]
        for path in deletesByFile.keys { byPartition[partitions[path] ?? [], default: []].append(path) }
        var files: [DataFile] = []
        for (partition, paths) in byPartition.sorted(by: { $0.value.min()! < $1.value.min()! }) {
            let location = table.newDataFileLocation(
                prefix: "deletes", partitionPath: PartitionValues.path(partition, spec: table.metadata.defaultSpec))
            let writer = try DataFileWriter(
                schema: PositionDeleteSchema.schema, localPath: LocalFiles.path(location), fileURI: location,
                partition: partition, specId: table.metadata.defaultSpecId, content: .positionDeletes,
                compression: configuration.compression)
            written.append(location)
            for path in paths.sorted() {
                for position in deletesByFile[path]!.sorted() { try writer.append([.string(path), .long(position)]) }
            }
            var file = try writer.finish()
            // Bounds on file_path let readers skip the file for other data files.
            file.lowerBounds[PositionDeleteSchema.filePathId] = Array(paths.min()!.utf8)
            file.upperBounds[PositionDeleteSchema.filePathId] = Array(paths.max()!.utf8)
            files.append(file)
        }
        return files
    }

    static func estimatedSize(_ row: [Cell]) -> Int64 {
        var size: Int64 = 0
        for cell in row {
            switch cell {
            case .null: size += 1
            case .bool: size += 1
            case .string(let s): size += Int64(s.utf8.count) + 4
            case .bytes(let b): size += Int64(b.count) + 4
            case .decimal: size += 16
            case .list(let items): size += estimatedSize(items)
            default: size += 8
            }
        }
        return size
    }
}
