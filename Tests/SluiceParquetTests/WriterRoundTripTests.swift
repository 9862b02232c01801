import Foundation
import Testing

@testable import SluiceParquet

/// Every column type, with nulls and edge values, written and read back with pyarrow and duckdb.
enum SampleTables {
    static func uuid(_ row: Int) -> UUID {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<16 {
            bytes[index] = UInt8(truncatingIfNeeded: (row &* 2_654_435_761) >> (index % 4 * 8) &+ index * 17)
        }
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
            bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    /// `cell(row)`, or null on every `nullEvery`-th row.
    static func column(
        _ column: ParquetColumn, rows: Int, nullEvery: Int = 7, _ cell: (Int) -> TestCell
    ) -> (ParquetColumn, [TestCell]) {
        (column, (0..<rows).map { row in column.isNullable && row % nullEvery == 3 ? .null : cell(row) })
    }

    static func decimalText(_ unscaled: Int64, scale: Int) -> String {
        let digits = String(unscaled.magnitude)
        let padded = String(repeating: "0", count: max(0, scale + 1 - digits.count)) + digits
        let sign = unscaled < 0 ? "-" : ""
        guard scale > 0 else { return sign + padded }
        return sign + padded.dropLast(scale) + "." + padded.suffix(scale)
    }

    static func allTypes(rows: Int) -> TestTable {
        let specials: [Int64] = [0, 1, -1]
        let columns: [(ParquetColumn, [TestCell])] = [
            column(ParquetColumn(name: "id", type: .int64, isNullable: false), rows: rows) { .int(Int64($0)) },
            column(ParquetColumn(name: "flag", type: .boolean), rows: rows) { .bool($0 % 3 == 0) },
            column(ParquetColumn(name: "i8", type: .int8), rows: rows) { .int(Int64($0 % 256 - 128)) },
            column(ParquetColumn(name: "i16", type: .int16), rows: rows) { .int(Int64($0 * 37 % 65536 - 32768)) },
            column(ParquetColumn(name: "i32", type: .int32), rows: rows) { row in
                row == 1 ? .int(Int64(Int32.max)) : row == 2 ? .int(Int64(Int32.min))
                    : .int(Int64(row * 1_000_003 % 2_000_000_000 - 1_000_000_000))
            },
            column(ParquetColumn(name: "i64", type: .int64), rows: rows) { row in
                row == 1 ? .int(.max) : row == 2 ? .int(.min)
                    : .int(Int64(row) * 1_000_000_007_000 - 5_000_000_000_000_000)
            },
            column(ParquetColumn(name: "u8", type: .uint8), rows: rows) { .uint(UInt64($0 % 256)) },
            column(ParquetColumn(name: "u16", type: .uint16), rows: rows) { .uint(UInt64($0 * 41 % 65536)) },
            column(ParquetColumn(name: "u32", type: .uint32), rows: rows) { row in
                row == 1 ? .uint(UInt64(UInt32.max)) : .uint(UInt64(row) * 3_000_017 % UInt64(UInt32.max))
            },
            column(ParquetColumn(name: "u64", type: .uint64), rows: rows) { row in
                row == 1 ? .uint(.max) : row == 2 ? .uint(1 << 63) : .uint(UInt64(row) * 12_345_678_901)
            },
            column(ParquetColumn(name: "f32", type: .float), rows: rows) { row in
                row == 5 ? .float(-0.0) : row == 6 ? .float(.infinity) : .float(Float(row) * 0.25 - 100)
            },
            column(ParquetColumn(name: "f64", type: .double), rows: rows) { row in
                row == 5 ? .double(.nan) : row == 6 ? .double(-.infinity) : row == 8 ? .double(1e300)
                    : .double(Double(row) / 3 - 50)
            },
            column(ParquetColumn(name: "text", type: .string), rows: rows) { row in
                row % 11 == 0 ? .text("") : row % 5 == 0 ? .text("héllo wörld 🌍 \(row)") : .text("SKU-\(row % 97)")
            },
            column(ParquetColumn(name: "blob", type: .bytes), rows: rows) { row in
                row % 13 == 0 ? .bytes([]) : .bytes([0x00, 0xFF, UInt8(row % 256), 0x80, UInt8(row / 256 % 256)])
            },
            column(ParquetColumn(name: "doc", type: .json), rows: rows) {
                .text("{\"k\":\($0),\"tags\":[\"a\",\"b\"]}")
            },
            column(ParquetColumn(name: "uid", type: .uuid), rows: rows) { .uuid(uuid($0)) },
            column(ParquetColumn(name: "day", type: .date), rows: rows) { .int(Int64($0 * 3 - 2000)) },
            column(ParquetColumn(name: "clock", type: .time(isAdjustedToUTC: false)), rows: rows) {
                .int(Int64($0) * 28_800_017 % 86_400_000_000)
            },
            column(ParquetColumn(name: "clock_utc", type: .time(isAdjustedToUTC: true)), rows: rows) {
                .int(Int64($0) * 1_000_003 % 86_400_000_000)
            },
            column(ParquetColumn(name: "ts_utc", type: .timestamp(isAdjustedToUTC: true)), rows: rows) {
                .int(1_700_000_000_000_000 + Int64($0) * 1_000_001 - ($0 % 17 == 0 ? 2_000_000_000_000_000 : 0))
            },
            column(ParquetColumn(name: "ts_local", type: .timestamp(isAdjustedToUTC: false)), rows: rows) {
                .int(1_600_000_000_123_456 + Int64($0) * 60_000_000)
            },
            column(ParquetColumn(name: "dec9", type: .decimal(precision: 9, scale: 2)), rows: rows) { row in
                row < 3 ? .decimal(decimalText(specials[row], scale: 2))
                    : .decimal(decimalText(Int64(row * 7919 % 199_999_999 - 99_999_999), scale: 2))
            },
            column(ParquetColumn(name: "dec18", type: .decimal(precision: 18, scale: 4)), rows: rows) { row in
                row == 1 ? .decimal("99999999999999.9999")
                    : .decimal(decimalText(Int64(row) * 1_234_567_891_011 - 999_999_999_999_999, scale: 4))
            },
            column(ParquetColumn(name: "dec38", type: .decimal(precision: 38, scale: 10)), rows: rows) { row in
                row == 1 ? .decimal("9999999999999999999999999999.9999999999")
                    : row == 2 ? .decimal("-9999999999999999999999999999.9999999999")
                    : .decimal((row % 2 == 0 ? "-" : "") + "\(row + 1)123456789012345.0123456789")
            },
            column(ParquetColumn(name: "dec20", type: .decimal(precision: 20, scale: 0)), rows: rows) { row in
                .decimal(row % 3 == 0 ? "-\(row + 1)0000000000000" : "\(row)")
            },
        ]
        return TestTable(columns: columns.map(\.0), cells: columns.map(\.1))
    }
}

@Suite struct WriterRoundTripTests {
    @Test(arguments: [ParquetCompression.uncompressed, .snappy, .gzip, .zstd])
    func everyTypeReadsBackWithPyarrowAndDuckdb(compression: ParquetCompression) throws {
        let table = SampleTables.allTypes(rows: 2500)
        var options = ParquetWriterOptions()
        options.compression = compression
        options.pageSize = 4096
        options.keyValueMetadata = ["sluice.table": "public.orders", "sluice.version": "1"]
        let (summary, read) = try table.roundTrip(options: options, batchRows: 700)
        #expect(summary.rowCount == 2500)
        #expect(read["created_by"] as? String == "sluice")
        #expect(read["key_value_metadata"] as? [String: String] == options.keyValueMetadata)

        let codecName: String = switch compression {
        case .uncompressed: "UNCOMPRESSED"
        case .snappy: "SNAPPY"
        case .gzip: "GZIP"
        case .zstd: "ZSTD"
        }
        let groups = read["row_groups"] as? [[String: Any]] ?? []
        for group in groups {
            for (_, entry) in group["columns"] as? [String: [String: Any]] ?? [:] {
                #expect(entry["compression"] as? String == codecName)
            }
        }
        let fieldIds = read["field_ids"] as? [String: Int] ?? [:]
        for (index, column) in table.columns.enumerated() {
            #expect(fieldIds[column.name] == index + 1, "field id of \(column.name)")
        }
    }

