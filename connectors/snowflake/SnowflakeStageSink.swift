// SluiceSnowflake: the `snowflake_stage` sink: Parquet change files in a stage folder per table with a ledger,
// and the COPY INTO + MERGE SQL (Snowflake and DuckDB dialects).

import Foundation
import Logging
import SluiceCore
import SluiceObjectStore
import SluiceParquet
import SluiceConnectorKit
import SluiceStaging

/// A Snowflake-style staging sink: Parquet change files in a stage folder per table, a ledger of what was staged,
/// and the SQL (Snowflake and DuckDB dialects) that loads the files into a staging table and merges them into the
/// target.
///
/// Commit protocol per file: write `.<name>.tmp` and fsync it; append the ledger line and fsync it (the commit);
/// rename to `<first>-<last>.parquet` and fsync the folder. On start the sink finishes renames the ledger records,
/// deletes files it does not record, and resumes after the last recorded offset, so a crash at any point neither
/// loses nor doubles a change. A replayed range gets the same file name, so COPY INTO skips it.
public actor SnowflakeStageSink: SinkConnector {
    /// The thread of this type's sinks: their file, SQLite and compression calls block it, never the cooperative pool.
    private static let thread = ThreadExecutor(name: "snowflake-sink")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { Self.thread.asUnownedSerialExecutor() }

    public static let spec = ConnectorSpec(
        name: "snowflake_stage", role: .sink,
        summary: "Snowflake-style staging: Parquet change files per table, a ledger, and COPY INTO + MERGE SQL "
            + "(also in DuckDB's dialect).",
        fields: [
            StagingFields.path("the stage directory (one folder per table)", example: "stage/"),
            StagingFields.deletes(
                "hard: delete target rows and keep tombstones in <table>__sluice_tombstones; "
                    + "soft: keep deleted rows with _sluice_deleted = TRUE"),
        ] + StagingFields.roll(rolled: "a file is staged", idle: "stages") + [
            StagingFields.compression,
            StagingFields.fsync("files, ledger and folders"),
            FieldSpec(
                "snowflake_database", .string, default: .string("SLUICE"),
                description: "database of the target, staging and tombstone tables in the emitted SQL"),
            FieldSpec(
                "snowflake_schema", .string,
                description: "schema of the tables in the emitted SQL (default: the source table's schema)"),
            FieldSpec(
                "stage", .string, default: .string("SLUICE_STAGE"),
                description: "the Snowflake stage's name (in the database and schema above)"),
            FieldSpec(
                "stage_url", .string,
                description: "URL of an external stage the stage directory is synced to (default: an "
                    + "internal stage, filled with the PUT command the SQL shows)",
                example: "s3://bucket/sluice/"),
            FieldSpec(
                "storage_integration", .string,
                description: "storage integration of the external stage"),
            FieldSpec(
                "duckdb_schema", .string,
                description: "schema of the tables in the DuckDB statements (default: the source schema)"),
        ])

    /// What the sink knows about one stream's stage folder.
    struct TableStage: PendingStream {
        var folder: String
        var folderName: String
        var ledger: StageLedger
        var pending: PendingRows?
        /// Schema versions whose SQL files are written.
        var sqlVersion: Int?
    }

    let settings: StagingSettings
    var store: LocalObjectStore { settings.store }
    let snowflakeDatabase: String
    let snowflakeSchema: String?
    let stageName: String
    let stageURL: String?
    let storageIntegration: String?
    let duckdbSchema: String?
    let logger: Logger
    var stages: [String: TableStage] = [:]

    public init(context: SinkContext) throws {
        let config = context.config
        settings = try StagingSettings(context: context, defaultPath: "stage")
        snowflakeDatabase = config.string("snowflake_database") ?? "SLUICE"
        snowflakeSchema = config.string("snowflake_schema")
        stageName = config.string("stage") ?? "SLUICE_STAGE"
        stageURL = config.string("stage_url")
        storageIntegration = config.string("storage_integration")
        duckdbSchema = config.string("duckdb_schema")
        logger = context.logger
    }

    // MARK: Stage folders

    /// Opens a stream's stage folder and recovers it: renames the ledger records but a crash left under their
    /// temporary names, removes files the ledger does not record.
    func stage(_ stream: String) throws -> TableStage {
        if let stage = stages[stream] { return stage }
        let name = settings.folderName(stream: stream)
        let folder = settings.directory + "/" + name
        try store.makeFolder(folder)
        let ledger = try StageLedger(folder: folder, store: store)
        let recorded = ledger.fileNames
        for entry in ledger.entries where !store.exists(folder + "/" + entry.file) {
            let temporary = store.temporaryPath(for: folder + "/" + entry.file)
            guard store.exists(temporary) else {
                throw SluiceError(
                    .sink, "the staged file \(entry.file) recorded in \(ledger.path) is missing",
                    location: "stream \(stream)",
                    hint: "restore the file, or move the stage folder away so the sink restages the stream from the "
                        + "log")
            }
            try store.publish(temporary, as: folder + "/" + entry.file)
            logger.info("finished staging \(entry.file) after a restart", metadata: ["sluice.stream": .string(stream)])
        }
        for file in store.list(folder) {
            let isTemporary = file.hasPrefix(".") && file.hasSuffix(".parquet.tmp")
            let isUnrecorded = file.hasSuffix(".parquet") && !recorded.contains(file)
            if isTemporary || isUnrecorded {
                store.remove(folder + "/" + file)
                logger.info(
                    "removed \(file), which the stage ledger does not record",
                    metadata: ["sluice.stream": .string(stream)])
            }
        }
        let stage = TableStage(folder: folder, folderName: name, ledger: ledger)
        stages[stream] = stage
        return stage
    }

    // MARK: SinkConnector

    public func resumeOffsets(streams: [String]) async throws -> [String: Int64]? {
        var offsets: [String: Int64] = [:]
        for stream in streams {
            offsets[stream] = try stage(stream).ledger.nextOffset
        }
        return offsets
    }

    public func write(_ batch: SinkBatch) async throws -> [String: Int64] {
        var stage = try stage(batch.stream)
        defer { stages[batch.stream] = stage }
        try settings.collect(batch, into: &stage, durable: stage.ledger.nextOffset) {
            try stageFile(&$0, stream: batch.stream)
        }
        return [batch.stream: stage.ledger.nextOffset]
    }

    public func flush() async throws -> [String: Int64] {
        try settings.flush(&stages, publish: { try stageFile(&$0, stream: $1) }, durable: \.ledger.nextOffset)
    }

    public func close() async throws {
        stages.removeAll()
    }

    // MARK: Staging a file

    /// Writes the pending rows as a file and commits it in the ledger (see the type's commit protocol).
    func stageFile(_ stage: inout TableStage, stream: String) throws {
        guard let pending = stage.pending, !pending.isEmpty else { return }
        if stage.sqlVersion != pending.schema.version {
            try writeSQL(for: pending.schema, stage: stage)
            stage.sqlVersion = pending.schema.version
        }
        let name = offsetRangeFileName(first: pending.firstOffset, last: pending.lastOffset)
        let path = stage.folder + "/" + name
        let temporary = store.temporaryPath(for: path)
        let size = try StagedFileWriter.write(
            pending, to: temporary, compression: settings.compression, sync: store.syncsTemporaryFiles)
        try CrashPoints.check("snowflake.file-written")
        let entry = StageLedgerEntry(
            file: name, stream: stream, firstOffset: pending.firstOffset, lastOffset: pending.lastOffset,
            rows: pending.rows.count, bytes: size, schemaVersion: pending.schema.version,
            firstPosition: pending.rows.first!.positionText, lastPosition: pending.rows.last!.positionText,
            stagedAt: ISO8601DateFormatter().string(from: Date()))
        try stage.ledger.append(entry)
        stage.pending = nil
        try CrashPoints.check("snowflake.ledger-appended")
        try store.publish(temporary, as: path)
        logger.debug(
            "staged \(name)",
            metadata: [
                "sluice.stream": .string(stream), "sluice.rows": .stringConvertible(entry.rows),
            ])
    }

    // MARK: SQL

    /// The statements of one table in one dialect.
    func statements(for schema: TableSchema, stage: TableStage, dialect: StagingDialect) -> StagingSQL {
        var target = StagingTarget(namespace: [], table: schema.table.name)
        target.deletes = settings.deletes
        target.stageFolder = stage.folderName
        target.localFolder = stage.folder
        switch dialect {
        case .snowflake:
            let schemaName = snowflakeSchema ?? schema.table.schema
            target.namespace = [snowflakeDatabase, schemaName]
            target.stageName = [snowflakeDatabase, schemaName, stageName]
            target.stageURL = stageURL
            target.storageIntegration = storageIntegration
        case .duckdb, .databricks:
            target.namespace = [duckdbSchema ?? schema.table.schema]
        }
        return StagingSQL(schema: schema, target: target, dialect: dialect)
    }

    /// Writes `setup.<dialect>.sql` and `apply.<dialect>.sql` into the table's folder (replacing older versions).
    func writeSQL(for schema: TableSchema, stage: TableStage) throws {
        for dialect in [StagingDialect.snowflake, .duckdb] {
            let sql = statements(for: schema, stage: stage, dialect: dialect)
            var header = [
                "Sluice \(Self.spec.name) sink '\(settings.instanceName)': table \(schema.table.qualifiedName), schema "
                    + "version \(schema.version), \(dialect.rawValue) dialect.",
                "Deletes: \(settings.deletes.rawValue). Generated; regenerated when the table's schema changes.",
            ]
            if !sql.hasKey {
                header.append("The table has no primary key: the staging table keeps every change; nothing is merged.")
            }
            var setupHeader = header + ["Run once before the first apply."]
            var applyHeader =
                header + [
                    "Run after new files were staged (e.g. scheduled). Idempotent: files already loaded are",
                    "skipped and changes not newer than a target row are ignored, so running it again changes nothing.",
                ]
            switch dialect {
            case .snowflake:
                if stageURL == nil {
                    setupHeader.append("Internal stage: upload new files before each apply with")
                    setupHeader.append(
                        "  PUT 'file://\(stage.folder)/*.parquet' @\(sql.stage)/\(stage.folderName)/ "
                            + "AUTO_COMPRESS = FALSE;")
                }
            case .duckdb:
                applyHeader.append(
                    "Set the stage directory first: SET VARIABLE sluice_stage = '\(settings.directory)';")
            case .databricks: break
            }
            try sql.writeScripts(setupHeader: setupHeader, applyHeader: applyHeader, in: stage.folder, to: store)
        }
    }
}
