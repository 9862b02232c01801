import Foundation
import SluiceCore
import SluicePostgresClient
import SluiceConnectorKit
import Logging

// Incremental snapshots while streaming (DBLog's watermark method, `sluice snapshot PIPELINE TABLE`).
//
// For each primary-key chunk, a reader connection writes a low watermark (a transactional logical message),
// selects the chunk, and writes a high watermark. The stream sees both watermarks in commit order. Every key
// changed by a streamed transaction between them is newer than (or as new as) the chunk's copy, so those rows
// are dropped from the chunk; the rest are emitted as `r` events at the high watermark's position. The stream
// never pauses: the chunk is read on its own thread and connection while the streamer keeps going.
//
// One more case: a transaction whose commit record precedes the low watermark may not yet be visible to the
// chunk's snapshot (its commit became visible late, e.g. while waiting for a synchronous standby). Its changes
// were streamed before the window, so the chunk would carry an older row. The chunk's snapshot lists such
// transactions as in progress (`pg_current_snapshot()` xip): when one of them committed before the low
// watermark, the chunk is read again.

/// Progress of the incremental snapshot of one table (state key `incremental-snapshot`), stored with each chunk.
struct IncrementalSnapshotState: Codable, Sendable {
    static let key = "incremental-snapshot"

    /// The table as requested (the request to clear when done).
    var request: String
    var schema: String
    var name: String
    /// Primary-key values (text) of the last row of the last chunk read.
    var lastKey: [String?]?
    var rowsDone: Int64 = 0
    var chunks: Int = 0
}

/// What a chunk read returned.
struct WatermarkChunk: Sendable {
    var rows: [[Value]]
    var keys: [[Value]]
    /// Key (text) of the chunk's last row; nil for an empty chunk.
    var lastKey: [String?]?
    /// Transactions in progress for the chunk's snapshot (low 32 bits of their ids).
    var inProgress: Set<UInt32>
    var finished: Bool
}

/// A chunk to read.
struct WatermarkChunkRequest: Sendable {
    var qualifiedTable: String
    var selectList: String
    var keyList: String
    var types: [PgValueType]
    var names: [String]
    var keyIndexes: [Int]
    var lastKey: [String?]?
    var chunkSize: Int
    var lowWatermark: String
    var highWatermark: String
}

/// Reads chunks between watermarks on its own connection and thread (a `BlockingExecutor`), one at a time.
final class WatermarkChunkReader: Sendable {
    static let prefix = "sluice.watermark"

    private let endpoint: PostgresConnection.Endpoint
    /// The connection, opened by the first read and dropped after a failed one.
    private let executor = BlockingExecutor<PostgresConnection?>(name: "sluice-pg-chunk", handle: nil)
    private let call = PendingCall<WatermarkChunk>()

    init(endpoint: PostgresConnection.Endpoint) {
        self.endpoint = endpoint
    }

    deinit {
        executor.close()  // a reader dropped without close(): its thread ends and releases the connection
    }

    /// Starts reading a chunk on the reader's thread.
    func start(_ request: WatermarkChunkRequest) {
        call.start(on: executor) { [endpoint] connection in
            if connection == nil { connection = try PostgresConnection(endpoint, replication: false) }
            do {
                return try Self.read(request, on: connection!)
            } catch {
                connection = nil
                throw error
            }
        }
    }

    /// The finished read, if any (an error is returned once).
    func take() -> Result<WatermarkChunk, any Error>? { call.take() }

    var isRunning: Bool { call.isRunning }

    /// The error of a finished read that failed (before its high watermark could be written), without taking it.
    var failure: (any Error)? {
        if case .failure(let error)? = call.peek() { return error }
        return nil
    }

    /// Waits for the running read (it has normally finished: its high watermark was already seen).
    func wait() async throws -> WatermarkChunk? {
        await call.waitUntilFinished()
        return try call.take()?.get()
    }

    /// Waits for a running read, then closes the connection and ends the thread.
    func close() async {
        executor.execute { $0 = nil }
        await executor.joined()
    }

