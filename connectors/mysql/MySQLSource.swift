import Foundation
import Logging
import SluiceCore
import SluiceConnectorKit
import Synchronization

/// The MySQL/MariaDB source: reads the binlog as a replica and turns row events into `ChangeEvent`s.
///
/// Positions are stored only in the batch state (durable with the events); after a restart it reconnects at
/// the transaction of the last stored event and skips what the log already holds, so nothing is missing and
/// nothing is appended twice.
public struct MySQLSource: SourceConnector {
    let context: SourceContext
    let settings: MySQLSourceSettings

    public init(context: SourceContext) throws {
        self.context = context
        self.settings = try MySQLSourceSettings(context.config, pipeline: context.pipeline)
    }

    public func run() async throws {
        var logger = context.logger
        logger[metadataKey: "sluice.mysql.server"] = .string(settings.endpoint.description)
        let control = try MySQLConnection(settings.endpoint)
        defer { control.close() }
        let server = try ServerSettings.check(control, logger: logger)
        try settings.checkTables(control, logger: logger)
        var state = try await context.loadState(MySQLResumeState.key).map { try MySQLResumeState.decode($0) }
        var snapshot = try await context.loadState(MySQLSnapshotState.key).map { try MySQLSnapshotState.decode($0) }
        var clearPosition = false
        var forceSnapshot = false
        if let stored = state, let missing = try Self.purgedFile(stored.file, control: control) {
            guard settings.snapshotMode == .whenNeeded else {
                throw SluiceError(.sourceSetup, """
                    the binlog file \(missing) that the stored position \(stored.file):\(stored.position) needs is no \
                    longer on \(settings.endpoint.description) (purged); changes since then cannot be read
                    """, location: "sources.\(context.config.instanceName)",
                                  hint: "set snapshot_mode: when_needed to take a new snapshot automatically, or keep "
                                      + "binlogs longer (binlog_expire_logs_seconds) and reset the pipeline state")
            }
            logger.warning("the stored binlog position was purged from the server; taking a new snapshot, each table truncated downstream first",
                           metadata: ["sluice.mysql.position": .string("\(stored.file):\(stored.position)")])
            state = nil
            clearPosition = true
            forceSnapshot = true
        }
        var initialSchemas: [TableID: TableSchema] = [:]
        if settings.snapshotMode != .never {
            let unfinished = snapshot.map { !$0.done } ?? false
            if forceSnapshot || unfinished || (snapshot == nil && state == nil) {
                if forceSnapshot { snapshot = nil }
                let reader = MySQLSnapshotReader(settings: settings, context: context, logger: logger, server: server)
                let connection = try MySQLConnection(settings.endpoint)
                defer { connection.close() }
                let point = try MySQLSnapshotReader.begin(connection, server: server)
                let tables = try MySQLSnapshotReader.capturedTables(connection, settings: settings)
                var progress: MySQLSnapshotState
                if var existing = snapshot {
                    existing.restart(at: point, tables: tables)
                    progress = existing
                    logger.info("resuming the snapshot under a new consistent snapshot",
                                metadata: ["sluice.mysql.position": .string("\(point.file):\(point.position)")])
                } else {
                    progress = MySQLSnapshotState.fresh(tables: tables, at: point, replacing: forceSnapshot)
                    logger.info("taking the initial snapshot", metadata: [
                        "sluice.mysql.position": .string("\(point.file):\(point.position)"),
                        "sluice.tables": .stringConvertible(tables.count)])
                }
                initialSchemas = try await reader.run(&progress, connection: connection, point: point,
                                                      clearPosition: clearPosition)
                progress.done = true
                let resume = MySQLResumeState(file: progress.file, position: progress.position, lastKey: nil,
                                              gtid: nil, snapshotDone: true, gtidState: progress.gtid)
                try await context.emit(SourceBatch(state: [MySQLSnapshotState.key: progress.encoded(),
                                                           MySQLResumeState.key: resume.encoded()]))
                snapshot = progress
                state = resume
            }
            if settings.snapshotMode == .initialOnly {
                try await context.waitUntilDurable()
                return
            }
        }
        let start = try startPosition(state, control: control, server: server)
        if state == nil, !start.file.isEmpty {
            // Store where streaming starts before the first change arrives: `latest` names another position after a
            // reconnect, and the changes between the two would be skipped.
            let initial = MySQLResumeState(file: start.file, position: start.position, lastKey: nil, gtid: nil,
                                           snapshotDone: nil, gtidState: nil)
            try await context.emit(SourceBatch(state: [MySQLResumeState.key: initial.encoded()]))
            try await context.waitUntilDurable()
            state = initial
        }
        var stream = try BinlogStreamState(settings: settings, context: context, logger: logger, control: control,
                                           server: server, resume: state)
        stream.schemas = initialSchemas
        stream.snapshotFilter = snapshot.flatMap { MySQLSnapshotFilter($0) }
        if !stream.gtids.isKnown {
            if let gtid = start.gtid {
                do {
                    try stream.gtids.reset(to: gtid)
                } catch var error as SluiceError {
                    error.location = "sources.\(context.config.instanceName).gtid"
                    throw error
                }
            } else if server.isMariaDB, !start.file.isEmpty {
                let text = (try? control.query("SELECT BINLOG_GTID_POS(\(control.quoted(start.file)), \(start.position))"))?
                    .first?.first ?? nil
                if let text { try stream.gtids.reset(to: text) }
            } else if !server.isMariaDB {
                logger.debug("""
                    the executed GTID set at \(start.file):\(start.position) is not known; it is stored with the \
                    position from the next binlog file's PREVIOUS_GTIDS event on
                    """)
            }
        }
        logger.info("streaming the binlog", metadata: ["sluice.mysql.position": .string("\(start.file):\(start.position)")])
        do {
            var from = start
            while true {
                try await stream.run(from: from)
                // --until-caught-up with an incremental snapshot whose chunk waits for newer events: read on.
                guard context.untilCaughtUp, stream.incremental != nil else { break }
                from = (stream.decoder.file, stream.decoder.position, nil)
            }
        } catch let error as SluiceError where error.isTransient {
            // The runtime retries by running the source again, which resumes from the stored state: let what
            // was handed over become durable first, so that it is not read (and appended) again.
            try? await context.waitUntilDurable()
            throw error
        }
    }

