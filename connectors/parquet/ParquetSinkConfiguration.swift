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

    /// Reads validated settings (defaults already applied by the pipeline loader; absent keys use the same defaults).
    public init(config: ConnectorConfig) throws {
        let location = "sinks.\(config.instanceName)"
        guard let path = config.string("path"), !path.isEmpty else {
            throw SluiceError(
                .invalidConfiguration, "the parquet sink needs a folder for its files", location: "\(location).path",
                hint: "set path, e.g. path: /data/changes")
        }
        self.path = path
        layout = Layout(rawValue: config.string("layout") ?? "changelog") ?? .changelog
        includeBefore = config.bool("include_before") ?? false
        partitionByCommitDate = config.bool("partition_by_commit_date") ?? false
        switch config.string("compression") ?? "zstd" {
        case "snappy": compression = .snappy
        case "gzip": compression = .gzip
        case "none": compression = .uncompressed
        default: compression = .zstd
        }
        maxFileBytes = config.size("max_file_size") ?? Int64(config.int("max_file_size") ?? 128 << 20)
        maxFileRows = config.int("max_file_rows") ?? 1_000_000
        maxFileAgeSeconds = config.duration("max_file_age") ?? config.double("max_file_age") ?? 300
        rowGroupBytes = Int(config.size("row_group_size") ?? Int64(config.int("row_group_size") ?? 64 << 20))
        rowGroupRows = config.int("row_group_rows") ?? 1 << 20
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
