import Foundation
import SluiceConnectorKit
import SluiceCore
import SluiceRuntime
import SluiceTestSupport
import Testing

@testable import SluiceIceberg

@Suite struct ValueKindTests {
    static let table = TableID(database: "db", schema: "public", name: "kinds")

    static let schema = TableSchema(
        table: table, version: 1,
        columns: [
            ColumnSchema(name: "id", sourceType: "int", kind: .int, nullable: false),
            ColumnSchema(name: "flag", sourceType: "bool", kind: .bool),
            ColumnSchema(name: "ratio", sourceType: "float8", kind: .double),
            ColumnSchema(name: "small", sourceType: "numeric(5,2)", kind: .decimal, precision: 5, scale: 2),
            ColumnSchema(name: "wide", sourceType: "numeric(30,4)", kind: .decimal, precision: 30, scale: 4),
            ColumnSchema(name: "free", sourceType: "numeric", kind: .decimal),
            ColumnSchema(name: "blob", sourceType: "bytea", kind: .bytes),
            ColumnSchema(name: "day", sourceType: "date", kind: .date),
            ColumnSchema(name: "clock", sourceType: "time", kind: .time),
            ColumnSchema(name: "local", sourceType: "timestamp", kind: .timestamp),
            ColumnSchema(name: "ident", sourceType: "uuid", kind: .uuid),
            ColumnSchema(name: "doc", sourceType: "jsonb", kind: .json),
            ColumnSchema(name: "span", sourceType: "interval", kind: .interval),
            ColumnSchema(name: "tags", sourceType: "text[]", kind: .array, elementKind: .string),
            ColumnSchema(name: "scores", sourceType: "int8[]", kind: .array, elementKind: .int),
        ], primaryKey: ["id"])

    static func row(_ id: Int64) -> Row {
        let nulls = id % 3 == 0
        return Row(
            columns: schema.columns.map(\.name),
            values: [
                .int(id), nulls ? .null : .bool(id % 2 == 0), nulls ? .null : .double(id == 4 ? .nan : Double(id) / 4),
                .decimal(ExactDecimal("\(id).5")!), .decimal(ExactDecimal("12345678901234567890123456.\(id)")!),
                .decimal(ExactDecimal("-0.000000000000000000000000000000000000000001")!),
                .bytes([0, 255, UInt8(id)]), .date(Int32(19_000 + id)), .time(TimeOfDay(micros: 3_600_000_000 + id)),
                .timestamp(Timestamp(micros: 1_700_000_000_000_000 + id, isUTC: false)),
                .uuid(UUID(uuidString: "12345678-1234-5678-9abc-00000000000\(id % 10)")!),
                .json(#"{"a": [1, 2]}"#), .interval(Interval(months: 1, days: 2, micros: 3_000_000)),
                nulls ? .null : .array([.string("x\(id)"), .null, .string("y")]),
                .array(id == 1 ? [] : [.int(id), .int(-id)]),
            ])
    }

    @Test func everyValueKindReadsBackInPyiceberg() async throws {
        let warehouse = try temporaryFolder("kinds")
        let events = (1...6).map { id in
            ChangeEvent(
                op: .insert, connector: "test", table: Self.table, schemaVersion: 1, before: nil,
                after: Self.row(Int64(id)),
                position: SourcePosition(sortKey: SourcePosition.sortKey(UInt64(id)), text: "\(id)"),
                commitTimeMicros: 1_700_000_000_000_000)
        }
        let batch = SinkBatch(
            stream: "p.public.kinds", table: Self.table,
            records: events.enumerated().map {
                SinkRecord(offset: Int64($0.offset), event: $0.element, appendedAtMicros: 0)
            },
            schemas: [1: Self.schema])
        let sink = try makeSink(warehouse, ["mode": .string("upsert")])
        try await feed(sink, [batch])
        let columns = Self.schema.columns.map(\.name)
        let metadata = try currentMetadataPath(warehouse, table: "kinds")
        let scan = try Python.jsonObject(.icebergScan, ["static", metadata, columns.joined(separator: ",")])
        let fields = try #require(scan["fields"] as? [[Any]])
        #expect(
            fields.map { $0[2] as? String } == [
                "long", "boolean", "double", "decimal(5, 2)", "decimal(30, 4)", "string", "binary", "date", "string",
                "timestamp", "uuid", "string", "string", "list<string>", "list<long>",
            ])
        let rows = try #require(scan["rows"] as? [String]).sorted()
        #expect(rows.count == 6)
        let second = rows[1].split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        #expect(second[0] == "2")
        #expect(second[1] == "true")
        #expect(second[2] == "0.5")
        #expect(second[3] == "2.50")
        #expect(second[4] == "12345678901234567890123456.2000")
        #expect(second[5] == "-0.000000000000000000000000000000000000000001")
        #expect(second[6] == "00ff02")
        #expect(second[7] == "2022-01-10")
        #expect(second[8] == "01:00:00.000002")  // times are text: 24:00:00 and MySQL durations fit no time type
        #expect(second[10] == "12345678-1234-5678-9abc-000000000002")
        #expect(second[11] == #"{"a": [1, 2]}"#)
        #expect(second[13] == "['x2', None, 'y']")
        #expect(second[14] == "[2, -2]")
        let third = rows[2].split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        #expect(third[1] == "null" && third[13] == "null")
        #expect(rows[3].split(separator: "|")[2] == "nan")
    }
}