    @Test func typesAreAnnotatedForPyarrowAndDuckdb() throws {
        let (_, read) = try SampleTables.allTypes(rows: 20).roundTrip()
        let pyarrow = read["pyarrow_types"] as? [String: String] ?? [:]
        let expectedPyarrow: [String: String] = [
            "id": "int64", "flag": "bool", "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
            "u8": "uint8", "u16": "uint16", "u32": "uint32", "u64": "uint64", "f32": "float", "f64": "double",
            "text": "string", "blob": "binary", "day": "date32[day]", "clock": "time64[us]",
            "clock_utc": "time64[us]", "ts_utc": "timestamp[us, tz=UTC]", "ts_local": "timestamp[us]",
            "dec9": "decimal128(9, 2)", "dec18": "decimal128(18, 4)", "dec38": "decimal128(38, 10)",
            "dec20": "decimal128(20, 0)",
        ]
        for (name, type) in expectedPyarrow {
            #expect(pyarrow[name] == type, "pyarrow type of \(name)")
        }
        #expect(pyarrow["uid"]?.contains("uuid") == true || pyarrow["uid"] == "fixed_size_binary[16]")
        #expect(pyarrow["doc"]?.contains("json") == true || pyarrow["doc"] == "string")

        let duckdb = read["duckdb_types"] as? [String: String] ?? [:]
        let expectedDuckdb: [String: String] = [
            "id": "BIGINT", "flag": "BOOLEAN", "i8": "TINYINT", "i16": "SMALLINT", "i32": "INTEGER",
            "i64": "BIGINT", "u8": "UTINYINT", "u16": "USMALLINT", "u32": "UINTEGER", "u64": "UBIGINT",
            "f32": "FLOAT", "f64": "DOUBLE", "text": "VARCHAR", "blob": "BLOB", "doc": "JSON", "uid": "UUID",
            "day": "DATE", "clock": "TIME", "ts_utc": "TIMESTAMP WITH TIME ZONE", "ts_local": "TIMESTAMP",
            "dec9": "DECIMAL(9,2)", "dec18": "DECIMAL(18,4)", "dec38": "DECIMAL(38,10)", "dec20": "DECIMAL(20,0)",
        ]
        for (name, type) in expectedDuckdb {
            #expect(duckdb[name] == type, "duckdb type of \(name)")
        }
    }

