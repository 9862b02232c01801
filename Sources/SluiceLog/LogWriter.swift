import Foundation
import SluiceCore

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
        return batch.records.reduce(0) { $0 + max($1.records.count, 1) }
    }
}

/// The single writer of a log file: a dedicated thread that owns the write connection and commits groups of requests.
///
/// Group commit: requests that arrive while a transaction commits wait in `queue`; the next transaction takes all of
/// them (up to `maxRecordsPerCommit`), gives each its own savepoint so one failing request does not fail the others,
/// and resumes every caller after the single COMMIT (and its fsync) returns. The SQLite work never runs on the Swift
/// concurrency pool; callers only suspend.
final class LogWriter: @unchecked Sendable {
    /// A commit takes queued requests until it holds this many records (it always takes at least one request).
    static let maxRecordsPerCommit = 100_000

    // Guarded by `queueCondition`.
    private let queueCondition = NSCondition()
    private var queue: [WriteRequest] = []
    private var isAcceptingRequests = true

    // Used only by the writer thread once `start()` returned.
    private let connection: SQLiteConnection
    private let statements: WriterStatements
    private var streams: [String: StreamState]
    private let wallClockMicros: @Sendable () -> Int64

    init(path: String, syncPolicy: SyncPolicy, wallClockMicros: @escaping @Sendable () -> Int64) throws {
        connection = try SQLiteConnection(path: path, create: true)
        try LogWriter.configure(connection, syncPolicy: syncPolicy)
        statements = try WriterStatements(connection)
        streams = try LogWriter.loadStreams(statements)
        self.wallClockMicros = wallClockMicros
    }

    /// Starts the writer thread; call once.
    func start() {
        let thread = Thread { [self] in
            runLoop()
        }
        thread.name = "sluice-log-writer"
        thread.start()
    }

    /// Queues a request, or fails it at once when the log is closing or closed.
    func submit(_ request: WriteRequest) {
        queueCondition.lock()
        guard isAcceptingRequests else {
            queueCondition.unlock()
            fail(request, with: LogError.closedLog, alreadyClosed: true)
            return
        }
        if case .close = request {
            isAcceptingRequests = false
        }
        queue.append(request)
        queueCondition.signal()
        queueCondition.unlock()
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

    private func runLoop() {
        while true {
            switch nextWork() {
            case .commit(let requests):
                commit(requests)
            case .applyRetention(let policy, let names, let continuation):
                continuation.resume(with: Result { try applyRetention(policy, to: names) })
            case .close(let continuation):
                connection.close()
                continuation?.resume()
                return
            }
        }
    }

    /// Waits for requests; returns the next retention or close request, or the run of group-committable requests.
    private func nextWork() -> Work {
        queueCondition.lock()
        defer { queueCondition.unlock() }
        while queue.isEmpty {
            queueCondition.wait()
        }
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
            requests.forEach { fail($0, with: error) }
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
            resume(request, with: outcome)
        }
    }

