import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

@Suite("Binary log encoding")
struct EventCodingTests {
    @Test("every value kind round-trips through encodeValue/decodeValue", arguments: Fixtures.values)
    func valueRoundTrip(_ value: Value) throws {
        let bytes = EventCoding.encodeValue(value)
        let decoded = try EventCoding.decodeValue(bytes)
        #expect(decoded == value)
        #expect(EventCoding.encodeValue(decoded) == bytes, "re-encoding gives the same bytes")
    }

    @Test(
        "doubles keep their exact bits",
        arguments: [
            0x0000_0000_0000_0000, 0x8000_0000_0000_0000, 0x7FF8_0000_0000_0000, 0xFFF8_0000_0000_0000,
            0x7FF4_0000_0000_1234, 0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000, 0x0000_0000_0000_0001,
            0x000F_FFFF_FFFF_FFFF, 0x7FEF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF,
        ] as [UInt64])
    func doubleBits(_ bits: UInt64) throws {
        let decoded = try EventCoding.decodeValue(EventCoding.encodeValue(.double(Double(bitPattern: bits))))
        guard case .double(let d) = decoded else {
            Issue.record("decoded \(decoded), not a double")
            return
        }
        #expect(d.bitPattern == bits)
    }

    @Test func negativeZeroDoubleIsNotZero() throws {
        let decoded = try EventCoding.decodeValue(EventCoding.encodeValue(.double(-0.0)))
        #expect(decoded == .double(-0.0))
        #expect(decoded != .double(0.0))
        if case .double(let d) = decoded { #expect(d.sign == .minus) }
    }

    @Test func emptyStringIsNotNull() throws {
        let empty = try EventCoding.decodeValue(EventCoding.encodeValue(.string("")))
        let null = try EventCoding.decodeValue(EventCoding.encodeValue(.null))
        #expect(empty == .string(""))
        #expect(null == .null)
        #expect(empty != null)
        #expect(EventCoding.encodeValue(.string("")) != EventCoding.encodeValue(.null))
        #expect(EventCoding.encodeValue(.bytes([])) != EventCoding.encodeValue(.null))
    }

    @Test func unchangedIsNeitherNullNorDropped() throws {
        let row = Row(columns: ["a", "b", "c"], values: [.null, .unchanged, .string("")])
        let event = ChangeEvent(
            op: .update, connector: "postgres", table: Fixtures.table, schemaVersion: 1, before: nil, after: row,
            position: Fixtures.position, commitTimeMicros: 0)
        let decoded = try EventCoding.decode(EventCoding.encode(event))
        #expect(decoded.after?.values == [.null, .unchanged, .string("")])
        #expect(decoded.after?.unchangedColumns == ["b"])
    }

    @Test func negativeZeroDecimalNormalises() throws {
        let negativeZero = try #require(ExactDecimal("-0.000"))
        #expect(!negativeZero.isNegative)
        #expect(negativeZero.description == "0.000")
        let decoded = try EventCoding.decodeValue(EventCoding.encodeValue(.decimal(negativeZero)))
        #expect(decoded == Fixtures.decimal("0.000"))
        #expect(ExactDecimal(negative: true, unscaledDigits: "000", scale: 0) == ExactDecimal("0"))
    }

    @Test func decimalsKeepEveryDigitAndScale() throws {
        for text in [
            "12345678901234567890123456789012345678", "123456789012345678901234567890123456789.000000001",
            "-" + Fixtures.hundredDigits + "." + Fixtures.hundredDigits, "0.005", "-0.005",
            "0." + String(repeating: "0", count: 200) + "1",
        ] {
            let d = try #require(ExactDecimal(text))
            let decoded = try EventCoding.decodeValue(EventCoding.encodeValue(.decimal(d)))
            guard case .decimal(let back) = decoded else {
                Issue.record("decoded \(decoded), not a decimal")
                continue
            }
            #expect(back.description == text)
            #expect(back.scale == d.scale)
            #expect(back.isNegative == text.hasPrefix("-"))
        }
    }

    @Test("1 MiB strings and bytes round-trip", arguments: [1 << 20, (1 << 20) + 1])
    func largeValues(_ size: Int) throws {
        var rng = SeededGenerator(seed: UInt64(size))
        let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let ascii = String(repeating: "x", count: size)
        // Four-byte scalars so that the string is 1 MiB of UTF-8 but a quarter of that in characters.
        let wide = String(repeating: "😀", count: size / 4)
        for value in [Value.bytes(bytes), .string(ascii), .string(wide), .json("\"" + ascii + "\"")] {
            let encoded = EventCoding.encodeValue(value)
            #expect(encoded.count > size)
            #expect(encoded.count < size + 16)
            #expect(try EventCoding.decodeValue(encoded) == value)
        }
        let event = ChangeEvent(
            op: .insert, connector: "postgres", table: Fixtures.table, schemaVersion: 1, before: nil,
            after: Row(columns: ["b", "s", "w"], values: [.bytes(bytes), .string(ascii), .string(wide)]),
            position: Fixtures.position, commitTimeMicros: 1)
        #expect(try EventCoding.decode(EventCoding.encode(event)) == event)
    }

    @Test("events round-trip with every operation and optional field", arguments: Fixtures.events.indices)
    func eventRoundTrip(_ index: Int) throws {
        let event = Fixtures.events[index]
        let bytes = EventCoding.encode(event)
        #expect(bytes.first == EventCoding.formatVersion)
        let decoded = try EventCoding.decode(bytes)
        #expect(decoded == event)
        // Hashable equality of positions ignores the text: check the fields one by one too.
        #expect(decoded.position.text == event.position.text)
        #expect(decoded.position.sortKey == event.position.sortKey)
        #expect(decoded.transactionID == event.transactionID)
        #expect(decoded.orderInTransaction == event.orderInTransaction)
        #expect(decoded.isSnapshot == event.isSnapshot)
        #expect(decoded.before?.columns == event.before?.columns)
        #expect(decoded.after?.columns == event.after?.columns)
        #expect(EventCoding.encode(decoded) == bytes)
    }

    @Test func everyOperationRoundTrips() throws {
        for op in ChangeOperation.allCases {
            var event = Fixtures.events[2]
            event.op = op
            #expect(try EventCoding.decode(EventCoding.encode(event)).op == op)
        }
    }

    @Test func keysRoundTrip() throws {
        #expect(try EventCoding.decodeKey(EventCoding.encodeKey([])) == [])
        #expect(try EventCoding.decodeKey(EventCoding.encodeKey(Fixtures.values)) == Fixtures.values)
        for value in Fixtures.values {
            let key = [value, .int(1)]
            #expect(try EventCoding.decodeKey(EventCoding.encodeKey(key)) == key)
        }
    }

    @Test func equalKeysGiveEqualBytesAndDifferentKeysDifferentBytes() {
        let a = EventCoding.encodeKey([.int(1), .string("x")])
        let b = EventCoding.encodeKey([.int(1), .string("x")])
        #expect(a == b)
        let distinct: [[Value]] = [
            [.int(1)], [.int(1), .null], [.string("1")], [.decimal(ExactDecimal("1")!)], [.double(1)], [.null],
            [.string("")], [.bytes([])], [.array([])], [.array([.null])], [.json("1")], [.date(1)],
            [.timestamp(Timestamp(micros: 1, isUTC: true))], [.timestamp(Timestamp(micros: 1, isUTC: false))],
            [.time(TimeOfDay(micros: 1))], [.time(TimeOfDay(micros: 1, utcOffsetSeconds: 0))],
        ]
        #expect(Set(distinct.map(EventCoding.encodeKey)).count == distinct.count)
    }

    // MARK: - Damaged input

    @Test("an event truncated at every prefix length throws", arguments: Fixtures.events.indices)
    func truncatedEvent(_ index: Int) {
        let bytes = EventCoding.encode(Fixtures.events[index])
        for length in 0..<bytes.count {
            #expect(throws: DecodingFailure.self, "prefix of \(length) of \(bytes.count) bytes") {
                try EventCoding.decode(Array(bytes[..<length]))
            }
        }
    }

