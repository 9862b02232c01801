import Foundation

/// The independent readers' checkers in `Tests/SluiceTestSupport/Readers/` (pyarrow, duckdb, pyiceberg,
/// deltalake, fastavro), run with the venv's Python.
public enum ReaderScript: String, Sendable {
    /// One Parquet file read with pyarrow and duckdb, rendered (SluiceParquetTests).
    case parquetFile = "parquet_file.py"
    /// Several Parquet files read with pyarrow and duckdb, with row-group statistics (SluiceParquetSinkTests).
    case parquetFiles = "parquet_files.py"
    /// An Iceberg table scanned with pyiceberg (static metadata or SQL catalog).
    case icebergScan = "iceberg_scan.py"
    /// A PostgreSQL → Iceberg pipeline's tables checked against the source with pyiceberg.
    case icebergPipelineCheck = "iceberg_pipeline_check.py"
    /// Iceberg manifest lists and manifests read with fastavro: schema names, field ids, entries.
    case icebergManifests = "iceberg_manifests.py"
    /// The namespaces and tables pyiceberg's SqlCatalog lists in a SQLite catalog.
    case icebergCatalogTables = "iceberg_catalog_tables.py"
    /// An Avro container of manifest entries read with fastavro (SluiceAvroTests).
    case avroReadManifestEntries = "avro_read_manifest_entries.py"
    /// An Avro container of rows written with fastavro, for our reader (SluiceAvroTests).
    case avroWriteRows = "avro_write_rows.py"
    /// Staged Parquet and Delta tables checked with duckdb and deltalake (SluiceStagingTests).
    case stagingCheck = "staging_check.py"
    /// Real-source staging output checked with duckdb, deltalake and pyarrow (SluiceStagingTests).
    case realSourceStagingCheck = "real_source_staging_check.py"

    /// The script's file.
    public var path: String {
        TestEnvironment.repositoryRoot.appendingPathComponent("Tests/SluiceTestSupport/Readers/\(rawValue)").path
    }
}

/// A Python run that failed: which script, how it ended and what it wrote to stderr.
public struct PythonFailure: Error, CustomStringConvertible {
    public var description: String
}

/// Runs Python scripts with the readers' interpreter (`TestEnvironment.python()`). Stdout and stderr are kept
/// apart, so a warning never corrupts the JSON a test parses, and a failure reports the script's stderr.
public enum Python {
    /// The exit status the reader scripts use when one of their packages does not import.
    static let missingPackageStatus: Int32 = 3

    /// Runs a reader script with `arguments`; returns its stdout.
    @discardableResult
    public static func run(_ script: ReaderScript, _ arguments: [String]) throws -> String {
        try run(arguments: [script.path] + arguments, name: script.rawValue)
    }

    /// Runs inline code (`python -c code arguments…`); returns its stdout.
    @discardableResult
    public static func run(code: String, _ arguments: [String], name: String = "inline script") throws -> String {
        try run(arguments: ["-c", code] + arguments, name: name)
    }

    /// Runs a reader script that prints one JSON value, and decodes it.
    public static func json(_ script: ReaderScript, _ arguments: [String]) throws -> Any {
        try decode(try run(script, arguments), name: script.rawValue)
    }

    /// Runs inline code that prints one JSON object, and decodes it.
    public static func jsonObject(code: String, _ arguments: [String], name: String = "inline script") throws
        -> [String: Any]
    {
        let text = try run(code: code, arguments, name: name)
        guard let object = try decode(text, name: name) as? [String: Any] else {
            throw PythonFailure(description: "\(name) printed no JSON object: \(text.prefix(300))")
        }
        return object
    }

    /// Runs a reader script that prints one JSON object, and decodes it.
    public static func jsonObject(_ script: ReaderScript, _ arguments: [String]) throws -> [String: Any] {
        let text = try run(script, arguments)
        guard let object = try decode(text, name: script.rawValue) as? [String: Any] else {
            throw PythonFailure(description: "\(script.rawValue) printed no JSON object: \(text.prefix(300))")
        }
        return object
    }

    private static func run(arguments: [String], name: String) throws -> String {
        let python = try TestEnvironment.python()
        let result = try runProcess(URL(fileURLWithPath: python), arguments)
        if result.reason == .exit && result.status == missingPackageStatus {
            throw PythonFailure(
                description: "\(python) lacks a package \(name) needs (\(result.err.suffix(500))): run "
                    + "scripts/install-deps.sh or set SLUICE_PYTHON to a Python with scripts/requirements-readers.txt")
        }
        guard result.succeeded else {
            throw PythonFailure(
                description: "\(name) failed under \(python) (\(result.endDescription)): \(result.err.suffix(3000))")
        }
        return result.out
    }

    private static func decode(_ text: String, name: String) throws -> Any {
        do {
            return try JSONSerialization.jsonObject(with: Data(text.utf8))
        } catch {
            throw PythonFailure(description: "\(name) printed no JSON (\(error)): \(text.prefix(300))")
        }
    }
}
