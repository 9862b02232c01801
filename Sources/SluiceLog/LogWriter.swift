import Foundation
import SluiceCore
import SluiceSQLite

/// A write waiting for the writer thread, with the continuation its caller awaits.
enum WriteRequest {
    case append(AppendBatch, CheckedContinuation<[String: Range<Int64>], any Error>)
    case setState(key: String, value: [UInt8]?, CheckedContinuation<Void, any Error>)
    case commitConsumerOffset(
        consumer: String, stream: String, nextOffset: Int64, CheckedContinuation<Void, any Error>
    )
    case applyRetention(RetentionPolicy, streams: [String]?, CheckedContinuation<Int64, any Error>)
    /// Closes the writer after every earlier request; the continuation is nil when the log was dropped unclosed.
    case close(CheckedContinuation<Void, any Error>?)

    /// Appends, state and consumer offsets are small; they share one transaction with whatever else is waiting.
    var joinsGroupCommit: Bool {
        switch self {
        case .append, .setState, .commitConsumerOffset: true
        case .applyRetention, .close: false
        }
    }

    var recordCount: Int {
        guard case .append(let batch, _) = self else { return 1 }
        return max(batch.recordCount, 1)
    }
}

/// The single writer of a log file: a `BlockingExecutor` thread that owns the write connection (`LogCommitter`)
/// and commits groups of requests.
///
/// Group commit: requests that arrive while a transaction commits wait in `requests`; the next transaction takes all
/// of them (up to `maxRecordsPerCommit`), gives each its own savepoint so one failing request does not fail the
/// others, and resumes every caller after the single COMMIT (and its fsync) returns. The SQLite work never runs on
/// the Swift concurrency pool; callers only suspend. The queue needs no bound of its own: every request's caller is
/// suspended until its request is done, so it holds at most one request per waiting caller.
final class LogWriter: Sendable {
    /// A commit takes queued requests until it holds this many records (it always takes at least one request).
    static let maxRecordsPerCommit = 100_000

    private let requests = BoundedChannel<WriteRequest>(capacity: .max)
    private let executor: BlockingExecutor<LogCommitter>

    /// Opens the write connection; `appended` is signalled after every commit that stored records.
    init(path: String, syncPolicy: SyncPolicy, appended: AppendSignal,
         wallClockMicros: @escaping @Sendable () -> Int64) throws {
        let committer = try LogCommitter(path: path, syncPolicy: syncPolicy, appended: appended,
                                         wallClockMicros: wallClockMicros)
        executor = BlockingExecutor(name: "sluice-log-writer", handle: committer)
        executor.execute { [requests] committer in committer.run(requests) }
        executor.close()  // the thread ends when the commit loop returns (after a close request)
    }

    /// Queues a request, or fails it at once when the log is closing or closed.
    func submit(_ request: WriteRequest) {
        let isClose = if case .close = request { true } else { false }
        if !requests.sendWithoutWaiting(request, finishing: isClose) {
            request.fail(with: LogError.closedLog, alreadyClosed: true)
        }
    }
}

/// The write connection and what the writer knows of the log; used only on the writer's thread.
final class LogCommitter {
    let connection: SQLiteConnection
    let statements: WriterStatements
    var streams: [String: StreamState]
    let wallClockMicros: @Sendable () -> Int64
    let appended: AppendSignal
    /// The chunk being encoded; its buffer is reused by every chunk the writer stores.
    let encoder = ChunkEncoder()

    init(path: String, syncPolicy: SyncPolicy, appended: AppendSignal,
         wallClockMicros: @escaping @Sendable () -> Int64) throws {
        connection = try SQLiteConnection(path: path, create: true)
        try LogCommitter.configure(connection, syncPolicy: syncPolicy)
        statements = try WriterStatements(connection)
        streams = try LogCommitter.loadStreams(statements)
        self.appended = appended
        self.wallClockMicros = wallClockMicros
    }

    // MARK: Opening

