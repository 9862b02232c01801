import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

@testable import SluiceParquet

/// Every `Value` kind through the documented mapping, read back with pyarrow and duckdb.
@Suite struct ValueColumnMappingTests {
    @Test func sourceTypesMapToParquetTypes() {
        #expect(ParquetColumnType.mapping(kind: .int, sourceType: "smallint", precision: nil, scale: nil) == .int16)
        let unsignedInt = ParquetColumnType.mapping(
            kind: .int, sourceType: "int(11) unsigned", precision: nil, scale: nil)
        #expect(unsignedInt == .uint32)
        #expect(ParquetColumnType.mapping(kind: .int, sourceType: "bigint", precision: nil, scale: nil) == .int64)
        #expect(ParquetColumnType.mapping(kind: .double, sourceType: "real", precision: nil, scale: nil) == .float)
        #expect(ParquetColumnType.mapping(kind: .decimal, sourceType: "numeric", precision: nil, scale: nil) == .string)
        #expect(ParquetColumnType.mapping(kind: .decimal, sourceType: "numeric(12,2)", precision: 12, scale: 2)
            == .decimal(precision: 12, scale: 2))
        #expect(
            ParquetColumnType.mapping(kind: .decimal, sourceType: "decimal(65,2)", precision: 65, scale: 2) == .string)
        #expect(ParquetColumnType.mapping(kind: .timestampTZ, sourceType: "timestamptz", precision: nil, scale: nil)
            == .timestamp(isAdjustedToUTC: true))
    }

    @Test func everyValueKindReadsBack() throws {
        let sources = [
            ColumnSchema(name: "id", sourceType: "bigint", kind: .int, nullable: false),
            ColumnSchema(name: "small", sourceType: "smallint", kind: .int),
            ColumnSchema(name: "flag", sourceType: "boolean", kind: .bool),
            ColumnSchema(name: "ratio", sourceType: "double precision", kind: .double),
            ColumnSchema(name: "price", sourceType: "numeric(12,2)", kind: .decimal, precision: 12, scale: 2),
            ColumnSchema(name: "wide", sourceType: "numeric(30,4)", kind: .decimal, precision: 30, scale: 4),
            ColumnSchema(name: "free", sourceType: "numeric", kind: .decimal),
        ] + ColumnSchema.postgresNonNumericKinds + [
            ColumnSchema(name: "tags", sourceType: "integer[]", kind: .array, elementKind: .int),
        ]
        let uuid = UUID(uuidString: "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0")!
        let rows: [[Value]] = [
            [
                .int(1), .int(-32768), .bool(true), .double(-1.5), .decimal(ExactDecimal("-12.5")!),
                .decimal(ExactDecimal("12345678901234567890.1234")!), .decimal(ExactDecimal("NaN")!),
                .string("héllo"), .bytes([0, 255]), .date(19000), .time(TimeOfDay(micros: 3_600_000_000)),
                .time(TimeOfDay(micros: 3_600_000_000, utcOffsetSeconds: 7200)),
                .timestamp(Timestamp(micros: 1_700_000_000_000_001, isUTC: false)),
                .timestamp(Timestamp(micros: -1_000_000, isUTC: true)),
                .interval(Interval(months: 14, days: 3, micros: 4_000_000)), .uuid(uuid),
                .json("{\"a\": [1, 2]}"), .array([.int(1), .null, .int(3)]),
            ],
            [
                .int(2), .null, .null, .null, .null, .null, .null, .null, .null, .null, .null, .null, .null, .null,
                .null, .null, .null, .null,
            ],
            [
                .int(3), .int(7), .bool(false), .double(1e300), .int(5), .decimal(ExactDecimal("-0.0001")!),
                .decimal(ExactDecimal("1e-3")!), .string(""), .bytes([]), .date(-1), .time(TimeOfDay(micros: 0)),
                .time(TimeOfDay(micros: 0, utcOffsetSeconds: -3600)),
                .timestamp(Timestamp(micros: 0, isUTC: false)), .timestamp(Timestamp(micros: 0, isUTC: true)),
                .interval(Interval(months: 0, days: 0, micros: 0)), .uuid(uuid), .json("null"), .array([]),
            ],
        ]
        let schema = try ParquetSchema(columns: sources.map { source throws(ParquetError) in
            try ParquetColumn(source: source)
        })
        var columns = schema.makeColumnBuffers()
        for row in rows {
            try columns.appendRow(row)
        }
        let path = TemporaryFile.path(suffix: "parquet")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try ParquetWriter(path: path, schema: schema)
        try writer.append(columns: columns)
        try writer.close()

        let read = try PythonParquetReaders.read(path)
        let uuidText = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"  // canonical text: Spark refuses Parquet's UUID type
        let expected: [String: [Any]] = [
            "id": ["1", "2", "3"], "small": ["-32768", NSNull(), "7"], "flag": ["true", NSNull(), "false"],
            "ratio": [TestTable.hex(-1.5), NSNull(), TestTable.hex(1e300)], "price": ["-12.50", NSNull(), "5.00"],
            "wide": ["12345678901234567890.1234", NSNull(), "-0.0001"], "free": ["NaN", NSNull(), "0.001"],
            "name": ["héllo", NSNull(), ""], "raw": ["00ff", NSNull(), ""], "day": ["19000", NSNull(), "-1"],
            "clock": ["01:00:00.000000", NSNull(), "00:00:00.000000"],
            "clock_tz": ["01:00:00.000000+02:00", NSNull(), "00:00:00.000000-01:00"],
            "local": ["1700000000000001", NSNull(), "0"], "at": ["-1000000", NSNull(), "0"],
            "span": ["P1Y2M3DT4S", NSNull(), "PT0S"], "uid": [uuidText, NSNull(), uuidText],
            "doc": ["{\"a\": [1, 2]}", NSNull(), "null"], "tags": [["1", NSNull(), "3"], NSNull(), [] as [Any]],
        ]
        for engine in ["pyarrow_values", "duckdb_values"] {
            let values = read[engine] as? [String: Any] ?? [:]
            for (name, column) in expected {
                #expect(jsonEqual(values[name], column), "\(engine) \(name): \(String(describing: values[name]))")
            }
        }
    }

    @Test func unwritableValuesNameTheColumn() throws {
        let schema = try ParquetSchema(columns: [
            try ParquetColumn(
                source: ColumnSchema(
                    name: "price", sourceType: "numeric(5,2)", kind: .decimal, precision: 5, scale: 2)),
            try ParquetColumn(source: ColumnSchema(name: "body", sourceType: "text", kind: .string)),
        ])
        var columns = schema.makeColumnBuffers()
        let nan = #expect(throws: ParquetError.self) { try columns[0].append(Value.decimal(ExactDecimal("NaN")!)) }
        #expect(nan?.column == "price")
        #expect(throws: ParquetError.self) { try columns[0].append(Value.decimal(ExactDecimal("1.234")!)) }
        #expect(throws: ParquetError.self) { try columns[0].append(Value.decimal(ExactDecimal("1234")!)) }
        let unchanged = #expect(throws: ParquetError.self) { try columns[1].append(Value.unchanged) }
        #expect(unchanged?.column == "body")
        #expect(throws: ParquetError.self) {
            try ParquetColumn(source: ColumnSchema(name: "m", sourceType: "int[][]", kind: .array, elementKind: .array))
        }
    }
}
