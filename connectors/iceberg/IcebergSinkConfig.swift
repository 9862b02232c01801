import Foundation
import SluiceCore
import SluiceParquet

/// The Iceberg sink's settings, from the `iceberg` connector spec.
public struct IcebergSinkConfiguration: Sendable {
    public enum CatalogType: String, Sendable { case filesystem, sql }
    public enum Mode: String, Sendable { case append, upsert }
    public enum DeleteStrategy: String, Sendable {
        /// Position delete files (pyiceberg, Spark, Trino, DuckDB read them).
        case position
        /// Equality delete files: cheaper to write, but pyiceberg 0.12 and Snowflake cannot read them.
        case equality
    }

    public var warehouse: String
    public var catalogType: CatalogType
    public var catalogURI: String?
    public var catalogName: String
    public var namespace: String
    public var tableTemplate: String
    public var mode: Mode
    public var deletes: DeleteStrategy
    public var partitionBy: String?
    public var targetFileSize: Int64
    public var commitIntervalSeconds: Double
    public var commitRows: Int
    public var compression: ParquetCompression

    public static let spec = ConnectorSpec(
        name: "iceberg", role: .sink,
        summary:
            "Apache Iceberg v2 tables (Parquet data, Avro manifests) with effectively-once commits; append or upsert.",
        fields: [
            FieldSpec(
                "warehouse", .string, required: true,
                description: "folder holding the tables (table location: <warehouse>/<namespace>/<table>)",
                example: "/data/warehouse"),
            FieldSpec(
                "catalog", .oneOf(["filesystem", "sql"]), default: .string("filesystem"),
                description:
                    "filesystem: metadata/vN.metadata.json + version-hint.text; "
                    + "sql: pyiceberg SqlCatalog / Java JdbcCatalog tables"
            ),
            FieldSpec(
                "catalog_uri", .string, secret: true,
                description:
                    "sql catalog database: a SQLite file path or a postgresql:// URL (default <warehouse>/catalog.db)",
                example: "postgresql://sluice@localhost:5432/catalog"),
            FieldSpec(
                "catalog_name", .string, default: .string("sluice"),
                description: "catalog_name in the sql catalog's tables"),
            FieldSpec("namespace", .string, default: .string("default"), description: "namespace of the tables"),
            FieldSpec(
                "table", .string, default: .string("{schema}_{table}"),
                description: "table name template; {pipeline}, {database}, {schema}, {table} are replaced"),
            FieldSpec(
                "mode", .oneOf(["append", "upsert"]), default: .string("upsert"),
                description:
                    "upsert: the table mirrors the source (needs a primary key); "
                    + "append: one row per change with _op, _position, _commit_ts, _tx_id, _offset"
            ),
            FieldSpec(
                "deletes", .oneOf(["position", "equality"]), default: .string("position"),
                description:
                    "how upsert applies updates and deletes; equality deletes are for Spark/Flink readers only "
                    + "(pyiceberg 0.12 and Snowflake cannot read them)"
            ),
            FieldSpec(
                "partition_by", .string,
                description:
                    "optional partitioning: a column (identity), day(column) or hour(column) "
                    + "of a timestamp or date column",
                example: "day(updated_at)"),
            FieldSpec(
                "target_file_size", .size, default: .size(128 << 20),
                description: "data file size to aim for (writes and compaction)"),
            FieldSpec(
                "commit_interval", .duration, default: .duration(60),
                description: "longest time between commits while changes arrive"),
            FieldSpec("commit_rows", .int, default: .int(100_000), description: "changes buffered before a commit"),
            FieldSpec(
                "compression", .oneOf(["zstd", "snappy", "gzip", "none"]), default: .string("zstd"),
                description: "Parquet compression of data files"),
        ])