    /// The first binlog file from `file` on that the server no longer has, or nil when it has them all.
    static func purgedFile(_ file: String, control: MySQLConnection) throws -> String? {
        guard !file.isEmpty else { return nil }
        let files = try control.query("SHOW BINARY LOGS").compactMap { $0.first ?? nil }
        guard let first = files.first else { return nil }
        if files.contains(file) { return nil }
        func number(_ name: String) -> UInt64 { name.split(separator: ".").last.flatMap { UInt64($0) } ?? 0 }
        // Older than the oldest kept file: purged. A newer name (not yet written) is left to the server.
        return number(file) < number(first) ? file : nil
    }

    private func startPosition(_ state: MySQLResumeState?, control: MySQLConnection,
                               server: ServerSettings) throws -> (file: String, position: UInt64, gtid: String?) {
        if let state { return (state.file, state.position, nil) }
        if let gtid = settings.gtid { return ("", 4, gtid) }
        switch settings.startPosition {
        case "latest":
            let end = try server.currentPosition(control)
            return (end.file, end.position, nil)
        case "earliest":
            guard let first = try control.query("SHOW BINARY LOGS").first?.first ?? nil else {
                throw SluiceError(.sourceSetup, "the server lists no binary logs", hint: "enable log_bin")
            }
            return (first, 4, nil)
        default:
            let parts = settings.startPosition.split(separator: ":")
            guard parts.count == 2, let position = UInt64(parts[1]) else {
                throw SluiceError(.invalidConfiguration, "start_position '\(settings.startPosition)' is not FILE:POS",
                                  location: "sources.\(context.config.instanceName).start_position",
                                  hint: "use latest, earliest or e.g. binlog.000003:4")
            }
            return (String(parts[0]), position, nil)
        }
    }
}

