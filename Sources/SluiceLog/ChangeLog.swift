// SluiceLog: the core log, durable and replayable: the `ChangeLog` interface and its embedded SQLite backend
// (one writer thread with group commit, pooled WAL readers, retention, append notifications).

import SluiceCore

/// One record to append to a stream: an encoded change (or schema, audit entry, …) and its metadata.
public struct LogRecordDraft: Sendable, Hashable {
    /// Compaction and partitioning key (the encoded primary key), if the record has one.
    public var key: [UInt8]?
    /// The record body (for change streams: `ChangeEvent` in the binary log encoding).
    public var payload: [UInt8]
    /// Where the change came from in the source; reads can start at a source position.
    public var position: SourcePosition?
    /// Commit time at the source, microseconds since 1970-01-01 UTC; reads can start at a time.
    public var timestampMicros: Int64

    public init(key: [UInt8]?, payload: [UInt8], position: SourcePosition?, timestampMicros: Int64) {
        self.key = key
        self.payload = payload
        self.position = position
        self.timestampMicros = timestampMicros
    }
}

/// A record as stored: the draft plus its dense offset in its stream and the time it was appended.
public struct LogRecord: Sendable, Hashable {
    public var stream: String
    /// Dense per-stream offset, starting at 0.
    public var offset: Int64
    public var key: [UInt8]?
    public var payload: [UInt8]
    public var position: SourcePosition?
    /// Commit time at the source (µs since epoch).
    public var timestampMicros: Int64
    /// When the log stored the record (µs since epoch).
    public var appendedAtMicros: Int64

    public init(
        stream: String, offset: Int64, key: [UInt8]?, payload: [UInt8], position: SourcePosition?,
        timestampMicros: Int64, appendedAtMicros: Int64
    ) {
        self.stream = stream
        self.offset = offset
        self.key = key
        self.payload = payload
        self.position = position
        self.timestampMicros = timestampMicros
        self.appendedAtMicros = appendedAtMicros
    }
}

/// One atomic append: records for any number of streams, plus connector state written in the same commit.
///
/// Either everything in the batch becomes durable, or nothing does. Connector state (a source's
/// position, snapshot progress) committed here is what the source resumes from after any stop.
public struct AppendBatch: Sendable {
    /// Records per stream, in order. Streams are created on first append.
    public var records: [(stream: String, records: [LogRecordDraft])]
    /// Change events already in their encoding, per stream: every record of `changes` goes to `stream`, after the
    /// stream's `records` (each record's payload, key, position and commit time become the log record's).
    public var encoded: [(stream: String, changes: EncodedChanges)]
    /// Connector state to store with the records (key → value; a nil value deletes the key).
    public var state: [String: [UInt8]?]

    public init(records: [(stream: String, records: [LogRecordDraft])] = [],
                encoded: [(stream: String, changes: EncodedChanges)] = [], state: [String: [UInt8]?] = [:]) {
        self.records = records
        self.encoded = encoded
        self.state = state
    }

    /// Number of records.
    public var recordCount: Int {
        records.reduce(0) { $0 + $1.records.count } + encoded.reduce(0) { $0 + $1.changes.count }
    }
}

/// What the log knows of one stream.
public struct StreamInfo: Sendable, Hashable {
    public var name: String
    /// Offset of the oldest record still stored (after retention), or `nextOffset` when empty.
    public var firstOffset: Int64
    /// The offset the next appended record will get (`lastOffset + 1`).
    public var nextOffset: Int64
    /// Records currently stored (fewer than `nextOffset - firstOffset` after compaction).
    public var count: Int64
    /// Bytes of payload currently stored.
    public var bytes: Int64

    public init(name: String, firstOffset: Int64, nextOffset: Int64, count: Int64, bytes: Int64) {
        self.name = name
        self.firstOffset = firstOffset
        self.nextOffset = nextOffset
        self.count = count
        self.bytes = bytes
    }
}

