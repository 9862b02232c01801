import Foundation
import SluiceTestSupport
import Testing

/// Reads Parquet files with pyarrow and duckdb and renders every value as text, so tests can compare what those
/// readers see with what was written.
///
/// The script is `Tests/SluiceTestSupport/Readers/parquet_file.py`, run with the readers' Python
/// (`TestEnvironment.python()`).
///
/// Rendering (the same for both readers): booleans `true`/`false`; integers in decimal; FLOAT and DOUBLE as the
/// little-endian hex of the value's binary64 bits; strings and JSON as themselves; bytes and UUIDs as lowercase
/// hex; decimals as plain text with the column's scale; DATE as days, TIME as microseconds since midnight,
/// TIMESTAMP as microseconds since the epoch; lists as arrays; null as null.
enum PythonParquetReaders {
    /// The JSON the script prints for one file, decoded.
    static func read(_ path: String) throws -> [String: Any] {
        try Python.jsonObject(.parquetFile, [path])
    }
}