    /// Reads `config`; absent fields take the defaults `spec` declares.
    public init(config: ConnectorConfig) throws {
        let spec = Self.spec
        func value<T: ConfigFieldValue>(_ key: String) throws -> T? { try config.value(key, of: spec) }
        func setting<T: ConfigFieldValue>(_ key: String) throws -> T { try config.required(key, of: spec) }
        let location = "sinks.\(config.instanceName)"
        guard let warehouse: String = try value("warehouse"), !warehouse.isEmpty else {
            throw SluiceError(
                .invalidConfiguration, "the iceberg sink needs a warehouse folder", location: "\(location).warehouse")
        }
        self.warehouse = warehouse
        catalogType = try config.choice("catalog", of: spec)
        catalogURI = try value("catalog_uri")
        catalogName = try setting("catalog_name")
        namespace = try setting("namespace")
        tableTemplate = try setting("table")
        mode = try config.choice("mode", of: spec)
        deletes = try config.choice("deletes", of: spec)
        partitionBy = try value("partition_by")
        targetFileSize = try setting("target_file_size")
        commitIntervalSeconds = try setting("commit_interval")
        commitRows = max(1, try setting("commit_rows"))
        switch try setting("compression") as String {
        case "snappy": compression = .snappy
        case "gzip": compression = .gzip
        case "none": compression = .uncompressed
        default: compression = .zstd
        }
        if partitionBy != nil && deletes == .equality {
            throw SluiceError(
                .invalidConfiguration, "deletes: equality is only supported for unpartitioned tables",
                location: "\(location).deletes", hint: "remove partition_by or use deletes: position")
        }
        if let partitionBy, (try? PartitionRequest(partitionBy)) == nil {
            throw SluiceError(
                .invalidConfiguration, "partition_by '\(partitionBy)' is not a column, day(column) or hour(column)",
                location: "\(location).partition_by")
        }
    }

    /// Opens the configured catalog.
    public func makeCatalog() throws -> any IcebergCatalog {
        switch catalogType {
        case .filesystem:
            return FileSystemCatalog(warehouse: warehouse)
        case .sql:
            return try SQLCatalog(
                name: catalogName, uri: catalogURI ?? LocalFiles.path(warehouse) + "/catalog.db",
                warehouse: warehouse)
        }
    }

    /// The table a captured table lands in.
    public func tableIdentifier(pipeline: String, table: TableID) -> TableIdentifier {
        let name = tableTemplate.replacingOccurrences(of: "{pipeline}", with: pipeline)
            .replacingOccurrences(of: "{database}", with: table.database)
            .replacingOccurrences(of: "{schema}", with: table.schema)
            .replacingOccurrences(of: "{table}", with: table.name)
        // The name is also the table's folder under the warehouse: it must not leave it.
        return TableIdentifier(namespace: namespace, name: PathComponent.safe(name))
    }
}

/// A parsed `partition_by` setting.
struct PartitionRequest {
    var column: String
    var transform: PartitionField.Transform

    init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for transform in [PartitionField.Transform.day, .hour] {
            let prefix = transform.rawValue + "("
            if trimmed.lowercased().hasPrefix(prefix), trimmed.hasSuffix(")") {
                column = String(trimmed.dropFirst(prefix.count).dropLast()).trimmingCharacters(in: .whitespaces)
                self.transform = transform
                guard !column.isEmpty else { throw IcebergError(.invalidConfiguration, "empty column in partition_by") }
                return
            }
        }
        guard !trimmed.isEmpty, !trimmed.contains("(") else {
            throw IcebergError(.invalidConfiguration, "partition_by '\(text)' is not understood")
        }
        column = trimmed
        transform = .identity
    }

    /// The spec over `schema`, or an error naming the column.
    func spec(schema: IcebergSchema) throws -> PartitionSpec {
        guard let field = schema.field(named: column) else {
            throw IcebergError(.invalidConfiguration, "partition_by names column '\(column)', which the table lacks")
        }
        if transform != .identity, ![IcebergType.timestamp, .timestamptz, .date].contains(field.type) {
            throw IcebergError(
                .invalidConfiguration, "\(transform.rawValue)(\(column)) needs a timestamp or date column")
        }
        if transform == .hour, field.type == .date {
            throw IcebergError(.invalidConfiguration, "hour(\(column)) needs a timestamp column, not a date")
        }
        let name = transform == .identity ? column : "\(column)_\(transform.rawValue)"
        return PartitionSpec(
            specId: 0, fields: [PartitionField(sourceId: field.id, fieldId: 1000, name: name, transform: transform)])
    }
}
