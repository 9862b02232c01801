import Foundation
import Logging
import SluiceCore
import SluicePostgresClient
import Synchronization
import SluiceConnectorKit

/// Snapshot progress, stored with every snapshot batch (state key `snapshot`).
///
/// Each table keeps *segments*: key ranges and the LSN of the exported snapshot they were read under.
/// Rows of a segment reflect every transaction committed before its LSN, so streamed changes to keys in
/// that segment with a lower commit LSN are already in the snapshot and are dropped (`SnapshotFilter`).
struct SnapshotState: Codable, Sendable {
    static let key = "snapshot"

    struct Segment: Codable, Sendable, Hashable {
        /// Keys strictly above this (integer primary keys), or the whole table when nil.
        var afterKey: [Int64]?
        var lsn: UInt64
    }

    struct TableProgress: Codable, Sendable {
        var schema: String
        var name: String
        var done = false
        /// Primary-key values (text) of the last row emitted.
        var lastKey: [String?]?
        var rowsDone: Int64 = 0
        var segments: [Segment]
        /// Snapshot rows of this table from an interrupted read may be in the log.
        var partial: Bool? = nil
        /// The table is read again from its start: a `t` event (snapshot) first clears its earlier rows.
        var resetPending: Bool? = nil
    }

    /// The slot's consistent point: the LSN streaming starts from.
    var consistentLSN: UInt64
    var done = false
    var tables: [TableProgress]

    /// A snapshot of `tables` from the slot's consistent point; `replacing` a lost slot, each table's rows are cleared
    /// downstream first (rows deleted while the slot was gone must not survive).
    static func fresh(tables: [TableID], consistentLSN: LSN, replacing: Bool = false) -> SnapshotState {
        SnapshotState(consistentLSN: consistentLSN.value, tables: tables.map {
            TableProgress(schema: $0.schema, name: $0.name, segments: [Segment(afterKey: nil, lsn: consistentLSN.value)],
                          resetPending: replacing ? true : nil)
        })
    }

    /// Prepares to continue under a new exported snapshot taken at `lsn`.
    ///
    /// A table stopped mid-way with an integer key continues after its last key in a new segment; any other
    /// unfinished table is read again from its start (its earlier snapshot rows may then appear twice).
    mutating func restart(at lsn: LSN, tables current: [TableID]) {
        done = false
        for index in tables.indices where !tables[index].done {
            if let lastKey = tables[index].lastKey, let ints = Self.integers(lastKey) {
                tables[index].segments.append(Segment(afterKey: ints, lsn: lsn.value))
            } else {
                // Rows of the interrupted read stay in the log; changes to them committed before the new snapshot
                // are dropped, so a row deleted meanwhile would survive a replay: clear them with a `t` event first.
                if tables[index].partial == true || tables[index].rowsDone > 0 || tables[index].lastKey != nil {
                    tables[index].resetPending = true
                }
                tables[index].lastKey = nil
                tables[index].rowsDone = 0
                tables[index].segments = [Segment(afterKey: nil, lsn: lsn.value)]
            }
        }
        for table in current where !tables.contains(where: { $0.schema == table.schema && $0.name == table.name }) {
            tables.append(TableProgress(schema: table.schema, name: table.name,
                                        segments: [Segment(afterKey: nil, lsn: lsn.value)]))
        }
    }

    static func integers(_ texts: [String?]) -> [Int64]? {
        var out: [Int64] = []
        for text in texts {
            guard let text, let value = Int64(text) else { return nil }
            out.append(value)
        }
        return out
    }
}

/// Drops streamed changes that a snapshot segment already reflects (see `SnapshotState`).
struct SnapshotFilter: Sendable {
    private var segments: [String: [SnapshotState.Segment]] = [:]
    /// Changes committed at or after this LSN are never dropped.
    let maxLSN: UInt64

    init?(_ state: SnapshotState) {
        var maxLSN = state.consistentLSN
        for table in state.tables where table.segments.contains(where: { $0.lsn > state.consistentLSN }) {
            segments["\(table.schema).\(table.name)"] = table.segments
            maxLSN = max(maxLSN, table.segments.map(\.lsn).max() ?? 0)
        }
        if segments.isEmpty { return nil }
        self.maxLSN = maxLSN
    }

    /// The integer key of a row image, when the table has one.
    func key(of row: Row, primaryKey: [String]) -> [Int64]? {
        guard !primaryKey.isEmpty else { return nil }
        var out: [Int64] = []
        for column in primaryKey {
            guard case .int(let value)? = row[column] else { return nil }
            out.append(value)
        }
        return out
    }

