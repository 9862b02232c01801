import Foundation
import Logging
import SluiceCore
import SluicePostgresClient
import SluiceConnectorKit
import Synchronization

/// The PostgreSQL source: a consistent initial snapshot, then logical replication (pgoutput) from a slot.
///
/// Every event carries the transaction id, commit LSN, commit time and order within its transaction;
/// its position sorts by (commit LSN, order). The flush LSN is reported to the server only once the
/// batch holding the change is durable in the log.
public struct PostgresSource: SourceConnector {
    let context: SourceContext
    let settings: PostgresSourceSettings

    public init(context: SourceContext) throws {
        self.context = context
        self.settings = try PostgresSourceSettings(context.config, pipeline: context.pipeline)
    }

    public func run() async throws {
        let session = try PostgresSourceSession(context: context, settings: settings)
        defer { session.close() }
        try await session.run()
    }
}

/// Where streaming has got to, stored with every batch (state key `position`).
struct StreamPositionState: Codable, Sendable {
    /// Commit LSN of the last transaction with an event in the log.
    var commitLSN: UInt64
    /// Order within that transaction of the last event in the log.
    var order: Int

    static let key = "position"
}

/// Counts batches handed to the runtime and those that became durable.
final class InFlightBatches: Sendable {
    private let counts = Mutex((emitted: 0, durable: 0))

    func emittedOne() { counts.withLock { $0.emitted += 1 } }
    func durableOne() { counts.withLock { $0.durable += 1 } }
    var allDurable: Bool { counts.withLock { $0.emitted == $0.durable } }
}

/// One run of the source: connections, setup checks, snapshot, streaming.
// @unchecked: the session is used by the source's one task at a time (snapshot, then streaming); the only other
// thread, the replication reader's, gets its own `ReplicationReader` and never touches the session's fields.
final class PostgresSourceSession: @unchecked Sendable {
    let context: SourceContext
    let settings: PostgresSourceSettings
    var logger: Logger
    let catalog: PgCatalog
    var replication: PostgresConnection?
    let database: String
    let schemas: SchemaVersions
    let inFlight = InFlightBatches()
    var reader: ReplicationReader?

    init(context: SourceContext, settings: PostgresSourceSettings) throws {
        self.context = context
        self.settings = settings
        logger = context.logger
        let regular = try PostgresConnection(settings.endpoint, replication: false)
        // Queried beside the stream (catalog lookups, publication refresh, slot lag): one that stalls must not hold
        // the stream up forever; the same limit as the replication connection's.
        regular.responseTimeout = .seconds(max(5, 3 * settings.statusInterval))
        catalog = PgCatalog(connection: regular)
        database = try regular.execute("SELECT current_database()").string(0, 0) ?? ""
        logger[metadataKey: "sluice.pg"] = .string(regular.displayName)
        schemas = SchemaVersions(database: database, catalog: catalog, latestStored: context.latestSchema)
    }

    func close() {
        reader?.stop()
        reader = nil
        replication = nil
    }

