// SluiceConnectorKit: all a connector needs and nothing more: the source and sink protocols, their contexts and
// batches (with `ConnectorSpec` from SluiceCore), under the contract in connectors/README.md. No log, no YAML.

import Logging
import SluiceCore

/// What a source hands to the runtime: new schema versions, the events that follow them, and the
/// connector state (source position, snapshot progress) to store atomically with the events.
public struct SourceBatch: Sendable {
    /// New table-schema versions, written to `_schemas` before any event of this batch.
    public var schemas: [TableSchema]
    /// Events in source order.
    public var events: [ChangeEvent]
    /// Events already in the log's encoding (the sources' hot path), in source order after `events`.
    public var encoded: EncodedChanges
    /// Connector state stored in the same commit as the events (key → value; nil deletes).
    /// Keys are the source's own (the runtime scopes them to the pipeline and source name).
    public var state: [String: [UInt8]?]
    /// Called once the batch is durable in the log, in batch order: only then may the source
    /// acknowledge the position to the database (PostgreSQL flush LSN, MySQL binlog position).
    public var onDurable: (@Sendable () -> Void)?

    public init(
        schemas: [TableSchema] = [], events: [ChangeEvent] = [], encoded: EncodedChanges = EncodedChanges(),
        state: [String: [UInt8]?] = [:], onDurable: (@Sendable () -> Void)? = nil
    ) {
        self.schemas = schemas
        self.events = events
        self.encoded = encoded
        self.state = state
        self.onDurable = onDurable
    }
}

extension SourceBatch {
    /// Number of events, plain and encoded.
    public var eventCount: Int { events.count + encoded.count }

    /// Every event in order, the encoded ones decoded (for tests and tools).
    public func allEvents() throws -> [ChangeEvent] {
        events + (try encoded.decodedEvents())
    }
}

/// What the runtime gives a running source.
public struct SourceContext: Sendable {
    /// The pipeline's name (streams are `<pipeline>.<schema>.<table>`).
    public var pipeline: String
    public var config: ConnectorConfig
    public var logger: Logger
    /// True for `sluice run --until-caught-up`: the source reads the source's current end position at
    /// start, and returns from `run` once everything up to it has been emitted.
    public var untilCaughtUp: Bool
    /// Hands a batch to the runtime. Returns when the batch is queued for the log; waits while the
    /// bounded in-flight budget is used up (backpressure). Throws when the pipeline is stopping.
    public var emit: @Sendable (SourceBatch) async throws -> Void
    /// Reads the source's stored state (what earlier batches' `state` wrote).
    public var loadState: @Sendable (String) async throws -> [UInt8]?
    /// Reads every stored state key that starts with the prefix.
    public var loadStates: @Sendable (String) async throws -> [String: [UInt8]]
    /// Waits until every batch emitted so far is durable.
    public var waitUntilDurable: @Sendable () async throws -> Void
    /// The latest schema version the log holds for a table (to continue version numbers after restart).
    public var latestSchema: @Sendable (TableID) async throws -> TableSchema?
    /// Requests for incremental snapshots (`sluice snapshot PIPELINE TABLE`): pending table names.
    public var pendingSnapshotRequests: @Sendable () async throws -> [String]
    /// Clears a request of `pendingSnapshotRequests` once its snapshot is done (and durable in the log).
    public var completeSnapshotRequest: @Sendable (String) async throws -> Void
    /// Reports a snapshot's progress (every few seconds and when a table is done). The runtime logs it and shows
    /// it in its status line; the default logs it through `logger`.
    public var reportProgress: @Sendable (SnapshotProgress) -> Void

