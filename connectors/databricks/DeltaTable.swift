import Foundation
import SluiceCore
import SluiceObjectStore
import SluiceParquet
import SluiceStaging

/// One Delta table Sluice writes: its log replayed into memory, and atomic commits.
///
/// A commit is `_delta_log/<version, 20 digits>.json`, written under a temporary name, then published under its
/// final name only if that version does not exist (put-if-absent: a hard link in a local directory), so two writers
/// cannot both commit a version and a crash leaves either the whole commit or none. Sluice writes no checkpoints
/// and must be the table's only writer; readers (Spark, Databricks, delta-rs) may read it at any time.
struct DeltaTable {
    /// An active data file (an add action not removed).
    struct DataFile: Sendable {
        var path: String
        var size: Int64
        var rows: Int
    }

    let location: String
    var logDirectory: String { location + "/_delta_log" }
    /// The latest committed version (-1: no table yet).
    private(set) var version: Int64 = -1
    private(set) var schema: DeltaTableSchema?
    private(set) var tableID: String?
    private(set) var createdTime: Int64?
    /// `txn` versions by application id.
    private(set) var transactions: [String: Int64] = [:]
    /// Active files by path.
    private(set) var files: [String: DataFile] = [:]
    /// Every file any committed version added (removed ones stay readable by time travel).
    private(set) var everAdded: Set<String> = []
    /// Where the table's files are published.
    let store: any ObjectStore

    /// Replays the table's log (an absent table is empty) and removes temporary files a crash left.
    init(location: String, store: any ObjectStore) throws {
        self.location = location
        self.store = store
        try store.makeFolder(logDirectory)
        var commits: [(Int64, String)] = []
        for name in store.list(logDirectory) {
            if name.hasPrefix(".") && name.hasSuffix(".tmp") {
                store.remove(logDirectory + "/" + name)
                continue
            }
            if name.hasSuffix(".checkpoint.parquet") || name == "_last_checkpoint" {
                throw SluiceError(
                    .sink, "the Delta table at \(location) has a checkpoint, written by another engine",
                    location: location,
                    hint: "Sluice must be the table's only writer; point the sink at a new path")
            }
            guard name.hasSuffix(".json"), name.count == 25, let number = Int64(name.prefix(20)) else { continue }
            commits.append((number, name))
        }
        commits.sort { $0.0 < $1.0 }
        for (expected, commit) in commits.enumerated() {
            guard commit.0 == Int64(expected) else {
                throw SluiceError(
                    .sink, "the Delta log at \(logDirectory) lacks version \(expected)", location: location,
                    hint: "the log is damaged; restore it or write the table to a new path")
            }
            try replay(logDirectory + "/" + commit.1)
            version = commit.0
        }
    }