    private static func configure(_ connection: SQLiteConnection, syncPolicy: SyncPolicy) throws {
        try connection.execute(LogSchema.connectionSettings, while: "configuring the log connection")
        guard try text("PRAGMA journal_mode = WAL", on: connection) == "wal" else {
            throw LogError(
                code: .cannotOpen,
                message: "cannot switch the log at \(connection.path) to WAL mode: put it on a local file system"
                    + " (WAL does not work on network file systems)"
            )
        }
        try connection.execute(LogSchema.writerSettings(syncPolicy), while: "applying the sync policy")
        try connection.execute("BEGIN IMMEDIATE", while: "locking the log to check its schema")
        do {
            try createOrCheckSchema(connection)
            try checkConsistency(connection)
            try connection.execute("COMMIT", while: "creating the log schema")
        } catch {
            try? connection.execute("ROLLBACK", while: "abandoning the schema check")
            throw error
        }
    }

    private static func createOrCheckSchema(_ connection: SQLiteConnection) throws {
        let version = try scalar("PRAGMA user_version", on: connection)
        let applicationID = try scalar("PRAGMA application_id", on: connection)
        let tableCount = try scalar("SELECT count(*) FROM sqlite_schema", on: connection)
        if version == 0 && applicationID == 0 && tableCount == 0 {
            try connection.execute(LogSchema.createTables, while: "creating the log schema")
        } else if applicationID != LogSchema.applicationID {
            throw LogError(
                code: .incompatibleFile,
                message: "\(connection.path) is a SQLite database but not a Sluice log: point the log path at a new"
                    + " file or an existing log"
            )
        } else if version > LogSchema.version {
            throw LogError(
                code: .incompatibleFile,
                message: "the log at \(connection.path) has schema version \(version), newer than this Sluice"
                    + " understands (\(LogSchema.version)): upgrade Sluice to open it"
            )
        } else if version < LogSchema.version {
            throw LogError(
                code: .incompatibleFile,
                message: "the log at \(connection.path) has schema version \(version), written by a development"
                    + " build of Sluice that stored one row per record; this Sluice reads only version"
                    + " \(LogSchema.version) (records stored in checksummed chunks) and does not convert older files:"
                    + " move the file aside and point the pipeline at a new log path (sources resume from their"
                    + " configured start), or open it with the Sluice that wrote it"
            )
        }
    }

    /// Refuses a log whose stored records do not add up to what its streams say they hold: a chunk removed, a next
    /// offset moved, or records count changed outside Sluice. Readers would otherwise skip the gap silently. One pass
    /// over the chunks' small columns (never their data).
    private static func checkConsistency(_ connection: SQLiteConnection) throws {
        let statement = try connection.prepare("""
            SELECT s.name, s.first_offset, s.next_offset, s.record_count, coalesce(c.records, 0), c.low, c.high
            FROM streams s LEFT JOIN (
                SELECT stream_id, sum(record_count) AS records, min(base_offset) AS low, max(last_offset) AS high
                FROM chunks GROUP BY stream_id) c ON c.stream_id = s.id
            """)
        defer { statement.reset() }
        while try statement.step() {
            let name = statement.text(at: 0) ?? ""
            let first = statement.int64(at: 1), next = statement.int64(at: 2)
            let records = statement.int64(at: 3), stored = statement.int64(at: 4)
            let low = statement.optionalInt64(at: 5), high = statement.optionalInt64(at: 6)
            var problems: [String] = []
            if stored != records { problems.append("its chunks hold \(stored) records, the stream says \(records)") }
            if let high, high + 1 != next { problems.append("its last record is at offset \(high), its next offset is \(next)") }
            if let low, low < first { problems.append("a chunk starts at offset \(low), below its first offset \(first)") }
            if first > next { problems.append("its first offset \(first) is past its next offset \(next)") }
            guard problems.isEmpty else {
                throw LogError(
                    code: .inconsistent,
                    message: "the log at \(connection.path) is inconsistent: stream '\(name)': "
                        + problems.joined(separator: "; ")
                        + ". Records were removed or offsets changed outside Sluice; keep the file for inspection and "
                        + "restore it from a backup, or move it aside to rebuild the log from the sources")
            }
        }
    }

