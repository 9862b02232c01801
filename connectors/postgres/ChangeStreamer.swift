// SluicePostgres: the `postgres` source: pgoutput logical replication, exported-snapshot initial loads,
// incremental snapshots by watermarks, and exact decoding of PostgreSQL's text values.

import Foundation
import Logging
import Metrics
import SluiceCore
import SluicePostgresClient
import SluiceConnectorKit

/// Streams changes from the slot: decodes pgoutput, assembles transactions into batches, buffers streamed
/// in-progress transactions, and decides what may be acknowledged.
final class ChangeStreamer {
    private struct RelationEntry {
        var schema: TableSchema
        var types: [PgValueType]
        var names: [String]
        var keyIndexes: [Int]
        var keyNames: [String]
        var captured: Bool
    }

    struct OpenTransaction {
        var xid: UInt32
        var xidText: String
        var commitLSN: LSN
        /// The commit LSN as text, made once per transaction.
        var commitText: String
        var commitTimeMicros: Int64
        var order = 0
        /// Order reserved for the BEGIN marker, written before the transaction's first event (a transaction
        /// with nothing captured, e.g. only Sluice's own watermark messages, gets no markers).
        var pendingBeginOrder: Int?
        var beginWritten = false
    }

    struct PendingBatch {
        var schemas: [TableSchema] = []
        var events: [ChangeEvent] = []
        var position: StreamPositionState?
        var state: [String: [UInt8]?] = [:]
        var startedAt: ContinuousClock.Instant?
        var isEmpty: Bool { schemas.isEmpty && events.isEmpty && position == nil && state.isEmpty }
    }

    let session: PostgresSourceSession
    let settings: PostgresSourceSettings
    var logger: Logger
    private var decoder = PgOutputDecoder()
    private var relations: [UInt32: RelationEntry] = [:]
    /// Relations of the streamed transaction being replayed (nil when not replaying).
    private var replayRelations: [UInt32: RelationEntry]?
    var batch = PendingBatch()
    var transaction: OpenTransaction?
    private let resumeAfter: StreamPositionState?
    private var snapshotFilter: SnapshotFilter?
    private let untilLSN: LSN?
    private var lastCommitEnd = LSN.zero
    private var streamingXid: UInt32?
    private let streamed: StreamedTransactionBuffer
    private var caughtUp = false
    private var lastHeartbeat = ContinuousClock.now
    let database: String

    /// Events skipped because an earlier run already put them in the log.
    private(set) var skippedAsDuplicates = 0

    // Incremental snapshots (see IncrementalSnapshot.swift).
    var incremental: IncrementalSnapshotJob?
    var lastRequestPoll = ContinuousClock.now - .seconds(3600)
    var refusedRequests: Set<String> = []
    /// A finished incremental snapshot whose request is cleared once its last chunk is durable.
    var completedRequest: String?
    var recentCommits = RecentCommits(capacity: 4096)
    let runID = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    var supportsMessages = true
    /// `sluice_pg_slot_lag_bytes`: WAL the slot retains beyond its confirmed position (server's view).
    private let slotLag: Gauge
    private var lastLagSample = ContinuousClock.now - .seconds(3600)
    /// Incremental snapshots the source asked for itself (tables added to the publication), kept in state.
    var autoRequests: [String] = []
    private var lastPublicationRefresh = ContinuousClock.now
    private var publicationRefreshDisabled = false
    private var skippedNewTables: Set<String> = []
    static let autoRequestsKey = "auto-snapshot-requests"

    init(session: PostgresSourceSession, resumeAfter: StreamPositionState?, snapshotFilter: SnapshotFilter?,
         untilLSN: LSN?)
    {
        self.session = session
        self.settings = session.settings
        self.logger = session.logger
        self.resumeAfter = resumeAfter
        self.snapshotFilter = snapshotFilter
        self.untilLSN = untilLSN
        self.database = session.database
        self.streamed = StreamedTransactionBuffer(memoryLimit: session.settings.streamBufferMemory)
        self.slotLag = Gauge(label: "sluice_pg_slot_lag_bytes", dimensions: [
            ("pipeline", session.context.pipeline), ("source", session.context.config.instanceName),
            ("slot", session.settings.slot)])
    }

