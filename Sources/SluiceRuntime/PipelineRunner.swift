import Foundation
import Logging
import Metrics
import SluiceConnectorKit
import SluiceCore
import SluiceLog
import Synchronization

/// Runs one pipeline: sources → core log → sinks.
///
/// Each source batch is appended to the log atomically with the source's state; only then is the
/// source told (`onDurable`) so it may acknowledge its position. Each sink reads the log from its own
/// committed offset and the runner commits that offset only up to what the sink reports durable.
/// `requestStop()` stops sources, lets the appender drain what is queued, has sinks flush and commit,
/// and then `run()` returns.
public final class PipelineRunner: Sendable {
    public let config: PipelineConfig
    let registry: ConnectorRegistry
    let log: any ChangeLog
    let logger: Logger
    let untilCaughtUp: Bool
    let stopSignal = StopSignal()
    let appendDone = Atomic<Bool>(false)
    let failure = Mutex<(any Error)?>(nil)
    let eventsIn = Atomic<Int>(0)
    let eventsOut = Atomic<Int>(0)
    let sinkLag = Mutex<[String: Int64]>([:])
    /// Batches each source has emitted: a source that emitted since its last failure has recovered.
    let sourceBatches = Mutex<[String: Int]>([:])
    /// The latest progress of each snapshot still running, by table, for the status line.
    let snapshotProgress = Mutex<[TableID: SnapshotProgress]>([:])
    let sourceTask = Mutex<Task<Void, any Error>?>(nil)
    let idleSinks = Mutex(IdleSinks())

    /// Sinks waiting for appends, and how often they were woken for another reason (stop, end of appending).
    struct IdleSinks {
        var wakeups: UInt64 = 0
        var waits: [Int: Task<UInt64, any Error>] = [:]
        var nextID = 0
    }

    /// - Parameters:
    ///   - log: the opened core log (the runner does not close it).
    ///   - untilCaughtUp: return once every source has caught up and every sink has committed it.
    public init(config: PipelineConfig, registry: ConnectorRegistry, log: any ChangeLog, logger: Logger, untilCaughtUp: Bool) {
        self.config = config
        self.registry = registry
        self.log = log
        self.untilCaughtUp = untilCaughtUp
        var logger = logger
        logger[metadataKey: "sluice.pipeline"] = .string(config.name)
        self.logger = logger
    }

    /// Asks the pipeline to stop gracefully (SIGINT/SIGTERM): sources stop, queued batches are
    /// appended, sinks flush and commit.
    public func requestStop() {
        guard stopSignal.request() else { return }
        logger.info("stopping: draining in-flight batches and committing sink offsets")
        sourceTask.withLock { $0?.cancel() }
        wakeSinks()
    }