    func run() async throws {
        try checkServer()
        try ensurePublication()
        let tables = try publishedTables()
        try checkReplicaIdentity(tables)

        let storedPosition = try await loadJSON(StreamPositionState.self, key: StreamPositionState.key)
        var snapshotState = try await loadJSON(SnapshotState.self, key: SnapshotState.key)
        let untilLSN: LSN? = context.untilCaughtUp
            ? LSN(try catalog.connection.execute("SELECT pg_current_wal_lsn()").string(0, 0) ?? "0/0") : nil

        let replication = try PostgresConnection(settings.endpoint, replication: true)
        self.replication = replication
        let slotLSN = try existingSlot()
        var snapshotPlan: SnapshotPlan?
        if slotLSN == nil {
            guard settings.createSlot else {
                throw SluiceError(.sourceSetup, "replication slot '\(settings.slot)' does not exist", location: "slot",
                                  hint: "Create it (SELECT pg_create_logical_replication_slot('\(settings.slot)', "
                                      + "'pgoutput')) or set create_slot: true")
            }
            let slotLost = storedPosition != nil || snapshotState != nil  // the log holds changes read through it
            if slotLost {
                guard settings.snapshotMode != .never else {
                    throw SluiceError(.sourceSetup, """
                        replication slot '\(settings.slot)' is gone but the log holds changes read through it: the \
                        changes made since cannot be read
                        """, location: "sources.\(context.config.instanceName).slot",
                                      hint: "set snapshot_mode: initial to take a new snapshot (each table is truncated "
                                          + "downstream first), or restore the slot")
                }
                logger.warning("""
                    replication slot is missing but the log holds changes read through it: changes made while the \
                    slot was gone are lost; taking a new snapshot, each table truncated downstream first
                    """,
                               metadata: ["sluice.slot": .string(settings.slot)])
            }
            let wantsSnapshot = settings.snapshotMode != .never
            let created = try createSlot(on: replication, exportSnapshot: wantsSnapshot)
            logger.info("created replication slot", metadata: ["sluice.slot": .string(settings.slot),
                                                                "sluice.lsn": .string(created.lsn.description)])
            if wantsSnapshot, let name = created.snapshotName {
                snapshotState = SnapshotState.fresh(tables: tables, consistentLSN: created.lsn, replacing: slotLost)
                snapshotPlan = SnapshotPlan(snapshotName: name, snapshotLSN: created.lsn, exporter: nil)
            }
        } else if settings.snapshotMode != .never, snapshotState.map({ !$0.done }) ?? (storedPosition == nil) {
            // The slot exists but the snapshot is unfinished (or never ran): its exported snapshot is gone.
            // Take a new exported snapshot from a temporary slot; rows read under it are as of its LSN, and
            // streamed changes to those rows committed before that LSN are dropped (see README: Snapshots).
            let exporter = try PostgresConnection(settings.endpoint, replication: true)
            let temporary = PostgresSourceSettings.identifier("\(settings.slot)_snap_\(UInt32.random(in: 0...UInt32.max))")
            let created = try createSlot(on: exporter, exportSnapshot: true, name: temporary, temporary: true)
            var state = snapshotState ?? SnapshotState.fresh(tables: tables, consistentLSN: slotLSN!)
            state.restart(at: created.lsn, tables: tables)
            snapshotState = state
            snapshotPlan = SnapshotPlan(snapshotName: created.snapshotName!, snapshotLSN: created.lsn, exporter: exporter)
            logger.info("resuming the snapshot under a new exported snapshot",
                        metadata: ["sluice.lsn": .string(created.lsn.description)])
        }

        if let plan = snapshotPlan, var state = snapshotState {
            let snapshot = SnapshotReader(session: self, plan: plan)
            try await snapshot.run(&state)
            snapshotState = state
            if settings.snapshotMode == .initialOnly {
                try await context.waitUntilDurable()
                return
            }
        } else if settings.snapshotMode == .initialOnly, snapshotState?.done == true {
            return
        }

        let streamer = ChangeStreamer(session: self, resumeAfter: storedPosition,
                                      snapshotFilter: snapshotState.flatMap { SnapshotFilter($0) }, untilLSN: untilLSN)
        try await streamer.run(replication: replication)
    }

    // MARK: Setup checks

    private func checkServer() throws {
        let connection = catalog.connection
        guard connection.serverVersion >= 100000 else {
            throw SluiceError(.sourceSetup, "PostgreSQL \(connection.serverVersion / 10000) is too old",
                              hint: "Use PostgreSQL 10 or newer (14+ for streaming of large transactions)")
        }
        let walLevel = try connection.execute("SHOW wal_level").string(0, 0)
        guard walLevel == "logical" else {
            throw SluiceError(.sourceSetup, "wal_level is '\(walLevel ?? "?")', logical replication needs 'logical'",
                              location: connection.displayName,
                              hint: "Run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL")
        }
        let role = try connection.execute(
            "SELECT rolsuper, rolreplication, current_user FROM pg_roles WHERE rolname = current_user")
        if role.string(0, 0) != "t" && role.string(0, 1) != "t" {
            let user = role.string(0, 2) ?? "the user"
            throw SluiceError(.sourceSetup, "user \(user) may not use replication", location: connection.displayName,
                              hint: "Run ALTER ROLE \(connection.quoteIdentifier(user)) WITH REPLICATION; and grant "
                                  + "SELECT on the captured tables")
        }
    }