    private static func text(_ sql: String, on connection: SQLiteConnection) throws -> String? {
        let statement = try connection.prepare(sql)
        defer { statement.reset() }
        return try statement.step() ? statement.text(at: 0) : nil
    }

    private static func scalar(_ sql: String, on connection: SQLiteConnection) throws -> Int64 {
        let statement = try connection.prepare(sql)
        defer { statement.reset() }
        guard try statement.step() else { return 0 }
        return statement.int64(at: 0)
    }

    private static func loadStreams(_ statements: WriterStatements) throws -> [String: StreamState] {
        let select = statements.selectStreams
        defer { select.reset() }
        var streams: [String: StreamState] = [:]
        while try select.step() {
            let state = StreamState(
                id: select.int64(at: 0),
                firstOffset: select.int64(at: 2),
                nextOffset: select.int64(at: 3),
                recordCount: select.int64(at: 4),
                payloadBytes: select.int64(at: 5),
                maxSourceTime: select.optionalInt64(at: 6),
                maxPosition: select.blob(at: 7)
            )
            streams[select.text(at: 1) ?? ""] = state
        }
        return streams
    }

    // MARK: The writer thread

    private enum Work {
        case commit([WriteRequest])
        case applyRetention(RetentionPolicy, streams: [String]?, CheckedContinuation<Int64, any Error>)
        case close(CheckedContinuation<Void, any Error>?)
    }

    /// Commits requests as they come until a close request.
    func run(_ requests: BoundedChannel<WriteRequest>) {
        var queue: [WriteRequest] = []
        while true {
            if queue.isEmpty {
                do {
                    guard let more = try requests.receiveAllBlocking() else { return }
                    queue = more
                } catch {
                    preconditionFailure("the write queue never ends with an error: \(error)")
                }
            }
            switch nextWork(&queue) {
            case .commit(let group):
                commit(group)
            case .applyRetention(let policy, let names, let continuation):
                continuation.resume(with: Result { try applyRetention(policy, to: names) })
            case .close(let continuation):
                connection.close()
                continuation?.resume()
                return
            }
        }
    }

    /// Takes the next retention or close request, or the run of group-committable requests, from `queue`.
    private func nextWork(_ queue: inout [WriteRequest]) -> Work {
        switch queue[0] {
        case .applyRetention(let policy, let names, let continuation):
            queue.removeFirst()
            return .applyRetention(policy, streams: names, continuation)
        case .close(let continuation):
            queue.removeFirst()
            return .close(continuation)
        case .append, .setState, .commitConsumerOffset:
            var taken = 0
            var records = 0
            while taken < queue.count, queue[taken].joinsGroupCommit,
                taken == 0 || records + queue[taken].recordCount <= LogWriter.maxRecordsPerCommit
            {
                records += queue[taken].recordCount
                taken += 1
            }
            let group = Array(queue[..<taken])
            queue.removeFirst(taken)
            return .commit(group)
        }
    }

    // MARK: Group commit

    /// Commits `requests` in one transaction, each under its own savepoint, and resumes their callers.
    private func commit(_ requests: [WriteRequest]) {
        let appendedAt = wallClockMicros()
        var streamsBeforeGroup: [String: StreamState?] = [:]
        var outcomes: [Result<[String: Range<Int64>], any Error>] = []
        outcomes.reserveCapacity(requests.count)
        do {
            try statements.begin.run(while: "starting a write transaction")
        } catch {
            requests.forEach { $0.fail(with: error) }
            return
        }
        for request in requests {
            var streamsBeforeRequest: [String: StreamState?] = [:]
            do {
                try statements.savepoint.run(while: "starting a write")
                let ranges = try apply(
                    request, appendedAt: appendedAt,
                    remembering: &streamsBeforeRequest, and: &streamsBeforeGroup
                )
                try statements.release.run(while: "finishing a write")
                outcomes.append(.success(ranges))
            } catch {
                restore(streamsBeforeRequest)
                let undone =
                    connection.isInTransaction
                    && (try? statements.rollbackToSavepoint.run(while: "undoing a failed write")) != nil
                    && (try? statements.release.run(while: "undoing a failed write")) != nil
                guard undone else {
                    abandon(requests, streamsBeforeGroup: streamsBeforeGroup, error: error)
                    return
                }
                outcomes.append(.failure(error))
            }
        }
        do {
            for name in streamsBeforeGroup.keys {
                try finishCommit(ofStream: name)
            }
            try statements.commit.run(while: "committing appended records")
        } catch {
            abandon(requests, streamsBeforeGroup: streamsBeforeGroup, error: error)
            return
        }
        for name in streamsBeforeGroup.keys {
            streams[name]?.hasUncommittedChanges = false
        }
        for (request, outcome) in zip(requests, outcomes) {
            request.resume(with: outcome)
        }
        if requests.contains(where: { if case .append = $0 { true } else { false } }) {
            appended.signal()
        }
    }