    func shouldDrop(table: TableID, commitLSN: UInt64, key: [Int64]?) -> Bool {
        guard let list = segments[table.qualifiedName] else { return false }
        var covering: SnapshotState.Segment?
        for segment in list {
            if let after = segment.afterKey {
                guard let key, key.lexicographicallyPrecedes(after) == false, key != after else { continue }
            }
            covering = segment
        }
        guard let covering else { return false }
        return commitLSN < covering.lsn
    }
}

/// The exported snapshot a snapshot reads under.
// @unchecked: `exporter` is set once and cleared by the snapshot's task only, never while another thread reads it.
final class SnapshotPlan: @unchecked Sendable {
    let snapshotName: String
    let snapshotLSN: LSN
    /// The connection that exported the snapshot (a temporary slot); closed once the snapshot is imported.
    var exporter: PostgresConnection?

    init(snapshotName: String, snapshotLSN: LSN, exporter: PostgresConnection?) {
        self.snapshotName = snapshotName
        self.snapshotLSN = snapshotLSN
        self.exporter = exporter
    }
}

/// Reads the captured tables under the slot's exported snapshot, in primary-key chunks.
final class SnapshotReader {
    private let session: PostgresSourceSession
    private let plan: SnapshotPlan
    private var logger: Logger

    init(session: PostgresSourceSession, plan: SnapshotPlan) {
        self.session = session
        self.plan = plan
        self.logger = session.logger
    }

    func run(_ state: inout SnapshotState) async throws {
        let connection = try PostgresConnection(session.settings.endpoint, replication: false)
        try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", context: "starting the snapshot")
        do {
            try connection.execute("SET TRANSACTION SNAPSHOT \(connection.quoteLiteral(plan.snapshotName))",
                                   context: "importing the exported snapshot")
        } catch let error as PostgresQueryError {
            throw SluiceError(.sourceSetup, "could not import the slot's exported snapshot", hint: "Retrying takes a new one",
                              isTransient: true, underlying: error)
        }
        plan.exporter = nil  // imported: the temporary slot may go
        let started = ContinuousClock.now
        for index in state.tables.indices where !state.tables[index].done {
            try await readTable(index, &state, connection: connection)
        }
        state.done = true
        try connection.execute("COMMIT")
        try await session.emit(SourceBatch(state: [SnapshotState.key: PostgresSourceSession.encodeJSON(state)]),
                               acknowledge: nil)
        let rows = state.tables.reduce(0) { $0 + $1.rowsDone }
        logger.info("snapshot finished", metadata: [
            "sluice.rows": .stringConvertible(rows),
            "sluice.seconds": .stringConvertible((ContinuousClock.now - started).components.seconds)])
    }

