import Foundation
import SluiceCore
import Synchronization

/// The embedded core log: one SQLite database file in WAL mode.
///
/// Writes go to one writer thread that merges concurrent appends into a single transaction (group commit), so the
/// cost of the commit's fsync is shared; every append still returns its own offset ranges and is durable, under the
/// log's `SyncPolicy`, when it returns. Reads use their own connections and never wait for the writer.
///
/// The records of each append are stored together per stream as chunks (see `LogSchema`), each with a CRC-32C that
/// is computed when appended and verified whenever a read, seek or retention pass uses the chunk's records: a damaged
/// chunk fails the reads that need it, naming its stream and offset range. Offsets are dense per stream, start at 0
/// and are never reused, also after retention. A process crash at any moment loses no acknowledged append and
/// leaves no partial one: each commit is one SQLite transaction.
///
/// One process should own a log file; call `close()` when done (a log dropped without `close()` still closes its
/// file once queued writes finish). Appends are not cancellable once submitted: cancelling the calling task does
/// not undo an append that may already be durable.
public final class SQLiteChangeLog: ChangeLog {
    /// The database file.
    public let path: String
    private let writer: LogWriter
    /// Read connections, each on its own thread (WAL mode: reads see the last commit and never wait for the writer).
    private let readers: BlockingConnectionPool<LogReader>
    private let appended = AppendSignal()
    /// The one connection whose `data_version` `dataVersion()` reports (the pragma's value is only comparable on one
    /// connection), on its own thread.
    private let changeProbe: BlockingConnectionPool<LogReader>

    /// Opens the log at `path`, creating the file and its schema when it does not exist.
    ///
    /// - Parameters:
    ///   - path: The database file; its directory must exist and be writable (SQLite adds `-wal` and `-shm` files).
    ///   - syncPolicy: How appends reach the disk (default `.full`: fsync before each append returns).
    ///   - readConnections: Read threads, each with its own connection (default 4); more concurrent reads queue.
    ///   - wallClockMicros: The clock for `appendedAtMicros` and age retention (default: the system clock).
    public init(
        path: String, syncPolicy: SyncPolicy = .full, readConnections: Int = 4,
        wallClockMicros: @escaping @Sendable () -> Int64 = SQLiteChangeLog.systemWallClockMicros
    ) throws {
        self.path = path
        writer = try LogWriter(path: path, syncPolicy: syncPolicy, appended: appended,
                               wallClockMicros: wallClockMicros)
        readers = BlockingConnectionPool(
            name: "sluice-log-read", threads: readConnections, closedError: LogError.closedLog,
            open: { try LogReader(path: path) }, close: { $0.close() })
        changeProbe = BlockingConnectionPool(
            name: "sluice-log-probe", threads: 1, closedError: LogError.closedLog,
            open: { try LogReader(path: path) }, close: { $0.close() })
    }

    deinit {
        closeReaders()
        writer.submit(.close(nil))
    }

    private func closeReaders() {
        readers.close()
        changeProbe.close()
    }