    private static func read(_ request: WatermarkChunkRequest, on connection: PostgresConnection) throws -> WatermarkChunk {
        try connection.execute("SELECT pg_logical_emit_message(true, \(connection.quoteLiteral(Self.prefix)), "
                               + "\(connection.quoteLiteral(request.lowWatermark)))", context: "writing a low watermark")
        try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", context: "reading a snapshot chunk")
        let snapshot = try connection.execute("SELECT pg_current_snapshot()::text").string(0, 0) ?? ""
        let result: QueryResult
        if let lastKey = request.lastKey {
            let placeholders = (1...lastKey.count).map { "$\($0)" }.joined(separator: ", ")
            result = try connection.execute(
                "SELECT \(request.selectList) FROM \(request.qualifiedTable) WHERE (\(request.keyList)) > (\(placeholders)) "
                    + "ORDER BY \(request.keyList) LIMIT \(request.chunkSize)", parameters: lastKey,
                context: "reading a snapshot chunk of \(request.qualifiedTable)")
        } else {
            result = try connection.execute(
                "SELECT \(request.selectList) FROM \(request.qualifiedTable) ORDER BY \(request.keyList) "
                    + "LIMIT \(request.chunkSize)", context: "reading a snapshot chunk of \(request.qualifiedTable)")
        }
        try connection.execute("COMMIT")
        try connection.execute("SELECT pg_logical_emit_message(true, \(connection.quoteLiteral(Self.prefix)), "
                               + "\(connection.quoteLiteral(request.highWatermark)))", context: "writing a high watermark")
        var rows: [[Value]] = []
        var keys: [[Value]] = []
        rows.reserveCapacity(result.rowCount)
        keys.reserveCapacity(result.rowCount)
        for r in 0..<result.rowCount {
            let values = try result.values(r, types: request.types, names: request.names, table: request.qualifiedTable,
                                           location: "incremental snapshot")
            keys.append(request.keyIndexes.map { values[$0] })
            rows.append(values)
        }
        let count = result.rowCount
        return WatermarkChunk(
            rows: rows, keys: keys, lastKey: count > 0 ? request.keyIndexes.map { result.string(count - 1, $0) } : nil,
            inProgress: Self.inProgress(snapshot), finished: count < request.chunkSize)
    }

    /// `xmin:xmax:xip,…` → the in-progress transaction ids (low 32 bits, as in pgoutput).
    static func inProgress(_ snapshot: String) -> Set<UInt32> {
        let parts = snapshot.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return [] }
        return Set(parts[2].split(separator: ",").compactMap { UInt64($0).map { UInt32(truncatingIfNeeded: $0) } })
    }
}

/// The incremental snapshot the streamer is running.
final class IncrementalSnapshotJob {
    var state: IncrementalSnapshotState
    let table: TableID
    let oid: UInt32
    var schema: TableSchema
    var types: [PgValueType]
    let reader: WatermarkChunkReader
    /// Number of the chunk being read (watermarks of other chunks or runs are ignored).
    var chunk = 0
    var chunkInFlight = false
    var windowOpen = false
    var windowKeys: Set<[Value]> = []
    var windowTruncated = false
    var committedBeforeLow: Set<UInt32> = []
    var schemaChanged = false
    var rereads = 0
    let started = ContinuousClock.now

    init(state: IncrementalSnapshotState, table: TableID, oid: UInt32, schema: TableSchema, types: [PgValueType],
         reader: WatermarkChunkReader)
    {
        self.state = state
        self.table = table
        self.oid = oid
        self.schema = schema
        self.types = types
        self.reader = reader
    }
}

/// The last transaction ids committed in the stream (a small ring), for the late-visibility check.
struct RecentCommits {
    private var ring: [UInt32]
    private var next = 0
    private var filled = false

    init(capacity: Int) { ring = Array(repeating: 0, count: capacity) }

    mutating func add(_ xid: UInt32) {
        ring[next] = xid
        next += 1
        if next == ring.count {
            next = 0
            filled = true
        }
    }

    var all: Set<UInt32> { Set(filled ? ring : Array(ring[..<next])) }
}

// MARK: The streamer's side: signals, chunk reads, watermarks

extension ChangeStreamer {
    /// The primary-key values of a row image, when it carries them all.
    static func key(of row: Row, _ primaryKey: [String]) -> [Value]? {
        guard !primaryKey.isEmpty else { return nil }
        var key: [Value] = []
        key.reserveCapacity(primaryKey.count)
        for column in primaryKey {
            guard let value = row[column], value != .unchanged else { return nil }
            key.append(value)
        }
        return key
    }