    private func readTable(_ index: Int, _ state: inout SnapshotState, connection: PostgresConnection) async throws {
        let progress = state.tables[index]
        let table = TableID(database: session.database, schema: progress.schema, name: progress.name)
        let qualified = connection.quoteIdentifier(table.schema) + "." + connection.quoteIdentifier(table.name)
        let located = try connection.execute(
            """
            SELECT c.oid, GREATEST(c.reltuples::bigint, 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = $2
            """, parameters: [table.schema, table.name], context: "locating \(table)")
        guard located.rowCount > 0, let oid = UInt32(located.string(0, 0) ?? "") else {
            state.tables[index].done = true  // dropped since: nothing to read
            return
        }
        let estimate = max(Int64(located.string(0, 1) ?? "0") ?? 0, 1)
        let info = try session.catalog.tableInfo(oid: oid)
        let columns = try session.catalog.relationColumns(oid: oid, table: table, info: info)
        let (schema, types, isNew) = try await session.schemas.schema(
            for: .init(table: table, relationOID: oid, columns: columns), position: nil)
        var pendingSchemas = isNew ? [schema] : []
        let names = schema.columns.map(\.name)
        let layout = EncodedRowLayout(schema: schema, connector: "postgres")
        let selectList = names.map(connection.quoteIdentifier).joined(separator: ", ")
        let keyIndexes = info.primaryKey.compactMap { names.firstIndex(of: $0) }
        let keyList = info.primaryKey.map(connection.quoteIdentifier).joined(separator: ", ")
        let chunkSize = session.settings.snapshotChunkSize
        let basePosition = plan.snapshotLSN.value &- 1
        let positionText = plan.snapshotLSN.description
        let snapshotTime = Int64(Date().timeIntervalSince1970 * 1_000_000)
        var lastReport = ContinuousClock.now
        let tableStarted = ContinuousClock.now
        let rowsAtStart = state.tables[index].rowsDone
        let usesCursor = keyIndexes.isEmpty || keyIndexes.count != info.primaryKey.count
        if usesCursor {
            try connection.execute("DECLARE sluice_snapshot NO SCROLL CURSOR FOR SELECT \(selectList) FROM \(qualified)",
                                   context: "reading \(table)")
        }
        // Chunks are queried and decoded on their own thread while earlier ones are emitted.
        let initialKey = state.tables[index].lastKey
        let rowsBefore = UInt64(rowsAtStart)
        let tableBits = UInt64(index) << 44
        let tableName = table.description, location = "snapshot of \(table)"
        let fetcher = ChunkFetcher(chunkSize: chunkSize, connection: connection, context: "reading \(table)") { lastKey in
            if usesCursor {
                return ("FETCH \(chunkSize) FROM sluice_snapshot", [])
            } else if let lastKey = lastKey ?? initialKey {
                let placeholders = (1...lastKey.count).map { "$\($0)" }.joined(separator: ", ")
                return ("SELECT \(selectList) FROM \(qualified) WHERE (\(keyList)) > (\(placeholders)) ORDER BY \(keyList) "
                        + "LIMIT \(chunkSize)", lastKey)
            } else {
                return ("SELECT \(selectList) FROM \(qualified) ORDER BY \(keyList) LIMIT \(chunkSize)", [])
            }
        } lastKey: { result in
            usesCursor || result.rowCount == 0 ? nil : keyIndexes.map { result.string(result.rowCount - 1, $0) }
        } decode: { result, firstRow in
            var events = EncodedChanges()
            for r in 0..<result.rowCount {
                let rowNumber = rowsBefore + firstRow + UInt64(r)
                // Position: (snapshot LSN - 1, table and row number).
                events.beginRow(.read, layout: layout, hasBefore: false, hasAfter: true,
                                sortKey: PackedSortKey(basePosition, tableBits | rowNumber), positionText: positionText,
                                commitTimeMicros: snapshotTime, isSnapshot: true)
                events.beginImage()
                try result.encodeRow(r, types: types, names: names, into: &events, table: tableName, location: location)
                events.endRow()
            }
            return events
        }
        fetcher.start()
        defer { fetcher.stop() }
        while true {
            try Task.checkCancellation()
            guard let chunk = try await fetcher.next() else { break }
            let rowCount = chunk.events.count
            var truncate: [ChangeEvent] = []  // goes before the chunk's rows
            if state.tables[index].resetPending == true {
                truncate.append(ChangeEvent(
                    op: .truncate, connector: "postgres", table: table, schemaVersion: schema.version, before: nil, after: nil,
                    position: SourcePosition(sortKey: PackedSortKey(basePosition &- 1, tableBits).bytes, text: positionText),
                    commitTimeMicros: snapshotTime, isSnapshot: true))
                state.tables[index].resetPending = nil
            }
            let finished = chunk.isLast
            state.tables[index].rowsDone += Int64(rowCount)
            if let lastKey = chunk.lastKey { state.tables[index].lastKey = lastKey }
            if finished { state.tables[index].done = true }
            state.tables[index].partial = finished ? nil : true
            // Without a key, progress inside the table cannot be resumed: store only completion.
            var stored = state
            if usesCursor && !finished { stored.tables[index].rowsDone = rowsAtStart }
            try await session.emit(SourceBatch(schemas: pendingSchemas, events: truncate, encoded: chunk.events,
                                               state: [SnapshotState.key: PostgresSourceSession.encodeJSON(stored)]),
                                   acknowledge: nil)
            pendingSchemas = []
            let now = ContinuousClock.now
            if finished || now - lastReport > .seconds(2) {
                lastReport = now
                session.context.reportProgress(SnapshotProgress(
                    table: table, rowsDone: state.tables[index].rowsDone, rowsEstimated: estimate,
                    rowsThisRun: state.tables[index].rowsDone - rowsAtStart, elapsed: now - tableStarted))
            }
            if finished { break }
        }
        fetcher.stop()
        if usesCursor { try connection.execute("CLOSE sluice_snapshot") }
    }
}


extension QueryResult {
    /// A row's values, each column parsed as its type (`table` and `location` name it in errors).
    /// Writes a row's values into the open row of `events`: text, JSON and integers straight from the result's
    /// bytes, other types through their `Value`.
    func encodeRow(_ row: Int, types: [PgValueType], names: [String], into events: inout EncodedChanges, table: String,
                   location: String) throws {
        for column in types.indices {
            let type = types[column]
            try withBytes(row, column) { bytes in
                guard let bytes else { return events.writeNull() }
                switch type {
                case .text, .other: events.writeText(bytes)
                case .json: events.writeText(bytes, json: true)
                case .int:
                    guard let value = PgTextValue.parseInt(bytes[...]) else { fallthrough }
                    events.writeInt(value)
                default:
                    do {
                        events.writeValue(try PgTextValue.parse(bytes, as: type))
                    } catch {
                        throw SluiceError(.decoding, "column \(names[column]) of \(table) could not be parsed",
                                          location: location, underlying: error)
                    }
                }
            }
        }
    }