    /// Runs until stopped (or caught up with `untilCaughtUp`). Throws the first non-transient failure.
    public func run() async throws {
        let catalog = try await SchemaCatalog.load(from: log)
        let queue = BatchQueue(capacity: config.runtime.maxInFlightBatches)
        logger.info("pipeline starting", metadata: [
            "sluice.sources": .string(config.sources.map { "\($0.name)(\($0.type))" }.joined(separator: ",")),
            "sluice.sinks": .string(config.sinks.map { "\($0.name)(\($0.type))" }.joined(separator: ",")),
            "sluice.log": .string(config.log.path),
        ])
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                let sources = Task { try await self.runSources(queue: queue, catalog: catalog) }
                sourceTask.withLock { $0 = sources }
                if stopSignal.isRequested { sources.cancel() }
                group.addTask {
                    defer { Task { await queue.close() } }
                    do {
                        try await sources.value
                    } catch is CancellationError {
                    } catch {
                        throw error
                    }
                }
                group.addTask { try await self.runAppender(queue: queue, catalog: catalog) }
                for sink in config.sinks {
                    group.addTask { try await self.runSink(sink, catalog: catalog) }
                }
                let status = Task { await self.reportStatus() }
                let retention = Task { await self.applyRetentionPeriodically() }
                defer {
                    status.cancel()
                    retention.cancel()
                }
                do {
                    // `next()` rethrows the first failure as it happens (`waitForAll()` would wait for every other
                    // task first: a source refused at start left the sinks running, and the run silent, until SIGINT).
                    while try await group.next() != nil {}
                } catch {
                    failure.withLock { $0 = $0 ?? error }
                    sources.cancel()
                    requestStop()
                    await queue.close()
                    await queue.failPending()
                    try? await group.waitForAll()
                    throw error
                }
            }
        } catch {
            logger.error("pipeline failed: \(error)")
            throw error
        }
        logger.info("pipeline stopped", metadata: ["sluice.events_in": .stringConvertible(eventsIn.load(ordering: .relaxed))])
    }

    // MARK: Sources

    private func runSources(queue: BatchQueue, catalog: SchemaCatalog) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for source in config.sources {
                group.addTask { try await self.runSource(source, queue: queue, catalog: catalog) }
            }
            while try await group.next() != nil {}  // the first failure at once, not after the other sources end
        }
    }

    private func runSource(_ source: ConfiguredConnector, queue: BatchQueue, catalog: SchemaCatalog) async throws {
        guard let type = registry.sources[source.type] else {
            throw SluiceError(.invalidConfiguration, "unknown source type '\(source.type)'", location: "sources.\(source.name)")
        }
        var logger = self.logger
        logger[metadataKey: "sluice.source"] = .string(source.name)
        let statePrefix = "source.\(source.name)."
        let log = self.log
        let context = SourceContext(
            pipeline: config.name, config: source.config, logger: logger, untilCaughtUp: untilCaughtUp,
            emit: { [self] batch in
                sourceBatches.withLock { $0[source.name, default: 0] += 1 }
                try await queue.put(.init(source: source.name, batch: batch))
            },
            loadState: { key in try await log.state(statePrefix + key) },
            loadStates: { prefix in
                let all = try await log.states(prefix: statePrefix + prefix)
                return Dictionary(uniqueKeysWithValues: all.map { (String($0.key.dropFirst(statePrefix.count)), $0.value) })
            },
            waitUntilDurable: { [self] in
                await queue.waitUntilDurable()
                if let error = failure.withLock({ $0 }) { throw error }
            },
            latestSchema: { table in catalog.latest(table) },
            pendingSnapshotRequests: {
                let pending = try await log.states(prefix: "snapshot-request.\(source.name).")
                return pending.keys.map { String($0.dropFirst("snapshot-request.\(source.name).".count)) }.sorted()
            },
            completeSnapshotRequest: { table in try await log.setState("snapshot-request.\(source.name).\(table)", nil) },
            reportProgress: { [self, logger] progress in
                logger.info("\(progress)", metadata: [
                    "sluice.table": .string(progress.table.description),
                    "sluice.rows_done": .stringConvertible(progress.rowsDone),
                    "sluice.rows_estimated": .stringConvertible(progress.rowsEstimated),
                ])
                snapshotProgress.withLock {
                    $0[progress.table] = progress.rowsDone < progress.rowsEstimated ? progress : nil
                }
            })
        var retrier = Retrier("source \(source.name)", settings: config.runtime, logger: logger, stop: stopSignal)
        while true {
            let started = ContinuousClock.now
            let batchesBefore = sourceBatches.withLock { $0[source.name] ?? 0 }
            do {
                let connector = try type.init(context: context)
                try await connector.run()
                logger.info("source caught up")
                return
            } catch {
                if Task.isCancelled || error is CancellationError { return }
                // A run that delivered changes, or lasted as long as the longest backoff, had recovered: the
                // backoff starts over instead of staying at its maximum for the rest of the process.
                if sourceBatches.withLock({ $0[source.name] ?? 0 }) > batchesBefore
                    || ContinuousClock.now - started >= .seconds(config.runtime.retryMaxBackoff)
                {
                    retrier.recovered()
                }
                do {
                    try await retrier.failed(error)
                } catch let final where stopSignal.isRequested && Retrier.isTransient(final) {
                    // Stopping anyway: what the source did not hand over is read again by the next run.
                    logger.warning("source failed while stopping: \(final)")
                    return
                }
            }
        }
    }

    // MARK: Appender

    /// Converts queued batches into log appends. While one append is written, the next batches are converted;
    /// appends stay in order, one at a time.
    private func runAppender(queue: BatchQueue, catalog: SchemaCatalog) async throws {
        defer {
            appendDone.store(true, ordering: .sequentiallyConsistent)
            wakeSinks()
        }
        let timer = Metrics.Timer(label: "sluice_append_latency", dimensions: [("pipeline", config.name)])
        let counter = Counter(label: "sluice_events_in_total", dimensions: [("pipeline", config.name)])
        var writing: Task<Void, any Error>?
        while true {
            let entries = await queue.takeAll()
            if entries.isEmpty { break }
            var batch = AppendBatchBuilder(config: config, catalog: catalog)
            for entry in entries {
                for schema in entry.batch.schemas { batch.add(schema) }
                for event in entry.batch.events { batch.add(event) }
                batch.add(entry.batch.encoded)
                batch.add(state: entry.batch.state, of: entry.source)
            }
            try await writing?.value
            let append = batch.append, events = batch.events
            writing = Task {
                let started = DispatchTime.now()
                do {
                    try await Retrier.run("log append", settings: config.runtime, logger: logger, stop: stopSignal) {
                        try await log.append(append)
                    }
                } catch {
                    throw SluiceError(.log, "appending \(events) events to the log at \(config.log.path) failed",
                                      hint: "check the disk and the log file; nothing was acknowledged to the source",
                                      underlying: error)
                }
                timer.recordInterval(since: started)
                counter.increment(by: events)
                eventsIn.add(events, ordering: .relaxed)
                for entry in entries { entry.batch.onDurable?() }
                await queue.markDurable(entries.count)
            }
        }
        try await writing?.value
    }

    // MARK: Sinks

    private func runSink(_ sink: ConfiguredConnector, catalog: SchemaCatalog) async throws {
        guard let type = registry.sinks[sink.type] else {
            throw SluiceError(.invalidConfiguration, "unknown sink type '\(sink.type)'", location: "sinks.\(sink.name)")
        }
        var logger = self.logger
        logger[metadataKey: "sluice.sink"] = .string(sink.name)
        let connector = try type.init(context: SinkContext(pipeline: config.name, config: sink.config, logger: logger))
        let consumer = "sink.\(sink.name)"
        let outCounter = Counter(label: "sluice_events_out_total", dimensions: [("pipeline", config.name), ("sink", sink.name)])
        let lagGauge = Gauge(label: "sluice_sink_lag_events", dimensions: [("pipeline", config.name), ("sink", sink.name)])
        var readOffsets: [String: Int64] = [:]
        var committed: [String: Int64] = [:]
        var lastActivity = ContinuousClock.now
        var flushedSinceActivity = true
        var appendVersion: UInt64 = 0
        var readAhead: ReadAhead?
        defer { readAhead?.records.cancel() }

        func commit(_ durable: [String: Int64]) async throws {
            for (stream, next) in durable where next > (committed[stream] ?? -1) {
                try await log.commitConsumerOffset(consumer: consumer, stream: stream, nextOffset: next)
                committed[stream] = next
            }
        }

        func withRetry<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
            try await Retrier.run("sink \(sink.name) \(what)", settings: config.runtime, logger: logger, stop: stopSignal, body)
        }

        do {
            while true {
                let wakeupsSeen = idleSinks.withLock { $0.wakeups }
                let appendFinished = appendDone.load(ordering: .sequentiallyConsistent)
                let streams = try await log.streams().filter { config.isChangeStream($0.name) }
                let newStreams = streams.map(\.name).filter { readOffsets[$0] == nil }
                if !newStreams.isEmpty {
                    let resume = try await connector.resumeOffsets(streams: newStreams)
                    for stream in newStreams {
                        let info = streams.first { $0.name == stream }!
                        let stored = try await log.consumerOffset(consumer: consumer, stream: stream)
                        // A sink is never ahead of the log: if it is, the log lost its tail (an older backup restored,
                        // its -wal file deleted), and reading on would skip what the log holds again.
                        if let ahead = [resume?[stream], stored].compactMap({ $0 }).max(), ahead > info.nextOffset {
                            throw SluiceError(
                                .log, "sink \(sink.name) has already \(ahead == resume?[stream] ? "published" : "committed") "
                                    + "stream \(stream) up to offset \(ahead), but the log at \(config.log.path) holds it "
                                    + "only up to \(info.nextOffset): the log lost its tail",
                                hint: "restore the log file that belongs with this sink's output, or move the sink's output "
                                    + "aside to rebuild it from the log")
                        }
                        let start = max(resume?[stream] ?? stored, info.firstOffset)
                        readOffsets[stream] = start
                        committed[stream] = stored
                    }
                }
                var progressed = false
                var lag: Int64 = 0
                for (index, info) in streams.enumerated() {
                    if stopSignal.isRequested { break }
                    let from = readOffsets[info.name]!
                    lag += info.nextOffset - (committed[info.name] ?? 0)
                    guard from < info.nextOffset else { continue }
                    let sinkRecords: [SinkRecord]
                    if let next = readAhead, next.stream == info.name, next.from == from {
                        sinkRecords = try await next.records.value
                    } else {
                        readAhead?.records.cancel()
                        sinkRecords = try await readBatch(stream: info.name, from: from)
                    }
                    readAhead = nil
                    try await checkNoGap(sinkRecords, stream: info.name, from: from, nextOffset: info.nextOffset,
                                         sink: sink.name, logger: logger)
                    guard let last = sinkRecords.last else {
                        readOffsets[info.name] = info.nextOffset  // removed by retention or compaction
                        continue
                    }
                    // Read and decode the batch this loop takes next (this stream's next one when no later stream
                    // has records waiting) while the sink writes this one.
                    let upcoming = (streams[(index + 1)...] + streams[...index]).lazy.compactMap { other in
                        let next = other.name == info.name ? last.offset + 1 : readOffsets[other.name] ?? other.nextOffset
                        return next < other.nextOffset ? (stream: other.name, from: next) : nil
                    }.first
                    if let upcoming {
                        readAhead = ReadAhead(stream: upcoming.stream, from: upcoming.from, records: Task {
                            try await self.readBatch(stream: upcoming.stream, from: upcoming.from)
                        })
                    }
                    let table = sinkRecords[0].event.table
                    let batch = SinkBatch(stream: info.name, table: table, records: sinkRecords, schemas: catalog.schemas(table))
                    let durable = try await withRetry("write") { try await connector.write(batch) }
                    try await withRetry("commit") { try await commit(durable) }
                    readOffsets[info.name] = last.offset + 1
                    outCounter.increment(by: sinkRecords.count)
                    eventsOut.add(sinkRecords.count, ordering: .relaxed)
                    progressed = true
                }
                lagGauge.record(lag)
                sinkLag.withLock { $0[sink.name] = lag }
                if stopSignal.isRequested { break }
                if progressed {
                    lastActivity = .now
                    flushedSinceActivity = false
                    continue
                }
                if !flushedSinceActivity, ContinuousClock.now - lastActivity >= .seconds(config.runtime.flushInterval) {
                    let flushed = try await withRetry("flush") { try await connector.flush() }
                    try await withRetry("commit") { try await commit(flushed) }
                    flushedSinceActivity = true
                }
                if untilCaughtUp && appendFinished {
                    let caughtUp = streams.allSatisfy { readOffsets[$0.name]! >= $0.nextOffset }
                    if caughtUp { break }
                }
                if appendFinished && !untilCaughtUp && failure.withLock({ $0 }) != nil { break }
                // Idle: wait for the next append (or the flush deadline, or a stop), never poll.
                let untilFlush = flushedSinceActivity
                    ? Duration.seconds(3600) : lastActivity + .seconds(config.runtime.flushInterval) - .now
                appendVersion = try await waitForAppend(after: appendVersion, timeout: untilFlush, wakeupsSeen: wakeupsSeen)
                try Task.checkCancellation()
            }
            let flushed = try await withRetry("flush") { try await connector.flush() }
            try await withRetry("commit") { try await commit(flushed) }
            try await connector.close()
            logger.info("sink stopped", metadata: ["sluice.committed": .string(committed.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value)" }.joined(separator: ","))])
        } catch {
            try? await connector.close()
            throw error
        }
    }

    /// A stream's next batch, read and decoded while the sink writes the batch before it.
    private struct ReadAhead {
        let stream: String
        let from: Int64
        let records: Task<[SinkRecord], any Error>
    }

    /// Sinks never skip offsets silently: records missing from a batch read at `from` were removed by compaction
    /// (holes are its nature), by retention (the stream's head moved past them: said at warning), or are a damaged
    /// log, which stops the sink.
    private func checkNoGap(_ records: [SinkRecord], stream: String, from: Int64, nextOffset: Int64, sink: String,
                            logger: Logger) async throws {
        guard !config.log.retention.compactByKey else { return }
        let first = records.first?.offset ?? nextOffset
        if first > from {
            let head = try await log.stream(stream)?.firstOffset ?? 0
            guard head >= first else { throw gap(stream, from, first) }
            logger.warning("sink \(sink) skips offsets \(from)..<\(first) of \(stream): retention removed them before the sink read them")
        }
        guard let last = records.last, last.offset - first + 1 != Int64(records.count) else { return }
        var expected = first
        for record in records {
            if record.offset != expected { throw gap(stream, expected, record.offset) }
            expected += 1
        }
    }

    private func gap(_ stream: String, _ from: Int64, _ to: Int64) -> SluiceError {
        SluiceError(.log, "offsets \(from)..<\(to) of stream \(stream) are missing from the log at \(config.log.path), "
                        + "though neither retention nor compaction removed them",
                    hint: "the log was changed outside Sluice: keep the file for inspection and restore it from a backup; "
                        + "sinks stop rather than skip records")
    }

    /// Up to `sinkBatchEvents` records of `stream` from `from` on, decoded for a sink.
    private func readBatch(stream: String, from: Int64) async throws -> [SinkRecord] {
        let records = try await log.read(stream: stream, from: from, limit: config.runtime.sinkBatchEvents)
        var sinkRecords: [SinkRecord] = []
        sinkRecords.reserveCapacity(records.count)
        for record in records {
            do {
                sinkRecords.append(SinkRecord(offset: record.offset, event: try EventCoding.decode(record.payload),
                                              appendedAtMicros: record.appendedAtMicros))
            } catch {
                throw SluiceError(.decoding, "cannot decode the record at offset \(record.offset) of stream \(stream)",
                                  hint: "the log was written by an incompatible build or is damaged",
                                  underlying: error)
            }
        }
        return sinkRecords
    }

    /// Waits for the log's next append after `version` for at most `timeout`; returns early when `wakeSinks()`
    /// was called since the sink read `wakeupsSeen`.
    private func waitForAppend(after version: UInt64, timeout: Duration, wakeupsSeen: UInt64) async throws -> UInt64 {
        let wait = Task { try await log.waitForAppend(after: version, timeout: timeout) }
        let id = idleSinks.withLock { idle -> Int? in
            guard idle.wakeups == wakeupsSeen else { return nil }
            idle.nextID += 1
            idle.waits[idle.nextID] = wait
            return idle.nextID
        }
        if id == nil { wait.cancel() }
        defer { if let id { idleSinks.withLock { _ = $0.waits.removeValue(forKey: id) } } }
        return try await withTaskCancellationHandler { try await wait.value } onCancel: { wait.cancel() }
    }

    /// Wakes the sinks waiting for appends, so that they notice a stop request or the end of appending.
    private func wakeSinks() {
        let waits = idleSinks.withLock { idle in
            idle.wakeups += 1
            defer { idle.waits.removeAll() }
            return Array(idle.waits.values)
        }
        waits.forEach { $0.cancel() }
    }

    // MARK: Retention

    private func applyRetentionPeriodically() async {
        let policy = config.log.retention
        guard policy.maxAgeSeconds != nil || policy.maxBytes != nil || policy.compactByKey else { return }
        while !Task.isCancelled {
            do {
                let streams = try await log.streams().map(\.name).filter(config.isChangeStream)
                // Never remove what a sink has not committed yet: it would skip those records.
                var bounded = policy
                for stream in streams where !config.sinks.isEmpty {
                    var slowest = Int64.max
                    for sink in config.sinks {
                        slowest = min(slowest, try await log.consumerOffset(consumer: "sink.\(sink.name)", stream: stream))
                    }
                    bounded.keepFrom[stream] = slowest
                }
                let removed = try await log.applyRetention(bounded, streams: streams)
                if removed > 0 { logger.info("retention removed \(removed) records") }
            } catch {
                logger.warning("retention failed (will retry): \(error)")
            }
            try? await Task.sleep(for: .seconds(config.log.retentionInterval))
        }
    }

    // MARK: Status

    private func reportStatus() async {
        let interval = config.runtime.statusInterval
        guard interval > 0 else { return }
        var lastIn = 0, lastOut = 0
        var last = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(interval))
            if Task.isCancelled { return }
            let now = ContinuousClock.now
            let elapsed = now - last
            let seconds = max(0.001, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            let totalIn = eventsIn.load(ordering: .relaxed)
            let totalOut = eventsOut.load(ordering: .relaxed)
            let rateIn = Int(Double(totalIn - lastIn) / seconds)
            let rateOut = Int(Double(totalOut - lastOut) / seconds)
            let lag: [String] = sinkLag.withLock { $0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let snapshots = snapshotProgress.withLock { $0 }.values.sorted { $0.table < $1.table }
                .map { String(format: "%@ %.0f%%", $0.table.description, $0.percent) }
            let snapshotText = snapshots.isEmpty ? "" : ", snapshots \(snapshots.joined(separator: " "))"
            logger.info("status: in \(rateIn) ev/s, out \(rateOut) ev/s, total in \(totalIn), sink lag \(lag.joined(separator: " "))\(snapshotText)")
            lastIn = totalIn
            lastOut = totalOut
            last = now
        }
    }

    static func nowMicros() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    static func seconds(_ value: Double) -> String {
        value < 1 ? "\(Int(value * 1000))ms" : String(format: "%.0fs", value)
    }
}

