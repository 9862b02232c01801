import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

@Suite("JSON rendering")
struct JSONRenderingTests {
    /// Parses JSON text (a fragment allowed) with Foundation, failing the test when it is not valid JSON.
    static func parse(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    static let renderCases0: [(Value, String)] = [
        (Value.null, "null"), (.unchanged, "null"), (.bool(true), "true"), (.bool(false), "false"),
        (.int(0), "0"), (.int(-42), "-42"), (.int(Int64.max), "9223372036854775807"),
        (.int(Int64.min), "-9223372036854775808"),
        (.double(1.5), "1.5"), (.double(-0.0), "-0.0"), (.double(100), "100.0"), (.double(0.1), "0.1"),
        (.double(1e16), "1e+16"), (.double(.leastNonzeroMagnitude), "5e-324"),
        (.double(.greatestFiniteMagnitude), "1.7976931348623157e+308"),
    ]

    static let renderCases1: [(Value, String)] = [
        (.double(.nan), #""NaN""#), (.double(-.nan), #""NaN""#), (.double(.infinity), #""Infinity""#),
        (.double(-.infinity), #""-Infinity""#),
        (Fixtures.decimal("12345678901234567890.0123456789"), #""12345678901234567890.0123456789""#),
        (Fixtures.decimal("-0.005"), #""-0.005""#), (Fixtures.decimal("-0"), #""0""#),
        (Fixtures.decimal("12.50"), #""12.50""#),
        (Fixtures.decimal("NaN"), #""NaN""#), (Fixtures.decimal("Infinity"), #""Infinity""#),
        (Fixtures.decimal("-Infinity"), #""-Infinity""#),
    ]

    static let renderCases2: [(Value, String)] = [
        (.string(""), #""""#), (.string("plain"), #""plain""#), (.string("👩‍👩‍👧‍👦 e\u{301}"), "\"👩‍👩‍👧‍👦 e\u{301}\""),
        (.bytes([]), #""""#), (.bytes([0, 1, 2, 0xFF]), #""AAEC/w==""#), (.bytes(Array("hello".utf8)), #""aGVsbG8=""#),
        (.date(0), #""1970-01-01""#), (.date(-1), #""1969-12-31""#), (.date(Value.dateInfinity), #""infinity""#),
        (.date(Value.dateNegativeInfinity), #""-infinity""#),
        (.time(TimeOfDay(micros: 45_296_000_001)), #""12:34:56.000001""#),
        (.time(TimeOfDay(micros: -(838 * 3600 + 59 * 60 + 59) * 1_000_000)), #""-838:59:59.000000""#),
    ]

    static let renderCases3: [(Value, String)] = [
        (.time(TimeOfDay(micros: 45_296_000_001, utcOffsetSeconds: 19_800)), #""12:34:56.000001+05:30""#),
        (.timestamp(Timestamp(micros: 1_700_000_000_123_456, isUTC: true)), #""2023-11-14T22:13:20.123456Z""#),
        (.timestamp(Timestamp(micros: 1_700_000_000_123_456, isUTC: false)), #""2023-11-14T22:13:20.123456""#),
        (.timestamp(Timestamp(micros: -1_500_000, isUTC: true)), #""1969-12-31T23:59:58.500000Z""#),
        (.timestamp(.infinity(isUTC: true)), #""infinity""#),
        (.timestamp(.negativeInfinity(isUTC: false)), #""-infinity""#),
        (.interval(Interval(months: 14, days: -3, micros: 3_723_000_007)), #""P1Y2M-3DT1H2M3.000007S""#),
    ]

    static let renderCases4: [(Value, String)] = [
        (.uuid(Fixtures.uuid), #""f81d4fae-7dec-11d0-a765-00a0c91e6bf6""#),
        (.json("null"), "null"), (.json("  null \n"), "null"), (.json(""), "null"), (.json("{}"), "{}"),
        (.json("\"s\""), #""s""#), (.json("[1, 2.50 ,true]"), "[1,2.50,true]"),
        (
            .json("{ \"a\" : [1, 2,\n  3],\r\n\t\"b\": \"x  y\\\" z\", \"c\": {\"d\": null}, \"e\": \"tab\\there\" }"),
            #"{"a":[1,2,3],"b":"x  y\" z","c":{"d":null},"e":"tab\there"}"#
        ),
        (.json(#"{"k": "a\\" , "m" : " \\\" "}"#), #"{"k":"a\\","m":" \\\" "}"#),
    ]

    static let renderCases5: [(Value, String)] = [
        (.array([]), "[]"), (.array([.null]), "[null]"),
        (.array([.array([.int(1), .null]), .array([]), .array([.null])]), "[[1,null],[],[null]]"),
        (
            .array([Fixtures.decimal("1.10"), .double(.nan), .json("{\"a\": 1}"), .string("x")]),
            #"["1.10","NaN",{"a":1},"x"]"#
        ),
    ]

    static let renderCases = renderCases0 + renderCases1 + renderCases2 + renderCases3 + renderCases4 + renderCases5

    @Test("each value kind renders exactly", arguments: renderCases)
    func valueText(_ value: Value, _ text: String) throws {
        #expect(JSONRendering.render(value) == text)
        _ = try Self.parse(text)
    }

    @Test func stringEscaping() throws {
        let s = "a\"b\\c/\n\r\t\u{0}\u{1}\u{8}\u{C}\u{1F}\u{7F}é\u{2028}"
        let rendered = JSONRendering.render(.string(s))
        #expect(rendered == #""a\"b\\c/\n\r\t\u0000\u0001\u0008\u000c\u001f"# + "\u{7F}é\u{2028}\"")
        #expect(try Self.parse(rendered) as? String == s)
    }

    @Test func everyControlCharacterIsEscapedAndParsesBack() throws {
        for scalar in 0..<0x20 {
            let s = "<" + String(UnicodeScalar(UInt8(scalar))) + ">"
            let rendered = JSONRendering.render(.string(s))
            #expect(!rendered.utf8.contains { $0 < 0x20 }, "raw control character \(scalar) in \(rendered)")
            #expect(try Self.parse(rendered) as? String == s)
        }
    }

    @Test func randomStringsParseBackUnchanged() throws {
        var rng = SeededGenerator(seed: 7)
        let pool: [UInt32] = [
            0, 1, 9, 10, 13, 0x1F, 0x20, 0x22, 0x2F, 0x5C, 0x41, 0x7F, 0xE9, 0x301, 0x2028, 0xFFFD, 0x1F600,
        ]
        for _ in 0..<500 {
            var s = ""
            for _ in 0..<Int.random(in: 0..<20, using: &rng) {
                s.unicodeScalars.append(UnicodeScalar(pool.randomElement(using: &rng)!)!)
            }
            #expect(try Self.parse(JSONRendering.render(.string(s))) as? String == s)
        }
    }

    @Test func bytesAreStandardBase64() throws {
        var rng = SeededGenerator(seed: 3)
        for length in 0..<40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let text = try #require(try Self.parse(JSONRendering.render(.bytes(bytes))) as? String)
            #expect(Data(base64Encoded: text) == Data(bytes))
        }
    }

    @Test func uuidIsLowercaseCanonical() {
        let text = JSONRendering.render(.uuid(UUID()))
        #expect(text.count == 38)
        #expect(text == text.lowercased())
        #expect(text.wholeMatch(of: /"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"/) != nil)
    }

    @Test func updateEventRendersExactly() throws {
        let event = ChangeEvent(
            op: .update, connector: "postgres", table: Fixtures.table, schemaVersion: 3,
            before: Row(columns: ["id", "note"], values: [.int(1), .string("old")]),
            after: Row(columns: ["id", "note", "blob"], values: [.int(1), .string("new"), .unchanged]),
            position: SourcePosition(sortKey: SourcePosition.sortKey(0x16B_3748), text: "0/16B3748"),
            transactionID: "731", orderInTransaction: 2, commitTimeMicros: 1_700_000_000_123_456)
        let text = JSONRendering.render(
            event, stream: "p.public.orders", offset: 42, appendedAtMicros: 1_700_000_000_999_999)
        #expect(
            text == #"""
                {"stream":"p.public.orders","offset":42,"op":"u","before":{"id":1,"note":"old"},\#
                "after":{"id":1,"note":"new"},"unchanged":["blob"],"source":{"connector":"postgres","db":"app",\#
                "schema":"public","table":"orders","position":"0/16B3748","txId":"731","txOrder":2,"snapshot":false,\#
                "ts_ms":1700000000123,"schemaVersion":3},"ts_ms":1700000000999}
                """#)
        let object = try #require(try Self.parse(text) as? [String: Any])
        #expect(object["unchanged"] as? [String] == ["blob"])
        let after = try #require(object["after"] as? [String: Any])
        #expect(after["blob"] == nil)
        #expect(after.count == 2)
    }

    @Test func insertDeleteAndSnapshotEvents() throws {
        let insert = ChangeEvent(
            op: .insert, connector: "mysql", table: TableID(database: "", schema: "shop", name: "t"), schemaVersion: 1,
            before: nil, after: Row(columns: ["id", "j"], values: [.int(1), .json("null")]),
            position: SourcePosition(sortKey: [1], text: "binlog.000003:1234"), commitTimeMicros: -1, isSnapshot: true)
        let text = JSONRendering.render(insert, stream: "p.shop.t", offset: 0, appendedAtMicros: -1_001)
        #expect(
            text == #"""
                {"stream":"p.shop.t","offset":0,"op":"c","before":null,"after":{"id":1,"j":null},"source":\#
                {"connector":"mysql","db":"","schema":"shop","table":"t","position":"binlog.000003:1234","txId":null,\#
                "snapshot":true,"ts_ms":-1,"schemaVersion":1},"ts_ms":-2}
                """#)
        let object = try #require(try Self.parse(text) as? [String: Any])
        #expect(object["before"] is NSNull)
        #expect(object["unchanged"] == nil)

        let delete = ChangeEvent(
            op: .delete, connector: "postgres", table: Fixtures.table, schemaVersion: 1,
            before: Row(columns: ["id", "big"], values: [.int(1), .unchanged]), after: nil, position: .origin,
            commitTimeMicros: 0)
        let deleteText = JSONRendering.render(delete, stream: "s", offset: 9, appendedAtMicros: 0)
        #expect(deleteText.contains(#""before":{"id":1},"after":null,"unchanged":["big"],"#))
        _ = try Self.parse(deleteText)
    }

    @Test func unchangedColumnIsNamedOnceAcrossBothImages() throws {
        let event = ChangeEvent(
            op: .update, connector: "postgres", table: Fixtures.table, schemaVersion: 1,
            before: Row(columns: ["id", "doc"], values: [.int(1), .unchanged]),
            after: Row(columns: ["id", "doc", "pic"], values: [.int(1), .unchanged, .unchanged]),
            position: .origin, commitTimeMicros: 0)
        let object = try #require(
            try Self.parse(JSONRendering.render(event, stream: "s", offset: 1, appendedAtMicros: 0)) as? [String: Any])
        #expect(object["unchanged"] as? [String] == ["doc", "pic"])
    }

    @Test func everyKindRendersAsOneLineOfValidJSON() throws {
        for event in Fixtures.events {
            let text = JSONRendering.render(
                event, stream: "pipe.\"odd\"\nname", offset: Int64.max, appendedAtMicros: Int64.min)
            #expect(!text.contains("\n"))
            let object = try #require(try Self.parse(text) as? [String: Any])
            #expect(object["op"] as? String == event.op.rawValue)
            #expect(object["stream"] as? String == "pipe.\"odd\"\nname")
            let source = try #require(object["source"] as? [String: Any])
            #expect(source["table"] as? String == event.table.name)
            #expect(source["snapshot"] as? Bool == event.isSnapshot)
        }
    }

    @Test func everyKindRoundTripsThroughFoundation() throws {
        let row = Fixtures.everyKindRow
        let event = ChangeEvent(
            op: .insert, connector: "postgres", table: Fixtures.table, schemaVersion: 1, before: nil, after: row,
            position: Fixtures.position, commitTimeMicros: 0)
        let object = try #require(
            try Self.parse(JSONRendering.render(event, stream: "s", offset: 0, appendedAtMicros: 0)) as? [String: Any])
        let after = try #require(object["after"] as? [String: Any])
        let unchanged = try #require(object["unchanged"] as? [String])
        for (name, value) in zip(row.columns, row.values) {
            switch value {
            case .unchanged:
                #expect(after[name] == nil)
                #expect(unchanged.contains(name))
            case .null, .json("null"), .json(""):
                #expect(after[name] is NSNull)
            case .string(let s):
                #expect(after[name] as? String == s)
            case .decimal(let d):
                #expect(after[name] as? String == d.description)
            case .int(let i):
                #expect((after[name] as? NSNumber)?.int64Value == i)
            case .double(let d) where d.isFinite:
                #expect((after[name] as? NSNumber)?.doubleValue == d)
            case .double(let d):
                #expect(after[name] as? String == (d.isNaN ? "NaN" : d < 0 ? "-Infinity" : "Infinity"))
            case .bytes(let b):
                #expect((after[name] as? String).flatMap { Data(base64Encoded: $0) } == Data(b))
            default:
                #expect(after[name] != nil, "\(name) = \(value)")
            }
        }
    }

    @Test func largeStringRendersWhole() throws {
        let big = String(repeating: "ab\"\n", count: 1 << 18)
        let text = JSONRendering.render(.string(big))
        #expect(text.utf8.count == (1 << 18) * 6 + 2)
        #expect(try Self.parse(text) as? String == big)
    }
}
