import Foundation
import SluiceCore
import Testing
@testable import SluiceMySQL

/// MySQL GTID sets: text form, merging, the binary form of COM_BINLOG_DUMP_GTID / PREVIOUS_GTIDS.
struct GTIDSetTests {
    static let a = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
    static let b = "55778904-0299-11f1-b1b8-4ef0c4956feb"

    @Test func parsesAndRendersCanonically() throws {
        let a = Self.a, b = Self.b
        #expect(try MySQLGTIDSet("").description == "")
        #expect(try MySQLGTIDSet("").isEmpty)
        #expect(try MySQLGTIDSet("\(a):1-5").description == "\(a):1-5")
        // Sorted by uuid, lower case, whitespace and newlines (as gtid_executed wraps) tolerated.
        #expect(try MySQLGTIDSet(" \(b):3 ,\n\(a.uppercased()):7-9:1-5 ").description == "\(a):1-5:7-9,\(b):3")
        // Repeated uuids, unsorted and overlapping or adjacent intervals merge.
        #expect(try MySQLGTIDSet("\(a):7-9,\(a):1-6:8-12").description == "\(a):1-12")
        #expect(try MySQLGTIDSet("\(a):4-5:1-3:10").description == "\(a):1-5:10")
        // Without dashes.
        #expect(try MySQLGTIDSet(a.replacingOccurrences(of: "-", with: "") + ":1").description == "\(a):1")
        #expect(try MySQLGTIDSet("\(a):9223372036854775807").description == "\(a):9223372036854775807")
    }

    @Test func tagsFollowTheUntaggedIntervals() throws {
        let b = Self.b
        // One entry per tag (as PREVIOUS_GTIDS used to be rendered) and the grouped form are the same set.
        let set = try MySQLGTIDSet("\(b):Tag_2:4,\(b):1-13,\(b):mytag:1-2")
        #expect(set.description == "\(b):1-13:mytag:1-2:tag_2:4")
        #expect(try MySQLGTIDSet(set.description) == set)
        #expect(try MySQLGTIDSet("\(b):mytag:5").description == "\(b):mytag:5")
    }

    @Test func insertMergesAdjacentIntervals() throws {
        let a = Self.a, b = Self.b
        var set = MySQLGTIDSet()
        for gtid in [1, 3, 10] { try set.insert("\(a):\(gtid)") }
        #expect(set.description == "\(a):1:3:10")
        try set.insert("\(a):2")
        #expect(set.description == "\(a):1-3:10")
        try set.insert("\(a):2")
        #expect(set.description == "\(a):1-3:10")
        try set.insert("\(a):5")
        try set.insert("\(a):4")
        #expect(set.description == "\(a):1-5:10")
        try set.insert("\(a):11")
        try set.insert("\(b):mytag:7")
        try set.insert("\(b):1")
        #expect(set.description == "\(a):1-5:10-11,\(b):1:mytag:7")
        set.formUnion(try MySQLGTIDSet("\(a):2-9"))
        #expect(set.description == "\(a):1-11,\(b):1:mytag:7")
        #expect(throws: SluiceError.self) { try set.insert("\(a):1-2") }
        #expect(throws: SluiceError.self) { try set.insert("\(a):1,\(b):2") }
    }

