import Synchronization

/// Read connections to one database file, each owned by its own `BlockingExecutor` thread: the blocking calls
/// (SQLite steps, file reads) run there, never on Swift's cooperative pool, while async callers are suspended.
///
/// A call goes to the thread with the fewest calls queued; a thread opens its connection on its first call and keeps
/// it. Hand results over in few allocations (a chunk's bytes, not one array per record): memory allocated on one
/// thread and freed on another costs more than the hop itself.
public final class BlockingConnectionPool<Connection>: Sendable {
    private let threads: [BlockingExecutor<Slot>]
    private let state: Mutex<(queued: [Int], isClosed: Bool)>
    private let closedError: any Error & Sendable

    /// A thread's connection, opened on the thread's first call.
    private struct Slot {
        let open: @Sendable () throws -> Connection
        let close: @Sendable (Connection) -> Void
        var connection: Connection?

        mutating func connected() throws -> Connection {
            if let connection { return connection }
            let opened = try open()
            connection = opened
            return opened
        }

        mutating func disconnect() {
            if let connection { close(connection) }
            connection = nil
        }
    }

    /// - Parameters:
    ///   - name: The threads' name prefix (shown by `top -H` and in errors).
    ///   - threads: How many connections, each on its own thread (at least one); further concurrent calls queue.
    ///   - closedError: What calls throw once the pool is closed.
    ///   - open: Opens a connection; runs on the connection's thread.
    ///   - close: Closes a connection; runs on its thread.
    public init(
        name: String, threads count: Int, closedError: any Error & Sendable,
        open: @escaping @Sendable () throws -> Connection, close: @escaping @Sendable (Connection) -> Void
    ) {
        let count = max(1, count)
        threads = (0..<count).map { index in
            BlockingExecutor(name: "\(name)-\(index)", handle: Slot(open: open, close: close, connection: nil))
        }
        state = Mutex((queued: Array(repeating: 0, count: count), isClosed: false))
        self.closedError = closedError
    }

    /// Runs `body` with a connection on that connection's thread; throws `closedError` once the pool is closed.
    public func run<Result: Sendable>(_ body: @escaping @Sendable (Connection) throws -> Result) async throws
        -> Result
    {
        let index = try reserveThread()
        defer { state.withLock { $0.queued[index] -= 1 } }
        return try await threads[index].run { slot in try body(slot.connected()) }
    }

    /// The thread with the fewest calls queued, counting one more call on it.
    private func reserveThread() throws -> Int {
        let closedError = self.closedError
        return try state.withLock { state throws -> Int in
            guard !state.isClosed else { throw closedError }
            let index = state.queued.indices.min { state.queued[$0] < state.queued[$1] }!
            state.queued[index] += 1
            return index
        }
    }

    /// Closes the connections once the calls already queued ended; later calls throw `closedError`. Does not wait.
    public func close() {
        let wasOpen = state.withLock { state in
            defer { state.isClosed = true }
            return !state.isClosed
        }
        guard wasOpen else { return }
        for thread in threads {
            thread.execute { slot in slot.disconnect() }
            thread.close()
        }
    }
}
