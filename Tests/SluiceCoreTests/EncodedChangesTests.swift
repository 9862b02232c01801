import SluiceCore
import Testing

/// The sources' hot path writes events without building a `ChangeEvent`; what it writes must be byte for byte
/// what `EventCoding` writes for the same event, with the key `ChangeEvent.key` finds.
@Suite("Encoded changes")
struct EncodedChangesTests {
    static let columns = ["id", "name", "price", "note", "tags"]
    static let schema = TableSchema(
        table: Fixtures.table, version: 3,
        columns: [
            ColumnSchema(name: "id", sourceType: "bigint", kind: .int),
            ColumnSchema(name: "name", sourceType: "text", kind: .string),
            ColumnSchema(name: "price", sourceType: "numeric", kind: .decimal),
            ColumnSchema(name: "note", sourceType: "text", kind: .string),
            ColumnSchema(name: "tags", sourceType: "jsonb", kind: .json),
        ],
        primaryKey: ["name", "id"])
    static let layout = EncodedRowLayout(schema: schema, connector: "postgres")

    static func event(_ op: ChangeOperation, before: [Value]?, after: [Value]?, beforeColumns: [String] = columns,
                      transaction: Bool = true, snapshot: Bool = false) -> ChangeEvent {
        ChangeEvent(
            op: op, connector: "postgres", table: Fixtures.table, schemaVersion: 3,
            before: before.map { Row(columns: beforeColumns, values: $0) },
            after: after.map { Row(columns: columns, values: $0) },
            position: SourcePosition(sortKey: PackedSortKey(0x16B_3748, 7).bytes, text: "0/16B3748"),
            transactionID: transaction ? "771" : nil, orderInTransaction: transaction ? 7 : nil,
            commitTimeMicros: 1_700_000_000_123_456, isSnapshot: snapshot)
    }