    /// Rolls the whole transaction back and fails every request of the group with `error`.
    private func abandon(_ requests: [WriteRequest], streamsBeforeGroup: [String: StreamState?], error: any Error) {
        if connection.isInTransaction {
            try? statements.rollback.run(while: "rolling back a failed commit")
        }
        restore(streamsBeforeGroup)
        requests.forEach { $0.fail(with: error) }
    }

    private func restore(_ saved: [String: StreamState?]) {
        for (name, state) in saved {
            streams[name] = state
        }
    }

    private func apply(
        _ request: WriteRequest, appendedAt: Int64,
        remembering streamsBeforeRequest: inout [String: StreamState?],
        and streamsBeforeGroup: inout [String: StreamState?]
    ) throws -> [String: Range<Int64>] {
        switch request {
        case .append(let batch, _):
            var ranges: [String: Range<Int64>] = [:]
            func appending(to name: String, _ body: (inout StreamState) throws -> Void) throws {
                if streamsBeforeRequest.index(forKey: name) == nil {
                    streamsBeforeRequest.updateValue(streams[name], forKey: name)
                }
                if streamsBeforeGroup.index(forKey: name) == nil {
                    streamsBeforeGroup.updateValue(streams[name], forKey: name)
                }
                var state = try streams[name] ?? createStream(named: name, createdAt: appendedAt)
                let firstOffset = state.nextOffset
                try body(&state)
                streams[name] = state
                ranges[name] = (ranges[name]?.lowerBound ?? firstOffset)..<state.nextOffset
            }
            for (name, drafts) in batch.records {
                try appending(to: name) { try append(drafts, to: &$0, named: name, appendedAt: appendedAt) }
            }
            for (name, changes) in batch.encoded {
                try appending(to: name) { try append(changes, to: &$0, named: name, appendedAt: appendedAt) }
            }
            for (key, value) in batch.state {
                try store(state: value, forKey: key)
            }
            return ranges
        case .setState(let key, let value, _):
            try store(state: value, forKey: key)
            return [:]
        case .commitConsumerOffset(let consumer, let stream, let nextOffset, _):
            let upsert = statements.upsertConsumerOffset
            try upsert.bind(consumer, at: 1)
            try upsert.bind(stream, at: 2)
            try upsert.bind(nextOffset, at: 3)
            try upsert.run(while: "committing the offset of consumer \(consumer) in stream \(stream)")
            return [:]
        case .applyRetention, .close:
            preconditionFailure("only group-committable requests are applied in a commit")
        }
    }

    private func createStream(named name: String, createdAt: Int64) throws -> StreamState {
        let insert = statements.insertStream
        try insert.bind(name, at: 1)
        try insert.bind(createdAt, at: 2)
        try insert.run(while: "creating stream \(name)")
        return StreamState(
            id: connection.lastInsertedRowID, firstOffset: 0, nextOffset: 0, recordCount: 0, payloadBytes: 0,
            maxSourceTime: nil, maxPosition: nil
        )
    }

