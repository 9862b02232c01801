// SluiceDatabricks: the `delta` sink: a Delta Lake changes table and a merged current table per source table,
// with Databricks SQL to load and merge them.

import Foundation
import SluiceCore
import SluiceParquet
import SluiceStaging

/// One row of the `current` table: the source columns and the change it reflects.
struct CurrentRow: Sendable {
    var values: [Value]
    var positionKey: [UInt8]
    var offset: Int64
    var commitTimeMicros: Int64

    /// True when this row reflects a change at or after (`positionKey`, `offset`).
    func isNotOlder(thanPosition position: [UInt8], offset other: Int64) -> Bool {
        if positionKey == position { return offset >= other }
        return position.lexicographicallyPrecedes(positionKey)
    }
}

/// The `current` Delta table of one stream, kept equal to the source by copy-on-write merges: a batch of changes
/// rewrites the files holding the changed keys (remove + add in one commit).
///
/// Sluice keeps each data file's rows also in a sidecar (`_sluice_rows/<file>.rows`, the log's binary value
/// encoding), so it can rewrite files without a Parquet reader; Delta readers ignore folders starting with `_`.
/// Only the key → file index is held in memory.
struct CurrentTable {
    var table: DeltaTable
    let keyColumns: [String]
    let targetFileRows: Int
    private(set) var keyIndex: [[UInt8]: String] = [:]
    var sidecarDirectory: String { table.location + "/_sluice_rows" }

    init(table: DeltaTable, keyColumns: [String], targetFileRows: Int) throws {
        self.table = table
        self.keyColumns = keyColumns
        self.targetFileRows = max(1, targetFileRows)
        try table.store.makeFolder(sidecarDirectory)
        for name in table.store.list(sidecarDirectory) where !name.hasPrefix("_") {
            let dataFile = String(name.dropLast(".rows".count))
            if !name.hasSuffix(".rows") || table.files[dataFile] == nil {
                table.store.remove(sidecarDirectory + "/" + name)  // left by a crash before or after a commit
            }
        }
        for file in table.files.keys.sorted() {
            let (columns, rows) = try readSidecar(file)
            let keyIndices = try keyColumns.map { name in
                guard let index = columns.firstIndex(of: name) else {
                    throw SluiceError(
                        .sink, "the current table at \(table.location) has no key column \(name)",
                        hint: "the table's primary key changed; write the table to a new path")
                }
                return index
            }
            for row in rows {
                keyIndex[EventCoding.encodeKey(keyIndices.map { row.values[$0] })] = file
            }
        }
    }

    // MARK: Sidecars

    private static let magic: [UInt8] = Array("SLR1".utf8)

    func writeSidecar(_ file: String, columns: [String], rows: [CurrentRow]) throws {
        var writer = BinaryWriter(capacity: 64 + rows.count * 64)
        for byte in Self.magic { writer.writeByte(byte) }
        writer.writeVarUInt(UInt64(columns.count))
        for column in columns { writer.writeString(column) }
        writer.writeVarUInt(UInt64(rows.count))
        for row in rows {
            writer.writeBytes(row.positionKey)
            writer.writeVarInt(row.offset)
            writer.writeVarInt(row.commitTimeMicros)
            writer.writeBytes(EventCoding.encodeKey(row.values))
        }
        try table.store.replace(sidecarDirectory + "/" + file + ".rows", with: writer.bytes)
    }

    func readSidecar(_ file: String) throws -> (columns: [String], rows: [CurrentRow]) {
        let path = sidecarDirectory + "/" + file + ".rows"
        guard let bytes = try table.store.read(path) else {
            throw SluiceError(
                .sink, "the row file \(path) of the current table is missing", location: table.location,
                hint: "Sluice needs it to rewrite \(file); write the current table to a new path to rebuild it")
        }
        do {
            var reader = BinaryReader(bytes)
            for byte in Self.magic where try reader.readByte() != byte {
                throw DecodingFailure("not a Sluice row file")
            }
            let columnCount = Int(try reader.readVarUInt())
            var columns: [String] = []
            for _ in 0..<columnCount { columns.append(try reader.readString()) }
            let rowCount = Int(try reader.readVarUInt())
            var rows: [CurrentRow] = []
            rows.reserveCapacity(rowCount)
            for _ in 0..<rowCount {
                let position = try reader.readBytes()
                let offset = try reader.readVarInt()
                let commitTime = try reader.readVarInt()
                let values = try EventCoding.decodeKey(try reader.readBytes())
                rows.append(
                    CurrentRow(values: values, positionKey: position, offset: offset, commitTimeMicros: commitTime))
            }
            return (columns, rows)
        } catch let error as SluiceError {
            throw error
        } catch {
            throw SluiceError(
                .sink, "the row file \(path) of the current table is damaged", location: table.location,
                hint: "write the current table to a new path to rebuild it", underlying: error)
        }
    }

    /// A file's rows with their values arranged in `schema`'s columns (absent columns null).
    private func rows(of file: String, in schema: TableSchema) throws -> [CurrentRow] {
        let (columns, rows) = try readSidecar(file)
        if columns == schema.columns.map(\.name) { return rows }
        let mapping = schema.columns.map { columns.firstIndex(of: $0.name) }
        return rows.map { row in
            var arranged = row
            arranged.values = mapping.map { $0.map { row.values[$0] } ?? .null }
            return arranged
        }
    }