/// Turns the batches the appender took into one log append: schema versions as records of `_schemas`, change events
/// encoded per stream (streams in first-seen order).
///
/// Consecutive events of one table and schema version (the usual case) share the stream, and the primary key,
/// that were looked up for the first of them. Events a source encoded are copied as they are.
struct AppendBatchBuilder {
    let config: PipelineConfig
    let catalog: SchemaCatalog
    private(set) var events = 0
    private var schemaRecords: [LogRecordDraft] = []
    private var streams: [(name: String, changes: EncodedChanges)] = []
    private var streamIndexes: [String: Int] = [:]
    private var target: (table: TableID, version: Int, stream: Int, primaryKey: [String]?)?
    private var state: [String: [UInt8]?] = [:]

    init(config: PipelineConfig, catalog: SchemaCatalog) {
        self.config = config
        self.catalog = catalog
    }

    /// The append.
    var append: AppendBatch {
        AppendBatch(records: schemaRecords.isEmpty ? [] : [(SystemStream.schemas, schemaRecords)],
                    encoded: streams.map { ($0.name, $0.changes) }, state: state)
    }

    /// Adds a schema version to the catalog and `_schemas`.
    mutating func add(_ schema: TableSchema) {
        catalog.add(schema)
        target = nil
        schemaRecords.append(LogRecordDraft(key: Array(schema.table.qualifiedName.utf8), payload: SchemaCatalog.encode(schema),
                                            position: schema.position, timestampMicros: PipelineRunner.nowMicros()))
    }