    @Test func truncatedValuesAndKeysThrow() {
        for value in Fixtures.values {
            let bytes = EventCoding.encodeValue(value)
            for length in 0..<bytes.count {
                #expect(throws: DecodingFailure.self, "\(value) cut to \(length) bytes") {
                    try EventCoding.decodeValue(Array(bytes[..<length]))
                }
            }
        }
        let key = EventCoding.encodeKey(Fixtures.values)
        for length in 0..<key.count {
            #expect(throws: DecodingFailure.self) { try EventCoding.decodeKey(Array(key[..<length])) }
        }
    }

    @Test func trailingBytesThrow() {
        let event = EventCoding.encode(Fixtures.events[0])
        #expect(throws: DecodingFailure.self) { try EventCoding.decode(event + [0]) }
        #expect(throws: DecodingFailure.self) { try EventCoding.decodeValue(EventCoding.encodeValue(.int(5)) + [0]) }
        #expect(throws: DecodingFailure.self) { try EventCoding.decodeKey(EventCoding.encodeKey([.int(5)]) + [0]) }
    }

    @Test("unknown format versions are rejected", arguments: [0, 2, 3, 0x7F, 0x80, 0xFF] as [UInt8])
    func unknownVersion(_ version: UInt8) {
        var bytes = EventCoding.encode(Fixtures.events[2])
        bytes[0] = version
        #expect {
            try EventCoding.decode(bytes)
        } throws: { error in
            "\(error)".contains("version \(version)")
        }
    }

    @Test func corruptHeaderFieldsThrow() {
        let valid = EventCoding.encode(Fixtures.events[2])
        // Unknown operation byte.
        var badOp = valid
        badOp[1] = UInt8(ascii: "x")
        #expect(throws: DecodingFailure.self) { try EventCoding.decode(badOp) }
        // A schema version varint above Int.max must not trap (it reads back as the Int with those bits).
        var w = BinaryWriter()
        w.writeVarUInt(UInt64.max)
        let hugeVersion = Array(valid[..<3]) + w.bytes + Array(valid[4...])
        #expect((try? EventCoding.decode(hugeVersion))?.schemaVersion == -1)
    }

    @Test func negativeSchemaVersionAndOrderRoundTrip() throws {
        var event = Fixtures.events[0]
        event.schemaVersion = -1
        event.orderInTransaction = Int.min
        #expect(try EventCoding.decode(EventCoding.encode(event)) == event)
        event.schemaVersion = Int.max
        event.orderInTransaction = Int.max
        let decoded = try EventCoding.decode(EventCoding.encode(event))
        #expect(decoded.schemaVersion == Int.max)
        #expect(decoded.orderInTransaction == Int.max)
    }

    @Test func corruptValuesThrow() {
        func encoded(_ write: (inout BinaryWriter) -> Void) -> [UInt8] {
            var w = BinaryWriter()
            write(&w)
            return w.bytes
        }
        let deepArrays: [UInt8] = Array(repeating: [18, 1], count: 200_000).flatMap { $0 } + [0]
        let cases: [(String, [UInt8])] = [
            ("unknown tag", [0xEE]),
            ("unknown decimal special", [7, 9]),
            (
                "date beyond Int32",
                encoded {
                    $0.writeByte(10)
                    $0.writeVarInt(Int64(Int32.max) + 1)
                }
            ),
            (
                "timetz offset beyond Int32",
                encoded {
                    $0.writeByte(12)
                    $0.writeVarInt(0)
                    $0.writeVarInt(.min)
                }
            ),
            (
                "interval months beyond Int32",
                encoded {
                    $0.writeByte(15)
                    $0.writeVarInt(1 << 40)
                    $0.writeVarInt(0)
                    $0.writeVarInt(0)
                }
            ),
            (
                "decimal digits not digits",
                encoded {
                    $0.writeByte(6)
                    $0.writeVarInt(0)
                    $0.writeString("12a")
                }
            ),
            (
                "decimal with no digits",
                encoded {
                    $0.writeByte(6)
                    $0.writeVarInt(0)
                    $0.writeString("")
                }
            ),
            (
                "decimal with an absurd scale",
                encoded {
                    $0.writeByte(6)
                    $0.writeVarInt(.max)
                    $0.writeString("1")
                }
            ),
            (
                "negative decimal, absurd scale",
                encoded {
                    $0.writeByte(6)
                    $0.writeVarInt(.min)
                    $0.writeString("1")
                }
            ),
            ("string length past the end", [8, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x41]),
            ("bytes length of 2^64-1", [9, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            ("array count past the end", [18, 0xFF, 0xFF, 0x03, 0]),
            ("varint longer than ten bytes", [4] + Array(repeating: 0xFF, count: 11) + [0]),
            ("varint with bits beyond 64", [4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
            ("arrays nested beyond any source's depth", deepArrays),
        ]
        for (name, bytes) in cases {
            #expect(throws: DecodingFailure.self, "\(name)") { try EventCoding.decodeValue(bytes) }
        }
    }

    @Test func modestNestingStillDecodes() throws {
        var value = Value.int(1)
        for _ in 0..<16 { value = .array([value, .null]) }
        #expect(try EventCoding.decodeValue(EventCoding.encodeValue(value)) == value)
    }

    @Test func corruptedBytesThrowOrDecodeButNeverCrash() throws {
        var rng = SeededGenerator(seed: 2024)
        let originals = Fixtures.events.map(EventCoding.encode)
        var rejected = 0
        for round in 0..<4_000 {
            var bytes = originals[round % originals.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                default: bytes[i] = [0x00, 0x7F, 0x80, 0xFF][Int.random(in: 0..<4, using: &rng)]
                }
            }
            do {
                let event = try EventCoding.decode(bytes)
                // Whatever decodes must also render and re-encode without trapping.
                _ = JSONRendering.render(event, stream: "s", offset: 0, appendedAtMicros: 0)
                _ = EventCoding.encode(event)
            } catch is DecodingFailure {
                rejected += 1
            }
        }
        #expect(rejected > 0)
        for _ in 0..<2_000 {
            let garbage = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? EventCoding.decode([EventCoding.formatVersion] + garbage)
            if let value = try? EventCoding.decodeValue(garbage) { _ = JSONRendering.render(value) }
            _ = try? EventCoding.decodeKey(garbage)
        }
    }
}

/// -infinity is -Int32.max days and -Int64.max µs, as DuckDB has them; logs written before stored Int32.min and
/// Int64.min, which decode as -infinity too.
@Test func negativeInfinityIsSymmetricAndOldEncodingsDecodeToIt() throws {
    #expect(Value.dateNegativeInfinity == -Value.dateInfinity)
    #expect(Timestamp.negativeInfinity(isUTC: true).micros == -Timestamp.infinity(isUTC: true).micros)
    // Today's encoder writes what it is given: Int32.min / Int64.min are the old encodings of -infinity.
    let oldDate = EventCoding.encodeValue(.date(Int32.min))
    #expect(try EventCoding.decodeValue(oldDate) == .date(Value.dateNegativeInfinity))
    let oldTimestamp = EventCoding.encodeValue(.timestamp(Timestamp(micros: .min, isUTC: true)))
    #expect(try EventCoding.decodeValue(oldTimestamp) == .timestamp(.negativeInfinity(isUTC: true)))
    #expect(TemporalText.date(Value.dateNegativeInfinity) == "-infinity")
    #expect(TemporalText.timestamp(.negativeInfinity(isUTC: false)) == "-infinity")
}
