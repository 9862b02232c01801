import Foundation
import SluiceCore
import Testing

@testable import SluicePostgres

/// Builds pgoutput and replication messages as the server writes them.
private struct MessageWriter {
    var bytes: [UInt8] = []
    mutating func byte(_ c: Character) { bytes.append(c.asciiValue!) }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes += [UInt8(v >> 8), UInt8(v & 0xFF)] }
    mutating func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
    mutating func u64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
    mutating func cString(_ s: String) { bytes += Array(s.utf8) + [0] }
    mutating func text(_ s: String) { byte("t"); u32(UInt32(s.utf8.count)); bytes += Array(s.utf8) }

    static func xlog(_ payload: [UInt8], lsn: UInt64) -> [UInt8] {
        var w = MessageWriter()
        w.byte("w"); w.u64(lsn); w.u64(lsn); w.u64(0)
        return w.bytes + payload
    }
}

@Suite("pgoutput decoder")
struct PgOutputDecoderTests {
    /// A recorded-style stream: keepalive, BEGIN, RELATION, INSERT, UPDATE (key + unchanged TOAST), DELETE,
    /// COMMIT, then a streamed block with its xids.
    private static func recording() -> [UInt8] {
        var frames: [[UInt8]] = []
        var k = MessageWriter(); k.byte("k"); k.u64(0x1_0000_0010); k.u64(5); k.u8(1)
        frames.append(k.bytes)
        var b = MessageWriter(); b.byte("B"); b.u64(0x1_0000_0100); b.u64(777); b.u32(42)
        frames.append(MessageWriter.xlog(b.bytes, lsn: 1))
        var r = MessageWriter(); r.byte("R"); r.u32(16384); r.cString("public"); r.cString("orders"); r.byte("d"); r.u16(2)
        r.u8(1); r.cString("id"); r.u32(20); r.u32(UInt32(bitPattern: -1))
        r.u8(0); r.cString("note"); r.u32(25); r.u32(UInt32(bitPattern: -1))
        frames.append(MessageWriter.xlog(r.bytes, lsn: 2))
        var i = MessageWriter(); i.byte("I"); i.u32(16384); i.byte("N"); i.u16(2); i.text("1"); i.text("héllo")
        frames.append(MessageWriter.xlog(i.bytes, lsn: 3))
        var u = MessageWriter(); u.byte("U"); u.u32(16384); u.byte("K"); u.u16(2); u.text("1"); u.byte("n")
        u.byte("N"); u.u16(2); u.text("2"); u.byte("u")
        frames.append(MessageWriter.xlog(u.bytes, lsn: 4))
        var d = MessageWriter(); d.byte("D"); d.u32(16384); d.byte("K"); d.u16(2); d.text("2"); d.byte("n")
        frames.append(MessageWriter.xlog(d.bytes, lsn: 5))
        var c = MessageWriter(); c.byte("C"); c.u8(0); c.u64(0x1_0000_0100); c.u64(0x1_0000_0130); c.u64(777)
        frames.append(MessageWriter.xlog(c.bytes, lsn: 6))
        var s = MessageWriter(); s.byte("S"); s.u32(99); s.u8(1)
        frames.append(MessageWriter.xlog(s.bytes, lsn: 7))
        var si = MessageWriter(); si.byte("I"); si.u32(99); si.u32(16384); si.byte("N"); si.u16(2); si.text("3"); si.byte("n")
        frames.append(MessageWriter.xlog(si.bytes, lsn: 8))
        var e = MessageWriter(); e.byte("E")
        frames.append(MessageWriter.xlog(e.bytes, lsn: 9))
        var sc = MessageWriter(); sc.byte("c"); sc.u32(99); sc.u8(0); sc.u64(0x200); sc.u64(0x230); sc.u64(888)
        frames.append(MessageWriter.xlog(sc.bytes, lsn: 10))
        return frames.flatMap { CopyDataFrameDecoder.frame($0) }
    }

    private static func decodeAll(_ chunks: [ArraySlice<UInt8>]) throws -> [String] {
        var frames = CopyDataFrameDecoder()
        var decoder = PgOutputDecoder()
        var out: [String] = []
        for chunk in chunks {
            for payload in try frames.feed(chunk) {
                switch try ReplicationMessage.parse(payload[...]) {
                case .keepalive(let end, _, let reply): out.append("keepalive \(end) \(reply)")
                case .xlogData(_, _, _, let body): out.append("\(try decoder.decode(body))")
                }
            }
        }
        return out
    }

    @Test("decodes every message kind")
    func decodesMessages() throws {
        let messages = try Self.decodeAll([Self.recording()[...]])
        #expect(messages.count == 11)
        #expect(messages[0] == "keepalive 1/10 true")
        #expect(messages[1].contains("begin(finalLSN: 1/100"))
        #expect(messages[3].contains("insert(relation: 16384"))
        #expect(messages[4].contains("oldKind: 75"))  // K
        #expect(messages[4].contains("unchanged"))
        #expect(messages[8].contains("insert(relation: 16384") && messages[8].contains("xid: Optional(99)"))
        #expect(messages[10].contains("streamCommit(xid: 99"))
    }