    @Test func largeUnicodeAndEmptyValues() throws {
        let megabyte = String(repeating: "ab€🌍", count: (1 << 20) / 9)
        let table = TestTable(
            columns: [
                ParquetColumn(name: "body", type: .string), ParquetColumn(name: "raw", type: .bytes),
                ParquetColumn(name: "doc", type: .json),
            ],
            cells: [
                [.text(megabyte), .text(""), .null, .text("ünïcödé ✓ 日本語 \u{0}nul"), .text(megabyte + "z")],
                [.bytes([UInt8](repeating: 0xFE, count: 1 << 20)), .bytes([]), .null, .bytes([0]), .bytes([0xFF])],
                [.text("{\"big\":\"" + megabyte + "\"}"), .text("[]"), .null, .text("{\"ü\":1}"), .text("null")],
            ])
        var options = ParquetWriterOptions()
        options.pageSize = 64 << 10
        let (_, read) = try table.roundTrip(options: options, batchRows: 2)
        let stats = (read["row_groups"] as? [[String: Any]])?.first?["columns"] as? [String: [String: Any]]
        let body = stats?["body"] ?? [:]
        #expect(body["null_count"] as? Int == 1)
        // The 1 MiB maximum is truncated to a short value above it; the minimum (empty) stays exact.
        #expect(body["min"] as? String == "")
        let maximum = body["max"] as? String ?? ""
        #expect(maximum.utf8.count <= 64 && maximum > "ünïcödé")
    }

    @Test func manyRowGroupsByRowCountCarryTheirOwnStatistics() throws {
        let rows = 10_500
        let table = TestTable(
            columns: [ParquetColumn(name: "n", type: .int64), ParquetColumn(name: "s", type: .string)],
            cells: [
                (0..<rows).map { $0 % 10 == 0 ? .null : .int(Int64($0)) },
                (0..<rows).map { .text("v\($0 % 50)") },
            ])
        var options = ParquetWriterOptions()
        options.maxRowsPerRowGroup = 1000
        let (summary, read) = try table.roundTrip(options: options, batchRows: 777)
        #expect(summary.rowGroupCount == 11)
        let groups = read["row_groups"] as? [[String: Any]] ?? []
        #expect(groups.count == 11)
        for (index, group) in groups.enumerated() {
            let first = index * 1000
            let last = min(first + 1000, rows) - 1
            let n = (group["columns"] as? [String: [String: Any]])?["n"] ?? [:]
            #expect(group["num_rows"] as? Int == last - first + 1)
            #expect(n["min"] as? String == String(first + 1))
            #expect(n["max"] as? String == String(last % 10 == 0 ? last - 1 : last))
            #expect(n["null_count"] as? Int == (last - first + 1) / 10 + ((last - first + 1) % 10 > 0 ? 1 : 0))
        }
    }

    @Test func rowGroupsRollBySize() throws {
        let rows = 20_000
        let table = TestTable(
            columns: [ParquetColumn(name: "payload", type: .string, isNullable: false)],
            cells: [(0..<rows).map { row in
                var state = UInt64(row) &* 0x9E37_79B9_7F4A_7C15
                return .text((0..<4).map { _ in
                    state = (state ^ (state >> 31)) &* 0xBF58_476D_1CE4_E5B9
                    return String(state, radix: 16)
                }.joined())
            }])
        var options = ParquetWriterOptions()
        options.rowGroupSize = 256 << 10
        options.pageSize = 32 << 10
        let (summary, _) = try table.roundTrip(options: options, batchRows: 5000)
        #expect(summary.rowGroupCount > 2)
    }

