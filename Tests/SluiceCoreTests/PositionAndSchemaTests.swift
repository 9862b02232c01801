import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

@Suite("Source positions and schemas")
struct PositionAndSchemaTests {
    @Test func sortKeyIsBigEndian() {
        #expect(SourcePosition.sortKey(0x0102_0304_0506_0708) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(SourcePosition.sortKey(1, UInt64.max) == [0, 0, 0, 0, 0, 0, 0, 1] + Array(repeating: 0xFF, count: 8))
        #expect(SourcePosition.sortKey().isEmpty)
    }

    @Test func positionsOrderBySortKeyNotText() {
        func p(_ parts: UInt64..., text: String = "") -> SourcePosition {
            SourcePosition(sortKey: parts.isEmpty ? [] : parts.flatMap { SourcePosition.sortKey($0) }, text: text)
        }
        // Text order would put "0/A" after "0/10"; the sort key orders them by LSN.
        let a = p(0xA, text: "0/A")
        let b = p(0x10, text: "0/10")
        #expect(a < b)
        #expect(!(b < a))
        #expect(SourcePosition.origin < a)
        #expect(p(1, 5) < p(2, 0))
        #expect(p(2, 0) < p(2, 1))
        #expect(p(2) < p(2, 0), "a prefix sorts first")
        #expect(p(UInt64(Int64.max)) < p(UInt64(Int64.max) + 1), "unsigned, not signed")
        #expect(p(255) < p(256))
        #expect(!(a < a))

        var rng = SeededGenerator(seed: 11)
        let numbers = (0..<500).map { _ in
            UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0..<64, using: &rng)
        }
        let sorted = numbers.map { p($0, text: String($0, radix: 16)) }.sorted()
        #expect(sorted.map { $0.sortKey } == numbers.sorted().map { SourcePosition.sortKey($0) })
        #expect(sorted.max() == p(numbers.max()!))
    }

    @Test func equalityAndHashUseTheSortKey() {
        let a = SourcePosition(sortKey: [1, 2], text: "one")
        let b = SourcePosition(sortKey: [1, 2], text: "the same place, written otherwise")
        #expect(a == b)
        #expect(Set([a, b]).count == 1)
        #expect(a.description == "one")
    }

    @Test(
        "positions survive Codable",
        arguments: [
            SourcePosition.origin, SourcePosition(sortKey: [0, 0xFF, 0x10], text: "0/16B3748"),
            SourcePosition(sortKey: SourcePosition.sortKey(3, 1234), text: "binlog.000003:1234 \"gtid\" 👀"),
        ])
    func positionCodable(_ position: SourcePosition) throws {
        let data = try JSONEncoder().encode(position)
        let back = try JSONDecoder().decode(SourcePosition.self, from: data)
        #expect(back == position)
        #expect(back.text == position.text)
        #expect(back.sortKey == position.sortKey)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: String])
        #expect(object["key"] == HexBytes.encode(position.sortKey))
    }

    @Test func positionDecodingRejectsBadHex() throws {
        for hex in ["zz", "abc", "0g", " 0"] {
            let json = Data(#"{"key":"\#(hex)","text":"x"}"#.utf8)
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(SourcePosition.self, from: json) }
        }
        let upper = Data(#"{"key":"0AFf","text":"x"}"#.utf8)
        #expect(try JSONDecoder().decode(SourcePosition.self, from: upper).sortKey == [0x0A, 0xFF])
    }

    @Test func hexBytesRoundTrip() {
        let all = (0...255).map(UInt8.init)
        #expect(HexBytes.decode(HexBytes.encode(all)) == all)
        #expect(HexBytes.encode([0x00, 0xAB]) == "00ab")
        #expect(HexBytes.decode("") == [])
    }

    static let schema = TableSchema(
        table: TableID(database: "app", schema: "public", name: "orders"), version: 4,
        columns: ValueKind.allCases.map { kind in
            ColumnSchema(
                name: "c_\(kind.rawValue)", sourceType: "\(kind.rawValue)(x)", kind: kind,
                elementKind: kind == .array ? .decimal : nil, nullable: kind != .int,
                precision: kind == .decimal ? 38 : nil, scale: kind == .decimal ? 10 : nil)
        },
        primaryKey: ["c_int", "c_uuid"], position: SourcePosition(sortKey: [1, 2, 3], text: "0/10203"))

    @Test func tableSchemaCodableRoundTrip() throws {
        for schema in [Self.schema, TableSchema(table: Self.schema.table, version: 1, columns: [], primaryKey: [])] {
            let data = try JSONEncoder().encode(schema)
            let back = try JSONDecoder().decode(TableSchema.self, from: data)
            #expect(back == schema)
            #expect(back.position?.text == schema.position?.text)
            #expect(back.hasSameShape(as: schema))
        }
        let text = String(decoding: try JSONEncoder().encode(Self.schema), as: UTF8.self)
        #expect(text.contains(#""timetz""#))
        #expect(text.contains(#""timestamptz""#))
    }

    @Test func schemaShape() {
        var other = Self.schema
        other.version = 5
        other.position = nil
        #expect(other.hasSameShape(as: Self.schema))
        other.columns[0].nullable.toggle()
        #expect(!other.hasSameShape(as: Self.schema))
        #expect(Self.schema.columnIndex("c_int") == 1)
        #expect(Self.schema.columnIndex("missing") == nil)
    }

    @Test func tableIDs() {
        let a = TableID(database: "app", schema: "public", name: "a")
        let b = TableID(database: "app", schema: "public", name: "b")
        #expect(a < b)
        #expect(a.qualifiedName == "public.a")
        #expect("\(b)" == "public.b")
    }

    @Test func rowsAndKeys() {
        let before = Row(columns: ["id", "region", "v"], values: [.int(1), .string("eu"), .int(0)])
        let after = Row(columns: ["id", "v"], values: [.int(1), .unchanged])
        let event = ChangeEvent(
            op: .update, connector: "postgres", table: Fixtures.table, schemaVersion: 1, before: before, after: after,
            position: .origin, commitTimeMicros: 0)
        #expect(event.key(primaryKey: ["id", "region"]) == [.int(1), .string("eu")])
        #expect(event.key(primaryKey: []) == nil)
        #expect(event.key(primaryKey: ["nope"]) == nil)
        #expect(after["v"] == .unchanged)
        #expect(after["x"] == nil)
        #expect(after.unchangedColumns == ["v"])
    }
}