    /// Creates the publication when missing (before the slot: a slot decodes with the publication as of each change).
    private func ensurePublication() throws {
        let connection = catalog.connection
        let exists = try connection.execute("SELECT 1 FROM pg_publication WHERE pubname = $1",
                                            parameters: [settings.publication]).rowCount > 0
        if exists { return }
        let slotExists = try connection.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                                                parameters: [settings.slot]).rowCount > 0
        if slotExists {
            // A publication created now is invisible to the changes made before it: the slot would fail on them forever.
            throw SluiceError(.sourceSetup, """
                publication '\(settings.publication)' does not exist but slot '\(settings.slot)' does: a publication \
                dropped while the slot used it (or created after it) cannot decode the changes made before it exists
                """, location: "sources.\(context.config.instanceName).publication",
                              hint: "drop the slot (SELECT pg_drop_replication_slot('\(settings.slot)')) and run again: "
                                  + "Sluice re-creates both and takes a new snapshot, each table truncated downstream first")
        }
        guard settings.createPublication else {
            throw SluiceError(.sourceSetup, "publication '\(settings.publication)' does not exist", location: "publication",
                              hint: "Create it (CREATE PUBLICATION \(settings.publication) FOR TABLE …) or set "
                                  + "create_publication: true")
        }
        let target: String
        if settings.tables.isEmpty && settings.include.isEmpty && settings.exclude.isEmpty {
            target = "FOR ALL TABLES"
        } else {
            let all = try connection.execute(
                """
                SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2
                """)
            var names: [String] = []
            for r in 0..<all.rowCount {
                let schema = all.string(r, 0) ?? "", name = all.string(r, 1) ?? ""
                if settings.captures(schema: schema, name: name) {
                    names.append(connection.quoteIdentifier(schema) + "." + connection.quoteIdentifier(name))
                }
            }
            guard !names.isEmpty else {
                throw SluiceError(.sourceSetup, "no table matches the tables/include/exclude settings",
                                  location: "tables", hint: "Check the table names and patterns (schema.table)")
            }
            target = "FOR TABLE " + names.joined(separator: ", ")
        }
        do {
            try connection.execute("CREATE PUBLICATION \(connection.quoteIdentifier(settings.publication)) \(target)")
        } catch let error as PostgresQueryError {
            throw error.asSluiceError(hint: "Creating a publication needs ownership of the tables (FOR ALL TABLES: "
                                          + "superuser); create it yourself and set create_publication: false")
        }
        logger.info("created publication", metadata: ["sluice.publication": .string(settings.publication)])
    }

    /// The captured tables: in the publication and passing include/exclude.
    private func publishedTables() throws -> [TableID] {
        let result = try catalog.connection.execute(
            "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2",
            parameters: [settings.publication])
        return (0..<result.rowCount).compactMap { r in
            let schema = result.string(r, 0) ?? "", name = result.string(r, 1) ?? ""
            return settings.captures(schema: schema, name: name)
                ? TableID(database: database, schema: schema, name: name) : nil
        }
    }

    private func checkReplicaIdentity(_ tables: [TableID]) throws {
        let connection = catalog.connection
        for table in tables {
            let result = try connection.execute(
                """
                SELECT c.relreplident, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2
                """, parameters: [table.schema, table.name])
            guard result.rowCount > 0 else { continue }
            let identity = result.string(0, 0), hasKey = result.string(0, 1) == "t"
            if identity == "n" || (identity == "d" && !hasKey) {
                let name = connection.quoteIdentifier(table.schema) + "." + connection.quoteIdentifier(table.name)
                throw SluiceError(.sourceSetup, "table \(table) has no replica identity: PostgreSQL cannot publish its "
                                  + "updates and deletes", location: "table \(table)",
                                  hint: "Add a primary key, or run ALTER TABLE \(name) REPLICA IDENTITY FULL")
            }
        }
    }

    // MARK: Slots

    /// The slot's confirmed position, or nil when it does not exist.
    private func existingSlot() throws -> LSN? {
        let result = try catalog.connection.execute(
            "SELECT confirmed_flush_lsn, plugin, database FROM pg_replication_slots WHERE slot_name = $1",
            parameters: [settings.slot])
        guard result.rowCount > 0 else { return nil }
        guard result.string(0, 1) == "pgoutput", result.string(0, 2) == database else {
            throw SluiceError(.sourceSetup, "slot '\(settings.slot)' exists but is not a pgoutput slot of database "
                              + "\(database)", location: "slot", hint: "Choose another slot name")
        }
        return LSN(result.string(0, 0) ?? "0/0") ?? .zero
    }

    struct CreatedSlot {
        var lsn: LSN
        var snapshotName: String?
    }

    func createSlot(on connection: PostgresConnection, exportSnapshot: Bool, name: String? = nil,
                    temporary: Bool = false) throws -> CreatedSlot
    {
        let slotName = name ?? settings.slot
        let mode = exportSnapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT"
        let sql = "CREATE_REPLICATION_SLOT \(connection.quoteIdentifier(slotName))\(temporary ? " TEMPORARY" : "") "
            + "LOGICAL pgoutput \(mode)"
        do {
            let result = try connection.execute(sql, context: "creating replication slot \(slotName)")
            return CreatedSlot(lsn: LSN(result.string(0, 1) ?? "0/0") ?? .zero, snapshotName: result.string(0, 2))
        } catch let error as PostgresQueryError {
            throw error.asSluiceError(hint: error.sqlState == "53400"
                ? "All replication slots are in use: raise max_replication_slots or drop unused slots"
                : "Check that the user has the REPLICATION attribute")
        }
    }

    // MARK: Emitting

    /// Hands a batch to the runtime; `acknowledge` is reported to the server once it is durable.
    func emit(_ batch: SourceBatch, acknowledge: LSN?) async throws {
        var batch = batch
        let inFlight = self.inFlight
        let reader = self.reader
        batch.onDurable = {
            if let acknowledge { reader?.acknowledge(acknowledge) }
            inFlight.durableOne()
        }
        inFlight.emittedOne()
        try await context.emit(batch)
    }

    func loadJSON<T: Decodable>(_ type: T.Type, key: String) async throws -> T? {
        guard let bytes = try await context.loadState(key) else { return nil }
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    }

    static func encodeJSON<T: Encodable>(_ value: T) -> [UInt8] {
        (try? Array(JSONEncoder().encode(value))) ?? []
    }
}