    /// Microseconds since 1970-01-01 UTC from the system's real-time clock.
    @Sendable
    public static func systemWallClockMicros() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000
    }

    // MARK: Writes

    @discardableResult
    public func append(_ batch: AppendBatch) async throws -> [String: Range<Int64>] {
        for stream in batch.records.map(\.stream) + batch.encoded.map(\.stream) {
            try Self.validate(streamName: stream)
        }
        return try await withCheckedThrowingContinuation { continuation in
            writer.submit(.append(batch, continuation))
        }
    }

    public func setState(_ key: String, _ value: [UInt8]?) async throws {
        try await withCheckedThrowingContinuation { continuation in
            writer.submit(.setState(key: key, value: value, continuation))
        }
    }

    public func commitConsumerOffset(consumer: String, stream: String, nextOffset: Int64) async throws {
        try Self.validate(streamName: stream)
        guard !consumer.isEmpty else {
            throw LogError(code: .invalidArgument, message: "consumer name is empty: give every consumer a name")
        }
        guard nextOffset >= 0 else {
            throw LogError(
                code: .invalidArgument,
                message: "consumer \(consumer) committed offset \(nextOffset) in stream \(stream): offsets start at 0"
            )
        }
        try await withCheckedThrowingContinuation { continuation in
            writer.submit(
                .commitConsumerOffset(consumer: consumer, stream: stream, nextOffset: nextOffset, continuation))
        }
    }

    /// Applies retention to `streams` (all streams when nil), one transaction per stream.
    ///
    /// Compaction by key runs first, then age, then size. Age and size retention remove a prefix of the stream:
    /// the oldest records up to the first one appended within `maxAgeSeconds`, and then the oldest records while
    /// the payload bytes exceed `maxBytes`. Appends wait while a stream's retention transaction runs.
    ///
    /// Granularity: the log deletes whole chunks (the records one append stored in one stream, at most
    /// `LogSchema.maxRecordsPerChunk` each). Age retention always ends at a chunk edge, since the records of a chunk
    /// share their append time. Size retention rewrites the one chunk its boundary falls in, so it keeps exactly
    /// the records a per-record log would. Compaction rewrites the chunks that hold superseded records, keeping
    /// offsets (the chunks get gaps) and append times. A damaged chunk fails the pass with `checksumMismatch`.
    @discardableResult
    public func applyRetention(_ policy: RetentionPolicy, streams: [String]?) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            writer.submit(.applyRetention(policy, streams: streams, continuation))
        }
    }

    /// Waits for every write submitted before it, then closes the file; later calls fail, a second `close` succeeds.
    ///
    /// Readers close first so that the writer's connection is the last one: SQLite then checkpoints the WAL into
    /// the database file and removes it.
    public func close() async throws {
        closeReaders()
        try await withCheckedThrowingContinuation { continuation in
            writer.submit(.close(continuation))
        }
    }

    // MARK: Reads

    /// Runs `body` on a read thread's connection, ending a read transaction it left open.
    private func withReader<Result: Sendable>(_ body: @escaping @Sendable (LogReader) throws -> Result) async throws
        -> Result
    {
        try await readers.run { reader in
            defer { reader.endTransaction() }
            return try body(reader)
        }
    }

    /// Records of `stream` from `offset` on, verified against their checksums.
    ///
    /// Throws `LogError` with code `checksumMismatch`, naming the stream and the offsets of the damaged chunk, when a
    /// record the read would return is in a damaged chunk.
    public func read(stream: String, from offset: Int64, limit: Int) async throws -> [LogRecord] {
        guard limit > 0 else { return [] }
        var records: [LogRecord] = []
        records.reserveCapacity(min(limit, 4096))
        var from = offset
        while true {
            let wanted = limit - records.count
            let fetched = try await withReader { [from] in try $0.chunks(stream: stream, from: from, limit: wanted) }
            for chunk in fetched.chunks where records.count < limit {
                try chunk.decode(into: &records, from: offset, limit: limit, stream: stream, path: path)
            }
            // A short count means offsets were sparse (compaction) where the fetch assumed them dense: fetch on.
            guard records.count < limit, !fetched.reachedEnd, let last = fetched.chunks.last else { return records }
            from = last.header.lastOffset + 1
        }
    }

    /// The first offset from which reading returns every record whose source time is at or after `micros`.
    ///
    /// That is the first record with such a time, even when source times are not monotonic; when retention
    /// removed that record, the offset after the removed range.
    public func offset(stream: String, atOrAfterTimestamp micros: Int64) async throws -> Int64 {
        try await withReader { try $0.offset(stream: stream, atOrAfterTimestamp: micros) }
    }

    /// The first offset from which reading returns every record whose source position is at or after `position`.
    public func offset(stream: String, atOrAfterPosition position: SourcePosition) async throws -> Int64 {
        try await withReader { try $0.offset(stream: stream, atOrAfterPosition: position) }
    }

    public func streams() async throws -> [StreamInfo] {
        try await withReader { try $0.streams() }
    }

    public func stream(_ name: String) async throws -> StreamInfo? {
        try await withReader { try $0.stream(name) }
    }

    public func state(_ key: String) async throws -> [UInt8]? {
        try await withReader { try $0.state(key) }
    }

    public func states(prefix: String) async throws -> [String: [UInt8]] {
        try await withReader { try $0.states(prefix: prefix) }
    }

    public func consumerOffset(consumer: String, stream: String) async throws -> Int64 {
        try await withReader { try $0.consumerOffset(consumer: consumer, stream: stream) }
    }

    // MARK: Change notifications

    public func waitForAppend(after version: UInt64, timeout: Duration) async throws -> UInt64 {
        await appended.wait(after: version, timeout: timeout)
    }

    public func dataVersion() async throws -> Int64 {
        try await changeProbe.run { try $0.dataVersion() }
    }

    public func hasChanged(since version: Int64) async throws -> Bool {
        try await dataVersion() != version
    }

    private static func validate(streamName: String) throws {
        guard !streamName.isEmpty else {
            throw LogError(
                code: .invalidArgument,
                message: "stream name is empty: name streams <pipeline>.<schema>.<table> or use a system stream"
            )
        }
    }
}

/// The count of commits that stored records, and the tasks waiting for it to grow.
final class AppendSignal: Sendable {
    private struct Waiter {
        var id: UInt64
        var after: UInt64
        var continuation: CheckedContinuation<UInt64, Never>
    }

    private struct State {
        var version: UInt64 = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        /// Waits in progress, and those of them that ended (timeout, cancellation) before they were registered.
        var inProgress: Set<UInt64> = []
        var endedEarly: Set<UInt64> = []
    }

    private let state = Mutex(State())

    /// Counts one more commit with records and resumes every waiter (on the writer's thread, after the commit).
    func signal() {
        let (version, woken) = state.withLock { state in
            state.version += 1
            defer { state.waiters.removeAll() }
            return (state.version, state.waiters)
        }
        for waiter in woken { waiter.continuation.resume(returning: version) }
    }

    /// The version once it is above `version`, or `version` after `timeout` or on cancellation.
    func wait(after version: UInt64, timeout: Duration) async -> UInt64 {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            state.inProgress.insert(state.nextID)
            return state.nextID
        }
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.end(id)
        }
        defer {
            timer.cancel()
            state.withLock { state in
                state.inProgress.remove(id)
                state.endedEarly.remove(id)
            }
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<UInt64, Never>) in
                let ready: UInt64? = state.withLock { state in
                    if state.version > version { return state.version }
                    if state.endedEarly.remove(id) != nil { return version }
                    state.waiters.append(Waiter(id: id, after: version, continuation: continuation))
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            end(id)
        }
    }

    private func end(_ id: UInt64) {
        let waiter: Waiter? = state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
                if state.inProgress.contains(id) { state.endedEarly.insert(id) }
                return nil
            }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(returning: waiter!.after)
    }
}
