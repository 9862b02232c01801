import Logging
import SluiceConnectorKit
import SluiceCore
import Synchronization

/// An in-memory stand-in for the runtime and its log, for running a source in a test: it keeps what the source
/// emits (encoded events decoded, as the log's readers read them), its state and schemas, and the pending
/// incremental-snapshot requests. A batch counts as durable once it is recorded; `onDurable` is called only then,
/// after the batch's events and state are stored, as the real runtime calls it after the log commit.
///
/// `failEmits(after:)` injects a crash: once the budget is used up, `emit` throws `CancellationError` before
/// recording the batch (a crash before the append), and `injectedCrashes` counts it, so a test can tell that
/// failure from a real one.
public final class RecordingRuntime: Sendable {
    private struct Stored {
        var batches: [SourceBatch] = []
        var state: [String: [UInt8]] = [:]
        var latestSchemas: [TableID: TableSchema] = [:]
        var snapshotRequests: [String] = []
        var emitBudget: Int?
        var injectedCrashes = 0
    }

    private let stored = Mutex(Stored())

    public init() {}

    /// Every recorded event, in emit order.
    public var events: [ChangeEvent] { stored.withLock { $0.batches.flatMap(\.events) } }

    /// Every schema version the source emitted, in emit order.
    public var schemas: [TableSchema] { stored.withLock { $0.batches.flatMap(\.schemas) } }

    /// The recorded events of the table named `table`.
    public func events(of table: String) -> [ChangeEvent] { events.filter { $0.table.name == table } }

    /// Number of batches recorded.
    public var batchCount: Int { stored.withLock { $0.batches.count } }

    /// The stored state value of `key`.
    public func state(_ key: String) -> [UInt8]? { stored.withLock { $0.state[key] } }

    /// Adds an incremental snapshot request (as `sluice snapshot` stores it).
    public func requestSnapshot(_ table: String) {
        stored.withLock { if !$0.snapshotRequests.contains(table) { $0.snapshotRequests.append(table) } }
    }

    /// Replaces the pending incremental snapshot requests.
    public func setSnapshotRequests(_ tables: [String]) { stored.withLock { $0.snapshotRequests = tables } }

    /// The pending incremental snapshot requests, in request order.
    public var pendingSnapshotRequests: [String] { stored.withLock { $0.snapshotRequests } }

    /// Accept `batches` more batches, then fail every emit (an injected crash); nil accepts all again.
    public func failEmits(after batches: Int?) { stored.withLock { $0.emitBudget = batches } }

    /// How many emits the budget refused.
    public var injectedCrashes: Int { stored.withLock { $0.injectedCrashes } }

    /// Runs `body` with a crash injected after `batches` batches. The injected crash is expected; any other
    /// failure is rethrown. Returns whether the crash happened (the run may finish before the budget is used).
    @discardableResult
    public func runCrashing(after batches: Int, _ body: () async throws -> Void) async throws -> Bool {
        let before = injectedCrashes
        failEmits(after: batches)
        defer { failEmits(after: nil) }
        do {
            try await body()
        } catch {
            // Sources may report the refused emit as a cancellation or wrap it; anything else is a real failure.
            guard injectedCrashes > before else { throw error }
        }
        return injectedCrashes > before
    }

    /// A source context over this runtime, for the connector instance `instance` with `values` as its config.
    public func context(
        instance: String, _ values: [String: ConfigValue], untilCaughtUp: Bool, logLabel: String = "test"
    ) -> SourceContext {
        var logger = Logger(label: logLabel)
        logger.logLevel = .warning
        return SourceContext(
            pipeline: "test", config: ConnectorConfig(instanceName: instance, values: values), logger: logger,
            untilCaughtUp: untilCaughtUp,
            emit: { [self] batch in try record(batch) },
            loadState: { [self] key in state(key) },
            loadStates: { [self] prefix in stored.withLock { $0.state.filter { $0.key.hasPrefix(prefix) } } },
            waitUntilDurable: {},  // every recorded batch is durable at once
            latestSchema: { [self] table in stored.withLock { $0.latestSchemas[table] } },
            pendingSnapshotRequests: { [self] in pendingSnapshotRequests },
            completeSnapshotRequest: { [self] table in stored.withLock { $0.snapshotRequests.removeAll { $0 == table } } })
    }

    private func record(_ batch: SourceBatch) throws {
        let allowed = stored.withLock { stored -> Bool in
            guard let left = stored.emitBudget else { return true }
            stored.emitBudget = left - 1
            if left <= 0 { stored.injectedCrashes += 1 }
            return left > 0
        }
        guard allowed else { throw CancellationError() }
        var decoded = batch  // encoded events read back as the log's readers read them
        decoded.events = try batch.allEvents()
        decoded.encoded = EncodedChanges()
        decoded.onDurable = nil
        stored.withLock { stored in
            stored.batches.append(decoded)
            for schema in batch.schemas { stored.latestSchemas[schema.table] = schema }
            for (key, value) in batch.state { stored.state[key] = value }
        }
        batch.onDurable?()  // durable now: the source may acknowledge the position
    }
}

/// Cancels a source's running task and waits for it to end. The cancellation is the expected end, however the
/// source reports it (`CancellationError`, or a `SluiceError` that says it was cancelled); any other failure of
/// the source is rethrown, so a test does not mistake a real error for the stop it asked for.
public func stopSource(_ task: Task<Void, any Error>) async throws {
    task.cancel()
    do {
        try await task.value
    } catch is CancellationError {
    } catch let error as SluiceError where "\(error)".contains("cancel") {
    }
}