    @Test func dictionaryFallsBackToPlainWhenItGrowsTooLarge() throws {
        let rows = 30_000
        let table = TestTable(
            columns: [
                ParquetColumn(name: "unique_text", type: .string),
                ParquetColumn(name: "unique_number", type: .int64),
                ParquetColumn(name: "repeated", type: .string),
            ],
            cells: [
                (0..<rows).map { .text("value-\($0)") }, (0..<rows).map { .int(Int64($0) * 31) },
                (0..<rows).map { .text(["new", "shipped", "paid"][$0 % 3]) },
            ])
        var options = ParquetWriterOptions()
        options.dictionaryPageSizeLimit = 16 << 10
        options.pageSize = 8 << 10
        let (_, read) = try table.roundTrip(options: options, batchRows: 10_000)
        let columns = (read["row_groups"] as? [[String: Any]])?.first?["columns"] as? [String: [String: Any]] ?? [:]
        for name in ["unique_text", "unique_number"] {
            let encodings = Set(columns[name]?["encodings"] as? [String] ?? [])
            #expect(encodings.isSuperset(of: ["PLAIN", "RLE_DICTIONARY"]), "\(name): \(encodings)")
        }
        #expect(columns["repeated"]?["has_dictionary_page"] as? Bool == true)
        #expect(columns["unique_number"]?["min"] as? String == "0")
        #expect(columns["unique_number"]?["max"] as? String == String((rows - 1) * 31))
    }

    @Test func dictionaryCanBeTurnedOff() throws {
        let table = SampleTables.allTypes(rows: 300)
        var options = ParquetWriterOptions()
        options.dictionaryEnabled = false
        let (summary, read) = try table.roundTrip(options: options)
        #expect(summary.metadata.rowGroups[0].columns.allSatisfy { $0.metaData?.dictionaryPageOffset == nil })
        let columns = (read["row_groups"] as? [[String: Any]])?.first?["columns"] as? [String: [String: Any]] ?? [:]
        #expect(columns["text"]?["has_dictionary_page"] as? Bool == false)
    }

    @Test func listsWithNullAndEmptyListsAndNullElements() throws {
        let rows = 3000
        func ints(_ row: Int) -> TestCell {
            switch row % 6 {
            case 0: return .list(nil)
            case 1: return .list([])
            case 2: return .list([.int(Int64(row)), .null, .int(-Int64(row))])
            default: return .list((0..<(row % 9)).map { .int(Int64($0 * row)) })
            }
        }
        let table = TestTable(
            columns: [
                ParquetColumn(name: "id", type: .int32, isNullable: false),
                .list(name: "numbers", elementType: .int32),
                .list(
                    name: "tags", elementType: .string, isNullable: false,
                    element: ParquetColumn.ListElement(isNullable: false)),
                .list(name: "amounts", elementType: .decimal(precision: 20, scale: 2), fieldId: 100,
                      element: ParquetColumn.ListElement(fieldId: 101)),
            ],
            cells: [
                (0..<rows).map { .int(Int64($0)) },
                (0..<rows).map(ints),
                (0..<rows).map { row in .list((0..<(row % 4)).map { .text("tag\($0 + row % 3)") }) },
                (0..<rows).map { row in row % 5 == 0 ? .list(nil) : .list([.decimal("\(row).25"), .null]) },
            ])
        var options = ParquetWriterOptions()
        options.pageSize = 2048
        let (_, read) = try table.roundTrip(options: options, batchRows: 1111)
        let fieldIds = read["field_ids"] as? [String: Int] ?? [:]
        #expect(fieldIds["amounts"] == 100)
        #expect(fieldIds["amounts.element"] == 101)
        #expect((fieldIds["numbers.element"] ?? -1) > 0)
        let types = read["duckdb_types"] as? [String: String] ?? [:]
        #expect(types["numbers"] == "INTEGER[]")
        #expect(types["tags"] == "VARCHAR[]")
    }

    @Test func nestedListsAreRejected() throws {
        // A list column's elements are scalars; appending a list inside a list is an error naming the column.
        let schema = try ParquetSchema(columns: [.list(name: "matrix", elementType: .int32)])
        var values = schema.makeColumnBuffers()[0]
        try values.beginList()
        #expect(throws: ParquetError.self) { try values.beginList() }
    }
}