/// The running binlog stream of one source: decoder, schemas, batching and positions.
struct BinlogStreamState {
    let settings: MySQLSourceSettings
    let context: SourceContext
    let logger: Logger
    let control: MySQLConnection
    let server: ServerSettings
    var decoder: BinlogEventDecoder
    var catalog: MySQLCatalog
    /// Current schema per captured table, and per table id the schema its current map decodes into.
    var schemas: [TableID: TableSchema] = [:]
    var mapSchemas: [UInt64: (signature: [UInt8], schema: TableSchema)] = [:]
    /// Changes at or before this position are in the log already (resuming in the middle of a transaction).
    var skipThrough: PackedSortKey?
    // Transaction
    var transactionStart: (file: String, position: UInt64)?
    var transactionID: String?
    var orderInTransaction = 0
    var lastGTID: String?
    var rowEventPosition: UInt64 = .max
    var rowIndex: UInt64 = 0
    // Batch
    var batch = SourceBatch()
    var lastKey: PackedSortKey?
    /// How rows of each table's current schema version are encoded.
    var layouts: [TableID: EncodedRowLayout] = [:]
    var lastStoredState: MySQLResumeState?
    var lastStateEmit = ContinuousClock.now
    var cachedFileName = ""
    var cachedFileIndex: UInt64 = 0
    /// Drops streamed changes an interrupted-and-resumed snapshot already read (nil: nothing to drop).
    var snapshotFilter: MySQLSnapshotFilter?
    /// The GTID state after the last completed transaction.
    var gtids: BinlogGTIDState
    // Incremental snapshot (MySQLIncrementalSnapshot.swift)
    var incremental: MySQLIncrementalJob?
    var lastRequestPoll = ContinuousClock.now - .seconds(60)
    var refusedRequests: Set<String> = []

    init(settings: MySQLSourceSettings, context: SourceContext, logger: Logger, control: MySQLConnection,
         server: ServerSettings, resume: MySQLResumeState?) throws {
        self.settings = settings
        self.context = context
        self.logger = logger
        self.control = control
        self.server = server
        self.decoder = BinlogEventDecoder(framing: .network, file: resume?.file ?? "", position: resume?.position ?? 4,
                                          checksum: server.checksum.uppercased() == "CRC32" ? 1 : 0,
                                          verifyChecksums: settings.verifyChecksums)
        self.catalog = MySQLCatalog(connection: control)
        if let text = resume?.lastKey {
            guard let key = HexBytes.decode(text).flatMap(PackedSortKey.init) else {
                throw SluiceError(.decoding, "the stored resume state has a malformed last position '\(text)'",
                                  location: "stored state '\(MySQLResumeState.key)'",
                                  hint: "reset the pipeline state, or start it with the gtid or start_position option")
            }
            self.skipThrough = key
        }
        self.lastKey = skipThrough
        self.lastStoredState = resume
        self.lastGTID = resume?.gtid
        self.gtids = BinlogGTIDState(isMariaDB: server.isMariaDB)
        if let text = resume?.gtidState {
            do {
                try gtids.reset(to: text)
            } catch var error as SluiceError {
                error.location = "stored state '\(MySQLResumeState.key)'"
                error.hint = "reset the pipeline state, or start it with the gtid option"
                throw error
            }
        }
    }

    mutating func run(from start: (file: String, position: UInt64, gtid: String?)) async throws {
        var endpoint = settings.endpoint
        endpoint.readTimeoutSeconds = max(3, Int((settings.heartbeatSeconds * 3).rounded(.up)))
        let replication = try MySQLConnection(endpoint)
        let stream = try BinlogPacketStream.open(replication, settings: settings, server: server, file: start.file,
                                                 position: start.position, gtid: start.gtid,
                                                 nonBlocking: context.untilCaughtUp)
        if !start.file.isEmpty { decoder = BinlogEventDecoder(framing: .network, file: start.file, position: start.position,
                                                              checksum: server.checksum.uppercased() == "CRC32" ? 1 : 0,
                                                              verifyChecksums: settings.verifyChecksums) }
        decoder.defersRows = true
        defer { stream.stop() }
        while let packets = try await stream.next() {
            for (index, packet) in packets.enumerated() {
                if !packet.isEmpty {
                    for event in try decoder.decode(packet: packet) {
                        try await handle(event)
                    }
                }
                if transactionStart == nil { try await driveIncrementalSnapshot(stream) }
                let idle = index == packets.count - 1 && stream.isDrained
                if batch.eventCount >= settings.maxBatchEvents || (idle && transactionStart == nil && batch.eventCount > 0) {
                    try await emit()
                } else if idle && transactionStart == nil && ContinuousClock.now - lastStateEmit > .seconds(5) {
                    try await emit()
                }
            }
        }
        if context.untilCaughtUp {
            // At the end of the binlog: start a requested incremental snapshot, and read its chunks for as long as
            // they need no newer events.
            while try await !driveIncrementalSnapshot(stream, atEnd: true), incremental != nil {}
        }
        try await emit()
        try await context.waitUntilDurable()
    }