    mutating func add(_ event: ChangeEvent) {
        switch event.op {
        case .begin, .commit:
            streams[stream(SystemStream.transactions)].changes.append(event, primaryKey: nil)
        default:
            if target?.table != event.table || target?.version != event.schemaVersion {
                target = (event.table, event.schemaVersion, self.stream(config.stream(for: event.table)),
                          catalog.schema(event.table, version: event.schemaVersion)?.primaryKey)
            }
            streams[target!.stream].changes.append(event, primaryKey: target!.primaryKey)
        }
        events += 1
    }

    /// Adds events a source encoded: only their streams are looked up.
    mutating func add(_ encoded: EncodedChanges) {
        guard !encoded.isEmpty else { return }
        target = nil
        events += encoded.count
        if encoded.tables.count == 1, !encoded.records.contains(where: { $0.op == .begin || $0.op == .commit }) {
            let stream = self.stream(config.stream(for: encoded.tables[0]))
            if streams[stream].changes.isEmpty {
                streams[stream].changes = encoded  // the usual batch: one table, taken as it is
                return
            }
        }
        var tableStreams = [Int?](repeating: nil, count: encoded.tables.count)
        for (index, record) in encoded.records.enumerated() {
            let stream: Int
            if record.op == .begin || record.op == .commit {
                stream = self.stream(SystemStream.transactions)
            } else if let known = tableStreams[record.table] {
                stream = known
            } else {
                stream = self.stream(config.stream(for: encoded.tables[record.table]))
                tableStreams[record.table] = stream
            }
            streams[stream].changes.append(record: index, of: encoded)
        }
    }

    /// Adds a source's state (stored as `source.<name>.<key>`).
    mutating func add(state: [String: [UInt8]?], of source: String) {
        for (key, value) in state { self.state["source.\(source).\(key)"] = value }
    }

    private mutating func stream(_ name: String) -> Int {
        if let index = streamIndexes[name] { return index }
        streams.append((name, EncodedChanges()))
        streamIndexes[name] = streams.count - 1
        return streams.count - 1
    }
}
