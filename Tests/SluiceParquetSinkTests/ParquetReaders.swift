import Foundation
import SluiceTestSupport
import Testing

/// Reads Parquet files with pyarrow and duckdb and renders every value as text, so tests can compare what those
/// readers see with the events written.
///
/// The script is `Tests/SluiceTestSupport/Readers/parquet_files.py`, run with the readers' Python
/// (`TestEnvironment.python()`).
///
/// Rendering (the same for both readers): booleans `true`/`false`; integers in decimal; FLOAT and DOUBLE as the
/// little-endian hex of the value's binary64 bits; strings and JSON as themselves; bytes and UUIDs as lowercase
/// hex; decimals as plain text with the column's scale; DATE as days, TIME as microseconds since midnight,
/// TIMESTAMP as microseconds since the epoch (read as integers, so ±infinity survives); lists as arrays; null as
/// null.
enum ParquetReaders {
    /// What both readers saw in one file.
    struct FileContents {
        var path: String
        var rowCount: Int
        var rowGroupCount: Int
        var compressions: Set<String>
        var keyValueMetadata: [String: String]
        var pyarrowTypes: [String: String]
        var duckdbTypes: [String: String]
        var pyarrowValues: [String: [Any]]
        var duckdbValues: [String: [Any]]
        /// Per row group, per column path: `null_count`, `min`, `max` (physical values, rendered).
        var rowGroupStatistics: [[String: [String: Any]]]
        var columnNames: [String]
    }

    /// Reads every file with both readers (one Python process for all of them).
    static func read(_ paths: [String]) throws -> [FileContents] {
        guard !paths.isEmpty else { return [] }
        guard let files = try Python.json(.parquetFiles, paths) as? [[String: Any]] else {
            throw TestFailure("parquet_files.py printed no JSON list")
        }
        return files.map { file in
            FileContents(
                path: file["path"] as? String ?? "",
                rowCount: file["num_rows"] as? Int ?? -1,
                rowGroupCount: file["num_row_groups"] as? Int ?? -1,
                compressions: Set(file["compressions"] as? [String] ?? []),
                keyValueMetadata: file["key_value_metadata"] as? [String: String] ?? [:],
                pyarrowTypes: file["pyarrow_types"] as? [String: String] ?? [:],
                duckdbTypes: file["duckdb_types"] as? [String: String] ?? [:],
                pyarrowValues: file["pyarrow_values"] as? [String: [Any]] ?? [:],
                duckdbValues: file["duckdb_values"] as? [String: [Any]] ?? [:],
                rowGroupStatistics: file["row_groups"] as? [[String: [String: Any]]] ?? [],
                columnNames: file["columns"] as? [String] ?? [])
        }
    }
}