    // MARK: Events

    private mutating func handle(_ event: BinlogEvent) async throws {
        try gtids.observe(event)
        switch event.body {
        case .mariaGTID(let gtid):
            beginTransaction(event, id: gtid.text)
            if gtid.isStandalone { transactionStandalone = true }
        case .mysqlGTID(let gtid, _):
            beginTransaction(event, id: gtid)
        case .query(let query):
            try await handleQuery(query, event)
        case .xid:
            endTransaction(event)
        case .xaPrepare:
            endTransaction(event)
        case .tableMap(let map):
            if transactionStart == nil { beginTransaction(event, id: nil) }
            guard settings.captures(database: map.database, table: map.table) else { return }
            try await prepareSchema(map, event)
        case .rows(let rows):
            guard settings.captures(database: rows.table.database, table: rows.table.table) else { return }
            try appendRows(rows, event)
        case .rotate, .formatDescription, .previousGTIDs, .mariaGTIDList, .rowsQuery, .heartbeat, .other, .ignored:
            return
        case .stop:
            return
        case .incident(let code, let message):
            throw SluiceError(.decoding, "the server logged an incident (code \(code)): \(message); events may be missing",
                              location: "\(event.file):\(event.position)",
                              hint: "take a new snapshot of the captured tables, then restart from after the incident")
        }
    }

    var transactionStandalone = false

    private mutating func beginTransaction(_ event: BinlogEvent, id: String?) {
        transactionStart = (event.file, event.position)
        transactionID = id ?? "\(event.file):\(event.position)"
        orderInTransaction = 0
        transactionStandalone = false
        if let id { lastGTID = id }
    }

    private mutating func endTransaction(_ event: BinlogEvent) {
        transactionStart = nil
        transactionID = nil
        transactionStandalone = false
    }

    private mutating func handleQuery(_ query: QueryEvent, _ event: BinlogEvent) async throws {
        switch query.role {
        case .begin:
            if transactionStart == nil { beginTransaction(event, id: nil) }
            return
        case .commit:
            endTransaction(event)
            return
        case .savepoint:
            return
        case .statement:
            break  // a DDL (or a statement-based DML of a non-transactional engine): it ends its event group
        }
        let sql = query.sql.trimmingCharacters(in: .whitespacesAndNewlines)
        let upper = sql.prefix(40).uppercased()
        let words = upper.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        if let first = words.first, ["ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE"].contains(String(first)) {
            catalog.invalidateAll()
            for id in Array(mapSchemas.keys) { mapSchemas[id] = nil }
            incremental?.recordReset(sortKey: position(event, row: 0).sortKey)
            if first == "TRUNCATE", let table = DDLText.truncatedTable(sql, defaultDatabase: query.database),
               settings.captures(database: table.database, table: table.name) {
                var schema = schemas[table]
                if schema == nil { schema = try await context.latestSchema(table) }
                if let schema {
                    appendRow(.truncate, layout: layout(schema), before: nil, after: nil,
                              sortKey: PackedSortKey(fileIndex(event.file), event.position, 0),
                              positionText: "\(event.file):\(event.position)", transactionID: transactionID,
                              orderInTransaction: 0, commitTimeMicros: Int64(event.header.timestamp) * 1_000_000)
                }
            }
        }
        endTransaction(event)
    }