    @Test("malformed text names what is wrong", arguments: [
        ("nonsense", "'nonsense' is not a server uuid"),
        ("3e11fa47:1", "'3e11fa47' is not a server uuid"),
        ("\(GTIDSetTests.a)", "has no interval"),
        ("\(GTIDSetTests.a):", "'' is neither an interval nor a tag"),
        ("\(GTIDSetTests.a):0", "'0' is not an interval"),
        ("\(GTIDSetTests.a):5-3", "'5-3' is not an interval"),
        ("\(GTIDSetTests.a):1-2-3", "'1-2-3' is not an interval"),
        ("\(GTIDSetTests.a):1-", "'1-' is not an interval"),
        ("\(GTIDSetTests.a):9223372036854775808", "is not an interval"),
        ("\(GTIDSetTests.a):1 2", "'1 2' is not an interval"),
        ("\(GTIDSetTests.a):my-tag:1", "'my-tag' is neither an interval nor a tag"),
        ("\(GTIDSetTests.a):mytag", "has no interval"),
        ("\(GTIDSetTests.a):t1:t2:3", "tag 't1' of \(GTIDSetTests.a) has no interval"),
        ("\(GTIDSetTests.a):1,,\(GTIDSetTests.a)x:2", "is not a server uuid"),
    ])
    func malformed(_ text: String, _ expected: String) {
        do {
            _ = try MySQLGTIDSet(text)
            Issue.record("'\(text)' parsed")
        } catch let error as SluiceError {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(expected), "\(error)")
            #expect(error.hint != nil)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func binaryForm() throws {
        let uuid: [UInt8] = [0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62]
        func le(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        let set = try MySQLGTIDSet("\(Self.a):7:1-5")
        // n_sids, uuid, n_intervals, [start, end) pairs in ascending order.
        #expect(set.encoded() == le(1) + uuid + le(2) + le(1) + le(6) + le(7) + le(8))
        #expect(MySQLGTIDSet().encoded() == le(0))
        // With a tag: format bytes around a 6-byte count, a tag after each uuid (empty for untagged).
        let tagged = try MySQLGTIDSet("\(Self.a):1:ab:2")
        #expect(tagged.encoded() == [1, 2, 0, 0, 0, 0, 0, 1] + uuid + [0] + le(1) + le(1) + le(2)
            + uuid + [4, 0x61, 0x62] + le(1) + le(2) + le(3))
        for value in [set, tagged, try MySQLGTIDSet("\(Self.b):1-3,\(Self.a):5")] {
            var cursor = ByteReader(value.encoded())
            #expect(try MySQLGTIDSet(decoding: &cursor) == value)
            #expect(cursor.isAtEnd)
        }
    }

    @Test func storedStateRoundTripsIntoTheGTIDOption() throws {
        var state = BinlogGTIDState(isMariaDB: false)
        #expect(!state.isKnown && state.text == nil)
        try state.reset(to: "\(Self.b):1-3,\n\(Self.a):1-5")
        #expect(state.text == "\(Self.a):1-5,\(Self.b):1-3")
        // The stored text is what the gtid option (COM_BINLOG_DUMP_GTID) takes.
        let option = try MySQLGTIDSet(try #require(state.text))
        #expect(option == state.executed && option.encoded() == state.executed?.encoded())
        // A known empty set stays known (stored as ""), unlike an unknown one.
        try state.reset(to: "")
        #expect(state.isKnown && state.text == "")
        #expect(throws: SluiceError.self) { try state.reset(to: "0-1-5") }  // MariaDB text on a MySQL server
        var maria = BinlogGTIDState(isMariaDB: true)
        try maria.reset(to: "1-2-30,0-1-5")
        #expect(maria.text == "0-1-5,1-2-30")
    }
}

/// The GTID state follows recorded MySQL binlogs through the path the stream uses (`BinlogGTIDState.observe`).
@Suite(.enabled(if: Fixtures.available, "the fixtures folder ../shared/fixtures/mysql-binlogs is absent"))
struct GTIDFixtureTests {
    /// Files with PREVIOUS_GTIDS and GTID events.
    static let files = ["binlog_transaction_with_GTID.000001", "binlog_transaction_with_GTID_TAG.000001",
                        "binlog_56_gtid_reserved_word.000001"]

