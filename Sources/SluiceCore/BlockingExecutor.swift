import Dispatch
import Foundation
import Synchronization

/// A dedicated thread that owns a handle for a blocking C library (a database connection) and runs the work given
/// to it one job at a time, in order, off Swift's cooperative thread pool.
///
/// This is a concurrency primitive: it does no I/O of its own; the jobs do. Async callers `await run { handle in … }`
/// and are suspended (not blocked) until their job returned; a long job (a read loop) hands its data out through a
/// `BoundedChannel`. The handle is only ever touched on the executor's thread, so it need not be `Sendable`.
///
/// `close()` stops taking jobs; those already queued still run. `join()` and `joined()` wait for the thread to end
/// without spinning; the handle is released once it ended.
public final class BlockingExecutor<Handle>: Sendable {
    /// The thread's name (shown by debuggers and `top -H`), also used in errors.
    public let name: String
    private let state = Mutex(Jobs())
    /// Signalled once per queued job and once by `close()`; the thread waits on it while idle.
    private let jobsQueued = DispatchSemaphore(value: 0)
    /// Entered while the thread runs.
    private let running = DispatchGroup()
    /// Safe because only the executor's thread reads or writes it after `init` (every job runs on that thread),
    /// and `init` stores it before the thread starts.
    nonisolated(unsafe) private var handle: Handle?

    private struct Jobs: ~Copyable {
        var queue: [@Sendable (inout Handle) -> Void] = []
        var head = 0
        var isClosed = false
        var threadID: pthread_t?
    }

    /// Starts the thread, which owns `handle` from now on.
    public init(name: String, handle: sending Handle) {
        self.name = name
        self.handle = handle
        running.enter()
        let thread = Thread { [self] in
            state.withLock { $0.threadID = pthread_self() }
            while let job = nextJob() {
                job(&self.handle!)
            }
            self.handle = nil
            running.leave()
        }
        thread.name = name
        thread.start()
    }

    /// Runs `body` with the handle on the executor's thread; the caller is suspended until it returned.
    ///
    /// Throws `SluiceError` (`internal`) when the executor was closed before the job could be queued.
    public func run<Result: Sendable>(_ body: @escaping @Sendable (inout Handle) throws -> Result) async throws
        -> Result
    {
        try await withCheckedThrowingContinuation { continuation in
            let queued = enqueue { handle in continuation.resume(with: Swift.Result { try body(&handle) }) }
            if !queued { continuation.resume(throwing: closedError) }
        }
    }

    /// Queues `body` without waiting for it (a loop that runs until its channel closes, a last write on close).
    ///
    /// Returns false, without running `body`, when the executor was closed.
    @discardableResult
    public func execute(_ body: @escaping @Sendable (inout Handle) -> Void) -> Bool {
        enqueue(body)
    }

    /// Stops taking jobs: the thread ends after those already queued. Does not wait; safe on the executor's thread.
    public func close() {
        let wasOpen = state.withLock { jobs in
            defer { jobs.isClosed = true }
            return !jobs.isClosed
        }
        if wasOpen { jobsQueued.signal() }
    }

    /// Closes the executor and blocks the calling thread until the executor's thread ended (it waits, it does not
    /// spin). Call it from a thread that may block, never from the executor's own thread.
    public func join() {
        close()
        precondition(!isExecutorThread, "\(name): join() called on the executor's own thread")
        running.wait()
    }

    /// Closes the executor and suspends the caller until the executor's thread ended.
    public func joined() async {
        close()
        await withCheckedContinuation { continuation in
            running.notify(queue: .global()) { continuation.resume() }
        }
    }

    /// True on the executor's thread.
    public var isExecutorThread: Bool {
        state.withLock { jobs in jobs.threadID.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }

    private var closedError: SluiceError {
        SluiceError(.internal, "the \(name) thread was stopped before it could run a call",
                    hint: "this happens only while the connector shuts down; report it if it happens otherwise")
    }

    private func enqueue(_ job: @escaping @Sendable (inout Handle) -> Void) -> Bool {
        let queued = state.withLock { jobs in
            guard !jobs.isClosed else { return false }
            jobs.queue.append(job)
            return true
        }
        if queued { jobsQueued.signal() }
        return queued
    }

    /// The next job, waiting while there is none; nil once closed and drained.
    private func nextJob() -> (@Sendable (inout Handle) -> Void)? {
        while true {
            jobsQueued.wait()
            let next: (@Sendable (inout Handle) -> Void)?? = state.withLock { jobs in
                if jobs.head < jobs.queue.count {
                    let job = jobs.queue[jobs.head]
                    jobs.head += 1
                    if jobs.head == jobs.queue.count {
                        jobs.queue.removeAll(keepingCapacity: true)
                        jobs.head = 0
                    }
                    return .some(job)
                }
                return jobs.isClosed ? .some(nil) : nil
            }
            if let next { return next }
        }
    }
}

/// A call on a `BlockingExecutor` that the caller starts now and picks up later (`peek`, `take` or `wait`), one at a
/// time: a chunk read that runs while the caller goes on streaming.
public final class PendingCall<Success: Sendable>: Sendable {
    private enum State {
        case idle
        case running(waiters: [CheckedContinuation<Void, Never>])
        case finished(Result<Success, any Error>)
    }

    private let state = Mutex(State.idle)

    public init() {}

    /// Starts `body` on `executor` (dropping an outcome not taken); `onFinished` runs on the executor's thread once
    /// the outcome can be taken.
    public func start<Handle>(on executor: BlockingExecutor<Handle>, onFinished: (@Sendable () -> Void)? = nil,
                              _ body: @escaping @Sendable (inout Handle) throws -> Success) {
        state.withLock { $0 = .running(waiters: []) }
        let queued = executor.execute { [self] handle in
            let outcome = Result { try body(&handle) }
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                defer { state = .finished(outcome) }
                if case .running(let waiters) = state { return waiters }
                return []
            }
            waiters.forEach { $0.resume() }
            onFinished?()
        }
        if !queued {
            state.withLock { state in
                state = .finished(.failure(SluiceError(.internal, "\(executor.name) was stopped before a call")))
            }
        }
    }

    /// True while the call runs.
    public var isRunning: Bool {
        state.withLock { if case .running = $0 { true } else { false } }
    }

    /// The outcome of the finished call, left in place; nil while it runs or when none is waiting.
    public func peek() -> Result<Success, any Error>? {
        state.withLock { if case .finished(let outcome) = $0 { outcome } else { nil } }
    }

    /// The outcome of the finished call, taken (a second `take` returns nil).
    public func take() -> Result<Success, any Error>? {
        state.withLock { state in
            guard case .finished(let outcome) = state else { return nil }
            state = .idle
            return outcome
        }
    }

    /// Suspends until the running call finished (at once when none runs); does not take the outcome.
    public func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let running = state.withLock { state in
                guard case .running(let waiters) = state else { return false }
                state = .running(waiters: waiters + [continuation])
                return true
            }
            if !running { continuation.resume() }
        }
    }
}
