/// A serial executor on one dedicated thread, for actors whose methods make blocking calls (file writes and fsync,
/// SQLite, zstd): an actor that returns it as its `unownedExecutor` runs all its code on that thread, so its blocking
/// calls never occupy Swift's cooperative thread pool, and its callers are suspended, not blocked.
///
///     public actor MySink: SinkConnector {
///         private let thread = ThreadExecutor(name: "sluice-sink-mine")
///         public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }
///     }
///
/// The thread ends when the executor is released (after the actor that holds it).
public final class ThreadExecutor: SerialExecutor {
    private let thread: BlockingExecutor<Void>

    public init(name: String) {
        thread = BlockingExecutor(name: name, handle: ())
    }

    deinit {
        thread.close()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        // The executor outlives its jobs: the actor that enqueues them holds it.
        let queued = thread.execute { _ in job.runSynchronously(on: executor) }
        precondition(queued, "\(thread.name): a job was enqueued after the executor was released")
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets `assumeIsolated` check that the caller runs on the executor's thread.
    public func checkIsolated() {
        precondition(thread.isExecutorThread, "\(thread.name): not on the executor's thread")
    }
}