    public init(
        pipeline: String, config: ConnectorConfig, logger: Logger, untilCaughtUp: Bool,
        emit: @escaping @Sendable (SourceBatch) async throws -> Void,
        loadState: @escaping @Sendable (String) async throws -> [UInt8]?,
        loadStates: @escaping @Sendable (String) async throws -> [String: [UInt8]],
        waitUntilDurable: @escaping @Sendable () async throws -> Void,
        latestSchema: @escaping @Sendable (TableID) async throws -> TableSchema?,
        pendingSnapshotRequests: @escaping @Sendable () async throws -> [String],
        completeSnapshotRequest: @escaping @Sendable (String) async throws -> Void = { _ in },
        reportProgress: (@Sendable (SnapshotProgress) -> Void)? = nil
    ) {
        self.pipeline = pipeline
        self.config = config
        self.logger = logger
        self.untilCaughtUp = untilCaughtUp
        self.emit = emit
        self.loadState = loadState
        self.loadStates = loadStates
        self.waitUntilDurable = waitUntilDurable
        self.latestSchema = latestSchema
        self.pendingSnapshotRequests = pendingSnapshotRequests
        self.completeSnapshotRequest = completeSnapshotRequest
        self.reportProgress = reportProgress ?? { progress in logger.info("\(progress)") }
    }
}

/// A source connector: reads a database's change stream and emits batches of `ChangeEvent`s.
public protocol SourceConnector: Sendable {
    /// The configuration this connector declares.
    static var spec: ConnectorSpec { get }
    init(context: SourceContext) throws
    /// Runs until the task is cancelled (graceful stop) or, with `untilCaughtUp`, until caught up.
    /// Transient failures throw `SluiceError` with `isTransient`; the runtime retries with backoff.
    func run() async throws
}

/// One record delivered to a sink.
public struct SinkRecord: Sendable {
    public var offset: Int64
    public var event: ChangeEvent
    /// When the log stored it (µs since epoch).
    public var appendedAtMicros: Int64

    public init(offset: Int64, event: ChangeEvent, appendedAtMicros: Int64) {
        self.offset = offset
        self.event = event
        self.appendedAtMicros = appendedAtMicros
    }

    /// For an update that changes the primary key: this record as the delete of the old key (same offset;
    /// `ChangeEvent.keyChangeDelete`), which changelog layouts write before the new row. Nil otherwise.
    public func keyChangeDelete(primaryKey: [String]) -> SinkRecord? {
        guard let delete = event.keyChangeDelete(primaryKey: primaryKey) else { return nil }
        var record = self
        record.event = delete
        return record
    }
}

/// Records of one stream, in offset order, with the schemas they use.
public struct SinkBatch: Sendable {
    public var stream: String
    public var table: TableID
    public var records: [SinkRecord]
    /// Every schema version the records refer to, by version.
    public var schemas: [Int: TableSchema]

    public init(stream: String, table: TableID, records: [SinkRecord], schemas: [Int: TableSchema]) {
        self.stream = stream
        self.table = table
        self.records = records
        self.schemas = schemas
    }

    /// The offset after the last record.
    public var nextOffset: Int64 { (records.last?.offset ?? -1) + 1 }
}

/// What the runtime gives a sink.
public struct SinkContext: Sendable {
    public var pipeline: String
    public var config: ConnectorConfig
    public var logger: Logger

    public init(pipeline: String, config: ConnectorConfig, logger: Logger) {
        self.pipeline = pipeline
        self.config = config
        self.logger = logger
    }
}

/// A sink connector: consumes change streams from the log and writes them to a target.
///
/// The runtime commits a stream's consumer offset only up to what `write`/`flush` report as durable
/// in the target, so a crash at any point replays, never skips.
public protocol SinkConnector: Sendable {
    static var spec: ConnectorSpec { get }
    init(context: SinkContext) throws
    /// Where to resume per stream when the target keeps its own record of what it holds (an Iceberg
    /// snapshot summary, a Delta `txn`): stream → next offset. Return nil to use the log's consumer offsets.
    func resumeOffsets(streams: [String]) async throws -> [String: Int64]?
    /// Writes a batch. Returns, per stream, the next offset up to which output is durable in the target
    /// (may lag behind what was written while the sink buffers).
    func write(_ batch: SinkBatch) async throws -> [String: Int64]
    /// Publishes everything buffered (on idle, at shutdown, when caught up); returns what is now durable.
    func flush() async throws -> [String: Int64]
    /// Releases resources after a final flush.
    func close() async throws
}

extension SinkConnector {
    public func resumeOffsets(streams: [String]) async throws -> [String: Int64]? { nil }
    public func close() async throws {}
}
