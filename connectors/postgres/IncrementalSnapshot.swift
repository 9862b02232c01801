import Foundation
import SluiceCore
import SluicePostgresClient

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
