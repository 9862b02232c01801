import Foundation
import SluiceTestSupport
import Testing

@testable import SluiceParquet

/// A value in a test table, before it is written.
enum TestCell {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case float(Float)
    case double(Double)
    case text(String)
    case bytes([UInt8])
    /// A decimal literal written with exactly the column's scale (its own rendering).
    case decimal(String)
    case uuid(UUID)
    case list([TestCell]?)
}

/// Columns and their cells, written to a Parquet file and compared with what pyarrow and duckdb read back.
struct TestTable {
    var columns: [ParquetColumn]
    /// cells[column][row]
    var cells: [[TestCell]]

    var rowCount: Int { cells.first?.count ?? 0 }

    /// Writes the table in batches of `batchRows` rows.
    @discardableResult
    func write(
        to path: String, options: ParquetWriterOptions = ParquetWriterOptions(), batchRows: Int = 1000
    ) throws -> ParquetFileSummary {
        let schema = try ParquetSchema(columns: columns)
        let writer = try ParquetWriter(path: path, schema: schema, options: options)
        var buffers = schema.makeColumnBuffers()
        var row = 0
        while row < rowCount {
            let end = min(row + batchRows, rowCount)
            for index in buffers.indices {
                buffers[index].removeAll()
                for cell in cells[index][row..<end] {
                    try Self.append(cell, to: &buffers[index])
                }
            }
            try writer.append(columns: buffers)
            row = end
        }
        return try writer.close()
    }

    static func append(_ cell: TestCell, to values: inout ColumnValues) throws {
        switch cell {
        case .null: try values.appendNull()
        case .bool(let value): try values.append(value)
        case .int(let value): try values.append(value)
        case .uint(let value): try values.append(value)
        case .float(let value): try values.append(value)
        case .double(let value): try values.append(value)
        case .text(let value): try values.append(value)
        case .bytes(let value): try values.append(bytes: value)
        case .decimal(let value): try values.append(decimal: value)
        case .uuid(let value): try values.append(uuid: value)
        case .list(nil): try values.appendNull()
        case .list(let elements?):
            try values.beginList()
            for element in elements {
                try append(element, to: &values)
            }
            try values.endList()
        }
    }

    /// The text the reader script renders for `cell` (see `PythonParquetReaders`).
    static func rendered(_ cell: TestCell) -> Any {
        switch cell {
        case .null, .list(nil): return NSNull()
        case .bool(let value): return value ? "true" : "false"
        case .int(let value): return String(value)
        case .uint(let value): return String(value)
        case .float(let value): return hex(Double(value))
        case .double(let value): return hex(value)
        case .text(let value): return value
        case .bytes(let value): return value.map { String(format: "%02x", $0) }.joined()
        case .decimal(let value): return value
        case .uuid(let value): return value.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        case .list(let elements?): return elements.map(rendered)
        }
    }

    static func hex(_ value: Double) -> String {
        withUnsafeBytes(of: value.bitPattern.littleEndian) { $0.map { String(format: "%02x", $0) }.joined() }
    }

    /// Writes the table, reads it with pyarrow and duckdb, and checks every value and the row count.
    @discardableResult
    func roundTrip(
        options: ParquetWriterOptions = ParquetWriterOptions(), batchRows: Int = 1000,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> (summary: ParquetFileSummary, read: [String: Any]) {
        let path = TemporaryFile.path(suffix: "parquet")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let summary = try write(to: path, options: options, batchRows: batchRows)
        let read = try PythonParquetReaders.read(path)
        #expect(read["num_rows"] as? Int == rowCount, sourceLocation: sourceLocation)
        for engine in ["pyarrow_values", "duckdb_values"] {
            let values = read[engine] as? [String: Any] ?? [:]
            for (index, column) in columns.enumerated() {
                let expected = cells[index].map(Self.rendered)
                guard let actual = values[column.name] as? [Any] else {
                    Issue.record("\(engine) returned no column \(column.name)", sourceLocation: sourceLocation)
                    continue
                }
                if !jsonEqual(actual, expected) {
                    let firstDifference = (0..<min(actual.count, expected.count)).first {
                        !jsonEqual(actual[$0], expected[$0])
                    }
                    let detail = firstDifference.map {
                        "row \($0): read \(String(describing: actual[$0]).prefix(200)), "
                            + "wrote \(String(describing: expected[$0]).prefix(200))"
                    } ?? "read \(actual.count) rows, wrote \(expected.count)"
                    Issue.record("\(engine) column \(column.name): \(detail)", sourceLocation: sourceLocation)
                }
            }
        }
        return (summary, read)
    }
}


enum TemporaryFile {
    static func path(suffix: String) -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-parquet-tests")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("\(UUID().uuidString).\(suffix)").path
    }
}