    /// Rolls the whole transaction back and fails every request of the group with `error`.
    private func abandon(_ requests: [WriteRequest], streamsBeforeGroup: [String: StreamState?], error: any Error) {
        if connection.isInTransaction {
            try? statements.rollback.run(while: "rolling back a failed commit")
        }
        restore(streamsBeforeGroup)
        requests.forEach { fail($0, with: error) }
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
            for (name, drafts) in batch.records {
                if streamsBeforeRequest.index(forKey: name) == nil {
                    streamsBeforeRequest.updateValue(streams[name], forKey: name)
                }
                if streamsBeforeGroup.index(forKey: name) == nil {
                    streamsBeforeGroup.updateValue(streams[name], forKey: name)
                }
                var state = try streams[name] ?? createStream(named: name, createdAt: appendedAt)
                let firstOffset = state.nextOffset
                try append(drafts, to: &state, named: name, appendedAt: appendedAt)
                streams[name] = state
                ranges[name] = (ranges[name]?.lowerBound ?? firstOffset)..<state.nextOffset
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

    /// Inserts `drafts` at the stream's next offsets; the hot path of every append.
    private func append(
        _ drafts: [LogRecordDraft], to state: inout StreamState, named name: String, appendedAt: Int64
    ) throws {
        let insert = statements.insertRecord
        try insert.bind(state.id, at: 1)
        try insert.bind(appendedAt, at: 8)
        for draft in drafts {
            let offset = state.nextOffset
            let positionKey = draft.position?.sortKey
            let positionText = draft.position?.text
            let checksum = RecordChecksum.of(
                offset: offset, sourceTime: draft.timestampMicros, appendedAt: appendedAt, key: draft.key,
                payload: draft.payload, positionKey: positionKey, positionText: positionText
            )
            try insert.bind(offset, at: 2)
            try insert.bind(draft.timestampMicros, at: 7)
            try insert.bind(Int64(checksum), at: 9)
            try insert.withBlob(draft.key, at: 3) {
                try insert.withBlob(draft.payload, at: 4) {
                    try insert.withBlob(positionKey, at: 5) {
                        try insert.withText(positionText, at: 6) {
                            try insert.run(while: "appending record \(offset) to stream \(name)")
                        }
                    }
                }
            }
            state.recordAppended(draft)
            if let seekRow = state.openSeekRow,
                seekRow.lastOffset - seekRow.firstOffset + 1 >= LogSchema.seekIndexInterval
            {
                try writeSeekRow(of: &state)
            }
        }
        state.hasUncommittedChanges = true
    }

    private func writeSeekRow(of state: inout StreamState) throws {
        guard let seekRow = state.openSeekRow, let maxSourceTime = state.maxSourceTime else { return }
        let insert = statements.insertSeekRow
        try insert.bind(state.id, at: 1)
        try insert.bind(seekRow.firstOffset, at: 2)
        try insert.bind(seekRow.lastOffset, at: 3)
        try insert.bind(maxSourceTime, at: 4)
        try insert.bind(state.maxPosition, at: 5)
        try insert.run(while: "indexing records \(seekRow.firstOffset)...\(seekRow.lastOffset)")
        state.openSeekRow = nil
    }

    /// Writes a stream's seek row and counters before the group's COMMIT.
    private func finishCommit(ofStream name: String) throws {
        guard var state = streams[name], state.hasUncommittedChanges else { return }
        try writeSeekRow(of: &state)
        try updateStreamRow(state, named: name)
        streams[name] = state
    }

    private func updateStreamRow(_ state: StreamState, named name: String) throws {
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

    // MARK: Retention

    /// Applies `policy` to each stream in its own transaction (appends interleave between streams).
    private func applyRetention(_ policy: RetentionPolicy, to names: [String]?) throws -> Int64 {
        let now = wallClockMicros()
        var removed: Int64 = 0
        for name in names ?? streams.keys.sorted() {
            guard var state = streams[name] else { continue }
            try statements.begin.run(while: "starting retention of stream \(name)")
            do {
                removed += try applyRetention(policy, to: &state, named: name, now: now)
                try updateStreamRow(state, named: name)
                try statements.commit.run(while: "committing retention of stream \(name)")
            } catch {
                if connection.isInTransaction {
                    try? statements.rollback.run(while: "rolling back retention of stream \(name)")
                }
                throw error
            }
            streams[name] = state
        }
        return removed
    }

    private func applyRetention(
        _ policy: RetentionPolicy, to state: inout StreamState, named name: String, now: Int64
    ) throws -> Int64 {
        var removed: Int64 = 0
        if policy.compactByKey {
            let compact = statements.compactByKey
            try compact.bind(state.id, at: 1)
            try compact.run(while: "compacting stream \(name) by key")
            removed += connection.changedRowCount
            let totals = statements.selectStreamTotals
            try totals.bind(state.id, at: 1)
            defer { totals.reset() }
            if try totals.step() {
                state.recordCount = totals.int64(at: 0)
                state.payloadBytes = totals.int64(at: 1)
            }
        }
        if let maxAgeSeconds = policy.maxAgeSeconds {
            let select = statements.selectFirstAppendedSince
            try select.bind(state.id, at: 1)
            try select.bind(now - maxAgeSeconds * 1_000_000, at: 2)
            let boundary = try select.step() ? select.int64(at: 0) : state.nextOffset
            select.reset()
            removed += try removeRecords(before: boundary, from: &state, named: name)
        }
        if let maxBytes = policy.maxBytes, state.payloadBytes > maxBytes {
            removed += try removeRecords(
                before: try sizeBoundary(of: state, maxBytes: maxBytes), from: &state, named: name)
        }
        let selectFirst = statements.selectFirstOffset
        try selectFirst.bind(state.id, at: 1)
        defer { selectFirst.reset() }
        state.firstOffset =
            try selectFirst.step() ? selectFirst.optionalInt64(at: 0) ?? state.nextOffset : state.nextOffset
        return removed
    }

    /// The first offset to keep so that the payload bytes kept are at most `maxBytes`.
    private func sizeBoundary(of state: StreamState, maxBytes: Int64) throws -> Int64 {
        let select = statements.selectPayloadSizes
        try select.bind(state.id, at: 1)
        defer { select.reset() }
        let excess = state.payloadBytes - maxBytes
        var dropped: Int64 = 0
        while try select.step() {
            if dropped >= excess {
                return select.int64(at: 0)
            }
            dropped += select.int64(at: 1)
        }
        return state.nextOffset
    }

    private func removeRecords(
        before boundary: Int64, from state: inout StreamState, named name: String
    ) throws -> Int64 {
        let totals = statements.selectPrefixTotals
        try totals.bind(state.id, at: 1)
        try totals.bind(boundary, at: 2)
        guard try totals.step() else {
            totals.reset()
            return 0
        }
        let count = totals.int64(at: 0)
        let bytes = totals.int64(at: 1)
        totals.reset()
        guard count > 0 else { return 0 }
        for delete in [statements.deleteRecordsBefore, statements.deleteSeekRowsBefore] {
            try delete.bind(state.id, at: 1)
            try delete.bind(boundary, at: 2)
            try delete.run(while: "removing records before offset \(boundary) from stream \(name)")
        }
        state.recordCount -= count
        state.payloadBytes -= bytes
        return count
    }

    // MARK: Completing requests

    private func resume(_ request: WriteRequest, with outcome: Result<[String: Range<Int64>], any Error>) {
        switch request {
        case .append(_, let continuation):
            continuation.resume(with: outcome)
        case .setState(_, _, let continuation), .commitConsumerOffset(_, _, _, let continuation):
            continuation.resume(with: outcome.map { _ in () })
        case .applyRetention, .close:
            preconditionFailure("only group-committable requests are resumed with a commit outcome")
        }
    }

    /// Fails a request; closing an already closed log succeeds (close is idempotent).
    private func fail(_ request: WriteRequest, with error: any Error, alreadyClosed: Bool = false) {
        switch request {
        case .append, .setState, .commitConsumerOffset:
            resume(request, with: .failure(error))
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
    /// Records appended in the current commit that no `seek_index` row covers yet.
    struct OpenSeekRow {
        var firstOffset: Int64
        var lastOffset: Int64
    }

    let id: Int64
    var firstOffset: Int64
    var nextOffset: Int64
    var recordCount: Int64
    var payloadBytes: Int64
    /// Running maximum of the source time over all records ever appended (never lowered by retention).
    var maxSourceTime: Int64?
    /// Running maximum of the source position sort key over all records ever appended.
    var maxPosition: [UInt8]?
    var openSeekRow: OpenSeekRow?
    /// True when the stream row and seek index need writing before the current transaction commits.
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

    mutating func recordAppended(_ draft: LogRecordDraft) {
        if let seekRow = openSeekRow {
            openSeekRow = OpenSeekRow(firstOffset: seekRow.firstOffset, lastOffset: nextOffset)
        } else {
            openSeekRow = OpenSeekRow(firstOffset: nextOffset, lastOffset: nextOffset)
        }
        nextOffset += 1
        recordCount += 1
        payloadBytes += Int64(draft.payload.count)
        maxSourceTime = max(maxSourceTime ?? draft.timestampMicros, draft.timestampMicros)
        if let sortKey = draft.position?.sortKey, maxPosition.map({ $0.lexicographicallyPrecedes(sortKey) }) ?? true {
            maxPosition = sortKey
        }
    }
}

/// The writer connection's statements, prepared once.
struct WriterStatements {
    let begin: SQLiteStatement
    let commit: SQLiteStatement
    let rollback: SQLiteStatement
    let savepoint: SQLiteStatement
    let release: SQLiteStatement
    let rollbackToSavepoint: SQLiteStatement
    let selectStreams: SQLiteStatement
    let insertStream: SQLiteStatement
    let updateStream: SQLiteStatement
    let insertRecord: SQLiteStatement
    let insertSeekRow: SQLiteStatement
    let upsertState: SQLiteStatement
    let deleteState: SQLiteStatement
    let upsertConsumerOffset: SQLiteStatement
    let compactByKey: SQLiteStatement
    let selectStreamTotals: SQLiteStatement
    let selectFirstAppendedSince: SQLiteStatement
    let selectPayloadSizes: SQLiteStatement
    let selectPrefixTotals: SQLiteStatement
    let deleteRecordsBefore: SQLiteStatement
    let deleteSeekRowsBefore: SQLiteStatement
    let selectFirstOffset: SQLiteStatement

    init(_ connection: SQLiteConnection) throws {
        begin = try connection.prepare("BEGIN IMMEDIATE")
        commit = try connection.prepare("COMMIT")
        rollback = try connection.prepare("ROLLBACK")
        savepoint = try connection.prepare("SAVEPOINT request")
        release = try connection.prepare("RELEASE request")
        rollbackToSavepoint = try connection.prepare("ROLLBACK TO request")
        selectStreams = try connection.prepare(
            """
            SELECT id, name, first_offset, next_offset, record_count, payload_bytes, max_source_time, max_position
            FROM streams
            """
        )
        insertStream = try connection.prepare("INSERT INTO streams (name, created_at) VALUES (?1, ?2)")
        updateStream = try connection.prepare(
            """
            UPDATE streams SET first_offset = ?2, next_offset = ?3, record_count = ?4, payload_bytes = ?5,
                max_source_time = ?6, max_position = ?7
            WHERE id = ?1
            """
        )
        insertRecord = try connection.prepare(
            """
            INSERT INTO records (stream_id, record_offset, record_key, payload, position_key, position_text,
                source_time, appended_at, checksum)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """
        )
        insertSeekRow = try connection.prepare(
            """
            INSERT INTO seek_index (stream_id, first_offset, last_offset, max_source_time, max_position)
            VALUES (?1, ?2, ?3, ?4, ?5)
            """
        )
        upsertState = try connection.prepare(
            """
            INSERT INTO connector_state (key, value) VALUES (?1, ?2)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """
        )
        deleteState = try connection.prepare("DELETE FROM connector_state WHERE key = ?1")
        upsertConsumerOffset = try connection.prepare(
            """
            INSERT INTO consumer_offsets (consumer, stream, next_offset) VALUES (?1, ?2, ?3)
            ON CONFLICT (consumer, stream) DO UPDATE SET next_offset = excluded.next_offset
            """
        )
        compactByKey = try connection.prepare(
            """
            DELETE FROM records
            WHERE stream_id = ?1 AND record_key IS NOT NULL AND record_offset NOT IN (
                SELECT max(record_offset) FROM records
                WHERE stream_id = ?1 AND record_key IS NOT NULL
                GROUP BY record_key
            )
            """
        )
        selectStreamTotals = try connection.prepare(
            "SELECT count(*), coalesce(sum(length(payload)), 0) FROM records WHERE stream_id = ?1"
        )
        selectFirstAppendedSince = try connection.prepare(
            """
            SELECT record_offset FROM records WHERE stream_id = ?1 AND appended_at >= ?2
            ORDER BY record_offset LIMIT 1
            """
        )
        selectPayloadSizes = try connection.prepare(
            "SELECT record_offset, length(payload) FROM records WHERE stream_id = ?1 ORDER BY record_offset"
        )
        selectPrefixTotals = try connection.prepare(
            """
            SELECT count(*), coalesce(sum(length(payload)), 0) FROM records
            WHERE stream_id = ?1 AND record_offset < ?2
            """
        )
        deleteRecordsBefore = try connection.prepare(
            "DELETE FROM records WHERE stream_id = ?1 AND record_offset < ?2"
        )
        deleteSeekRowsBefore = try connection.prepare(
            "DELETE FROM seek_index WHERE stream_id = ?1 AND last_offset < ?2"
        )
        selectFirstOffset = try connection.prepare("SELECT min(record_offset) FROM records WHERE stream_id = ?1")
    }
}