    func run(replication: PostgresConnection) async throws {
        let version = replication.serverVersion
        let protocolVersion = version >= 150000 ? 3 : (version >= 140000 ? 2 : 1)
        var options = ["proto_version '\(protocolVersion)'",
                       "publication_names \(replication.quoteLiteral(replication.quoteIdentifier(settings.publication)))"]
        if version >= 140000 {
            // Always on: incremental snapshots need their watermark messages (Sluice's own are never emitted).
            options.append("messages 'true'")
            options.append("streaming 'on'")
        }
        supportsMessages = version >= 140000
        let confirmed = try session.catalog.connection.execute(
            "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", parameters: [settings.slot])
            .string(0, 0).flatMap(LSN.init) ?? .zero
        lastCommitEnd = confirmed
        autoRequests = try await session.loadJSON([String].self, key: Self.autoRequestsKey) ?? []
        do {
            try replication.execute("START_REPLICATION SLOT \(replication.quoteIdentifier(settings.slot)) LOGICAL 0/0 ("
                                    + options.joined(separator: ", ") + ")", context: "starting replication")
        } catch let error as PostgresQueryError {
            // 55006: the slot is active for another process (a previous run not yet gone): retry.
            if error.sqlState == "55006" || error.connectionLost {
                throw SluiceError(.connection, "replication slot '\(settings.slot)' is busy", location: "slot",
                                  hint: "Another consumer (or a previous run) is using the slot; retrying",
                                  isTransient: true, underlying: error)
            }
            throw error.asSluiceError(hint: "Check the publication '\(settings.publication)' and slot '\(settings.slot)'")
        }
        logger.info("streaming changes", metadata: [
            "sluice.slot": .string(settings.slot), "sluice.lsn": .string(confirmed.description),
            "sluice.pg.protocol": .stringConvertible(protocolVersion)])
        let reader = try ReplicationReader(connection: replication, startLSN: confirmed,
                                       statusInterval: settings.statusInterval)
        session.reader = reader
        reader.start()
        if untilLSN != nil { reader.requestKeepalive() }

        var lastKeepaliveRequest = ContinuousClock.now
        while true {
            try Task.checkCancellation()
            guard let messages = try await reader.next(timeout: 0.5) else {
                throw SluiceError(.connection, "the server ended the replication stream", location: "slot \(settings.slot)",
                                  hint: "The server may be restarting; Sluice reconnects", isTransient: true)
            }
            for message in messages {
                try await handle(ArraySlice(message))
            }
            if !batch.isEmpty {
                let age = batch.startedAt.map { ContinuousClock.now - $0 } ?? .zero
                if reader.isDrained || age >= .seconds(settings.maxBatchDelay) { try await flush() }
            }
            if let request = completedRequest {
                completedRequest = nil
                try await flush()
                try await session.context.waitUntilDurable()
                try await session.context.completeSnapshotRequest(request)
            }
            if settings.publicationRefreshInterval > 0, !publicationRefreshDisabled,
               ContinuousClock.now - lastPublicationRefresh >= .seconds(settings.publicationRefreshInterval) {
                lastPublicationRefresh = .now
                try refreshPublication()
            }
            try await driveIncrementalSnapshot()
            if caughtUp && incremental == nil {
                try await flush()
                try await session.context.waitUntilDurable()
                if transaction == nil && streamingXid == nil { reader.acknowledge(lastCommitEnd) }
                return
            }
            let now = ContinuousClock.now
            if now - lastLagSample >= .seconds(max(1, min(settings.statusInterval, 10))) {
                lastLagSample = now
                try sampleSlotLag()
            }
            if untilLSN != nil, messages.isEmpty, now - lastKeepaliveRequest > .milliseconds(500) {
                reader.requestKeepalive()
                lastKeepaliveRequest = now
            }
            if settings.heartbeatInterval > 0, now - lastHeartbeat > .seconds(settings.heartbeatInterval) {
                lastHeartbeat = now
                try session.catalog.connection.execute(
                    "SELECT pg_logical_emit_message(false, 'sluice.heartbeat', '')", context: "writing a heartbeat")
            }
        }
    }

