import Foundation
import Logging
import SluiceCore
import SluiceObjectStore
import SluiceParquet
import SluiceConnectorKit
import SluiceStaging

/// A Databricks-style sink: per table a `changes` Delta table (append-only, every change with `_op`, `_position`,
/// `_offset`, `_commit_ts`, `_unchanged`) and optionally a `current` Delta table kept equal to the source by
/// copy-on-write merges, plus Databricks SQL (COPY INTO + MERGE INTO) for users who merge inside Databricks.
///
/// Every commit carries `txn {appId: "sluice-<pipeline>-<sink>", version: <next log offset>}`. On start the sink
/// replays each table's log and resumes at the smaller of the two tables' `txn` versions; a table skips the changes
/// it already holds. Data files are written and fsynced before the commit that adds them, and the commit file is
/// created atomically (put-if-absent), so a crash at any point neither loses nor doubles a change.
public actor DeltaSink: SinkConnector {
    /// The thread of this type's sinks: their file, SQLite and compression calls block it, never the cooperative pool.
    private static let thread = ThreadExecutor(name: "delta-sink")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { Self.thread.asUnownedSerialExecutor() }

    public static let spec = ConnectorSpec(
        name: "delta", role: .sink,
        summary: "Databricks-style: Delta Lake tables per source table (changes, and current kept by "
            + "copy-on-write merges), plus COPY INTO + MERGE INTO SQL for Databricks.",
        fields: [
            StagingFields.path(
                "directory of the tables: <path>/<schema>.<table>/changes and …/current", example: "lake/"),
            FieldSpec(
                "current_table", .bool, default: .bool(true),
                description: "also keep a current table equal to the source (tables with a primary key)"),
            FieldSpec(
                "current_file_rows", .int, default: .int(250_000),
                description: "rows per data file of the current table (a merge rewrites whole files)"),
        ] + StagingFields.roll(rolled: "a batch is committed", idle: "commits") + [
            StagingFields.compression,
            StagingFields.fsync("data files, commits and folders"),
            StagingFields.deletes(
                "for the emitted Databricks MERGE: hard (delete rows, keep tombstones) or soft "
                    + "(_sluice_deleted = TRUE)"),
            FieldSpec("databricks_catalog", .string, description: "catalog of the tables in the emitted SQL"),
            FieldSpec(
                "databricks_schema", .string,
                description: "schema of the tables in the emitted SQL (default: the source schema)"),
            FieldSpec(
                "databricks_location", .string,
                description: "where Databricks reads <path> from (default: the local path)",
                example: "s3://bucket/lake"),
        ])

    /// A stream's tables and pending changes.
    struct StreamTables: PendingStream {
        var folder: String
        var folderName: String
        var changes: DeltaTable
        var current: CurrentTable?
        /// Whether the current table was opened (it needs the primary key, known from the first batch).
        var currentChecked = false
        /// The table has no primary key, so it has no current table (recorded in the folder as `_sluice_no_key`).
        var hasNoKey = false
        var pending: PendingRows?
        var sqlVersion: Int?
    }

    let settings: StagingSettings
    var store: LocalObjectStore { settings.store }
    let appID: String
    let keepCurrent: Bool
    let currentFileRows: Int
    let catalog: String?
    let databricksSchema: String?
    let location: String?
    let logger: Logger
    var streams: [String: StreamTables] = [:]

    public init(context: SinkContext) throws {
        let config = context.config
        settings = try StagingSettings(context: context, defaultPath: "lake")
        appID = "sluice-\(context.pipeline)-\(config.instanceName)"
        keepCurrent = config.bool("current_table") ?? true
        currentFileRows = max(1, config.int("current_file_rows") ?? 250_000)
        catalog = config.string("databricks_catalog")
        databricksSchema = config.string("databricks_schema")
        location = config.string("databricks_location")
        logger = context.logger
    }

    // MARK: Tables

    /// Opens a stream's tables: replays their logs and removes files a crash left uncommitted.
    func tables(_ stream: String) throws -> StreamTables {
        if let tables = streams[stream] { return tables }
        let name = settings.folderName(stream: stream)
        let folder = settings.directory + "/" + name
        let changes = try DeltaTable(location: folder + "/changes", store: store)
        for file in changes.unreferencedDataFiles() {
            store.remove(changes.location + "/" + file)
            logger.info(
                "removed \(file), which no commit of the changes table adds",
                metadata: ["sluice.stream": .string(stream)])
        }
        var tables = StreamTables(folder: folder, folderName: name, changes: changes)
        tables.hasNoKey = store.exists(folder + "/" + Self.noKeyMarker)
        // The current table is opened here when it exists (its key columns come from its row files).
        let currentLocation = folder + "/current"
        if keepCurrent, store.exists(currentLocation + "/_delta_log") {
            tables.current = try openCurrent(location: currentLocation, keyColumns: nil, stream: stream)
            tables.currentChecked = tables.current != nil
        }
        streams[stream] = tables
        return tables
    }

    private func openCurrent(location: String, keyColumns: [String]?, stream: String) throws -> CurrentTable? {
        let table = try DeltaTable(location: location, store: store)
        for file in table.unreferencedDataFiles() {
            store.remove(location + "/" + file)
            logger.info(
                "removed \(file), which no commit of the current table adds",
                metadata: ["sluice.stream": .string(stream)])
        }
        var keys = keyColumns
        if keys == nil, let stored = try store.read(location + "/_sluice_rows/_key") {
            keys = String(decoding: stored, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        guard let keys, !keys.isEmpty else { return nil }
        try store.makeFolder(location + "/_sluice_rows")
        try store.replace(location + "/_sluice_rows/_key", with: Array(keys.joined(separator: "\n").utf8))
        return try CurrentTable(table: table, keyColumns: keys, targetFileRows: currentFileRows)
    }

    static let noKeyMarker = "_sluice_no_key"

    /// The offset after the last change both tables hold (a current table not created yet holds nothing).
    func durableOffset(_ tables: StreamTables) -> Int64 {
        let changes = tables.changes.transactionVersion(appID) ?? 0
        guard keepCurrent, !tables.hasNoKey else { return changes }
        return min(changes, tables.current?.table.transactionVersion(appID) ?? 0)
    }

    // MARK: SinkConnector

    public func resumeOffsets(streams: [String]) async throws -> [String: Int64]? {
        var offsets: [String: Int64] = [:]
        for stream in streams {
            offsets[stream] = durableOffset(try tables(stream))
        }
        return offsets
    }

    public func write(_ batch: SinkBatch) async throws -> [String: Int64] {
        var tables = try tables(batch.stream)
        defer { streams[batch.stream] = tables }
        try settings.collect(batch, into: &tables, durable: durableOffset(tables)) {
            try publish(&$0, stream: batch.stream)
        }
        return [batch.stream: durableOffset(tables)]
    }

    public func flush() async throws -> [String: Int64] {
        try settings.flush(&streams, publish: { try publish(&$0, stream: $1) }, durable: durableOffset)
    }

    public func close() async throws {
        streams.removeAll()
    }

    // MARK: Committing

    /// Commits the pending changes: appended to `changes`, merged into `current`.
    func publish(_ tables: inout StreamTables, stream: String) throws {
        guard let pending = tables.pending, !pending.isEmpty else { return }
        let schema = pending.schema
        if tables.sqlVersion != schema.version {
            try writeSQL(for: schema, tables: tables)
            tables.sqlVersion = schema.version
        }
        let tableName = schema.table.qualifiedName
        let changesNext = tables.changes.transactionVersion(appID) ?? 0
        let newChanges = pending.rows.filter { $0.offset >= changesNext }
        if let first = newChanges.first, let last = newChanges.last {
            let deltaSchema = DeltaTableSchema.changes(schema)
            let rows = newChanges.map { row in
                [
                    .string(row.op.rawValue), .string(row.positionText), .int(row.offset),
                    .timestamp(Timestamp(micros: row.commitTimeMicros, isUTC: true)),
                    row.unchanged.isEmpty ? .null : .array(row.unchanged.map { .string($0) }),
                ] + row.values
            }
            let add = try tables.changes.writeDataFile(
                name: offsetRangeFileName(prefix: "part-", first: first.offset, last: last.offset),
                schema: deltaSchema, rows: rows, compression: settings.compression)
            try CrashPoints.check("delta.changes-file-written")
            guard
                try tables.changes.commit(
                    actions: [add], schema: deltaSchema, appID: appID, txnVersion: last.offset + 1,
                    operation: "WRITE", name: tableName + " changes")
            else {
                throw SluiceError(
                    .sink, "another writer committed to the Delta table at \(tables.changes.location)",
                    location: "stream \(stream)", hint: "Sluice must be the table's only writer; stop it and restart")
            }
            try CrashPoints.check("delta.changes-committed")
        }
        if keepCurrent {
            if !tables.currentChecked {
                tables.currentChecked = true
                if schema.primaryKey.isEmpty {
                    try store.replace(tables.folder + "/" + Self.noKeyMarker, with: [])
                    tables.hasNoKey = true
                    logger.warning(
                        "\(tableName) has no primary key: only its changes table is written",
                        metadata: ["sluice.stream": .string(stream)])
                } else {
                    tables.current = try openCurrent(
                        location: tables.folder + "/current", keyColumns: schema.primaryKey, stream: stream)
                }
            }
            if var current = tables.current {
                let currentNext = current.table.transactionVersion(appID) ?? 0
                let newRows = pending.rows.filter { $0.offset >= currentNext }
                if !newRows.isEmpty {
                    try current.merge(
                        newRows, schema: schema, appID: appID, compression: settings.compression,
                        name: tableName + " current")
                    tables.current = current
                }
            }
        }
        tables.pending = nil
    }

    // MARK: SQL

    /// Writes `setup.databricks.sql` and `apply.databricks.sql` next to the table's Delta tables.
    func writeSQL(for schema: TableSchema, tables: StreamTables) throws {
        var target = StagingTarget(
            namespace: (catalog.map { [$0] } ?? []) + [databricksSchema ?? schema.table.schema],
            table: schema.table.name)
        target.deletes = settings.deletes
        target.localFolder = tables.folder
        target.changesLocation =
            (location.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? settings.directory)
            + "/" + tables.folderName + "/changes"
        let sql = StagingSQL(schema: schema, target: target, dialect: .databricks)
        let header = [
            "Sluice \(Self.spec.name) sink '\(settings.instanceName)': table \(schema.table.qualifiedName), "
                + "schema version \(schema.version), Databricks SQL.",
            "For merging inside Databricks from the changes table's files (the current table needs none of this).",
            "Deletes: \(settings.deletes.rawValue). Generated; regenerated when the table's schema changes.",
        ]
        try sql.writeScripts(
            setupHeader: header + ["Run once."],
            applyHeader: header + [
                "Run on a schedule. Idempotent: COPY INTO skips loaded files; older changes are ignored."
            ], in: tables.folder, to: store)
    }
}