    private mutating func prepareSchema(_ map: TableMap, _ event: BinlogEvent) async throws {
        if let cached = mapSchemas[map.tableID], cached.signature == map.signature { return }
        let table = TableID(database: map.database, schema: map.database, name: map.table)
        var info = try catalog.columns(database: map.database, table: map.table)
        if let columns = info, columns.count != map.columns.count || (map.hasColumnNames
            && zip(columns, map.columns).contains { $0.name != $1.name }) {
            info = nil  // the catalog describes the table's shape of today, not of this event
        }
        if !map.hasColumnNames && info == nil {
            let count = try catalog.columns(database: map.database, table: map.table)?.count
            throw SluiceError(.decoding, "table \(table) has \(map.columns.count) columns in the binlog but "
                                + (count.map { "\($0) in information_schema" } ?? "is not in information_schema")
                                + " and the binlog carries no column names",
                              location: "\(event.file):\(event.position) (TABLE_MAP_EVENT), table \(table)",
                              hint: "set binlog_row_metadata=FULL on the server, or restart from a position after the "
                                  + "table's last DDL (or take a new snapshot)")
        }
        decoder.setCatalog(info, database: map.database, table: map.table)
        var columns: [ColumnSchema] = []
        for (index, column) in map.columns.enumerated() {
            let catalogColumn = info?[index]
            let plan = try ColumnDecoding(column, catalog: catalogColumn)
            columns.append(ColumnSchema(
                name: column.name ?? catalogColumn?.name ?? "col\(index + 1)",
                sourceType: catalogColumn?.columnType ?? MySQLTypeNames.name(column),
                kind: plan.kind, nullable: column.nullable,
                precision: plan.exactDecimal?.precision, scale: plan.exactDecimal?.scale))
        }
        let key: [String]
        if let indexes = map.primaryKey { key = indexes.map { columns[$0].name } }
        else { key = try catalog.primaryKey(database: map.database, table: map.table) ?? [] }
        var schema = TableSchema(table: table, version: 1, columns: columns, primaryKey: key,
                                 position: position(event, row: 0))
        var current = schemas[table]
        if current == nil { current = try await context.latestSchema(table) }
        if let current {
            if current.hasSameShape(as: schema) {
                schema = current
            } else {
                schema.version = current.version + 1
                batch.schemas.append(schema)
            }
        } else {
            batch.schemas.append(schema)
        }
        schemas[table] = schema
        mapSchemas[map.tableID] = (map.signature, schema)
    }

    private mutating func appendRows(_ rows: RowsEvent, _ event: BinlogEvent) throws {
        guard let schema = mapSchemas[rows.table.tableID]?.schema else {
            throw SluiceError(.decoding, "rows of \(rows.table.database).\(rows.table.table) without a schema",
                              location: "\(event.file):\(event.position) (\(event.header.type))")
        }
        if event.position != rowEventPosition {
            rowEventPosition = event.position
            rowIndex = 0
        }
        let fileIndex = self.fileIndex(event.file)
        let positionText = "\(event.file):\(event.position)"
        let layout = self.layout(schema)
        let op: ChangeOperation = rows.kind == .insert ? .insert : rows.kind == .update ? .update : .delete
        let commitTime = Int64(event.header.timestamp) * 1_000_000
        let filterKey: [UInt8]? = snapshotFilter.flatMap { filter in
            let key = SourcePosition.sortKey(fileIndex, event.position, 0)
            return key.lexicographicallyPrecedes(filter.maxSortKey) ? key : nil
        }
        let location = "\(event.file):\(event.position) (\(event.header.type)), table \(schema.table)"
        func rowsError(_ error: any Error) -> SluiceError {
            SluiceError(.decoding, "cannot decode the rows of \(event.header.type): \(error)", location: location,
                        hint: "the binlog may be damaged or written by an unsupported server version; "
                            + "start from a later position or report the event")
        }
        if var data = rows.rowData, skipThrough == nil, filterKey == nil, incremental?.table != schema.table {
            // The usual case: rows go from the binlog bytes straight into the batch's encoding.
            do {
                while !data.isAtEnd {
                    let sortKey = PackedSortKey(fileIndex, event.position, rowIndex)
                    batch.encoded.beginRow(op, layout: layout, hasBefore: op != .insert, hasAfter: op != .delete,
                                           sortKey: sortKey, positionText: positionText, transactionID: transactionID,
                                           orderInTransaction: orderInTransaction, commitTimeMicros: commitTime)
                    try data.encodeNext(into: &batch.encoded)
                    batch.encoded.endRow()
                    lastKey = sortKey
                    rowIndex += 1
                    orderInTransaction += 1
                }
            } catch {
                batch.encoded.abandonRow()
                throw rowsError(error)
            }
            return
        }
        let decodedRows: [RowImages]
        do {
            decodedRows = try rows.decodedRows()
        } catch {
            throw rowsError(error)
        }
        for row in decodedRows {
            if let filterKey, let filter = snapshotFilter {
                let image = row.after ?? row.before
                let key = image.flatMap {
                    MySQLSnapshotFilter.key(of: Row(columns: layout.columnNames, values: $0), primaryKey: schema.primaryKey)
                }
                if filter.shouldDrop(table: schema.table, sortKey: filterKey, key: key) {
                    rowIndex += 1
                    orderInTransaction += 1
                    continue
                }
            }
            if let updates = row.unappliedJSONUpdates, let column = updates.keys.first {
                throw SluiceError(.decoding, "a partial JSON update of column \(layout.columnNames[column]) has no before image",
                                  location: location,
                                  hint: "set binlog_row_image=FULL (or binlog_row_value_options='') on the server")
            }
            let sortKey = PackedSortKey(fileIndex, event.position, rowIndex)
            if let job = incremental, job.table == schema.table {
                job.recordChange([row.before, row.after], schema: schema, sortKey: sortKey.bytes)
            }
            appendRow(op, layout: layout, before: row.before, after: row.after, sortKey: sortKey, positionText: positionText,
                      transactionID: transactionID, orderInTransaction: orderInTransaction, commitTimeMicros: commitTime)
            rowIndex += 1
            orderInTransaction += 1
        }
    }

