import Foundation
import Logging
import SluiceCore
import SluiceConnectorKit

// Incremental snapshots while streaming (`sluice snapshot PIPELINE DATABASE.TABLE`), read-only on the server.
//
// Each primary-key chunk is read on its own connection and thread in a consistent-snapshot transaction whose
// binlog position P is known exactly (MariaDB's `Binlog_snapshot_file/position`; MySQL: the same brief global
// read lock as the initial snapshot). The chunk is the table's state at P. The streamer keeps going meanwhile
// and records, for the chunk's table, the position of the last change to each key since the read began. Once
// the stream has passed P and stands between transactions, the chunk's rows go into the log as `r` events at
// that point, except keys the stream changed at or after P: their streamed change is newer than the chunk's
// copy and is already in the log. A TRUNCATE or DDL of the table at or after P makes the chunk read again.

/// Progress of the incremental snapshot of one table (state key `incremental-snapshot`), stored with each chunk.
struct MySQLIncrementalState: Codable, Sendable, Equatable {
    static let key = "incremental-snapshot"

    /// The table as requested (the request to clear when done).
    var request: String
    var database: String
    var name: String
    /// Primary-key values of the chunk's last row, as the server's text (hex of the bytes).
    var lastKey: [String?]?
    var rowsDone: Int64 = 0
    var chunks = 0
}

/// One chunk as read: the table's rows after `lastKey` at binlog position `point`.
struct MySQLSnapshotChunk: Sendable {
    var point: SnapshotPoint
    var schema: TableSchema
    var rows: [[Value]]
    var keys: [[Value]]
    var lastKey: [String?]?
    var finished: Bool
}

/// Reads chunks on its own connection and thread (a `BlockingExecutor`), one at a time; calls `onReady` when a read
/// finished (or failed).
final class MySQLChunkReader: Sendable {
    private let reader: MySQLSnapshotReader
    private let endpoint: MySQLConnection.Endpoint
    private let onReady: @Sendable () -> Void
    /// The connection, opened by the first read and closed after a failed one.
    private let executor = BlockingExecutor<MySQLConnection?>(name: "sluice-mysql-chunk", handle: nil)
    private let call = PendingCall<MySQLSnapshotChunk>()

    init(reader: MySQLSnapshotReader, endpoint: MySQLConnection.Endpoint, onReady: @escaping @Sendable () -> Void) {
        self.reader = reader
        self.endpoint = endpoint
        self.onReady = onReady
    }

    deinit {
        executor.close()  // a reader dropped without close(): its thread ends and releases the connection
    }

    /// Starts reading the chunk of `table` after `lastKey` on the reader's thread.
    func start(_ table: TableID, after lastKey: [String?]?, chunkSize: Int) {
        call.start(on: executor, onFinished: onReady) { [reader, endpoint] connection in
            if connection == nil { connection = try MySQLConnection(endpoint) }
            do {
                return try Self.read(table, after: lastKey, chunkSize: chunkSize, reader: reader, on: connection!)
            } catch {
                connection?.close()
                connection = nil
                throw error
            }
        }
    }

    /// The finished read, if any (taken once).
    func take() -> Result<MySQLSnapshotChunk, any Error>? { call.take() }

    /// The finished read, left in place.
    func peek() -> Result<MySQLSnapshotChunk, any Error>? { call.peek() }

    var isRunning: Bool { call.isRunning }

    /// Waits for the running read to finish.
    func wait() async throws {
        await call.waitUntilFinished()
    }

    /// Waits for a running read, then closes the connection and ends the thread.
    func close() async {
        executor.execute { connection in
            connection?.close()
            connection = nil
        }
        await executor.joined()
    }

    private static func read(_ table: TableID, after lastKey: [String?]?, chunkSize: Int, reader: MySQLSnapshotReader,
                             on connection: MySQLConnection) throws -> MySQLSnapshotChunk {
        let point = try MySQLSnapshotReader.begin(connection, server: reader.server)
        defer { try? connection.execute("COMMIT") }
        var catalog = MySQLCatalog(connection: connection)
        guard let plan = try reader.plan(table, connection: connection, catalog: &catalog), !plan.keyIndexes.isEmpty else {
            throw SluiceError(.sourceSetup, "\(table) no longer exists or has no primary key",
                              location: "incremental snapshot of \(table)")
        }
        let names = plan.schema.columns.map(\.name)
        let keyNames = plan.keyIndexes.map { MySQLSnapshotReader.identifier(names[$0]) }
        var sql = "SELECT \(plan.selectList) FROM "
            + MySQLSnapshotReader.identifier(table.database) + "." + MySQLSnapshotReader.identifier(table.name)
        if let lastKey {
            sql += " WHERE " + MySQLSnapshotReader.after(keyNames, lastKey, kinds: plan.keyLiteralKinds, connection: connection)
        }
        sql += " ORDER BY " + keyNames.joined(separator: ", ") + " LIMIT \(chunkSize)"
        let result = try connection.queryBytes(sql)
        var rows: [[Value]] = []
        var keys: [[Value]] = []
        rows.reserveCapacity(result.rows.count)
        keys.reserveCapacity(result.rows.count)
        for row in result.rows {
            let values = try plan.values(of: row, location: "incremental snapshot of \(table)")
            keys.append(plan.keyIndexes.map { values[$0] })
            rows.append(values)
        }
        let last = result.rows.last.map { row in plan.keyIndexes.map { row[$0].map(HexBytes.encode) } }
        return MySQLSnapshotChunk(point: point, schema: plan.schema, rows: rows, keys: keys, lastKey: last,
                                  finished: result.rows.count < chunkSize)
    }
}

