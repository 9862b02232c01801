import SluiceCore
import SluiceObjectStore

// The three dialects of the load-and-merge statements come from this one definition of their semantics.

/// The SQL dialects the staging statements are emitted in.
public enum StagingDialect: String, Sendable, CaseIterable {
    /// Snowflake: COPY INTO from a stage, MERGE, VARIANT for json.
    case snowflake
    /// DuckDB: `read_parquet` with a load-history table in place of COPY INTO; the same MERGE (tested here).
    case duckdb
    /// Databricks SQL over Delta tables: COPY INTO from the `changes` table's files, MERGE INTO.
    case databricks
}

/// How a delete reaches the target table.
public enum StagingDeleteMode: String, Sendable, CaseIterable {
    /// The row is deleted; its key and position go to a tombstones table so a late, older change cannot bring the
    /// row back.
    case hard
    /// The row stays with `_sluice_deleted = TRUE` (the tombstone is the row itself).
    case soft
}

/// The names of the system columns in staged change files and in target tables.
public enum StagingColumns {
    /// Operation: `c` insert, `u` update, `d` delete, `r` snapshot read, `t` truncate.
    public static let op = "_op"
    /// The source position as lower-case hex of its order-preserving sort key: text order is source order.
    public static let position = "_position"
    /// The offset in the Sluice core log (dense per stream): breaks ties between equal positions.
    public static let offset = "_offset"
    /// The commit time at the source (UTC).
    public static let commitTime = "_commit_ts"
    /// Names of the columns the source did not send (unchanged TOASTed values); their value in the file is null.
    public static let unchanged = "_unchanged"
    /// The staged file a staging row came from (filled by COPY INTO / read_parquet).
    public static let file = "_file"
    /// Target-table guard columns: the position and offset of the change the row reflects.
    public static let targetPosition = "_sluice_position"
    public static let targetOffset = "_sluice_offset"
    public static let targetCommitTime = "_sluice_commit_ts"
    /// Soft-delete flag of a target row.
    public static let targetDeleted = "_sluice_deleted"

    /// Every name a source column must not have, because staged files or target tables use it.
    public static let reserved: Set<String> = [
        op, position, offset, commitTime, unchanged, file, targetPosition, targetOffset, targetCommitTime,
        targetDeleted,
    ]
}

/// Where the staging statements of one table put things, and what they read.
public struct StagingTarget: Sendable {
    /// Quoted-or-not namespace parts before the table name: `[database, schema]` (Snowflake), `[schema]` (DuckDB),
    /// `[catalog, schema]` or `[schema]` (Databricks).
    public var namespace: [String]
    /// The target table's name (the source table's name).
    public var table: String
    /// Snowflake: the stage (qualified, unquoted parts) and the folder of this table inside it.
    public var stageName: [String] = []
    public var stageFolder: String = ""
    /// Snowflake: the stage's URL (`s3://…`, `azure://…`, `gcs://…`) and storage integration; nil for an internal
    /// stage filled with PUT from `localFolder`.
    public var stageURL: String?
    public var storageIntegration: String?
    /// The local folder the sink writes this table's files to (for PUT, DuckDB and comments).
    public var localFolder: String = ""
    /// Databricks: the location of the `changes` Delta table whose files COPY INTO loads.
    public var changesLocation: String = ""
    public var deletes: StagingDeleteMode = .hard

    /// A target with the given namespace and table name and the defaults of everything else.
    public init(namespace: [String], table: String) {
        self.namespace = namespace
        self.table = table
    }
}

/// Builds the setup and apply statements of one table in one dialect.
///
/// The apply statements load what was staged since the last run, keep the newest change per key (`QUALIFY
/// ROW_NUMBER() OVER (PARTITION BY key ORDER BY position DESC, offset DESC) = 1`), resolve columns a change marked
/// unchanged from the newest change in the same load that carried them (else the target keeps its value), skip
/// changes not newer than the target row (position guard) or its tombstone, apply deletes and truncates, and empty
/// the staging table. Running the apply statements again, or loading a file twice, changes nothing.
public struct StagingSQL {
    let schema: TableSchema
    let target: StagingTarget
    let dialect: StagingDialect