    @Test("the set after a file is PREVIOUS_GTIDS plus every GTID in it", arguments: files)
    func executedSetFollowsTheFile(_ name: String) throws {
        let events = try Fixtures.decode(name)
        var state = BinlogGTIDState(isMariaDB: false)
        var expected: MySQLGTIDSet?
        var open: String?
        var gtids = 0
        for event in events {
            let before = state.executed
            try state.observe(event)
            switch event.body {
            case .previousGTIDs(let set):
                #expect(before == nil, "\(name): PREVIOUS_GTIDS comes first")
                expected = set
            case .mysqlGTID(let gtid?, _):
                // Independently of transaction boundaries: every GTID of the file.
                try expected?.insert(gtid)
                open = gtid
                gtids += 1
            default:
                break
            }
            // A transaction's GTID counts from the event that ends it on, not before.
            if let gtid = open, state.executed != before {
                var added = before ?? MySQLGTIDSet()
                try added.insert(gtid)
                #expect(state.executed == added, "\(name) at \(event.position)")
                open = nil
            }
        }
        #expect(gtids > 0 && open == nil, "\(name): \(gtids) GTIDs, \(open ?? "none") left open")
        #expect(state.executed == expected, "\(name): \(state.text ?? "unknown") != \(expected?.description ?? "unknown")")
        #expect(try MySQLGTIDSet(try #require(state.text)) == expected)
    }

    @Test func knownFinalSets() throws {
        func final(_ name: String) throws -> String? {
            var state = BinlogGTIDState(isMariaDB: false)
            for event in try Fixtures.decode(name) { try state.observe(event) }
            return state.text
        }
        // Read off the files' bytes: an empty PREVIOUS_GTIDS and GTIDs 1-3 (DDL, BEGIN … COMMIT, DDL), 1-6.
        #expect(try final("binlog_transaction_with_GTID.000001") == "006c2cf2-b1ea-11e4-9057-8c705a3d3e78:1-3")
        #expect(try final("binlog_56_gtid_reserved_word.000001") == "11111111-1111-1111-1111-111111111111:1-6")
        #expect(try final("binlog_transaction_with_GTID_TAG.000001")
            == "55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-2:6")
        // Anonymous GTIDs (gtid_mode OFF) add nothing.
        #expect(try final("binlog_transaction_with_anonymous_GTID.000001") == "")
    }

    @Test("PREVIOUS_GTIDS re-encodes to the bytes MySQL wrote", arguments: files + ["binlog_transaction_previous_GTID_no_tag.000001"])
    func previousGTIDsReencode(_ name: String) throws {
        let bytes = try Fixtures.bytes(name)
        let events = try Fixtures.decode(name)
        var checksum = 0
        for event in events {
            if case .formatDescription(let format) = event.body { checksum = format.checksumAlgorithm == 1 ? 4 : 0 }
            guard case .previousGTIDs(let set) = event.body else { continue }
            let start = Int(event.position) + BinlogEventHeader.size, end = Int(event.position) + Int(event.header.eventSize) - checksum
            #expect(set.encoded() == Array(bytes[start..<end]), "\(name): \(set)")
        }
    }

    @Test func mariaDBStateFollowsItsDomains() throws {
        var state = BinlogGTIDState(isMariaDB: true)
        var last: MariaGTID?
        for event in try Fixtures.decode("mariadb-bin.000001") {
            try state.observe(event)
            if case .mariaGTID(let gtid) = event.body { last = gtid }
        }
        #expect(state.text == last?.text && last != nil)
    }
}

/// Server-version dependent statements (MySQL 8.4 has no `SHOW MASTER STATUS`; no MySQL server runs here).
struct ServerStatementTests {
    @Test func binlogStatusStatementFollowsTheServerVersion() {
        #expect(ServerSettings.binlogStatusStatement(serverVersion: "10.11.19-MariaDB-0+deb12u1-log")
                    == "SHOW MASTER STATUS")
        #expect(ServerSettings.binlogStatusStatement(serverVersion: "8.0.40") == "SHOW MASTER STATUS")
        #expect(ServerSettings.binlogStatusStatement(serverVersion: "8.2.0") == "SHOW BINARY LOG STATUS")
        #expect(ServerSettings.binlogStatusStatement(serverVersion: "8.4.3-log") == "SHOW BINARY LOG STATUS")
        #expect(ServerSettings.binlogStatusStatement(serverVersion: "9.1.0") == "SHOW BINARY LOG STATUS")
        #expect(ServerSettings.binlogStatusStatement(serverVersion: "11.4.2-MariaDB") == "SHOW MASTER STATUS")
    }
}