    // MARK: Merging

    /// Applies changes (in log order) and commits the rewritten files with `txn` = the offset after the last change.
    mutating func merge(
        _ changes: [ChangeRow], schema: TableSchema, appID: String, compression: ParquetCompression, name: String
    ) throws {
        guard let last = changes.last else { return }
        let keyIndices = keyColumns.compactMap { schema.columnIndex($0) }
        var changed: [[UInt8]: CurrentRow?] = [:]
        var changedOrder: [[UInt8]] = []
        var loaded: [String: [CurrentRow]] = [:]
        var loadedByKey: [String: [[UInt8]: CurrentRow]] = [:]
        var truncated = false

        func key(_ values: [Value]) -> [UInt8] { EventCoding.encodeKey(keyIndices.map { values[$0] }) }
        func existing(_ rowKey: [UInt8]) throws -> CurrentRow? {
            if let entry = changed[rowKey] { return entry }
            guard !truncated, let file = keyIndex[rowKey] else { return nil }
            if loadedByKey[file] == nil {
                let fileRows = try rows(of: file, in: schema)
                loaded[file] = fileRows
                loadedByKey[file] = Dictionary(fileRows.map { (key($0.values), $0) }, uniquingKeysWith: { $1 })
            }
            return loadedByKey[file]![rowKey]
        }

        for change in changes {
            if change.op == .truncate {
                truncated = true
                changed.removeAll()
                changedOrder.removeAll()
                continue
            }
            guard keyIndices.allSatisfy({ !change.values[$0].isNull }) else { continue }
            let rowKey = key(change.values)
            let old = try existing(rowKey)
            if let old, old.isNotOlder(thanPosition: change.position.sortKey, offset: change.offset) { continue }
            if changed[rowKey] == nil { changedOrder.append(rowKey) }
            if change.op == .delete {
                changed[rowKey] = .some(nil)
                continue
            }
            var values = change.values
            for column in change.unchanged {
                if let index = schema.columnIndex(column) { values[index] = old?.values[index] ?? .null }
            }
            changed[rowKey] = CurrentRow(
                values: values, positionKey: change.position.sortKey, offset: change.offset,
                commitTimeMicros: change.commitTimeMicros)
        }

        // Files to rewrite: every file when truncated, else those holding changed keys, plus the smallest file
        // (when below the target size) to take new keys.
        var affected = Set<String>()
        if truncated {
            affected = Set(table.files.keys)
        } else {
            for rowKey in changedOrder { if let file = keyIndex[rowKey] { affected.insert(file) } }
            let hasNewKeys = changedOrder.contains { keyIndex[$0] == nil && changed[$0]! != nil }
            if hasNewKeys,
                let smallest = table.files.values.filter({ $0.rows < targetFileRows })
                    .min(by: { ($0.rows, $0.path) < ($1.rows, $1.path) })
            {
                affected.insert(smallest.path)
            }
        }
        var output: [CurrentRow] = []
        if !truncated {
            for file in affected.sorted() {
                let fileRows = try loaded[file] ?? rows(of: file, in: schema)
                output += fileRows.filter { changed[key($0.values)] == nil }
            }
        }
        for rowKey in changedOrder { if let row = changed[rowKey] ?? nil { output.append(row) } }

        let deltaSchema = DeltaTableSchema.current(schema)
        let version = table.version + 1
        var actions: [[String: Any]] = affected.sorted().map { table.removeAction($0) }
        var written: [(String, [CurrentRow])] = []
        var start = 0
        while start < output.count {
            let slice = Array(output[start..<min(start + targetFileRows, output.count)])
            let file = offsetRangeFileName(prefix: "part-v", first: version, last: Int64(written.count))
            try writeSidecar(file, columns: schema.columns.map(\.name), rows: slice)
            let deltaRows = slice.map { row in
                row.values + [
                    .string(HexBytes.encode(row.positionKey)), .int(row.offset),
                    .timestamp(Timestamp(micros: row.commitTimeMicros, isUTC: true)),
                ]
            }
            actions.append(
                try table.writeDataFile(name: file, schema: deltaSchema, rows: deltaRows, compression: compression))
            written.append((file, slice))
            start += targetFileRows
        }
        try CrashPoints.check("delta.current-files-written")
        guard
            try table.commit(
                actions: actions, schema: deltaSchema, appID: appID, txnVersion: last.offset + 1, operation: "MERGE",
                name: name)
        else {
            throw SluiceError(
                .sink, "another writer committed version \(version) of the Delta table at \(table.location)",
                hint: "Sluice must be the table's only writer; stop the other writer and restart")
        }
        // Committed: update the key index and drop the sidecars of removed files.
        if truncated { keyIndex.removeAll() }
        for rowKey in changedOrder where changed[rowKey]! == nil { keyIndex[rowKey] = nil }
        for (file, rows) in written {
            for row in rows { keyIndex[key(row.values)] = file }
        }
        for file in affected { table.store.remove(sidecarDirectory + "/" + file + ".rows") }
    }

}