/// The incremental snapshot the streamer is running.
final class MySQLIncrementalJob {
    var state: MySQLIncrementalState
    let table: TableID
    let reader: MySQLChunkReader
    /// Whether a chunk read was started and its rows not yet emitted.
    var chunkInFlight = false
    /// Per key of the table, the sort key of the last streamed change since the chunk read began.
    var changedKeys: [[Value]: [UInt8]] = [:]
    /// Sort key of the last TRUNCATE or DDL of the table since the chunk read began.
    var resetAt: [UInt8]?
    var rereads = 0
    let started = ContinuousClock.now
    /// Positions of the primary-key columns in row images of a schema version (empty: not all found).
    private var keyIndexes: (version: Int, indexes: [Int])?

    init(state: MySQLIncrementalState, table: TableID, reader: MySQLChunkReader) {
        self.state = state
        self.table = table
        self.reader = reader
    }

    /// Notes a streamed change of the table to the keys of `images` (both images of an update that moves a key).
    func recordChange(_ images: [[Value]?], schema: TableSchema, sortKey: [UInt8]) {
        guard chunkInFlight else { return }
        if keyIndexes?.version != schema.version {
            let found = schema.primaryKey.compactMap { name in schema.columns.firstIndex { $0.name == name } }
            keyIndexes = (schema.version, found.count == schema.primaryKey.count ? found : [])
        }
        guard let indexes = keyIndexes?.indexes, !indexes.isEmpty else { return }
        for case let image? in images where indexes.allSatisfy({ $0 < image.count }) {
            changedKeys[indexes.map { image[$0] }] = sortKey
        }
    }

    func recordReset(sortKey: [UInt8]) {
        if chunkInFlight { resetAt = sortKey }
    }

    /// Starts the next chunk read (the change records start afresh).
    func startChunk(chunkSize: Int) {
        changedKeys = [:]
        resetAt = nil
        chunkInFlight = true
        reader.start(table, after: state.lastKey, chunkSize: chunkSize)
    }
}