    /// Picks up requests (about once a second), resumes stored progress, and starts the next chunk read.
    func driveIncrementalSnapshot() async throws {
        if incremental == nil, ContinuousClock.now - lastRequestPoll >= .seconds(1) {
            lastRequestPoll = .now
            var requests = try await session.context.pendingSnapshotRequests()
            for request in autoRequests where !requests.contains(request) { requests.append(request) }
            requests = requests.filter { !refusedRequests.contains($0) }
            if let stored = try await session.loadJSON(IncrementalSnapshotState.self, key: IncrementalSnapshotState.key),
               requests.contains(stored.request) {
                try await startIncrementalSnapshot(stored)
            } else if let request = requests.first {
                let name = PostgresSourceSettings.normalizedTable(request)
                let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
                try await startIncrementalSnapshot(IncrementalSnapshotState(request: request, schema: parts[0], name: parts[1]))
            }
        }
        guard let job = incremental, !job.chunkInFlight, completedRequest == nil else {
            if let job = incremental, job.chunkInFlight, let error = job.reader.failure {
                throw SluiceError(.connection, "reading an incremental snapshot chunk of \(job.table) failed",
                                  hint: "Sluice reconnects and continues after the last chunk in the log", isTransient: true,
                                  underlying: error)
            }
            return
        }
        if job.schemaChanged {
            guard let (schema, types) = try await currentSchema(job.table, oid: job.oid) else {
                try await finishIncrementalSnapshot(job, reason: "the table was dropped")
                return
            }
            job.schema = schema
            job.types = types
            job.schemaChanged = false
        }
        let connection = session.catalog.connection
        let names = job.schema.columns.map(\.name)
        job.chunk += 1
        job.chunkInFlight = true
        let tag = "\(settings.slot):\(runID):\(job.chunk)"
        job.reader.start(WatermarkChunkRequest(
            qualifiedTable: connection.quoteIdentifier(job.table.schema) + "." + connection.quoteIdentifier(job.table.name),
            selectList: names.map(connection.quoteIdentifier).joined(separator: ", "),
            keyList: job.schema.primaryKey.map(connection.quoteIdentifier).joined(separator: ", "),
            types: job.types, names: names, keyIndexes: job.schema.primaryKey.compactMap { names.firstIndex(of: $0) },
            lastKey: job.state.lastKey, chunkSize: settings.snapshotChunkSize,
            lowWatermark: tag + ":low", highWatermark: tag + ":high"))
    }

    /// The table's current schema from the catalog (a new version goes into the pending batch).
    private func currentSchema(_ table: TableID, oid: UInt32) async throws -> (TableSchema, [PgValueType])? {
        let columns = try session.catalog.relationColumns(oid: oid, table: table)
        guard !columns.isEmpty else { return nil }
        let (schema, types, isNew) = try await session.schemas.schema(
            for: .init(table: table, relationOID: oid, columns: columns), position: nil)
        if isNew { batch.schemas.append(schema) }
        return (schema, types)
    }

    private func startIncrementalSnapshot(_ state: IncrementalSnapshotState) async throws {
        let request = state.request
        func refuse(_ why: String) async throws {
            logger.error("incremental snapshot of \(request) refused: \(why)")
            refusedRequests.insert(request)
            if let index = autoRequests.firstIndex(of: request) {
                autoRequests.remove(at: index)
                batch.state[Self.autoRequestsKey] = PostgresSourceSession.encodeJSON(autoRequests)
                if batch.startedAt == nil { batch.startedAt = .now }
            }
            try await session.context.completeSnapshotRequest(request)
        }
        guard supportsMessages else {
            logger.error("incremental snapshots need PostgreSQL 14 or newer (logical messages in pgoutput)")
            refusedRequests.insert(request)
            return
        }
        guard settings.captures(schema: state.schema, name: state.name) else {
            return try await refuse("the table is not captured by this source (tables/include/exclude)")
        }
        let connection = session.catalog.connection
        let located = try connection.execute(
            """
            SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_publication_tables p ON p.schemaname = n.nspname AND p.tablename = c.relname AND p.pubname = $3
            WHERE n.nspname = $1 AND c.relname = $2
            """, parameters: [state.schema, state.name, settings.publication], context: "locating \(request)")
        guard located.rowCount > 0, let oid = UInt32(located.string(0, 0) ?? "") else {
            return try await refuse("no such table in publication \(settings.publication)")
        }
        let table = TableID(database: database, schema: state.schema, name: state.name)
        guard let (schema, types) = try await currentSchema(table, oid: oid) else {
            return try await refuse("the table has no columns")
        }
        guard !schema.primaryKey.isEmpty else {
            return try await refuse("the table has no primary key (chunks and de-duplication need one)")
        }
        incremental = IncrementalSnapshotJob(state: state, table: table, oid: oid, schema: schema, types: types,
                                             reader: WatermarkChunkReader(endpoint: settings.endpoint))
        logger.info(state.lastKey == nil ? "incremental snapshot started" : "incremental snapshot resumed",
                    metadata: ["sluice.table": .string(table.description), "sluice.rows": .stringConvertible(state.rowsDone)])
    }