    /// Adds a row change to the batch, unless the log holds it already (see `skipThrough`).
    mutating func appendRow(_ op: ChangeOperation, layout: EncodedRowLayout, before: [Value]?, after: [Value]?,
                            sortKey: PackedSortKey, positionText: String, transactionID: String?,
                            orderInTransaction: Int?, commitTimeMicros: Int64, isSnapshot: Bool = false) {
        if let skip = skipThrough {
            if sortKey <= skip { return }
            skipThrough = nil
        }
        batch.encoded.appendRow(op, layout: layout, before: before, after: after, sortKey: sortKey,
                                positionText: positionText, transactionID: transactionID,
                                orderInTransaction: orderInTransaction, commitTimeMicros: commitTimeMicros,
                                isSnapshot: isSnapshot)
        lastKey = sortKey
    }

    /// How rows of `schema` are encoded (worked out once per schema version).
    mutating func layout(_ schema: TableSchema) -> EncodedRowLayout {
        if let known = layouts[schema.table], known.schemaVersion == schema.version { return known }
        let layout = EncodedRowLayout(schema: schema, connector: "mysql")
        layouts[schema.table] = layout
        return layout
    }

    mutating func fileIndex(_ file: String) -> UInt64 {
        if file == cachedFileName { return cachedFileIndex }
        cachedFileName = file
        cachedFileIndex = file.split(separator: ".").last.flatMap { UInt64($0) } ?? 0
        return cachedFileIndex
    }

    private mutating func position(_ event: BinlogEvent, row: UInt64) -> SourcePosition {
        SourcePosition(sortKey: SourcePosition.sortKey(fileIndex(event.file), event.position, row),
                       text: "\(event.file):\(event.position)")
    }

    // MARK: Batches

    mutating func emit() async throws {
        let resume: MySQLResumeState
        if let start = transactionStart {
            resume = MySQLResumeState(file: start.file, position: start.position, lastKey: lastKey.map { HexBytes.encode($0.bytes) },
                                      gtid: lastGTID, snapshotDone: lastStoredState?.snapshotDone,
                                      gtidState: gtids.text)
        } else {
            resume = MySQLResumeState(file: decoder.file, position: decoder.position, lastKey: lastKey.map { HexBytes.encode($0.bytes) },
                                      gtid: lastGTID, snapshotDone: lastStoredState?.snapshotDone,
                                      gtidState: gtids.text)
        }
        guard batch.eventCount > 0 || !batch.schemas.isEmpty || resume != lastStoredState else { return }
        var out = batch
        out.state[MySQLResumeState.key] = resume.encoded()
        batch = SourceBatch()
        lastStoredState = resume
        lastStateEmit = .now
        try await context.emit(out)
    }
}

/// Small helpers over DDL text.
enum DDLText {
    /// The table of `TRUNCATE [TABLE] [db.]name`.
    static func truncatedTable(_ sql: String, defaultDatabase: String) -> TableID? {
        var words = sql.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == ";" }).map(String.init)
        guard !words.isEmpty else { return nil }
        words.removeFirst()
        if words.first?.uppercased() == "TABLE" { words.removeFirst() }
        guard let name = words.first else { return nil }
        let parts = name.replacingOccurrences(of: "`", with: "").split(separator: ".").map(String.init)
        let database = parts.count == 2 ? parts[0] : defaultDatabase
        let table = parts.last ?? name
        return TableID(database: database, schema: database, name: table)
    }
}