extension BinlogStreamState {
    /// Picks up requests (about once a second), resumes stored progress, starts chunk reads, and puts a read
    /// chunk into the batch once the stream has passed its position. `atEnd`: the stream reached the end of
    /// the binlog (`--until-caught-up`), so a chunk waits for its read instead of for more events. Returns true
    /// when a read chunk waits for the stream to reach its position.
    @discardableResult
    mutating func driveIncrementalSnapshot(_ stream: BinlogPacketStream, atEnd: Bool = false) async throws -> Bool {
        if incremental == nil {
            guard atEnd || ContinuousClock.now - lastRequestPoll >= .seconds(1) else { return false }
            lastRequestPoll = .now
            try await startRequestedSnapshot(stream)
        }
        guard let job = incremental else { return false }
        if !job.chunkInFlight {
            job.startChunk(chunkSize: settings.snapshotChunkSize)
            return false
        }
        if atEnd { try await job.reader.wait() }
        guard transactionStart == nil, let outcome = job.reader.peek() else { return false }
        let chunk: MySQLSnapshotChunk
        switch outcome {
        case .failure(let error):
            throw SluiceError(.connection, "reading an incremental snapshot chunk of \(job.table) failed",
                              hint: "Sluice reconnects and continues after the last chunk in the log", isTransient: true,
                              underlying: error)
        case .success(let read):
            chunk = read
        }
        let pointKey = MySQLSnapshotFilter.sortKey(file: chunk.point.file, position: chunk.point.position)
        let streamKey = MySQLSnapshotFilter.sortKey(file: decoder.file, position: decoder.position)
        guard !streamKey.lexicographicallyPrecedes(pointKey) else { return true }  // the stream has not reached P yet
        _ = job.reader.take()
        job.chunkInFlight = false
        if let reset = job.resetAt, !reset.lexicographicallyPrecedes(pointKey) {
            job.rereads += 1  // truncated or altered after the chunk's snapshot: read it again
            return false
        }
        // No DDL since P: the chunk has the table's shape of now. A stream that last saw another shape (or never
        // saw the table) gets the chunk's as a new schema version.
        var schema = chunk.schema
        var current = schemas[job.table]
        if current == nil { current = try await context.latestSchema(job.table) }
        if let current, current.hasSameShape(as: schema) {
            schema = current
        } else {
            schema.version = (current?.version ?? 0) + 1
            schema.position = SourcePosition(sortKey: SourcePosition.sortKey(fileIndex(decoder.file), decoder.position &- 1, 0),
                                             text: "\(decoder.file):\(decoder.position)")
            batch.schemas.append(schema)
            schemas[job.table] = schema
            for (id, entry) in mapSchemas where entry.schema.table == job.table { mapSchemas[id] = nil }
        }
        let layout = self.layout(schema)
        let fileIndex = self.fileIndex(decoder.file)
        let positionText = "\(decoder.file):\(decoder.position)"
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        // Row numbers go on after the last event's when an earlier chunk was put at this same point (no events in
        // between), so positions keep increasing — also across a restart, which skips up to the last stored one.
        var next: UInt64 = 0
        if let last = lastKey, last.partCount == 3, last.a == fileIndex, last.b == decoder.position &- 1 {
            next = last.c + 1
        }
        var emitted: UInt64 = 0
        for (index, values) in chunk.rows.enumerated() {
            if let changed = job.changedKeys[chunk.keys[index]], !changed.lexicographicallyPrecedes(pointKey) { continue }
            // Between the last streamed event (which starts before decoder.position - 1) and the next one.
            appendRow(.read, layout: layout, before: nil, after: values,
                      sortKey: PackedSortKey(fileIndex, decoder.position &- 1, next + emitted), positionText: positionText,
                      transactionID: nil, orderInTransaction: nil, commitTimeMicros: now, isSnapshot: true)
            emitted += 1
        }
        job.state.rowsDone += Int64(emitted)
        job.state.chunks += 1
        if let lastKey = chunk.lastKey { job.state.lastKey = lastKey }
        if chunk.finished {
            batch.state[MySQLIncrementalState.key] = .some(nil)
            incremental = nil
            await job.reader.close()
            try await emit()
            try await context.waitUntilDurable()
            try await context.completeSnapshotRequest(job.state.request)
            logger.info("incremental snapshot finished", metadata: [
                "sluice.table": .string(job.table.description), "sluice.rows": .stringConvertible(job.state.rowsDone),
                "sluice.chunks": .stringConvertible(job.state.chunks), "sluice.rereads": .stringConvertible(job.rereads),
                "sluice.seconds": .stringConvertible((ContinuousClock.now - job.started).components.seconds)])
        } else {
            batch.state[MySQLIncrementalState.key] = Array((try? JSONEncoder().encode(job.state)) ?? Data())
            job.startChunk(chunkSize: settings.snapshotChunkSize)
        }
        return false
    }

    /// Starts the stored incremental snapshot if its request is still pending, else the first pending request that
    /// can be done (the others are refused with an error in the log, and cleared).
    private mutating func startRequestedSnapshot(_ stream: BinlogPacketStream) async throws {
        let requests = try await context.pendingSnapshotRequests().filter { !refusedRequests.contains($0) }
        guard !requests.isEmpty else { return }
        var candidates: [MySQLIncrementalState] = requests.map { request in
            let parts = request.split(separator: ".", maxSplits: 1).map(String.init)
            return MySQLIncrementalState(request: request, database: parts.first ?? "", name: parts.count == 2 ? parts[1] : "")
        }
        if let bytes = try await context.loadState(MySQLIncrementalState.key),
           let stored = try? JSONDecoder().decode(MySQLIncrementalState.self, from: Data(bytes)),
           let index = candidates.firstIndex(where: { $0.request == stored.request }) {
            candidates[index] = stored
            candidates.swapAt(0, index)
        }
        for state in candidates {
            if let why = try refusal(state) {
                logger.error("incremental snapshot of \(state.request) refused: \(why)")
                refusedRequests.insert(state.request)
                try await context.completeSnapshotRequest(state.request)
                continue
            }
            let reader = MySQLSnapshotReader(settings: settings, context: context, logger: logger, server: server)
            let job = MySQLIncrementalJob(
                state: state, table: TableID(database: state.database, schema: state.database, name: state.name),
                reader: MySQLChunkReader(reader: reader, endpoint: settings.endpoint) { [stream] in stream.wake() })
            incremental = job
            logger.info(state.lastKey == nil ? "incremental snapshot started" : "incremental snapshot resumed",
                        metadata: ["sluice.table": .string(job.table.description),
                                   "sluice.rows": .stringConvertible(state.rowsDone)])
            return
        }
    }

    /// Why the requested table cannot be snapshot incrementally, or nil when it can.
    private mutating func refusal(_ state: MySQLIncrementalState) throws -> String? {
        guard !state.name.isEmpty else { return "name the table as database.table" }
        guard settings.captures(database: state.database, table: state.name) else {
            return "the table is not captured by this source (tables/include/exclude)"
        }
        guard try catalog.columns(database: state.database, table: state.name) != nil else {
            return "no such table on \(settings.endpoint.description)"
        }
        guard let key = try catalog.primaryKey(database: state.database, table: state.name), !key.isEmpty else {
            return "the table has no primary key (chunks and de-duplication need one)"
        }
        return nil
    }
}