/// The schema versions of captured tables: builds `TableSchema`s from relation shapes and numbers them,
/// continuing after the latest version stored in the log.
// @unchecked: `current` is only read and written by the source's task (the streamer's and the snapshot's calls
// never overlap); the catalog connection it uses is that task's too.
final class SchemaVersions: @unchecked Sendable {
    let database: String
    let catalog: PgCatalog
    let latestStored: @Sendable (TableID) async throws -> TableSchema?
    private var current: [TableID: TableSchema] = [:]

    init(database: String, catalog: PgCatalog, latestStored: @escaping @Sendable (TableID) async throws -> TableSchema?) {
        self.database = database
        self.catalog = catalog
        self.latestStored = latestStored
    }

    /// A table's shape as column (name, type OID, modifier) triples, with value types.
    struct Shape {
        var table: TableID
        var relationOID: UInt32
        var columns: [RelationColumn]
    }

    /// Returns the schema for this shape, and whether it is a new version that must be emitted.
    func schema(for shape: Shape, position: SourcePosition?) async throws -> (TableSchema, [PgValueType], Bool) {
        try catalog.resolve(shape.columns.map(\.typeOID))
        let types = try shape.columns.map { try catalog.valueType($0.typeOID) }
        let names = try catalog.formatTypes(shape.columns.map { ($0.typeOID, $0.typeModifier) })
        let info = try catalog.tableInfo(oid: shape.relationOID)
        var columns: [ColumnSchema] = []
        for (index, column) in shape.columns.enumerated() {
            let (precision, scale) = PgCatalog.precisionAndScale(type: column.typeOID, modifier: column.typeModifier)
            columns.append(ColumnSchema(
                name: column.name, sourceType: names[index], kind: types[index].kind, elementKind: types[index].elementKind,
                nullable: !info.notNull.contains(column.name), precision: precision, scale: scale))
        }
        let columnNames = Set(shape.columns.map(\.name))
        var key = info.primaryKey.allSatisfy(columnNames.contains) ? info.primaryKey : []
        if key.isEmpty { key = shape.columns.filter(\.isKey).map(\.name) }
        if key.count == shape.columns.count && info.primaryKey.isEmpty { key = [] }  // REPLICA IDENTITY FULL, no key
        var candidate = TableSchema(table: shape.table, version: 1, columns: columns, primaryKey: key, position: position)
        var latest = current[shape.table]
        if latest == nil { latest = try await latestStored(shape.table) }
        if let latest, latest.hasSameShape(as: candidate) {
            current[shape.table] = latest
            return (latest, types, false)
        }
        candidate.version = (latest?.version ?? 0) + 1
        current[shape.table] = candidate
        return (candidate, types, true)
    }

    /// The schema of the `_messages` pseudo-table for a message prefix.
    func messageSchema(prefix: String) async throws -> (TableSchema, Bool) {
        let table = TableID(database: database, schema: "_messages", name: prefix)
        let candidate = TableSchema(table: table, version: 1, columns: [
            ColumnSchema(name: "prefix", sourceType: "text", kind: .string, nullable: false),
            ColumnSchema(name: "content", sourceType: "bytea", kind: .string, nullable: false),
            ColumnSchema(name: "transactional", sourceType: "boolean", kind: .bool, nullable: false),
        ], primaryKey: [])
        var latest = current[table]
        if latest == nil { latest = try await latestStored(table) }
        if let latest, latest.hasSameShape(as: candidate) {
            current[table] = latest
            return (latest, false)
        }
        var schema = candidate
        schema.version = (latest?.version ?? 0) + 1
        current[table] = schema
        return (schema, true)
    }
}

extension LSN {
    /// Sort key of an event: (commit LSN, order within the transaction), both big-endian.
    static func position(commit: LSN, order: Int) -> SourcePosition {
        SourcePosition(sortKey: SourcePosition.sortKey(commit.value, UInt64(order)), text: commit.description)
    }

    /// PostgreSQL time (µs since 2000-01-01) → µs since 1970-01-01.
    static func unixMicros(_ pgMicros: Int64) -> Int64 { pgMicros + 946_684_800_000_000 }
}