    /// Records the slot's lag in bytes (`pg_current_wal_lsn()` − `confirmed_flush_lsn`).
    private func sampleSlotLag() throws {
        let result = try session.catalog.connection.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint FROM pg_replication_slots "
                + "WHERE slot_name = $1", parameters: [settings.slot], context: "reading the slot lag")
        if let bytes = result.string(0, 0).flatMap(Int64.init) { slotLag.record(bytes) }
    }

    // MARK: Messages

    private var isIdle: Bool {
        transaction == nil && streamingXid == nil && streamed.isEmpty && batch.events.isEmpty
            && batch.schemas.isEmpty && session.inFlight.allDurable
    }

    private func handle(_ bytes: ArraySlice<UInt8>) async throws {
        switch try ReplicationMessage.parse(bytes) {
        case .keepalive(let walEnd, _, _):
            if isIdle {
                if batch.position == nil { session.reader?.acknowledge(walEnd) }
                if let untilLSN, walEnd >= untilLSN { caughtUp = true }
            }
        case .xlogData(_, _, _, let payload):
            if let xid = streamingXid, payload.first != UInt8(ascii: "E") {
                try streamed.append(xid: xid, message: Array(payload))
                return
            }
            try await handle(try decoder.decode(payload))
        }
    }

    /// Handles one pgoutput message; `lookup` is the relation overlay of a streamed transaction being replayed.
    private func handle(_ message: PgOutputMessage) async throws {
        switch message {
        case .begin(let finalLSN, let commitTime, let xid):
            transaction = OpenTransaction(xid: xid, xidText: String(xid), commitLSN: finalLSN, commitText: finalLSN.description,
                                          commitTimeMicros: LSN.unixMicros(commitTime))
            if settings.transactionMarkers { try await marker(.begin) }
        case .commit(_, _, let endLSN, _):
            if settings.transactionMarkers { try await marker(.commit) }
            try await finishTransaction(endLSN: endLSN)
        case .origin:
            break
        case .relation(let relation, _):
            let entry = try await relationEntry(relation)
            if replayRelations != nil { replayRelations![relation.oid] = entry } else { relations[relation.oid] = entry }
        case .type:
            break  // types are resolved from the catalog by OID
        case .insert(let oid, let new, _):
            guard let entry = try relation(oid) else { return }
            let after = try row(new, entry, keyOnly: false)
            try await change(.insert, entry, before: nil, after: after)
        case .update(let oid, let oldKind, let old, let new, _):
            guard let entry = try relation(oid) else { return }
            let before = try old.map { try row($0, entry, keyOnly: oldKind == UInt8(ascii: "K")) }
            try await change(.update, entry, before: before, after: try row(new, entry, keyOnly: false))
        case .delete(let oid, let oldKind, let old, _):
            guard let entry = try relation(oid) else { return }
            try await change(.delete, entry, before: try row(old, entry, keyOnly: oldKind == UInt8(ascii: "K")),
                             after: nil)
        case .truncate(let oids, _, _):
            for oid in oids {
                guard let entry = try relation(oid) else { continue }
                try await change(.truncate, entry, before: nil, after: nil)
            }
        case .message(let transactional, let lsn, let prefix, let content, _):
            try await logicalMessage(transactional: transactional, lsn: lsn, prefix: prefix, content: content)
        case .streamStart(let xid, _):
            streamingXid = xid
        case .streamStop:
            streamingXid = nil
        case .streamAbort(let xid, let subXid):
            if xid == subXid { streamed.drop(xid) } else { streamed.abortSubtransaction(xid: xid, subXid: subXid) }
        case .streamCommit(let xid, _, let commitLSN, let endLSN, let commitTime):
            try await replayStreamed(xid: xid, commitLSN: commitLSN, endLSN: endLSN, commitTime: commitTime)
        }
    }

    private func replayStreamed(xid: UInt32, commitLSN: LSN, endLSN: LSN, commitTime: Int64) async throws {
        transaction = OpenTransaction(xid: xid, xidText: String(xid), commitLSN: commitLSN, commitText: commitLSN.description,
                                      commitTimeMicros: LSN.unixMicros(commitTime))
        if settings.transactionMarkers { try await marker(.begin) }
        let aborted = streamed.abortedSubtransactions(of: xid)
        var replayDecoder = PgOutputDecoder(inStreamBlock: true)
        // Relation messages inside a streamed transaction describe that transaction only.
        replayRelations = [:]
        defer { replayRelations = nil }
        try await streamed.replay(xid) { bytes in
            let message = try replayDecoder.decode(bytes[...])
            if !aborted.isEmpty, let messageXid = Self.xid(of: message), aborted.contains(messageXid) { return }
            try await handle(message)
        }
        if settings.transactionMarkers { try await marker(.commit) }
        try await finishTransaction(endLSN: endLSN)
    }

    private static func xid(of message: PgOutputMessage) -> UInt32? {
        switch message {
        case .relation(_, let xid), .type(_, _, _, let xid), .insert(_, _, let xid), .update(_, _, _, _, let xid),
             .delete(_, _, _, let xid), .truncate(_, _, let xid), .message(_, _, _, _, let xid):
            return xid
        default:
            return nil
        }
    }

    private func finishTransaction(endLSN: LSN) async throws {
        if let xid = transaction?.xid { recentCommits.add(xid) }
        transaction = nil
        if endLSN > lastCommitEnd { lastCommitEnd = endLSN }
        if batch.events.isEmpty && batch.schemas.isEmpty && batch.position == nil && session.inFlight.allDurable {
            session.reader?.acknowledge(lastCommitEnd)
        }
        if let untilLSN, endLSN >= untilLSN { caughtUp = true }
        if batch.events.count >= settings.maxBatchEvents { try await flush() }
    }

    private func relation(_ oid: UInt32) throws -> RelationEntry? {
        guard let entry = replayRelations?[oid] ?? relations[oid] else {
            throw SluiceError(.decoding, "a change refers to relation \(oid) before its Relation message",
                              location: transaction.map { "commit \($0.commitLSN)" },
                              hint: "This is a protocol error; restart the source (it resumes from the last durable position)")
        }
        return entry.captured ? entry : nil
    }

    private func relationEntry(_ relation: RelationMessage) async throws -> RelationEntry {
        let table = TableID(database: database, schema: relation.namespace, name: relation.name)
        let names = relation.columns.map(\.name)
        let keyIndexes = relation.columns.indices.filter { relation.columns[$0].isKey }
        guard settings.captures(schema: relation.namespace, name: relation.name) else {
            return RelationEntry(schema: TableSchema(table: table, version: 0, columns: [], primaryKey: []), types: [],
                                 names: names, keyIndexes: keyIndexes, keyNames: [], captured: false)
        }
        let position = transaction.map { LSN.position(commit: $0.commitLSN, order: $0.order) }
        let (schema, types, isNew) = try await session.schemas.schema(
            for: .init(table: table, relationOID: relation.oid, columns: relation.columns), position: position)
        if isNew {
            batch.schemas.append(schema)
            logger.info("table schema version \(schema.version)", metadata: ["sluice.table": .string(table.description)])
            if let job = incremental, job.table == table { job.schemaChanged = true }
        }
        return RelationEntry(schema: schema, types: types, names: schema.columns.map(\.name), keyIndexes: keyIndexes,
                             keyNames: keyIndexes.map { names[$0] }, captured: true)
    }

    private func row(_ tuple: [TupleValue], _ entry: RelationEntry, keyOnly: Bool) throws -> Row {
        guard tuple.count == entry.names.count else {
            throw SluiceError(.decoding, "a row of \(entry.schema.table) has \(tuple.count) columns, its relation "
                              + "has \(entry.names.count)", location: transaction.map { "commit \($0.commitLSN)" })
        }
        if keyOnly {
            return Row(columns: entry.keyNames, values: try entry.keyIndexes.map { try value(tuple[$0], entry, $0) })
        }
        var values: [Value] = []
        values.reserveCapacity(tuple.count)
        for index in tuple.indices { values.append(try value(tuple[index], entry, index)) }
        return Row(columns: entry.names, values: values)
    }

    @inline(__always)
    private func value(_ column: TupleValue, _ entry: RelationEntry, _ index: Int) throws -> Value {
        switch column {
        case .null: return .null
        case .unchanged: return .unchanged
        case .binary(let bytes): return .bytes(Array(bytes))
        case .text(let bytes):
            do {
                return try PgTextValue.parse(bytes, as: entry.types[index])
            } catch {
                throw SluiceError(.decoding, "column \(entry.names[index]) of \(entry.schema.table) "
                                  + "(\(entry.schema.columns[index].sourceType)) could not be parsed",
                                  location: transaction.map { "commit \($0.commitLSN)" },
                                  hint: "Report this with the column's type; the source stops rather than guess",
                                  underlying: error)
            }
        }
    }

    // MARK: Events

    private func change(_ op: ChangeOperation, _ entry: RelationEntry, before: Row?, after: Row?) async throws {
        guard var tx = transaction else {
            throw SluiceError(.decoding, "a change arrived outside a transaction", location: "slot \(settings.slot)")
        }
        let order = tx.order
        tx.order += 1
        transaction = tx
        if let job = incremental, job.windowOpen, job.table == entry.schema.table {
            if op == .truncate { job.windowTruncated = true }
            for image in [before, after] {
                if let image, let key = Self.key(of: image, job.schema.primaryKey) { job.windowKeys.insert(key) }
            }
        }
        if let resumeAfter, !isAfter(commit: tx.commitLSN, order: order, resumeAfter) {
            skippedAsDuplicates += 1
            return
        }
        if let filter = snapshotFilter {
            if tx.commitLSN.value >= filter.maxLSN {
                snapshotFilter = nil
            } else if filter.shouldDrop(table: entry.schema.table, commitLSN: tx.commitLSN.value,
                                        key: (after ?? before).map { filter.key(of: $0, primaryKey: entry.schema.primaryKey) } ?? nil) {
                return
            }
        }
        append(ChangeEvent(
            op: op, connector: "postgres", table: entry.schema.table, schemaVersion: entry.schema.version,
            before: before, after: after, position: Self.position(tx, order),
            transactionID: tx.xidText, orderInTransaction: order, commitTimeMicros: tx.commitTimeMicros),
            commit: tx.commitLSN, order: order)
        if batch.events.count >= settings.maxBatchEvents { try await flush() }
    }

    private static func position(_ tx: OpenTransaction, _ order: Int) -> SourcePosition {
        SourcePosition(sortKey: SourcePosition.sortKey(tx.commitLSN.value, UInt64(order)), text: tx.commitText)
    }

    private func isAfter(commit: LSN, order: Int, _ stored: StreamPositionState) -> Bool {
        commit.value > stored.commitLSN || (commit.value == stored.commitLSN && order > stored.order)
    }

    func append(_ event: ChangeEvent, commit: LSN, order: Int) {
        if batch.startedAt == nil { batch.startedAt = .now }
        if var tx = transaction, let beginOrder = tx.pendingBeginOrder, commit == tx.commitLSN {
            tx.pendingBeginOrder = nil
            tx.beginWritten = true
            transaction = tx
            if resumeAfter.map({ isAfter(commit: tx.commitLSN, order: beginOrder, $0) }) ?? true {
                batch.events.append(ChangeEvent(
                    op: .begin, connector: "postgres",
                    table: TableID(database: database, schema: "_transactions", name: "postgres"),
                    schemaVersion: 0, before: nil, after: nil, position: Self.position(tx, beginOrder),
                    transactionID: tx.xidText, orderInTransaction: beginOrder, commitTimeMicros: tx.commitTimeMicros))
            }
        }
        batch.events.append(event)
        batch.position = StreamPositionState(commitLSN: commit.value, order: order)
    }

    private func marker(_ op: ChangeOperation) async throws {
        guard var tx = transaction else { return }
        if op == .begin {
            tx.pendingBeginOrder = tx.order
            tx.order += 1
            transaction = tx
            return
        }
        guard tx.beginWritten else { return }
        let order = tx.order
        tx.order += 1
        transaction = tx
        if let resumeAfter, !isAfter(commit: tx.commitLSN, order: order, resumeAfter) { return }
        append(ChangeEvent(
            op: op, connector: "postgres", table: TableID(database: database, schema: "_transactions", name: "postgres"),
            schemaVersion: 0, before: nil, after: nil, position: Self.position(tx, order),
            transactionID: tx.xidText, orderInTransaction: order, commitTimeMicros: tx.commitTimeMicros),
            commit: tx.commitLSN, order: order)
    }

    private func logicalMessage(transactional: Bool, lsn: LSN, prefix: String, content: ArraySlice<UInt8>) async throws {
        if prefix == WatermarkChunkReader.prefix {
            try await watermark(String(decoding: content, as: UTF8.self))
            return
        }
        if prefix == "sluice.heartbeat" || !settings.captureMessages { return }
        let (schema, isNew) = try await session.schemas.messageSchema(prefix: prefix)
        if isNew { batch.schemas.append(schema) }
        let text = String(validating: content, as: UTF8.self)
        let after = Row(columns: ["prefix", "content", "transactional"],
                        values: [.string(prefix), text.map(Value.string) ?? .bytes(Array(content)), .bool(transactional)])
        if transactional, var tx = transaction {
            let order = tx.order
            tx.order += 1
            transaction = tx
            if let resumeAfter, !isAfter(commit: tx.commitLSN, order: order, resumeAfter) { return }
            append(ChangeEvent(op: .message, connector: "postgres", table: schema.table, schemaVersion: schema.version,
                               before: nil, after: after, position: Self.position(tx, order),
                               transactionID: tx.xidText, orderInTransaction: order,
                               commitTimeMicros: tx.commitTimeMicros), commit: tx.commitLSN, order: order)
        } else {
            if let resumeAfter, !isAfter(commit: lsn, order: 0, resumeAfter) { return }
            append(ChangeEvent(op: .message, connector: "postgres", table: schema.table, schemaVersion: schema.version,
                               before: nil, after: after, position: LSN.position(commit: lsn, order: 0),
                               commitTimeMicros: Int64(Date().timeIntervalSince1970 * 1_000_000)),
                   commit: lsn, order: 0)
        }
    }

    /// Hands the pending batch to the runtime; its durability acknowledges the last finished transaction.
    private func flush() async throws {
        guard !batch.isEmpty else { return }
        var state: [String: [UInt8]?] = [:]
        if let position = batch.position {
            state[StreamPositionState.key] = PostgresSourceSession.encodeJSON(position)
        }
        for (key, value) in batch.state { state[key] = value }
        let out = SourceBatch(schemas: batch.schemas, events: batch.events, state: state)
        batch = PendingBatch()
        try await session.emit(out, acknowledge: lastCommitEnd)
    }
}

