/// A serial executor on one dedicated thread, for actors whose methods make blocking calls (file writes and fsync,
/// SQLite, zstd): an actor that returns it as its `unownedExecutor` runs all its code on that thread, so its blocking
/// calls never occupy Swift's cooperative thread pool, and its callers are suspended, not blocked.
///
/// Keep it in a `static let`, one per actor type (all sinks of a type share the thread):
///
///     public actor MySink: SinkConnector {
///         private static let thread = ThreadExecutor(name: "my-sink")
///         public nonisolated var unownedExecutor: UnownedSerialExecutor { Self.thread.asUnownedSerialExecutor() }
///     }
///
/// The runtime refers to an actor's executor without owning it, so an executor must outlive every actor that uses it
/// and every job queued for them: an executor stored in each actor instance, released with the actor, was used after
/// it was freed when a task still switched to it (a crash in the kill test). A `static let` lives as long as the
/// process; the thread then waits, idle, when its actors are gone.
public final class ThreadExecutor: SerialExecutor {
    private let thread: BlockingExecutor<Void>

    public init(name: String) {
        thread = BlockingExecutor(name: name, handle: ())
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let queued = thread.execute { _ in job.runSynchronously(on: self.asUnownedSerialExecutor()) }
        precondition(queued, "\(thread.name): a job was enqueued after its thread was stopped")
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets `assumeIsolated` check that the caller runs on the executor's thread.
    public func checkIsolated() {
        precondition(thread.isExecutorThread, "\(thread.name): not on the executor's thread")
    }
}