    /// A watermark message `slot:run:chunk:low|high` (other slots', runs' and chunks' are ignored).
    func watermark(_ text: String) async throws {
        let parts = text.split(separator: ":")
        guard parts.count == 4, parts[0] == settings.slot, parts[1] == runID, let job = incremental, job.chunkInFlight,
              Int(parts[2]) == job.chunk else { return }
        if parts[3] == "low" {
            job.windowOpen = true
            job.windowKeys = []
            job.windowTruncated = false
            job.committedBeforeLow = recentCommits.all
            return
        }
        guard parts[3] == "high" else { return }
        let windowWasOpen = job.windowOpen
        job.windowOpen = false
        let read: WatermarkChunk?
        do {
            read = try await job.reader.wait()
        } catch {
            throw SluiceError(.connection, "reading an incremental snapshot chunk of \(job.table) failed",
                              hint: "Sluice reconnects and continues after the last chunk in the log", isTransient: true,
                              underlying: error)
        }
        job.chunkInFlight = false
        guard let chunk = read else { return }
        let late = !chunk.inProgress.isDisjoint(with: job.committedBeforeLow)
        if !windowWasOpen || job.windowTruncated || job.schemaChanged || late {
            // Read the same chunk again (a TRUNCATE or DDL in the window, or a late-visible commit before it).
            job.rereads += 1
            return
        }
        guard var tx = transaction else { return }
        let names = job.schema.columns.map(\.name)
        var emitted = 0
        for (index, values) in chunk.rows.enumerated() where !job.windowKeys.contains(chunk.keys[index]) {
            let order = tx.order
            tx.order += 1
            transaction = tx
            append(ChangeEvent(
                op: .read, connector: "postgres", table: job.table, schemaVersion: job.schema.version, before: nil,
                after: Row(columns: names, values: values), position: LSN.position(commit: tx.commitLSN, order: order),
                commitTimeMicros: tx.commitTimeMicros, isSnapshot: true), commit: tx.commitLSN, order: order)
            emitted += 1
            tx = transaction ?? tx
        }
        transaction = tx
        job.state.rowsDone += Int64(emitted)
        job.state.chunks += 1
        if let lastKey = chunk.lastKey { job.state.lastKey = lastKey }
        if chunk.finished {
            try await finishIncrementalSnapshot(job, reason: nil)
        } else {
            batch.state[IncrementalSnapshotState.key] = PostgresSourceSession.encodeJSON(job.state)
            if batch.startedAt == nil { batch.startedAt = .now }
        }
    }

    private func finishIncrementalSnapshot(_ job: IncrementalSnapshotJob, reason: String?) async throws {
        batch.state[IncrementalSnapshotState.key] = .some(nil)
        if let index = autoRequests.firstIndex(of: job.state.request) {
            autoRequests.remove(at: index)
            batch.state[Self.autoRequestsKey] = PostgresSourceSession.encodeJSON(autoRequests)
        }
        if batch.startedAt == nil { batch.startedAt = .now }
        completedRequest = job.state.request
        incremental = nil
        await job.reader.close()
        let elapsed = ContinuousClock.now - job.started
        logger.info("incremental snapshot finished\(reason.map { " (\($0))" } ?? "")", metadata: [
            "sluice.table": .string(job.table.description), "sluice.rows": .stringConvertible(job.state.rowsDone),
            "sluice.chunks": .stringConvertible(job.state.chunks), "sluice.rereads": .stringConvertible(job.rereads),
            "sluice.seconds": .stringConvertible(elapsed.components.seconds)])
    }
}