    /// Stores `drafts` at the stream's next offsets.
    private func append(
        _ drafts: [LogRecordDraft], to state: inout StreamState, named name: String, appendedAt: Int64
    ) throws {
        try drafts.withUnsafeBufferPointer { drafts in
            try appendChunked(drafts.count, to: &state, named: name, appendedAt: appendedAt,
                              estimatedSize: { ChunkEncoder.estimatedSize(of: drafts[$0]) },
                              add: { encoder.append(drafts[$0], offset: $1) })
        }
        state.hasUncommittedChanges = true
    }

    /// Stores encoded change events at the stream's next offsets, chunked as drafts are.
    private func append(
        _ changes: EncodedChanges, to state: inout StreamState, named name: String, appendedAt: Int64
    ) throws {
        try changes.withBytes(0..<changes.byteCount) { bytes in
            try changes.records.withUnsafeBufferPointer { records in
                try appendChunked(records.count, to: &state, named: name, appendedAt: appendedAt,
                                  estimatedSize: { ChunkEncoder.estimatedSize(of: records[$0]) }) { index, offset in
                    let record = records[index]
                    var text = record.positionText
                    text.withUTF8 { text in
                        encoder.append(
                            offset: offset, sourceTime: record.commitTimeMicros,
                            key: record.key.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) },
                            payload: UnsafeRawBufferPointer(rebasing: bytes[record.payload]),
                            positionKey: UnsafeRawBufferPointer(rebasing: bytes[record.sortKey]),
                            positionText: UnsafeRawBufferPointer(text))
                    }
                }
            }
        }
    }

    /// Stores `count` records at the stream's next offsets, one chunk row per `LogSchema.maxRecordsPerChunk` records
    /// (or `LogSchema.maxChunkBytes`); `add(index, offset)` encodes a record into the chunk. The hot path of every append.
    private func appendChunked(
        _ count: Int, to state: inout StreamState, named name: String, appendedAt: Int64,
        estimatedSize: (Int) -> Int, add: (Int, Int64) -> Void
    ) throws {
        var index = 0
        while index < count {
            encoder.reset()
            repeat {
                add(index, state.nextOffset + encoder.recordCount)
                index += 1
            } while index < count && encoder.recordCount < LogSchema.maxRecordsPerChunk
                && encoder.byteCount + estimatedSize(index) <= LogSchema.maxChunkBytes
            try insertChunk(into: &state, named: name, appendedAt: appendedAt)
        }
        if count > 0 { state.hasUncommittedChanges = true }
    }

    /// Inserts the encoded chunk as the stream's next records.
    private func insertChunk(into state: inout StreamState, named name: String, appendedAt: Int64) throws {
        let maxPosition = encoder.maxPosition
        var updated = state
        updated.chunkAppended(encoder, maxPosition: maxPosition)
        let stored = encoder.stored()
        let insert = statements.insertChunk
        try insert.bind(state.id, at: 1)
        try bindSummary(of: encoder, stored: stored, appendedAt: appendedAt, maxPosition: maxPosition, to: insert)
        try insert.bind(updated.maxSourceTime, at: 11)
        try insert.bind(updated.maxPosition, at: 12)
        try insert.withBlob(stored, at: 13) {
            try insert.run(
                while: "appending records \(encoder.firstOffset)...\(encoder.lastOffset) to stream \(name)")
        }
        state = updated
    }

    /// Binds the columns an encoded chunk (stored as `stored`) determines to parameters 2 to 10 (see `insertChunk`,
    /// `updateChunk`).
    func bindSummary(
        of encoder: ChunkEncoder, stored: UnsafeRawBufferPointer, appendedAt: Int64, maxPosition: [UInt8]?,
        to statement: SQLiteStatement
    ) throws {
        let checksum = ChunkChecksum.of(
            baseOffset: encoder.firstOffset, lastOffset: encoder.lastOffset, recordCount: encoder.recordCount,
            appendedAt: appendedAt, records: stored
        )
        try statement.bind(encoder.firstOffset, at: 2)
        try statement.bind(encoder.lastOffset, at: 3)
        try statement.bind(encoder.recordCount, at: 4)
        try statement.bind(appendedAt, at: 5)
        try statement.bind(Int64(checksum), at: 6)
        try statement.bind(encoder.payloadBytes, at: 7)
        try statement.bind(encoder.minSourceTime, at: 8)
        try statement.bind(encoder.maxSourceTime, at: 9)
        try statement.bind(maxPosition, at: 10)
    }

    /// Writes a stream's counters before the group's COMMIT.
    private func finishCommit(ofStream name: String) throws {
        guard let state = streams[name], state.hasUncommittedChanges else { return }
        try updateStreamRow(state, named: name)
    }

    func updateStreamRow(_ state: StreamState, named name: String) throws {
        let update = statements.updateStream
        try update.bind(state.id, at: 1)
        try update.bind(state.firstOffset, at: 2)
        try update.bind(state.nextOffset, at: 3)
        try update.bind(state.recordCount, at: 4)
        try update.bind(state.payloadBytes, at: 5)
        try update.bind(state.maxSourceTime, at: 6)
        try update.bind(state.maxPosition, at: 7)
        try update.run(while: "updating the offsets of stream \(name)")
    }

    private func store(state value: [UInt8]?, forKey key: String) throws {
        if let value {
            let upsert = statements.upsertState
            try upsert.bind(key, at: 1)
            try upsert.bind(value, at: 2)
            try upsert.run(while: "storing connector state \(key)")
        } else {
            let delete = statements.deleteState
            try delete.bind(key, at: 1)
            try delete.run(while: "deleting connector state \(key)")
        }
    }
}

