import Foundation
import Logging
import SluiceCore
import SluiceParquet
import SluiceConnectorKit

/// A Databricks-style sink: per table a `changes` Delta table (append-only, every change with `_op`, `_position`,
/// `_offset`, `_commit_ts`, `_unchanged`) and optionally a `current` Delta table kept equal to the source by
/// copy-on-write merges, plus Databricks SQL (COPY INTO + MERGE INTO) for users who merge inside Databricks.
///
/// Every commit carries `txn {appId: "sluice-<pipeline>-<sink>", version: <next log offset>}`. On start the sink
/// replays each table's log and resumes at the smaller of the two tables' `txn` versions; a table skips the changes
/// it already holds. Data files are written and fsynced before the commit that adds them, and the commit file is
/// created atomically (put-if-absent), so a crash at any point neither loses nor doubles a change.
public actor DeltaSink: SinkConnector {
    public static let spec = ConnectorSpec(
        name: "delta", role: .sink,
        summary: "Databricks-style: Delta Lake tables per source table (changes, and current kept by "
            + "copy-on-write merges), plus COPY INTO + MERGE INTO SQL for Databricks.",
        fields: [
            FieldSpec(
                "path", .string, required: true,
                description: "directory of the tables: <path>/<schema>.<table>/changes and …/current",
                example: "lake/"),
            FieldSpec(
                "current_table", .bool, default: .bool(true),
                description: "also keep a current table equal to the source (tables with a primary key)"),
            FieldSpec(
                "current_file_rows", .int, default: .int(250_000),
                description: "rows per data file of the current table (a merge rewrites whole files)"),
            FieldSpec(
                "max_file_size", .size, default: .size(64 << 20),
                description: "a batch is committed once its changes reach about this size (uncompressed)",
                example: "128MiB"),
            FieldSpec(
                "max_file_rows", .int, default: .int(1_000_000),
                description: "a batch is committed once it holds this many changes"),
            FieldSpec(
                "max_file_age", .duration, default: .duration(60),
                description: "a batch is committed once its first change waited this long (the sink also "
                    + "commits everything when the stream goes idle)", example: "5m"),
            FieldSpec(
                "compression", .oneOf(["snappy", "zstd", "gzip", "none"]), default: .string("snappy"),
                description: "Parquet page compression"),
            FieldSpec(
                "fsync", .bool, default: .bool(true),
                description: "fsync data files, commits and folders (turn off only for tests)"),
            FieldSpec(
                "deletes", .oneOf(StagingDeleteMode.allCases.map(\.rawValue)), default: .string("hard"),
                description: "for the emitted Databricks MERGE: hard (delete rows, keep tombstones) or soft "
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
    struct StreamTables {
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

    let directory: String
    let pipeline: String
    let instanceName: String
    let appID: String
    let keepCurrent: Bool
    let currentFileRows: Int
    let roll: RollPolicy
    let compression: ParquetCompression
    let sync: Bool
    let deletes: StagingDeleteMode
    let catalog: String?
    let databricksSchema: String?
    let location: String?
    let logger: Logger
    var streams: [String: StreamTables] = [:]

    public init(context: SinkContext) throws {
        let config = context.config
        directory = URL(fileURLWithPath: config.string("path") ?? "lake").standardizedFileURL.path
        pipeline = context.pipeline
        instanceName = config.instanceName
        appID = "sluice-\(context.pipeline)-\(config.instanceName)"
        keepCurrent = config.bool("current_table") ?? true
        currentFileRows = max(1, config.int("current_file_rows") ?? 250_000)
        roll = RollPolicy(
            maxBytes: Int(config.size("max_file_size") ?? (64 << 20)),
            maxRows: max(1, config.int("max_file_rows") ?? 1_000_000),
            maxAgeSeconds: config.duration("max_file_age") ?? 60)
        switch config.string("compression") ?? "snappy" {
        case "zstd": compression = .zstd
        case "gzip": compression = .gzip
        case "none": compression = .uncompressed
        default: compression = .snappy
        }
        sync = config.bool("fsync") ?? true
        deletes = StagingDeleteMode(rawValue: config.string("deletes") ?? "hard") ?? .hard
        catalog = config.string("databricks_catalog")
        databricksSchema = config.string("databricks_schema")
        location = config.string("databricks_location")
        logger = context.logger
        do {
            try DurableFiles.makeDirectory(directory)
        } catch var error as SluiceError {
            error.location = "sinks.\(config.instanceName).path"
            throw error
        }
    }

    // MARK: Tables

    func folderName(stream: String) -> String {
        let prefix = pipeline + "."
        let name = stream.hasPrefix(prefix) ? String(stream.dropFirst(prefix.count)) : stream
        return name.replacingOccurrences(of: "/", with: "_")
    }

    /// Opens a stream's tables: replays their logs and removes files a crash left uncommitted.
    func tables(_ stream: String) throws -> StreamTables {
        if let tables = streams[stream] { return tables }
        let name = folderName(stream: stream)
        let folder = directory + "/" + name
        let changes = try DeltaTable(location: folder + "/changes", sync: sync)
        for file in changes.unreferencedDataFiles() {
            DurableFiles.remove(changes.location + "/" + file)
            logger.info(
                "removed \(file), which no commit of the changes table adds",
                metadata: ["sluice.stream": .string(stream)])
        }
        var tables = StreamTables(folder: folder, folderName: name, changes: changes)
        tables.hasNoKey = DurableFiles.exists(folder + "/" + Self.noKeyMarker)
        // The current table is opened here when it exists (its key columns come from its row files).
        let currentLocation = folder + "/current"
        if keepCurrent, DurableFiles.exists(currentLocation + "/_delta_log") {
            tables.current = try openCurrent(location: currentLocation, keyColumns: nil, stream: stream)
            tables.currentChecked = tables.current != nil
        }
        streams[stream] = tables
        return tables
    }

    private func openCurrent(location: String, keyColumns: [String]?, stream: String) throws -> CurrentTable? {
        let table = try DeltaTable(location: location, sync: sync)
        for file in table.unreferencedDataFiles() {
            DurableFiles.remove(location + "/" + file)
            logger.info(
                "removed \(file), which no commit of the current table adds",
                metadata: ["sluice.stream": .string(stream)])
        }
        var keys = keyColumns
        if keys == nil, let stored = try DurableFiles.read(location + "/_sluice_rows/_key") {
            keys = String(decoding: stored, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        guard let keys, !keys.isEmpty else { return nil }
        try DurableFiles.makeDirectory(location + "/_sluice_rows")
        try DurableFiles.replaceAtomically(
            location + "/_sluice_rows/_key", with: Array(keys.joined(separator: "\n").utf8), sync: sync)
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
        let durable = durableOffset(tables)
        let pendingEnd = tables.pending.map { $0.lastOffset + 1 } ?? durable
        for record in batch.records where record.offset >= max(durable, pendingEnd) {
            guard let schema = batch.schemas[record.event.schemaVersion] else {
                throw SluiceError(
                    .sink, "no schema version \(record.event.schemaVersion) for \(batch.table)",
                    location: "stream \(batch.stream) offset \(record.offset)",
                    hint: "the _schemas stream lacks this version; the log is incomplete")
            }
            let rows = ChangeRow.rows(record: record, schema: schema)
            if rows.isEmpty { continue }
            if let pending = tables.pending, pending.schema.version != schema.version, !pending.isEmpty {
                try publish(&tables, stream: batch.stream)
            }
            if tables.pending == nil || tables.pending!.schema.version != schema.version {
                tables.pending = PendingRows(schema: schema)
            }
            // All rows of one change go into the same file (a file covers whole offsets).
            for row in rows { tables.pending!.append(row) }
            if roll.isFull(tables.pending!) { try publish(&tables, stream: batch.stream) }
        }
        if let pending = tables.pending, !pending.isEmpty, roll.isOld(pending) {
            try publish(&tables, stream: batch.stream)
        }
        return [batch.stream: durableOffset(tables)]
    }

    public func flush() async throws -> [String: Int64] {
        var durable: [String: Int64] = [:]
        for stream in streams.keys.sorted() {
            var tables = streams[stream]!
            if let pending = tables.pending, !pending.isEmpty {
                defer { streams[stream] = tables }
                try publish(&tables, stream: stream)
            }
            durable[stream] = durableOffset(tables)
        }
        return durable
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
                schema: deltaSchema, rows: rows, compression: compression)
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
                    try DurableFiles.write([], to: tables.folder + "/" + Self.noKeyMarker, sync: sync)
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
                        newRows, schema: schema, appID: appID, compression: compression, name: tableName + " current")
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
        target.deletes = deletes
        target.localFolder = tables.folder
        target.changesLocation =
            (location.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? directory)
            + "/" + tables.folderName + "/changes"
        let sql = StagingSQL(schema: schema, target: target, dialect: .databricks)
        let header = [
            "Sluice \(Self.spec.name) sink '\(instanceName)': table \(schema.table.qualifiedName), schema version "
                + "\(schema.version), Databricks SQL.",
            "For merging inside Databricks from the changes table's files (the current table needs none of this).",
            "Deletes: \(deletes.rawValue). Generated; regenerated when the table's schema changes.",
        ]
        try DurableFiles.replaceAtomically(
            tables.folder + "/setup.databricks.sql",
            with: Array(StagingSQL.script(header: header + ["Run once."], statements: sql.setupStatements()).utf8),
            sync: sync)
        try DurableFiles.replaceAtomically(
            tables.folder + "/apply.databricks.sql",
            with: Array(
                StagingSQL.script(
                    header: header + [
                        "Run on a schedule. Idempotent: COPY INTO skips loaded files; older changes are ignored."
                    ], statements: sql.applyStatements()
                ).utf8), sync: sync)
    }
}