    private mutating func replay(_ path: String) throws {
        guard let bytes = try store.read(path) else { return }
        for line in bytes.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            guard let action = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw SluiceError(
                    .sink, "\(path) holds a line that is not a JSON object", location: location,
                    hint: "the Delta log is damaged; restore it or write the table to a new path")
            }
            if let add = action["add"] as? [String: Any], let filePath = add["path"] as? String {
                var rows = 0
                if let stats = add["stats"] as? String,
                    let object = try? JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [String: Any]
                {
                    rows = (object["numRecords"] as? Int) ?? 0
                }
                files[filePath] = DataFile(
                    path: filePath, size: (add["size"] as? NSNumber)?.int64Value ?? 0, rows: rows)
                everAdded.insert(filePath)
            } else if let remove = action["remove"] as? [String: Any], let filePath = remove["path"] as? String {
                files[filePath] = nil
            } else if let txn = action["txn"] as? [String: Any], let appID = txn["appId"] as? String,
                let txnVersion = (txn["version"] as? NSNumber)?.int64Value
            {
                transactions[appID] = txnVersion
            } else if let metaData = action["metaData"] as? [String: Any],
                let schemaString = metaData["schemaString"] as? String
            {
                tableID = metaData["id"] as? String
                createdTime = (metaData["createdTime"] as? NSNumber)?.int64Value
                schema = try Self.parseSchema(schemaString, location: location)
            }
        }
    }

    private static func parseSchema(_ text: String, location: String) throws -> DeltaTableSchema {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let fields = object["fields"] as? [[String: Any]]
        else {
            throw SluiceError(.sink, "the schemaString of the Delta table at \(location) is not a struct type")
        }
        func type(_ json: Any) -> DeltaColumn.DeltaType? {
            if let name = json as? String {
                switch name {
                case "boolean": return .boolean
                case "long": return .long
                case "double": return .double
                case "string": return .string
                case "binary": return .binary
                case "date": return .date
                case "timestamp": return .timestamp
                default:
                    guard name.hasPrefix("decimal("), name.hasSuffix(")") else { return nil }
                    let parts = name.dropFirst(8).dropLast().split(separator: ",").compactMap { Int($0) }
                    return parts.count == 2 ? .decimal(parts[0], parts[1]) : nil
                }
            }
            if let object = json as? [String: Any], object["type"] as? String == "array",
                let element = object["elementType"].flatMap(type)
            {
                return .array(element)
            }
            return nil
        }
        var columns: [DeltaColumn] = []
        for field in fields {
            guard let name = field["name"] as? String, let fieldType = field["type"].flatMap(type) else {
                throw SluiceError(
                    .sink, "the Delta table at \(location) has a column type Sluice does not write",
                    hint: "Sluice must be the table's only writer; point the sink at a new path")
            }
            columns.append(DeltaColumn(name: name, type: fieldType))
        }
        return DeltaTableSchema(columns: columns)
    }

    /// The next offset the table holds for an application (its `txn` version), or nil.
    func transactionVersion(_ appID: String) -> Int64? { transactions[appID] }

    // MARK: Writing

    /// Writes Delta rows as a data file `name` in the table folder (temporary name, fsync, publish) and returns its
    /// add action.
    func writeDataFile(
        name: String, schema: DeltaTableSchema, rows: [[Value]], compression: ParquetCompression
    ) throws -> [String: Any] {
        let path = location + "/" + name
        let temporary = store.temporaryPath(for: path)
        var statistics = DeltaFileStatistics(columns: schema.columns)
        let parquetSchema: ParquetSchema
        do {
            parquetSchema = try ParquetSchema(columns: schema.columns.map(\.parquetColumn))
        } catch {
            throw SluiceError(
                .sink, "the Parquet schema of the Delta table at \(location) is invalid", underlying: error)
        }
        var options = ParquetWriterOptions()
        options.compression = compression
        options.syncOnClose = store.syncsTemporaryFiles
        let size: Int64
        do {
            let writer = try ParquetWriter(path: temporary, schema: parquetSchema, options: options)
            var buffers = parquetSchema.makeColumnBuffers(reservingCapacity: min(rows.count, 65_536))
            var index = 0
            while index < rows.count {
                let end = min(index + 65_536, rows.count)
                for row in rows[index..<end] {
                    let values = zip(schema.columns, row).map { $0.deltaValue($1) }
                    statistics.add(values)
                    try buffers.appendRow(values)
                }
                try writer.append(columns: buffers)
                for column in buffers.indices { buffers[column].removeAll() }
                index = end
            }
            if rows.isEmpty { try writer.append(columns: buffers) }
            size = try writer.close().fileSize
        } catch {
            store.remove(temporary)
            throw SluiceError(
                .sink, "writing \(name) of the Delta table at \(location) failed",
                hint: "see the cause; nothing was committed, the sink retries", underlying: error)
        }
        try store.publish(temporary, as: path)
        return [
            "add": [
                "path": name, "partitionValues": [String: Any](), "size": size,
                "modificationTime": Self.nowMillis(), "dataChange": true, "stats": statistics.json,
            ] as [String: Any]
        ]
    }

    /// A remove action for an active file.
    func removeAction(_ path: String) -> [String: Any] {
        let file = files[path]
        return [
            "remove": [
                "path": path, "deletionTimestamp": Self.nowMillis(), "dataChange": true,
                "extendedFileMetadata": true, "partitionValues": [String: Any](), "size": file?.size ?? 0,
            ] as [String: Any]
        ]
    }

    /// Commits actions as the next version with a `txn` for `appID`; the first commit (or a wider schema) adds
    /// protocol and metaData. Returns false, committing nothing, when the version already exists (another writer).
    mutating func commit(
        actions: [[String: Any]], schema newSchema: DeltaTableSchema, appID: String, txnVersion: Int64,
        operation: String, name: String
    ) throws -> Bool {
        var lines: [[String: Any]] = []
        let now = Self.nowMillis()
        lines.append([
            "commitInfo": [
                "timestamp": now, "operation": operation, "engineInfo": "sluice",
                "operationParameters": ["mode": "Append"], "isBlindAppend": operation == "WRITE",
            ] as [String: Any]
        ])
        var schemaToWrite: DeltaTableSchema?
        if let schema {
            let merged = try schema.merged(with: newSchema, table: name)
            if merged != schema { schemaToWrite = merged }
        } else {
            schemaToWrite = newSchema
            lines.append(["protocol": ["minReaderVersion": 1, "minWriterVersion": 2]])
        }
        let id = tableID ?? UUID().uuidString.lowercased()
        let created = createdTime ?? now
        if let schemaToWrite {
            lines.append([
                "metaData": [
                    "id": id, "name": name, "format": ["provider": "parquet", "options": [String: Any]()],
                    "schemaString": schemaToWrite.schemaString, "partitionColumns": [String](),
                    "configuration": [String: Any](), "createdTime": created,
                ] as [String: Any]
            ])
        }
        lines.append(["txn": ["appId": appID, "version": txnVersion, "lastUpdated": now] as [String: Any]])
        lines += actions
        var bytes: [UInt8] = []
        for line in lines {
            bytes += [UInt8](
                try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys, .withoutEscapingSlashes]))
            bytes.append(UInt8(ascii: "\n"))
        }
        let next = version + 1
        let digits = String(next)
        let finalPath = logDirectory + "/" + String(repeating: "0", count: 20 - digits.count) + digits + ".json"
        let temporary = logDirectory + "/." + UUID().uuidString.lowercased() + ".json.tmp"
        try store.writeTemporary(bytes, at: temporary)
        try CrashPoints.check("delta.commit-written")
        guard try store.publishIfAbsent(temporary, as: finalPath) else { return false }
        // The commit is durable: bring the in-memory state up to it.
        version = next
        tableID = id
        createdTime = created
        if let schemaToWrite { schema = schemaToWrite }
        transactions[appID] = txnVersion
        for action in actions {
            if let add = action["add"] as? [String: Any], let path = add["path"] as? String {
                var rows = 0
                if let stats = add["stats"] as? String,
                    let object = try? JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [String: Any]
                {
                    rows = (object["numRecords"] as? Int) ?? 0
                }
                files[path] = DataFile(path: path, size: (add["size"] as? NSNumber)?.int64Value ?? 0, rows: rows)
                everAdded.insert(path)
            } else if let remove = action["remove"] as? [String: Any], let path = remove["path"] as? String {
                files[path] = nil
            }
        }
        return true
    }

    /// Data files in the table folder that no committed version references (left by a crash before the commit).
    func unreferencedDataFiles() -> [String] {
        store.list(location).filter { name in
            (name.hasSuffix(".parquet") && !everAdded.contains(name) && !name.hasPrefix("."))
                || (name.hasPrefix(".") && name.hasSuffix(".parquet.tmp"))
        }
    }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