    func values(_ row: Int, types: [PgValueType], names: [String], table: String, location: String) throws -> [Value] {
        var values: [Value] = []
        values.reserveCapacity(types.count)
        for column in types.indices {
            let type = types[column]
            values.append(try withBytes(row, column) { bytes -> Value in
                guard let bytes else { return .null }
                do {
                    return try PgTextValue.parse(bytes, as: type)
                } catch {
                    throw SluiceError(.decoding, "column \(names[column]) of \(table) could not be parsed",
                                      location: location, underlying: error)
                }
            })
        }
        return values
    }
}

/// One chunk of a table, decoded.
struct SnapshotChunk: Sendable {
    var events: EncodedChanges
    /// Primary-key values (text) of the chunk's last row; nil without rows or without a key.
    var lastKey: [String?]?
    /// True for the table's last chunk.
    var isLast: Bool
}

/// Queries a table's chunks one after the other on a dedicated thread (a `BlockingExecutor`) and decodes them into
/// events, at most two chunks ahead of the consumer (the channel blocks the thread meanwhile). The next chunk's query
/// is sent before the current one is decoded, so that PostgreSQL produces it meanwhile.
final class ChunkFetcher: Sendable {
    private let executor: BlockingExecutor<ChunkQueries>
    private let chunks = BoundedChannel<SnapshotChunk>(capacity: 2)
    /// Chunks taken from the channel but not yet returned by `next()`.
    private let taken = Mutex<[SnapshotChunk]>([])

    init(chunkSize: Int, connection: PostgresConnection, context: String,
         query: sending @escaping ([String?]?) -> (String, [String?]),
         lastKey: sending @escaping (QueryResult) -> [String?]?,
         decode: sending @escaping (QueryResult, UInt64) throws -> EncodedChanges)
    {
        let queries = ChunkQueries(chunkSize: chunkSize, connection: connection, context: context, query: query,
                                   lastKeyOf: lastKey, decode: decode)
        executor = BlockingExecutor(name: "sluice-pg-snapshot", handle: queries)
    }

    deinit {
        executor.close()  // a reader dropped without close(): its thread ends and releases the connection
    }

    func start() {
        executor.execute { [chunks] queries in
            do {
                try queries.fetchAll(into: chunks)
                chunks.finish()
            } catch {
                chunks.finish(throwing: error)
            }
        }
        executor.close()
    }

    /// The next chunk in order; nil after the last one.
    func next() async throws -> SnapshotChunk? {
        if let chunk = takeBuffered() { return chunk }
        guard let received = try await chunks.receiveAll() else { return nil }
        taken.withLock { $0.append(contentsOf: received) }
        return takeBuffered()
    }

    private func takeBuffered() -> SnapshotChunk? {
        taken.withLock { $0.isEmpty ? nil : $0.removeFirst() }
    }

    /// Stops once no statement is in flight (the connection is then free) and waits for the thread.
    func stop() {
        chunks.close()
        executor.join()
    }
}

/// The connection and statements of a `ChunkFetcher`; used only on its thread.
private struct ChunkQueries {
    let chunkSize: Int
    let connection: PostgresConnection
    /// What the queries do, for errors.
    let context: String
    /// The statement (and parameters) reading the chunk after a key (nil: the first chunk).
    let query: ([String?]?) -> (String, [String?])
    let lastKeyOf: (QueryResult) -> [String?]?
    /// Decodes a chunk's rows; the second argument is the number of rows before it in this run.
    let decode: (QueryResult, UInt64) throws -> EncodedChanges

    func fetchAll(into chunks: BoundedChannel<SnapshotChunk>) throws {
        var (sql, parameters) = query(nil)
        try connection.send(sql, parameters: parameters, context: context)
        var rowsBefore: UInt64 = 0
        while true {
            let result = try connection.receive(context: context)
            let isLast = result.rowCount < chunkSize
            let lastKey = lastKeyOf(result)
            if chunks.isClosed { return }
            if !isLast {
                (sql, parameters) = query(lastKey)
                try connection.send(sql, parameters: parameters, context: context)
            }
            let events = try decode(result, rowsBefore)
            rowsBefore += UInt64(result.rowCount)
            if chunks.sendBlocking(SnapshotChunk(events: events, lastKey: lastKey, isLast: isLast)) == .closed {
                // Stopped: take the result of the query in flight, so that the connection is free.
                if !isLast { _ = try connection.receive(context: context) }
                return
            }
            if isLast { return }
        }
    }
}
