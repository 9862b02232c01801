import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceRuntime
import Synchronization

/// The tables of a state store (one SQLite file in WAL mode).
///
/// `current_rows` holds the newest image of every row by stream and encoded primary key (`EventCoding.encodeKey`,
/// the log's record key); `key_history` indexes every change offset by key, so a row's history is an index range
/// scan plus reads by offset from the log; `streams.next_offset` is the offset after the last change applied,
/// committed in the same transaction as the rows (effectively once).
enum StateSchema {
    static let create = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS streams (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            next_offset INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS current_rows (
            stream_id INTEGER NOT NULL,
            row_key BLOB NOT NULL,
            schema_version INTEGER NOT NULL,
            change_offset INTEGER NOT NULL,
            commit_time INTEGER NOT NULL,
            row_image BLOB NOT NULL,
            PRIMARY KEY (stream_id, row_key)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS key_history (
            stream_id INTEGER NOT NULL,
            row_key BLOB NOT NULL,
            change_offset INTEGER NOT NULL,
            PRIMARY KEY (stream_id, row_key, change_offset)
        ) WITHOUT ROWID;
        PRAGMA user_version = 1;
        """

    /// A row image as stored: count, then per column its name and its value in the log's value encoding.
    static func encode(_ row: Row) -> [UInt8] {
        var writer = BinaryWriter(capacity: 64 + row.columns.count * 16)
        writer.writeVarUInt(UInt64(row.columns.count))
        for (name, value) in zip(row.columns, row.values) {
            writer.writeString(name)
            EventCoding.writeValue(value, to: &writer)
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> Row {
        var reader = BinaryReader(bytes)
        let count = Int(try reader.readVarUInt())
        guard count <= bytes.count else { throw DecodingFailure("row image claims \(count) columns") }
        var names: [String] = []
        var values: [Value] = []
        names.reserveCapacity(count)
        values.reserveCapacity(count)
        for _ in 0..<count {
            names.append(try reader.readString())
            values.append(try EventCoding.readValue(&reader))
        }
        return Row(columns: names, values: values)
    }
}

/// The built-in `state` sink: keeps the current row of every captured table and a key → offsets index per
/// stream, in one SQLite file, for the MCP tools `get_current_rows` and `get_row_history`.
///
/// Effectively once: each batch is one SQLite transaction that also stores the stream's next offset, and
/// `resumeOffsets` returns those offsets, so a replay after a crash skips what is already applied.
public actor StateSink: SinkConnector {
    /// The thread of this type's sinks: their file, SQLite and compression calls block it, never the cooperative pool.
    private static let thread = ThreadExecutor(name: "state-sink")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { Self.thread.asUnownedSerialExecutor() }

    public static let spec = ConnectorSpec(
        name: "state", role: .sink,
        summary: "Current rows of every table plus a per-key change index (SQLite), for the MCP query tools.",
        fields: [
            FieldSpec(
                "path", .string, required: true, description: "the state database file", example: "data/state.db"),
            FieldSpec(
                "sync", .oneOf(["full", "normal"]), default: .string("normal"),
                description:
                    "full: fsync every batch; normal: survives process crashes (offsets stay consistent either way)"),
        ])

    let database: StateDatabase
    let logger: Logger
    private var streamIDs: [String: Int64] = [:]
    private var nextOffsets: [String: Int64] = [:]
    private let insertStream: StateStatement
    private let selectStreams: StateStatement
    private let updateStream: StateStatement
    private let upsertRow: StateStatement
    private let deleteRow: StateStatement
    private let deleteAllRows: StateStatement
    private let selectRow: StateStatement
    private let insertHistory: StateStatement

    public init(context: SinkContext) throws {
        guard let path = context.config.string("path") else {
            throw SluiceError(
                .invalidConfiguration, "the state sink needs a path",
                location: "sinks.\(context.config.instanceName).path")
        }
        try self.init(path: path, sync: context.config.string("sync") ?? "normal", logger: context.logger)
    }

    /// Opens (creating) a state store directly (tests and benchmarks).
    public init(path: String, sync: String = "normal", logger: Logger = Logger(label: "sluice.state")) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        database = try StateDatabase(path: path, create: true)
        try database.execute(StateSchema.create)
        try database.execute(sync == "full" ? "PRAGMA synchronous = FULL;" : "PRAGMA synchronous = NORMAL;")
        try database.execute("PRAGMA cache_size = -65536;")
        self.logger = logger
        insertStream = try database.prepare("INSERT INTO streams (name) VALUES (?1) RETURNING id, next_offset")
        selectStreams = try database.prepare("SELECT id, name, next_offset FROM streams")
        updateStream = try database.prepare("UPDATE streams SET next_offset = ?2 WHERE id = ?1")
        upsertRow = try database.prepare(
            """
            INSERT INTO current_rows (stream_id, row_key, schema_version, change_offset, commit_time, row_image)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            ON CONFLICT (stream_id, row_key) DO UPDATE SET schema_version = excluded.schema_version,
                change_offset = excluded.change_offset, commit_time = excluded.commit_time, row_image = excluded.row_image
            """)
        deleteRow = try database.prepare("DELETE FROM current_rows WHERE stream_id = ?1 AND row_key = ?2")
        deleteAllRows = try database.prepare("DELETE FROM current_rows WHERE stream_id = ?1")
        selectRow = try database.prepare("SELECT row_image FROM current_rows WHERE stream_id = ?1 AND row_key = ?2")
        insertHistory = try database.prepare(
            "INSERT OR IGNORE INTO key_history (stream_id, row_key, change_offset) VALUES (?1, ?2, ?3)")
        while try selectStreams.step() {
            let name = selectStreams.text(at: 1)
            streamIDs[name] = selectStreams.int64(at: 0)
            nextOffsets[name] = selectStreams.int64(at: 2)
        }
        selectStreams.reset()
    }

    public func resumeOffsets(streams: [String]) async throws -> [String: Int64]? {
        var result: [String: Int64] = [:]
        for stream in streams { result[stream] = nextOffsets[stream] ?? 0 }
        return result
    }

    public func write(_ batch: SinkBatch) async throws -> [String: Int64] {
        try apply(batch)
        return nextOffsets
    }

    public func flush() async throws -> [String: Int64] { nextOffsets }

    public func close() async throws { database.close() }

    /// Applies a batch in one transaction (records already applied are skipped); returns the stream's next offset.
    @discardableResult
    public func apply(_ batch: SinkBatch) throws -> Int64 {
        let already = nextOffsets[batch.stream] ?? 0
        let records = batch.records.filter { $0.offset >= already }
        guard let last = records.last else { return already }
        try database.execute("BEGIN IMMEDIATE")
        do {
            let streamID = try id(of: batch.stream)
            for record in records {
                try apply(record, streamID: streamID, schemas: batch.schemas)
            }
            updateStream.bind(streamID, at: 1)
            updateStream.bind(last.offset + 1, at: 2)
            try updateStream.run()
            try database.execute("COMMIT")
        } catch {
            try? database.execute("ROLLBACK")
            throw SluiceError(
                .sink, "the state store could not apply \(records.count) changes of \(batch.stream)",
                hint: "check the disk and the state file \(database.path)", isTransient: true,
                underlying: error)
        }
        nextOffsets[batch.stream] = last.offset + 1
        return last.offset + 1
    }

    private func id(of stream: String) throws -> Int64 {
        if let id = streamIDs[stream] { return id }
        insertStream.bind(stream, at: 1)
        defer { insertStream.reset() }
        guard try insertStream.step() else {
            throw SluiceError(.internal, "the state store did not return an id for stream \(stream)")
        }
        let id = insertStream.int64(at: 0)
        streamIDs[stream] = id
        return id
    }

    private func apply(_ record: SinkRecord, streamID: Int64, schemas: [Int: TableSchema]) throws {
        let event = record.event
        if event.op == .truncate {
            deleteAllRows.bind(streamID, at: 1)
            try deleteAllRows.run()
            return
        }
        guard let schema = schemas[event.schemaVersion], let keyValues = event.key(primaryKey: schema.primaryKey) else {
            return  // a table without primary key has no current rows by key
        }
        let key = EventCoding.encodeKey(keyValues)
        insertHistory.bind(streamID, at: 1)
        insertHistory.bind(key, at: 2)
        insertHistory.bind(record.offset, at: 3)
        try insertHistory.run()
        // A key change (update of the key columns) removes the row under its old key.
        if let delete = event.keyChangeDelete(primaryKey: schema.primaryKey),
            let oldKeyValues = delete.key(primaryKey: schema.primaryKey)
        {
            deleteRow.bind(streamID, at: 1)
            deleteRow.bind(EventCoding.encodeKey(oldKeyValues), at: 2)
            try deleteRow.run()
        }
        switch event.op {
        case .delete:
            deleteRow.bind(streamID, at: 1)
            deleteRow.bind(key, at: 2)
            try deleteRow.run()
        case .insert, .update, .read:
            guard var after = event.after else { return }
            if after.values.contains(where: { if case .unchanged = $0 { true } else { false } }) {
                after = try fillUnchanged(after, streamID: streamID, key: key)
            }
            upsertRow.bind(streamID, at: 1)
            upsertRow.bind(key, at: 2)
            upsertRow.bind(Int64(event.schemaVersion), at: 3)
            upsertRow.bind(record.offset, at: 4)
            upsertRow.bind(event.commitTimeMicros, at: 5)
            upsertRow.bind(StateSchema.encode(after), at: 6)
            try upsertRow.run()
        default:
            return
        }
    }

    /// Fills values the source did not send (unchanged TOAST) from the stored row, when there is one.
    private func fillUnchanged(_ row: Row, streamID: Int64, key: [UInt8]) throws -> Row {
        selectRow.bind(streamID, at: 1)
        selectRow.bind(key, at: 2)
        defer { selectRow.reset() }
        guard try selectRow.step(), let stored = try? StateSchema.decode(selectRow.blob(at: 0)) else { return row }
        var filled = row
        for (index, value) in row.values.enumerated() {
            if case .unchanged = value, let known = stored[row.columns[index]] { filled.values[index] = known }
        }
        return filled
    }
}

/// One current row as the state store holds it.
public struct StoredRow: Sendable {
    public var key: [UInt8]
    public var schemaVersion: Int
    /// Offset of the change that produced this image.
    public var offset: Int64
    public var commitTimeMicros: Int64
    public var row: Row
}

/// Read access to a state store, shared by concurrent tool calls: each read runs on one of the store's read
/// threads (one connection each), never on the cooperative pool.
public final class StateStore: Sendable {
    public let path: String
    private let readers: BlockingConnectionPool<StateReader>

    /// Fails when the file does not exist yet (the state sink has not run).
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SluiceError(
                .invalidConfiguration, "the state store \(path) does not exist yet",
                hint: "run the pipeline with its state sink first")
        }
        self.path = path
        readers = BlockingConnectionPool(
            name: "sluice-state-read", threads: 2,
            closedError: SluiceError(.internal, "the state store \(path) was closed"),
            open: { try StateReader(path: path) }, close: { $0.close() })
    }

    deinit {
        readers.close()
    }

    /// The next offset the state store will apply, per stream.
    public func progress() async throws -> [String: Int64] {
        try await readers.run { try $0.progress() }
    }

    /// The current row with this encoded key.
    public func row(stream: String, key: [UInt8]) async throws -> StoredRow? {
        try await readers.run { try $0.row(stream: stream, key: key) }
    }

    /// Current rows in key order after `afterKey` (exclusive), at most `limit`.
    public func rows(stream: String, afterKey: [UInt8]?, limit: Int) async throws -> [StoredRow] {
        try await readers.run { try $0.rows(stream: stream, afterKey: afterKey, limit: limit) }
    }

    /// Offsets of changes to one key from `fromOffset` on, ascending, at most `limit`.
    public func history(stream: String, key: [UInt8], fromOffset: Int64, limit: Int) async throws -> [Int64] {
        try await readers.run { try $0.history(stream: stream, key: key, fromOffset: fromOffset, limit: limit) }
    }

    /// Number of current rows of a stream.
    public func rowCount(stream: String) async throws -> Int64 {
        try await readers.run { try $0.count(stream: stream) }
    }
}

/// One read connection of a state store and its statements, owned by one of the store's read threads.
final class StateReader {
    private let database: StateDatabase
    private let selectStreams: StateStatement
    private let selectRow: StateStatement
    private let selectRowsFirst: StateStatement
    private let selectRowsAfter: StateStatement
    private let selectHistory: StateStatement
    private let countRows: StateStatement

    func close() { database.close() }

    init(path: String) throws {
        database = try StateDatabase(path: path, create: false)
        try database.execute("PRAGMA query_only = ON;")
        let stream = "(SELECT id FROM streams WHERE name = ?1)"
        selectStreams = try database.prepare("SELECT name, next_offset FROM streams")
        selectRow = try database.prepare(
            """
            SELECT row_key, schema_version, change_offset, commit_time, row_image FROM current_rows
            WHERE stream_id = \(stream) AND row_key = ?2
            """)
        selectRowsFirst = try database.prepare(
            """
            SELECT row_key, schema_version, change_offset, commit_time, row_image FROM current_rows
            WHERE stream_id = \(stream) ORDER BY row_key LIMIT ?2
            """)
        selectRowsAfter = try database.prepare(
            """
            SELECT row_key, schema_version, change_offset, commit_time, row_image FROM current_rows
            WHERE stream_id = \(stream) AND row_key > ?3 ORDER BY row_key LIMIT ?2
            """)
        selectHistory = try database.prepare(
            """
            SELECT change_offset FROM key_history WHERE stream_id = \(stream) AND row_key = ?2 AND change_offset >= ?3
            ORDER BY change_offset LIMIT ?4
            """)
        countRows = try database.prepare("SELECT count(*) FROM current_rows WHERE stream_id = \(stream)")
    }

    func progress() throws -> [String: Int64] {
        defer { selectStreams.reset() }
        var result: [String: Int64] = [:]
        while try selectStreams.step() { result[selectStreams.text(at: 0)] = selectStreams.int64(at: 1) }
        return result
    }

    private func storedRow(_ statement: StateStatement) throws -> StoredRow {
        StoredRow(
            key: statement.blob(at: 0), schemaVersion: Int(statement.int64(at: 1)), offset: statement.int64(at: 2),
            commitTimeMicros: statement.int64(at: 3), row: try StateSchema.decode(statement.blob(at: 4)))
    }

    func row(stream: String, key: [UInt8]) throws -> StoredRow? {
        selectRow.bind(stream, at: 1)
        selectRow.bind(key, at: 2)
        defer { selectRow.reset() }
        return try selectRow.step() ? storedRow(selectRow) : nil
    }

    func rows(stream: String, afterKey: [UInt8]?, limit: Int) throws -> [StoredRow] {
        let statement = afterKey == nil ? selectRowsFirst : selectRowsAfter
        statement.bind(stream, at: 1)
        statement.bind(Int64(limit), at: 2)
        if let afterKey { statement.bind(afterKey, at: 3) }
        defer { statement.reset() }
        var rows: [StoredRow] = []
        while try statement.step() { rows.append(try storedRow(statement)) }
        return rows
    }

    func history(stream: String, key: [UInt8], fromOffset: Int64, limit: Int) throws -> [Int64] {
        selectHistory.bind(stream, at: 1)
        selectHistory.bind(key, at: 2)
        selectHistory.bind(fromOffset, at: 3)
        selectHistory.bind(Int64(limit), at: 4)
        defer { selectHistory.reset() }
        var offsets: [Int64] = []
        while try selectHistory.step() { offsets.append(selectHistory.int64(at: 0)) }
        return offsets
    }

    func count(stream: String) throws -> Int64 {
        countRows.bind(stream, at: 1)
        defer { countRows.reset() }
        return try countRows.step() ? countRows.int64(at: 0) : 0
    }
}
