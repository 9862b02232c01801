import SluiceCore
import SluiceParquet

/// The Parquet file sink's settings, read from the `parquet` connector spec (the one declaration of its fields).
public struct ParquetSinkConfiguration: Sendable {
    /// What one row of a file stands for.
    public enum Layout: String, Sendable {
        /// One row per change: the row image plus `_op`, `_position`, `_commit_ts`, `_tx_id`, `_offset` (and
        /// `_before_<column>` columns with `include_before`).
        case changelog
        /// One row per insert, update or snapshot read: the after image only; deletes and truncates are skipped.
        case append
    }

    /// The folder holding one sub-folder per table.
    public var path: String
    public var layout: Layout
    /// Changelog layout only: add the before image as `_before_<column>` columns.
    public var includeBefore: Bool
    /// Write each table's files into `commit_date=YYYY-MM-DD/` sub-folders (the UTC date of the source commit).
    public var partitionByCommitDate: Bool
    public var compression: ParquetCompression
    /// A file is published once it holds about this many bytes.
    public var maxFileBytes: Int64
    /// A file is published once it holds this many rows.
    public var maxFileRows: Int
    /// A file is published once it has been open this long, in seconds.
    public var maxFileAgeSeconds: Double
    /// A row group ends once its compressed pages reach about this many bytes.
    public var rowGroupBytes: Int
    /// A row group ends at this many rows at the latest.
    public var rowGroupRows: Int

    public static let spec = ConnectorSpec(
        name: "parquet", role: .sink,
        summary: "Parquet files, one folder per table, named by the log offsets they hold, published atomically.",
        fields: [
            FieldSpec(
                "path", .string, required: true,
                description: "folder for the files: "
                    + "<path>/<schema>.<table>/[commit_date=YYYY-MM-DD/]<stream>-<first>-<last>.parquet",
                example: "/data/changes"),
            FieldSpec(
                "layout", .oneOf(["changelog", "append"]), default: .string("changelog"),
                description: "changelog: one row per change with _op, _position, _commit_ts, _tx_id, _offset; "
                    + "append: after images of inserts, updates and snapshot reads only "
                    + "(deletes and truncates skipped)"),
            FieldSpec(
                "include_before", .bool, default: .bool(false),
                description: "changelog layout: also write the before image as _before_<column> columns"),
            FieldSpec(
                "partition_by_commit_date", .bool, default: .bool(false),
                description: "write files into commit_date=YYYY-MM-DD/ folders by the UTC date of the source commit"),
            FieldSpec(
                "compression", .oneOf(["zstd", "snappy", "gzip", "none"]), default: .string("zstd"),
                description: "page compression of the files"),
            FieldSpec(
                "max_file_size", .size, default: .size(128 << 20),
                description: "publish a file once it holds about this many bytes", example: "256MiB"),
            FieldSpec(
                "max_file_rows", .int, default: .int(1_000_000),
                description: "publish a file once it holds this many rows"),
            FieldSpec(
                "max_file_age", .duration, default: .duration(300),
                description: "publish a file once it has been open this long (an idle pipeline publishes sooner, "
                    + "after runtime.flush_interval)", example: "1m"),
            FieldSpec(
                "row_group_size", .size, default: .size(64 << 20),
                description: "end a row group once its compressed pages reach about this many bytes"),
            FieldSpec(
                "row_group_rows", .int, default: .int(1 << 20),
                description: "end a row group at this many rows at the latest"),
        ])

    /// Reads `config`; absent fields take the defaults `spec` declares.
    public init(config: ConnectorConfig) throws {
        let spec = Self.spec
        func setting<T: ConfigFieldValue>(_ key: String) throws -> T { try config.required(key, of: spec) }
        let location = "sinks.\(config.instanceName)"
        guard let path: String = try config.value("path", of: spec), !path.isEmpty else {
            throw SluiceError(
                .invalidConfiguration, "the parquet sink needs a folder for its files", location: "\(location).path",
                hint: "set path, e.g. path: /data/changes")
        }
        self.path = path
        layout = try config.choice("layout", of: spec)
        includeBefore = try setting("include_before")
        partitionByCommitDate = try setting("partition_by_commit_date")
        switch try setting("compression") as String {
        case "snappy": compression = .snappy
        case "gzip": compression = .gzip
        case "none": compression = .uncompressed
        default: compression = .zstd
        }
        maxFileBytes = try setting("max_file_size")
        maxFileRows = try setting("max_file_rows")
        maxFileAgeSeconds = try setting("max_file_age")
        rowGroupBytes = try setting("row_group_size")
        rowGroupRows = try setting("row_group_rows")
        for (key, value) in [
            ("max_file_size", Double(maxFileBytes)), ("max_file_rows", Double(maxFileRows)),
            ("max_file_age", maxFileAgeSeconds), ("row_group_size", Double(rowGroupBytes)),
            ("row_group_rows", Double(rowGroupRows)),
        ] where value <= 0 {
            throw SluiceError(
                .invalidConfiguration, "\(key) must be positive", location: "\(location).\(key)",
                hint: "remove the key to use the default")
        }
        if includeBefore && layout == .append {
            throw SluiceError(
                .invalidConfiguration, "include_before needs the changelog layout; the append layout holds after "
                    + "images only", location: "\(location).include_before",
                hint: "set layout: changelog or remove include_before")
        }
    }
}