    @Test("the same messages whatever the split points")
    func splitAnywhere() throws {
        let bytes = Self.recording()
        let whole = try Self.decodeAll([bytes[...]])
        // Every single split point, then random multi-way splits.
        for split in 1..<bytes.count {
            #expect(try Self.decodeAll([bytes[..<split], bytes[split...]]) == whole)
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var chunks: [ArraySlice<UInt8>] = []
            var start = 0
            while start < bytes.count {
                let end = min(bytes.count, start + Int.random(in: 1...7, using: &generator))
                chunks.append(bytes[start..<end])
                start = end
            }
            #expect(try Self.decodeAll(chunks) == whole)
        }
        // Byte by byte.
        #expect(try Self.decodeAll(bytes.indices.map { bytes[$0...$0] }) == whole)
    }

    @Test("truncated messages are errors, not crashes")
    func truncated() throws {
        var decoder = PgOutputDecoder()
        var i = MessageWriter(); i.byte("I"); i.u32(1); i.byte("N"); i.u16(2); i.text("1")
        #expect(throws: PgOutputError.self) { try decoder.decode(i.bytes[...]) }
    }

    @Test("text values parse exactly")
    func textValues() throws {
        func parse(_ text: String, _ type: PgValueType) throws -> Value {
            try PgTextValue.parse(Array(text.utf8)[...], as: type)
        }
        #expect(try parse("-9223372036854775808", .int) == .int(.min))
        #expect(try parse("12345678901234567890.0123456789", .numeric)
                    == .decimal(ExactDecimal("12345678901234567890.0123456789")!))
        #expect(try parse("NaN", .numeric) == .decimal(ExactDecimal(special: .nan)))
        #expect(try parse("-Infinity", .float8) == .double(-.infinity))
        #expect(try parse("1970-01-02 00:00:00.5+00", .timestamptz) == .timestamp(Timestamp(micros: 86_400_500_000, isUTC: true)))
        #expect(try parse("infinity", .timestamp) == .timestamp(.infinity(isUTC: false)))
        #expect(try parse("0001-12-31 BC", .date) == .date(-719_163))  // the day before 0001-01-01
        #expect(try parse("P1Y2M-3DT4H5M-6.5S", .interval)
                    == .interval(Interval(months: 14, days: -3, micros: 4 * 3_600_000_000 + 5 * 60_000_000 - 6_500_000)))
        #expect(try parse("12:00:00-03:30", .timetz) == .time(TimeOfDay(micros: 43_200_000_000, utcOffsetSeconds: -12600)))
        #expect(try parse("\\x00ff", .bytea) == .bytes([0, 255]))
        #expect(try parse("-$1,234.56", .money) == .decimal(ExactDecimal("-1234.56")!))
        #expect(try parse(#"{{1,NULL},{"a b","c\"d"}}"#, .array(element: .text, delimiter: 44))
                    == .array([.array([.string("1"), .null]), .array([.string("a b"), .string("c\"d")])]))
        #expect(try parse(#"(1,"x y",)"#, .composite([CompositeField(name: "a", type: .int),
                                                     CompositeField(name: "b", type: .text),
                                                     CompositeField(name: "c", type: .text)]))
                    == .json(#"{"a":1,"b":"x y","c":null}"#))
    }

    @Test("streamed transactions spill to disk and replay in order")
    func spill() async throws {
        let buffer = StreamedTransactionBuffer(memoryLimit: 1000)
        for n in 0..<500 { try buffer.append(xid: 7, message: Array("message \(n)".utf8)) }
        try buffer.append(xid: 8, message: [1, 2, 3])
        #expect(buffer.spilledBytes > 0)
        #expect(buffer.bufferedMemory <= 1000)
        var replayed: [String] = []
        try await buffer.replay(7) { replayed.append(String(decoding: $0, as: UTF8.self)) }
        #expect(replayed == (0..<500).map { "message \($0)" })
        buffer.drop(8)
        #expect(buffer.isEmpty)
    }
}

/// A slot name PostgreSQL would refuse is a configuration error naming the key, not the server's syntax error.
@Test(arguments: ["bad\"slot", "Upper", "with space", "", String(repeating: "x", count: 64)])
func invalidSlotNamesAreRefusedAtConfiguration(slot: String) {
    let config = ConnectorConfig(instanceName: "pg", values: ["url": .string("postgresql://x@localhost/db"),
                                                              "slot": .string(slot)])
    #expect {
        _ = try PostgresSourceSettings(config, pipeline: "p")
    } throws: { error in
        guard let error = error as? SluiceError else { return false }
        return error.code == .invalidConfiguration && error.message.contains("slot") && error.hint?.contains("lower-case") == true
    }
    #expect((try? PostgresSourceSettings(ConnectorConfig(instanceName: "pg", values: [
        "url": .string("postgresql://x@localhost/db"), "slot": .string("ok_slot_1")]), pipeline: "p")) != nil)
}