// MARK: Publication refresh

extension ChangeStreamer {
    /// Adds tables that newly match the include patterns to a publication Sluice manages, and queues an
    /// incremental snapshot of each (their rows from before they joined the publication).
    fileprivate func refreshPublication() throws {
        guard settings.createPublication, !(settings.tables.isEmpty && settings.include.isEmpty) else { return }
        let connection = session.catalog.connection
        let publication = try connection.execute("SELECT puballtables FROM pg_publication WHERE pubname = $1",
                                                 parameters: [settings.publication], context: "reading the publication")
        guard publication.rowCount > 0, publication.string(0, 0) != "t" else { return }
        let candidates = try connection.execute(
            """
            SELECT n.nspname, c.relname, c.relreplident,
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
              AND NOT EXISTS (SELECT 1 FROM pg_publication_tables p
                              WHERE p.pubname = $1 AND p.schemaname = n.nspname AND p.tablename = c.relname)
            ORDER BY 1, 2
            """, parameters: [settings.publication], context: "looking for new tables")
        for r in 0..<candidates.rowCount {
            let schema = candidates.string(r, 0) ?? "", name = candidates.string(r, 1) ?? ""
            let qualified = "\(schema).\(name)"
            guard settings.captures(schema: schema, name: name), !skippedNewTables.contains(qualified) else { continue }
            let identity = candidates.string(r, 2), hasKey = candidates.string(r, 3) == "t"
            if identity == "n" || (identity == "d" && !hasKey) {
                skippedNewTables.insert(qualified)
                logger.warning("new table \(qualified) matches the include patterns but has no replica identity: not added",
                               metadata: ["sluice.hint": .string("Add a primary key or run ALTER TABLE … REPLICA IDENTITY FULL")])
                continue
            }
            let quoted = connection.quoteIdentifier(schema) + "." + connection.quoteIdentifier(name)
            do {
                try connection.execute("ALTER PUBLICATION \(connection.quoteIdentifier(settings.publication)) ADD TABLE \(quoted)",
                                       context: "adding \(qualified) to the publication")
            } catch let error as PostgresQueryError where !error.connectionLost {
                publicationRefreshDisabled = true
                logger.warning("could not add new table \(qualified) to the publication; publication refresh is off: \(error)")
                return
            }
            logger.info("added a new table to the publication", metadata: ["sluice.table": .string(qualified)])
            if settings.snapshotMode != .never, !autoRequests.contains(qualified) {
                autoRequests.append(qualified)
                batch.state[Self.autoRequestsKey] = PostgresSourceSession.encodeJSON(autoRequests)
                if batch.startedAt == nil { batch.startedAt = .now }
            }
        }
    }
}