    /// The statements of `schema`'s table in `dialect`, naming and reading what `target` says.
    public init(schema: TableSchema, target: StagingTarget, dialect: StagingDialect) {
        self.schema = schema
        self.target = target
        self.dialect = dialect
    }

    var keyColumns: [ColumnSchema] { schema.primaryKey.compactMap { name in schema.columns.first { $0.name == name } } }
    var dataColumns: [ColumnSchema] { schema.columns }
    var nonKeyColumns: [ColumnSchema] { schema.columns.filter { !schema.primaryKey.contains($0.name) } }
    /// Whether the table has a primary key whose columns are all in the schema (else nothing is merged).
    public var hasKey: Bool { !schema.primaryKey.isEmpty && keyColumns.count == schema.primaryKey.count }

    // MARK: Names

    func quote(_ identifier: String) -> String {
        switch dialect {
        case .databricks: return "`" + identifier.replacingOccurrences(of: "`", with: "``") + "`"
        case .snowflake, .duckdb: return "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
    }

    func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    func qualified(_ name: String) -> String {
        (target.namespace + [name]).map(quote).joined(separator: ".")
    }

    var targetTable: String { qualified(target.table) }
    var stagingTable: String { qualified(target.table + "__sluice_staging") }
    var tombstoneTable: String { qualified(target.table + "__sluice_tombstones") }
    var loadedFilesTable: String { qualified(target.table + "__sluice_loaded_files") }
    /// The per-run table (view in Databricks) of the newest change per key.
    var newestTable: String {
        quote((target.namespace + [target.table]).joined(separator: "__") + "__sluice_newest")
    }
    var fileFormat: String { qualified("SLUICE_PARQUET") }
    /// The Snowflake stage's qualified, quoted name.
    public var stage: String { target.stageName.map(quote).joined(separator: ".") }

    // MARK: Types

    /// The column type in the target table (`staging: true` gives the staging table's type, which differs for json
    /// in Snowflake: staged as text, parsed with PARSE_JSON when merged).
    func columnType(_ column: ColumnSchema, staging: Bool = false) -> String {
        if column.kind == .array {
            let element = ColumnSchema(
                name: column.name, sourceType: column.sourceType.replacingOccurrences(of: "[]", with: ""),
                kind: column.elementKind ?? .string, precision: column.precision, scale: column.scale)
            switch dialect {
            case .snowflake: return "ARRAY"
            case .duckdb: return scalarType(element, staging: staging) + "[]"
            case .databricks: return "ARRAY<" + scalarType(element, staging: staging) + ">"
            }
        }
        return scalarType(column, staging: staging)
    }

    private func scalarType(_ column: ColumnSchema, staging: Bool) -> String {
        let integer = StagingTypeMapping.integerWidth(sourceType: column.sourceType)
        switch (dialect, column.kind) {
        case (_, .bool): return "BOOLEAN"
        case (.snowflake, .int):
            return "NUMBER(\(integer.unsigned && integer.bits == 64 ? 20 : integer.decimalDigits),0)"
        case (.duckdb, .int):
            let names = [8: "TINYINT", 16: "SMALLINT", 32: "INTEGER", 64: "BIGINT"]
            return (integer.unsigned ? "U" : "") + names[integer.bits]!
        case (.databricks, .int):
            return integer.unsigned && integer.bits == 64 ? "DECIMAL(20,0)" : "BIGINT"
        case (.snowflake, .double): return "FLOAT"
        case (.duckdb, .double): return StagingTypeMapping.isSinglePrecision(column.sourceType) ? "REAL" : "DOUBLE"
        case (.databricks, .double): return "DOUBLE"
        case (_, .decimal):
            guard let (precision, scale) = StagingTypeMapping.decimal(column) else {
                return dialect == .databricks ? "STRING" : "VARCHAR"
            }
            return dialect == .snowflake ? "NUMBER(\(precision),\(scale))" : "DECIMAL(\(precision),\(scale))"
        case (.databricks, .string), (.databricks, .interval), (.databricks, .uuid), (.databricks, .json),
            (.databricks, .time), (.databricks, .timeTZ):
            return "STRING"
        case (_, .string), (_, .interval): return "VARCHAR"
        case (.snowflake, .uuid): return "VARCHAR(36)"
        case (.duckdb, .uuid): return "UUID"
        case (.snowflake, .bytes), (.databricks, .bytes): return "BINARY"
        case (.duckdb, .bytes): return "BLOB"
        case (_, .date): return "DATE"
        // Staged as text (`HH:MM:SS.ffffff`, timetz with its `+hh:mm`), cast into the target's time types. Snowflake
        // has no time with a zone, so timetz stays text there, and MySQL TIME (a duration) fits no TIME type.
        case (.snowflake, .time): return staging || Self.holdsDurations(column) ? "VARCHAR" : "TIME(6)"
        case (.snowflake, .timeTZ): return "VARCHAR"
        case (.duckdb, .time): return staging || Self.holdsDurations(column) ? "VARCHAR" : "TIME"
        case (.duckdb, .timeTZ): return staging ? "VARCHAR" : "TIMETZ"
        case (.snowflake, .timestamp): return "TIMESTAMP_NTZ(6)"
        case (.snowflake, .timestampTZ): return "TIMESTAMP_TZ(6)"
        case (.duckdb, .timestamp): return "TIMESTAMP"
        case (.duckdb, .timestampTZ): return "TIMESTAMPTZ"
        case (.databricks, .timestamp), (.databricks, .timestampTZ): return "TIMESTAMP"
        case (.snowflake, .json): return staging ? "VARCHAR" : "VARIANT"
        case (.duckdb, .json): return staging ? "VARCHAR" : "JSON"
        case (_, .array): return "VARCHAR"  // handled by columnType
        }
    }

    private var textType: String { dialect == .databricks ? "STRING" : "VARCHAR" }
    private var timestampTZType: String {
        switch dialect {
        case .snowflake: return "TIMESTAMP_TZ(6)"
        case .duckdb: return "TIMESTAMPTZ"
        case .databricks: return "TIMESTAMP"
        }
    }
    private var unchangedListType: String {
        switch dialect {
        case .snowflake: return "ARRAY"
        case .duckdb: return "VARCHAR[]"
        case .databricks: return "ARRAY<STRING>"
        }
    }

    /// The value written to the target for a staged column (json is parsed in Snowflake).
    /// Whether a time column may hold durations rather than times of day: MySQL/MariaDB TIME (negative, or up to
    /// 838 hours). PostgreSQL names its times `time [(p)] without time zone`; any other name counts as durations,
    /// which keeps the value as text (never wrong, only untyped).
    static func holdsDurations(_ column: ColumnSchema) -> Bool {
        column.kind == .time && !column.sourceType.lowercased().hasSuffix("without time zone")
    }

    /// A staged value as the target column takes it: cast where the staging table holds another type (times and
    /// json are staged as text).
    private func targetValue(_ column: ColumnSchema, from alias: String) -> String {
        let reference = "\(alias).\(quote(column.name))"
        if dialect == .snowflake && column.kind == .json { return "PARSE_JSON(\(reference))" }
        let targetType = columnType(column)
        guard columnType(column, staging: true) != targetType else { return reference }
        return "CAST(\(reference) AS \(targetType))"
    }

    // MARK: Setup

    /// CREATE statements: (Snowflake: file format and stage,) target, staging, tombstones, load history (DuckDB).
    public func setupStatements() -> [String] {
        var statements: [String] = []
        let namespaceCreate =
            dialect == .duckdb
            ? "CREATE SCHEMA IF NOT EXISTS " + target.namespace.map(quote).joined(separator: ".") : nil
        if let namespaceCreate, !target.namespace.isEmpty { statements.append(namespaceCreate) }
        if dialect == .snowflake {
            // USE_LOGICAL_TYPE makes Parquet TIMESTAMP/DATE/DECIMAL load as such (not as raw integers);
            // BINARY_AS_TEXT = FALSE keeps BYTE_ARRAY columns without an annotation binary.
            statements.append(
                "CREATE FILE FORMAT IF NOT EXISTS \(fileFormat)\n    TYPE = PARQUET USE_LOGICAL_TYPE = TRUE "
                    + "BINARY_AS_TEXT = FALSE")
            var stageStatement = "CREATE STAGE IF NOT EXISTS \(stage)"
            if let url = target.stageURL {
                stageStatement += "\n    URL = \(literal(url))"
                if let integration = target.storageIntegration {
                    stageStatement += "\n    STORAGE_INTEGRATION = \(quote(integration))"
                }
            }
            stageStatement += "\n    FILE_FORMAT = \(fileFormat)"
            statements.append(stageStatement)
        }
        var targetColumns = dataColumns.map { column in
            let notNull = schema.primaryKey.contains(column.name) ? " NOT NULL" : ""
            return "\(quote(column.name)) \(columnType(column))\(notNull)"
        }
        targetColumns += [
            "\(quote(StagingColumns.targetPosition)) \(textType) NOT NULL",
            "\(quote(StagingColumns.targetOffset)) BIGINT NOT NULL",
            "\(quote(StagingColumns.targetCommitTime)) \(timestampTZType)",
        ]
        if target.deletes == .soft && hasKey {
            targetColumns.append("\(quote(StagingColumns.targetDeleted)) BOOLEAN NOT NULL")
        }
        // DuckDB gets no PRIMARY KEY: its index makes MERGE updates of indexed tables fail spuriously. Snowflake
        // does not enforce the constraint; it documents the key.
        if hasKey && dialect == .snowflake {
            targetColumns.append("PRIMARY KEY (\(keyColumns.map { quote($0.name) }.joined(separator: ", ")))")
        }
        let using = dialect == .databricks ? " USING DELTA" : ""
        if hasKey {
            statements.append(
                "CREATE TABLE IF NOT EXISTS \(targetTable) (\n    " + targetColumns.joined(separator: ",\n    ")
                    + "\n)\(using)")
        }
        var stagingColumns = [
            "\(quote(StagingColumns.op)) \(textType) NOT NULL",
            "\(quote(StagingColumns.position)) \(textType) NOT NULL",
            "\(quote(StagingColumns.offset)) BIGINT NOT NULL",
            "\(quote(StagingColumns.commitTime)) \(timestampTZType)",
            "\(quote(StagingColumns.unchanged)) \(unchangedListType)",
        ]
        stagingColumns += dataColumns.map { "\(quote($0.name)) \(columnType($0, staging: true))" }
        stagingColumns.append("\(quote(StagingColumns.file)) \(textType)")
        statements.append(
            "CREATE TABLE IF NOT EXISTS \(stagingTable) (\n    " + stagingColumns.joined(separator: ",\n    ")
                + "\n)\(using)")
        if hasKey && target.deletes == .hard {
            let columns =
                keyColumns.map { "\(quote($0.name)) \(columnType($0)) NOT NULL" } + [
                    "\(quote(StagingColumns.targetPosition)) \(textType) NOT NULL",
                    "\(quote(StagingColumns.targetOffset)) BIGINT NOT NULL",
                ]
            statements.append(
                "CREATE TABLE IF NOT EXISTS \(tombstoneTable) (\n    " + columns.joined(separator: ",\n    ")
                    + "\n)\(using)")
        }
        if dialect == .duckdb {
            statements.append(
                "CREATE TABLE IF NOT EXISTS \(loadedFilesTable) (\(quote("file")) VARCHAR NOT NULL, "
                    + "\(quote("loaded_at")) TIMESTAMPTZ NOT NULL)")
        }
        return statements
    }

    // MARK: Apply

    /// `(a.position, a.offset) > (b.position, b.offset)` spelled out (Snowflake has no row-value comparison).
    private func newer(
        _ a: String, _ aPosition: String, _ aOffset: String, than b: String, _ bPosition: String, _ bOffset: String
    ) -> String {
        let ap = "\(a).\(quote(aPosition))"
        let ao = "\(a).\(quote(aOffset))"
        let bp = "\(b).\(quote(bPosition))"
        let bo = "\(b).\(quote(bOffset))"
        return "(\(ap) > \(bp) OR (\(ap) = \(bp) AND \(ao) > \(bo)))"
    }

    private func keyMatch(_ a: String, _ b: String) -> String {
        keyColumns.map { "\(a).\(quote($0.name)) = \(b).\(quote($0.name))" }.joined(separator: " AND ")
    }

    /// The key columns of a table alias, comma-separated.
    private func keyList(_ alias: String) -> String {
        keyColumns.map { "\(alias).\(quote($0.name))" }.joined(separator: ", ")
    }

    private func listContains(_ list: String, _ name: String) -> String {
        switch dialect {
        case .snowflake: return "ARRAY_CONTAINS(\(literal(name))::VARIANT, \(list))"
        case .duckdb: return "list_contains(\(list), \(literal(name)))"
        case .databricks: return "array_contains(\(list), \(literal(name)))"
        }
    }

    /// The statement that loads newly staged files into the staging table.
    func loadStatements() -> [String] {
        switch dialect {
        case .snowflake:
            let folder = target.stageFolder.isEmpty ? "" : "/" + target.stageFolder + "/"
            return [
                """
                COPY INTO \(stagingTable)
                    FROM @\(stage)\(folder)
                    FILE_FORMAT = (FORMAT_NAME = \(literal(fileFormat)))
                    PATTERN = '.*[.]parquet'
                    MATCH_BY_COLUMN_NAME = CASE_SENSITIVE
                    INCLUDE_METADATA = (\(quote(StagingColumns.file)) = METADATA$FILENAME)
                    ON_ERROR = ABORT_STATEMENT
                """
            ]
        case .duckdb:
            let glob =
                "getvariable('sluice_stage') || \(literal("/" + target.stageFolder + "/*.parquet"))"
            return [
                """
                INSERT INTO \(stagingTable) BY NAME
                SELECT * FROM read_parquet(\(glob), filename = \(literal(StagingColumns.file)), union_by_name = true)
                WHERE \(quote(StagingColumns.file)) NOT IN (SELECT \(quote("file")) FROM \(loadedFilesTable))
                """,
                """
                INSERT INTO \(loadedFilesTable)
                SELECT DISTINCT \(quote(StagingColumns.file)), now() FROM \(stagingTable)
                WHERE \(quote(StagingColumns.file)) NOT IN (SELECT \(quote("file")) FROM \(loadedFilesTable))
                """,
            ]
        case .databricks:
            return [
                """
                COPY INTO \(stagingTable)
                    FROM (SELECT *, _metadata.file_path AS \(quote(StagingColumns.file))
                          FROM \(literal(target.changesLocation)))
                    FILEFORMAT = PARQUET
                    PATTERN = 'part-*.parquet'
                    FORMAT_OPTIONS ('mergeSchema' = 'true')
                    COPY_OPTIONS ('mergeSchema' = 'true')
                """
            ]
        }
    }

    /// Statements after loading: truncates, newest change per key, MERGE into target (and tombstones), empty staging.
    func mergeStatements() -> [String] {
        let op = quote(StagingColumns.op)
        let position = quote(StagingColumns.position)
        let offset = quote(StagingColumns.offset)
        var statements: [String] = []
        guard hasKey else {
            // Without a key there is nothing to merge on: the staging table is the table's change history.
            return statements
        }
        let truncation =
            "(SELECT \(position), \(offset) FROM \(stagingTable) WHERE \(op) = 't' "
            + "ORDER BY \(position) DESC, \(offset) DESC LIMIT 1)"
        // Truncates: every target row older than the newest truncate in this load goes (or is marked deleted).
        let olderThanTruncate = newer(
            "x", StagingColumns.position, StagingColumns.offset, than: "t", StagingColumns.targetPosition,
            StagingColumns.targetOffset)
        switch target.deletes {
        case .hard:
            if dialect == .databricks {
                statements.append(
                    "DELETE FROM \(targetTable) AS t WHERE EXISTS (SELECT 1 FROM \(truncation) AS x WHERE "
                        + "\(olderThanTruncate))")
            } else {
                statements.append("DELETE FROM \(targetTable) AS t USING \(truncation) AS x WHERE \(olderThanTruncate)")
            }
        case .soft:
            let set =
                "\(quote(StagingColumns.targetDeleted)) = TRUE, "
                + "\(quote(StagingColumns.targetPosition)) = x.\(position), "
                + "\(quote(StagingColumns.targetOffset)) = x.\(offset)"
            if dialect == .databricks {
                statements.append(
                    "MERGE INTO \(targetTable) AS t USING \(truncation) AS x ON \(olderThanTruncate)\n"
                        + "WHEN MATCHED THEN UPDATE SET \(set)")
            } else {
                statements.append(
                    "UPDATE \(targetTable) AS t SET \(set) FROM \(truncation) AS x WHERE \(olderThanTruncate)")
            }
        }

        // The newest change per key, not older than the newest truncate; unchanged columns resolved within the load.
        let notBeforeTruncate =
            "NOT EXISTS (SELECT 1 FROM \(truncation) AS x WHERE "
            + newer(
                "x", StagingColumns.position, StagingColumns.offset, than: "c", StagingColumns.position,
                StagingColumns.offset) + ")"
        let presence = nonKeyColumns.map { column in
            "MAX(CASE WHEN \(listContains("c.\(quote(StagingColumns.unchanged))", column.name)) THEN NULL "
                + "ELSE c.\(offset) END) OVER (PARTITION BY \(keyList("c"))) "
                + "AS \(quote(column.name + "__sluice_from"))"
        }
        var newestColumns = keyColumns.map { "p.\(quote($0.name))" }
        for column in nonKeyColumns {
            let from = quote(column.name + "__sluice_from")
            newestColumns.append(
                "FIRST_VALUE(p.\(quote(column.name))) OVER (PARTITION BY \(keyList("p")) "
                    + "ORDER BY CASE WHEN p.\(offset) = p.\(from) THEN 0 ELSE 1 END) AS \(quote(column.name))")
            newestColumns.append("p.\(from) IS NULL AS \(quote(column.name + "__sluice_unchanged"))")
        }
        newestColumns += [
            "p.\(op)", "p.\(position)", "p.\(offset)", "p.\(quote(StagingColumns.commitTime))",
        ]
        let presenceSelect =
            "SELECT c.*" + (presence.isEmpty ? "" : ",\n            " + presence.joined(separator: ",\n            "))
            + "\n        FROM \(stagingTable) AS c\n"
            + "        WHERE c.\(op) IN ('c', 'u', 'd', 'r') AND \(notBeforeTruncate)"
        let newestSelect =
            "SELECT " + newestColumns.joined(separator: ",\n    ")
            + "\nFROM (\n        \(presenceSelect)\n    ) AS p\n"
            + "QUALIFY ROW_NUMBER() OVER (PARTITION BY \(keyList("p")) "
            + "ORDER BY p.\(position) DESC, p.\(offset) DESC) = 1"
        switch dialect {
        case .databricks:
            statements.append("CREATE OR REPLACE TEMPORARY VIEW \(newestTable) AS\n\(newestSelect)")
        case .snowflake, .duckdb:
            statements.append("CREATE OR REPLACE TEMPORARY TABLE \(newestTable) AS\n\(newestSelect)")
        }

        // MERGE into the target, guarded by position (and by the tombstone in hard-delete mode).
        let sNewerThanT = newer(
            "s", StagingColumns.position, StagingColumns.offset, than: "t", StagingColumns.targetPosition,
            StagingColumns.targetOffset)
        var source = newestTable
        var insertGuard = ""
        if target.deletes == .hard {
            source =
                "(SELECT n.*, d.\(quote(StagingColumns.targetPosition)) AS \(quote("_tombstone_position")), "
                + "d.\(quote(StagingColumns.targetOffset)) AS \(quote("_tombstone_offset"))\n"
                + "    FROM \(newestTable) AS n LEFT JOIN \(tombstoneTable) AS d ON \(keyMatch("n", "d")))"
            insertGuard =
                " AND (s.\(quote("_tombstone_position")) IS NULL OR "
                + newer(
                    "s", StagingColumns.position, StagingColumns.offset, than: "s", "_tombstone_position",
                    "_tombstone_offset") + ")"
        }
        let guardColumns = [
            "\(quote(StagingColumns.targetPosition)) = s.\(position)",
            "\(quote(StagingColumns.targetOffset)) = s.\(offset)",
            "\(quote(StagingColumns.targetCommitTime)) = s.\(quote(StagingColumns.commitTime))",
        ]
        var updates = nonKeyColumns.map { column in
            "\(quote(column.name)) = CASE WHEN s.\(quote(column.name + "__sluice_unchanged")) "
                + "THEN t.\(quote(column.name)) "
                + "ELSE \(targetValue(column, from: "s")) END"
        }
        updates += guardColumns
        var insertColumns =
            dataColumns.map { quote($0.name) } + [
                quote(StagingColumns.targetPosition), quote(StagingColumns.targetOffset),
                quote(StagingColumns.targetCommitTime),
            ]
        var insertValues =
            dataColumns.map { targetValue($0, from: "s") } + [
                "s.\(position)", "s.\(offset)", "s.\(quote(StagingColumns.commitTime))",
            ]
        var merge = "MERGE INTO \(targetTable) AS t\nUSING \(source) AS s\nON \(keyMatch("t", "s"))\n"
        switch target.deletes {
        case .hard:
            merge += "WHEN MATCHED AND s.\(op) = 'd' AND \(sNewerThanT) THEN DELETE\n"
            merge +=
                "WHEN MATCHED AND \(sNewerThanT) THEN UPDATE SET\n    " + updates.joined(separator: ",\n    ") + "\n"
            merge +=
                "WHEN NOT MATCHED AND s.\(op) <> 'd'\(insertGuard) THEN INSERT ("
                + insertColumns.joined(separator: ", ")
                + ")\n    VALUES (" + insertValues.joined(separator: ", ") + ")"
        case .soft:
            let deleted = quote(StagingColumns.targetDeleted)
            merge +=
                "WHEN MATCHED AND s.\(op) = 'd' AND \(sNewerThanT) THEN UPDATE SET \(deleted) = TRUE, "
                + guardColumns.joined(separator: ", ") + "\n"
            merge +=
                "WHEN MATCHED AND \(sNewerThanT) THEN UPDATE SET\n    "
                + (updates + ["\(deleted) = FALSE"]).joined(separator: ",\n    ")
                + "\n"
            insertColumns.append(deleted)
            insertValues.append("s.\(op) = 'd'")
            // A delete of a row the target never saw is kept as a tombstone row, so an older change arriving later
            // cannot insert it.
            merge +=
                "WHEN NOT MATCHED THEN INSERT (" + insertColumns.joined(separator: ", ") + ")\n    VALUES ("
                + insertValues.joined(separator: ", ") + ")"
        }
        statements.append(merge)

        if target.deletes == .hard {
            let dNewer = newer(
                "s", StagingColumns.position, StagingColumns.offset, than: "d", StagingColumns.targetPosition,
                StagingColumns.targetOffset)
            let tombstoneColumns =
                keyColumns.map { quote($0.name) } + [
                    quote(StagingColumns.targetPosition), quote(StagingColumns.targetOffset),
                ]
            let tombstoneValues = keyColumns.map { "s.\(quote($0.name))" } + ["s.\(position)", "s.\(offset)"]
            statements.append(
                "MERGE INTO \(tombstoneTable) AS d\nUSING \(newestTable) AS s\nON \(keyMatch("d", "s"))\n"
                    + "WHEN MATCHED AND s.\(op) = 'd' AND \(dNewer) THEN UPDATE SET "
                    + "\(quote(StagingColumns.targetPosition)) = s.\(position), "
                    + "\(quote(StagingColumns.targetOffset)) = s.\(offset)\n"
                    + "WHEN MATCHED AND \(dNewer) THEN DELETE\n"
                    + "WHEN NOT MATCHED AND s.\(op) = 'd' THEN INSERT (" + tombstoneColumns.joined(separator: ", ")
                    + ")\n    VALUES (" + tombstoneValues.joined(separator: ", ") + ")")
        }
        // DELETE, not TRUNCATE: in Snowflake TRUNCATE TABLE also forgets the load history, so COPY INTO would load
        // every staged file again.
        statements.append("DELETE FROM \(stagingTable)")
        statements.append(
            dialect == .databricks ? "DROP VIEW IF EXISTS \(newestTable)" : "DROP TABLE IF EXISTS \(newestTable)")
        return statements
    }

    /// Load and merge, wrapped in a transaction where the dialect has one.
    public func applyStatements() -> [String] {
        let body = loadStatements() + mergeStatements()
        switch dialect {
        case .snowflake: return ["BEGIN"] + body + ["COMMIT"]
        case .duckdb: return ["BEGIN TRANSACTION"] + body + ["COMMIT"]
        case .databricks: return body
        }
    }

    /// A whole script: header comment and statements ending in `;`.
    public static func script(header: [String], statements: [String]) -> String {
        header.map { "-- " + $0 }.joined(separator: "\n") + "\n\n"
            + statements.map { $0 + ";\n" }.joined(separator: "\n")
    }

    /// Writes the scripts `setup.<dialect>.sql` and `apply.<dialect>.sql` into `folder` (replacing older versions).
    public func writeScripts(
        setupHeader: [String], applyHeader: [String], in folder: String, to store: some ObjectStore
    ) throws {
        let setup = Self.script(header: setupHeader, statements: setupStatements())
        try store.replace(folder + "/setup.\(dialect.rawValue).sql", with: Array(setup.utf8))
        let apply = Self.script(header: applyHeader, statements: applyStatements())
        try store.replace(folder + "/apply.\(dialect.rawValue).sql", with: Array(apply.utf8))
    }
}

/// Type facts shared by the SQL generator and the file writers.
public enum StagingTypeMapping {
    /// The size and signedness of an integer source type.
    public struct IntegerWidth {
        public var bits: Int
        public var unsigned: Bool
        var decimalDigits: Int {
            switch bits {
            case 8: return 3
            case 16: return 5
            case 32: return 10
            default: return 19
            }
        }
    }

    /// The width of an integer source type, as the Parquet mapping reads it (`tinyint`, `int2`, `bigint unsigned`…).
    public static func integerWidth(sourceType: String) -> IntegerWidth {
        let type = sourceType.lowercased()
        let unsigned = type.contains("unsigned")
        switch type.prefix(while: { $0.isLetter || $0.isNumber }) {
        case "tinyint": return IntegerWidth(bits: 8, unsigned: unsigned)
        case "smallint", "int2", "smallserial", "year": return IntegerWidth(bits: 16, unsigned: unsigned)
        case "int", "integer", "int4", "mediumint", "serial": return IntegerWidth(bits: 32, unsigned: unsigned)
        default: return IntegerWidth(bits: 64, unsigned: unsigned)
        }
    }

    static func isSinglePrecision(_ sourceType: String) -> Bool {
        ["real", "float4", "float"].contains(sourceType.lowercased())
    }

    /// The DECIMAL(p, s) a decimal column is stored as, or nil when it is stored as exact text (no or a too large
    /// precision, e.g. PostgreSQL `numeric`).
    public static func decimal(_ column: ColumnSchema) -> (Int, Int)? {
        guard let precision = column.precision, (1...38).contains(precision) else { return nil }
        let scale = column.scale ?? 0
        guard (0...precision).contains(scale) else { return nil }
        return (precision, scale)
    }
}