/// How hard an append works to survive a power loss (a process crash never loses an acknowledged append).
public enum SyncPolicy: String, Sendable, CaseIterable {
    /// fsync before every append returns: survives power loss.
    case full
    /// Durable against process crashes at once, fsynced at checkpoints: may lose the last appends on power loss.
    case normal
    /// No fsync at all (tests, benchmarks of the ceiling).
    case off
}

/// Retention rules for a stream (or the log's default).
public struct RetentionPolicy: Sendable, Hashable {
    /// Drop records appended longer ago than this many seconds.
    public var maxAgeSeconds: Int64?
    /// Drop the oldest records while the stream's payload bytes exceed this.
    public var maxBytes: Int64?
    /// Keep only the newest record per key (records without key are kept).
    public var compactByKey: Bool
    /// Per stream, the first offset a reader still needs (the slowest sink's committed offset): records at or after it
    /// are kept whatever the age, size and compaction rules say.
    public var keepFrom: [String: Int64]

    public init(maxAgeSeconds: Int64? = nil, maxBytes: Int64? = nil, compactByKey: Bool = false,
                keepFrom: [String: Int64] = [:]) {
        self.maxAgeSeconds = maxAgeSeconds
        self.maxBytes = maxBytes
        self.compactByKey = compactByKey
        self.keepFrom = keepFrom
    }
}

/// The durable, replayable core log every change goes through.
///
/// Offsets are dense per stream. Appends are atomic and durable when they return; readers may run
/// concurrently with the writer and never see a partial batch.
public protocol ChangeLog: Sendable {
    /// Appends a batch atomically; returns, per stream, the offsets the records got.
    @discardableResult
    func append(_ batch: AppendBatch) async throws -> [String: Range<Int64>]

    /// Records of `stream` from `offset` on (inclusive), at most `limit`, in offset order.
    func read(stream: String, from offset: Int64, limit: Int) async throws -> [LogRecord]

    /// The first offset whose record's source timestamp is at or after `micros` (or `nextOffset`).
    func offset(stream: String, atOrAfterTimestamp micros: Int64) async throws -> Int64

    /// The first offset whose source position is at or after `position` (or `nextOffset`).
    func offset(stream: String, atOrAfterPosition position: SourcePosition) async throws -> Int64

    /// All streams with their offsets and counts, sorted by name.
    func streams() async throws -> [StreamInfo]

    /// One stream's info, or nil when it does not exist.
    func stream(_ name: String) async throws -> StreamInfo?

    /// Connector state stored by `append` (or `setState`).
    func state(_ key: String) async throws -> [UInt8]?

    /// All state keys starting with `prefix`, with their values.
    func states(prefix: String) async throws -> [String: [UInt8]]

    /// Stores connector state outside an append (atomic, durable).
    func setState(_ key: String, _ value: [UInt8]?) async throws

    /// The offset a consumer will read next in `stream` (0 when it never committed).
    func consumerOffset(consumer: String, stream: String) async throws -> Int64

    /// Commits the next offset a consumer will read; durable when it returns.
    func commitConsumerOffset(consumer: String, stream: String, nextOffset: Int64) async throws

    /// Applies retention and compaction; returns the number of records removed.
    @discardableResult
    func applyRetention(_ policy: RetentionPolicy, streams: [String]?) async throws -> Int64

    /// Waits until records were appended through this log object after `version` was current, or `timeout` passed
    /// (then returning `version`); returns the new version. Versions start at 0 and grow with each commit that
    /// stored records; pass the value the previous call returned. A cancelled wait returns at once.
    ///
    /// The writer signals waiters after each commit, so a reader in this process never polls. A log another process
    /// writes is seen with `dataVersion()` instead.
    func waitForAppend(after version: UInt64, timeout: Duration) async throws -> UInt64

    /// A number that changes whenever a connection other than this log's own reading one committed to the log
    /// (another process, or this log's writer); compare values from the same log object only. Cheap: no stream is
    /// read (SQLite's `PRAGMA data_version`).
    func dataVersion() async throws -> Int64

    /// True when the log changed since `dataVersion()` returned `version`.
    func hasChanged(since version: Int64) async throws -> Bool

    /// Flushes and closes the log. Further calls fail.
    func close() async throws
}