    static let row: [Value] = [.int(42), .string("wälder ☃"), Fixtures.decimal("-12.50"), .null, .json(#"{"k":[1,2]}"#)]
    static let changed: [Value] = [.int(42), .string("wälder ☃"), Fixtures.decimal("13.00"), .unchanged, .json("[]")]

    static let cases: [ChangeEvent] = [
        event(.insert, before: nil, after: row),
        event(.read, before: nil, after: row, transaction: false, snapshot: true),
        event(.update, before: row, after: changed),
        // A key-only before image (REPLICA IDENTITY DEFAULT) and an after image that changed the key.
        event(.update, before: [.string("old"), .int(41)], after: row, beforeColumns: ["name", "id"]),
        event(.delete, before: row, after: nil),
        // The after image leaves a key column out: the key comes from the before image.
        event(.update, before: row, after: [.unchanged, .string("wälder ☃"), .null, .null, .null]),
        // No value for a key column anywhere: no key.
        event(.delete, before: [.unchanged, .string("x"), .null, .null, .null], after: nil),
        event(.truncate, before: nil, after: nil),
    ]

    @Test("appendRow writes what EventCoding writes, with ChangeEvent's key", arguments: cases)
    func rowMatchesEventCoding(_ event: ChangeEvent) throws {
        var changes = EncodedChanges()
        changes.appendRow(
            event.op, layout: Self.layout, before: event.before?.values, after: event.after?.values,
            sortKey: PackedSortKey(0x16B_3748, 7), positionText: event.position.text, transactionID: event.transactionID,
            orderInTransaction: event.orderInTransaction, commitTimeMicros: event.commitTimeMicros,
            isSnapshot: event.isSnapshot)
        try expectRecord(of: changes, equals: event)
    }

    @Test("append(_:primaryKey:) writes what EventCoding writes", arguments: cases)
    func eventMatchesEventCoding(_ event: ChangeEvent) throws {
        var changes = EncodedChanges()
        changes.append(event, primaryKey: Self.schema.primaryKey)
        try expectRecord(of: changes, equals: event)
        var copy = EncodedChanges()
        copy.append(record: 0, of: changes)
        try expectRecord(of: copy, equals: event)
    }

    @Test("values written one by one equal the Value path: text, JSON, integers, decimals, null")
    func typedWriters() throws {
        let note = Array("ünïcode ✓ and \u{0}".utf8), invalid: [UInt8] = [0x61, 0xFF, 0x62]
        var changes = EncodedChanges()
        changes.beginRow(.insert, layout: Self.layout, hasBefore: false, hasAfter: true, sortKey: PackedSortKey(1, 2),
                         positionText: "0/1", commitTimeMicros: 5)
        changes.beginImage()
        changes.writeInt(-7)
        invalid.withUnsafeBufferPointer { changes.writeText($0) }
        Array("000123".utf8).withUnsafeBufferPointer { changes.writeDecimal(negative: true, unscaledDigits: $0, scale: 2) }
        note.withUnsafeBufferPointer { changes.writeText($0) }
        Array(#"{"a":1}"#.utf8).withUnsafeBufferPointer { changes.writeText($0, json: true) }
        changes.endRow()
        changes.beginRow(.insert, layout: Self.layout, hasBefore: false, hasAfter: true, sortKey: PackedSortKey(1, 3),
                         positionText: "0/1", commitTimeMicros: 5)
        changes.beginImage()
        changes.writeInt(0)
        changes.writeNull()
        Array("0000".utf8).withUnsafeBufferPointer { changes.writeDecimal(negative: true, unscaledDigits: $0, scale: 3) }
        changes.writeValue(.unchanged)
        changes.writeNull()
        changes.endRow()
        let events = try changes.decodedEvents()
        #expect(events.map { $0.after?.values } == [
            [.int(-7), .string(String(decoding: invalid, as: UTF8.self)), Fixtures.decimal("-1.23"),
             .string(String(decoding: note, as: UTF8.self)), .json(#"{"a":1}"#)],
            [.int(0), .null, Fixtures.decimal("0.000"), .unchanged, .null],
        ])
        // Zero is never negative, as in ExactDecimal.
        #expect(events[1].after?["price"] == .decimal(ExactDecimal(negative: false, unscaledDigits: "0", scale: 3)!))
        #expect(changes.records[0].key.map { changes.bytes[$0] }.map(Array.init)
                == EventCoding.encodeKey([.string(String(decoding: invalid, as: UTF8.self)), .int(-7)]))
        #expect(changes.records[1].key.map { changes.bytes[$0] }.map(Array.init) == EventCoding.encodeKey([.null, .int(0)]),
                "null is a key value; only a value the source did not send is not")
    }

    @Test("a row abandoned half-written leaves no trace")
    func abandonedRow() throws {
        var changes = EncodedChanges()
        changes.appendRow(.insert, layout: Self.layout, before: nil, after: Self.row, sortKey: PackedSortKey(1, 1),
                          positionText: "a", commitTimeMicros: 1)
        let size = changes.byteCount
        changes.beginRow(.insert, layout: Self.layout, hasBefore: false, hasAfter: true, sortKey: PackedSortKey(1, 2),
                         positionText: "b", commitTimeMicros: 1)
        changes.beginImage()
        changes.writeInt(1)
        changes.abandonRow()
        #expect(changes.byteCount == size)
        changes.appendRow(.insert, layout: Self.layout, before: nil, after: Self.row, sortKey: PackedSortKey(1, 3),
                          positionText: "c", commitTimeMicros: 1)
        #expect(try changes.decodedEvents().map(\.position.text) == ["a", "c"])
    }

    @Test("packed sort keys order as their bytes do")
    func packedSortKeys() throws {
        let keys = [PackedSortKey(1, 2, 3), PackedSortKey(1, 2, 4), PackedSortKey(1, 3, 0), PackedSortKey(2, 0, 0),
                    PackedSortKey(.max, 0, 0)]
        for (a, b) in zip(keys, keys.dropFirst()) {
            #expect(a < b)
            #expect(a.bytes.lexicographicallyPrecedes(b.bytes))
        }
        #expect(PackedSortKey(7, 9).bytes == SourcePosition.sortKey(7, 9))
        #expect(PackedSortKey(7, 9, 11).bytes == SourcePosition.sortKey(7, 9, 11))
        #expect(PackedSortKey(SourcePosition.sortKey(7, 9, 11)) == PackedSortKey(7, 9, 11))
        #expect(PackedSortKey([1, 2, 3]) == nil)
    }

    private func expectRecord(of changes: EncodedChanges, equals event: ChangeEvent) throws {
        #expect(changes.count == 1)
        let record = try #require(changes.records.first)
        let bytes = changes.bytes
        #expect(Array(bytes[record.payload]) == EventCoding.encode(event))
        #expect(try changes.decodedEvents() == [event])
        #expect(record.key.map { Array(bytes[$0]) } == event.key(primaryKey: Self.schema.primaryKey).map(EventCoding.encodeKey))
        #expect(Array(bytes[record.sortKey]) == event.position.sortKey)
        #expect(record.positionText == event.position.text)
        #expect(record.commitTimeMicros == event.commitTimeMicros)
        #expect(changes.tables[record.table] == event.table)
        #expect(record.op == event.op)
    }
}

/// Names from a database as one path component: nothing that leaves a folder or hides a file.
@Test func pathComponentsCannotLeaveTheirFolder() {
    #expect(PathComponent.safe("public.orders") == "public.orders")
    #expect(PathComponent.safe("../../etc/passwd") == "_._.._etc_passwd")
    #expect(PathComponent.safe("..") == "_.")
    #expect(PathComponent.safe(".hidden") == "_hidden")
    #expect(PathComponent.safe("a\\b\u{0}c\nd") == "a_b_c_d")
    #expect(PathComponent.safe("") == "_")
    #expect(PathComponent.safe("ünïcode 表") == "ünïcode 表")
}