extension WriteRequest {
    /// Resumes a group-committable request's caller with its commit's outcome.
    func resume(with outcome: Result<[String: Range<Int64>], any Error>) {
        switch self {
        case .append(_, let continuation):
            continuation.resume(with: outcome)
        case .setState(_, _, let continuation), .commitConsumerOffset(_, _, _, let continuation):
            continuation.resume(with: outcome.map { _ in () })
        case .applyRetention, .close:
            preconditionFailure("only group-committable requests are resumed with a commit outcome")
        }
    }

    /// Fails a request; closing an already closed log succeeds (close is idempotent).
    func fail(with error: any Error, alreadyClosed: Bool = false) {
        switch self {
        case .append, .setState, .commitConsumerOffset:
            resume(with: .failure(error))
        case .applyRetention(_, _, let continuation):
            continuation.resume(throwing: error)
        case .close(let continuation):
            if alreadyClosed {
                continuation?.resume()
            } else {
                continuation?.resume(throwing: error)
            }
        }
    }
}

/// What the writer knows of one stream; the committed part mirrors its `streams` row.
struct StreamState {
    let id: Int64
    var firstOffset: Int64
    var nextOffset: Int64
    var recordCount: Int64
    var payloadBytes: Int64
    /// Running maximum of the source time over all records ever appended (never lowered by retention).
    var maxSourceTime: Int64?
    /// Running maximum of the source position sort key over all records ever appended.
    var maxPosition: [UInt8]?
    /// True when the stream row needs writing before the current transaction commits.
    var hasUncommittedChanges = false

    init(
        id: Int64, firstOffset: Int64, nextOffset: Int64, recordCount: Int64, payloadBytes: Int64,
        maxSourceTime: Int64?, maxPosition: [UInt8]?
    ) {
        self.id = id
        self.firstOffset = firstOffset
        self.nextOffset = nextOffset
        self.recordCount = recordCount
        self.payloadBytes = payloadBytes
        self.maxSourceTime = maxSourceTime
        self.maxPosition = maxPosition
    }

    /// Accounts for the chunk in `encoder`, stored at the next offsets (`maxPosition` is the chunk's).
    mutating func chunkAppended(_ encoder: ChunkEncoder, maxPosition chunkMaxPosition: [UInt8]?) {
        nextOffset = encoder.lastOffset + 1
        recordCount += encoder.recordCount
        payloadBytes += encoder.payloadBytes
        maxSourceTime = max(maxSourceTime ?? encoder.maxSourceTime, encoder.maxSourceTime)
        if let chunkMaxPosition, maxPosition.map({ $0.lexicographicallyPrecedes(chunkMaxPosition) }) ?? true {
            maxPosition = chunkMaxPosition
        }
    }
}
