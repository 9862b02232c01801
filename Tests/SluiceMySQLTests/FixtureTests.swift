import Foundation
import SluiceCore
import Testing
@testable import SluiceMySQL

/// Every recorded binlog in `../shared/fixtures/mysql-binlogs` decodes, or fails with a clear error where the
/// file is damaged; rows match `mariadb-binlog -vv` where that tool reads the file.
@Suite(.enabled(if: Fixtures.available, "the fixtures folder ../shared/fixtures/mysql-binlogs is absent"))
struct FixtureTests {
    /// Files that are damaged (or use a format nobody writes any more) and must fail with a located error.
    static let failing: [String: String] = [
        "binlog_truncated_event.000001": "ends inside an event header",
        "binlog_truncated_prev_gtid_event.000001": "ends inside an event header",
        "corrupt-relay-bin.000624": "QUERY_EVENT",
        "ver_5_1-wl2325_s.001": "pre-GA rows events",
    ]

    @Test("every fixture decodes or fails with a located error", arguments: Fixtures.files)
    func decodesOrFailsClearly(_ name: String) throws {
        if let expected = Self.failing[name] {
            do {
                _ = try Fixtures.decode(name)
                Issue.record("\(name) decoded but is damaged")
            } catch let error as SluiceError {
                #expect(error.code == .decoding)
                #expect(error.description.contains(expected), "\(error)")
                #expect(error.location?.hasPrefix("\(name):") == true, "\(error)")
                #expect(error.hint != nil)
            }
        } else {
            let events = try Fixtures.decode(name)
            #expect(!events.isEmpty)
            if case .formatDescription = events.first?.body {} else { Issue.record("\(name) does not start with a format description") }
        }
    }

    @Test("feeding a file in pieces split anywhere gives the same events", arguments: [1, 7, 19, 20, 4096])
    func splitFeeding(_ chunk: Int) throws {
        for name in ["mariadb-bin.000001", "json.binlog.000001", "transaction_compression.000001", "vector.binlog",
                     "ver_trunk_row_v2.001", "mysql-enum-string-set.000001"] {
            let whole = try Fixtures.decode(name)
            let pieces = try Fixtures.decode(name, chunk: chunk)
            #expect(whole.count == pieces.count)
            for (a, b) in zip(whole, pieces) {
                #expect(a.position == b.position && a.header == b.header)
                if case .rows(let ra) = a.body, case .rows(let rb) = b.body { #expect(ra.rows == rb.rows) }
            }
        }
    }

    @Test("rows match mariadb-binlog -vv", arguments: Fixtures.files.filter { FixtureTests.failing[$0] == nil })
    func rowsMatchOracle(_ name: String) throws {
        guard Fixtures.mariadbBinlog != nil else { return }
        let oracle = try OracleRow.read(Fixtures.directory.appendingPathComponent(name).path)
        var ours: [(op: String, table: String, before: [Int: String]?, after: [Int: String]?)] = []
        var oracleIndex = 0
        var compared = 0
        let events = try Fixtures.decode(name)
        let decodedRows = events.reduce(0) { count, event in
            if case .rows(let rows) = event.body { return count + rows.rows.count }
            return count
        }
        // The tool stops at events it cannot read (TRANSACTION_PAYLOAD, PARTIAL_UPDATE_ROWS, VECTOR): compare
        // what it printed.
        #expect(oracle.count <= decodedRows)
        for event in events {
            guard case .rows(let rows) = event.body else { continue }
            for row in rows.rows {
                guard oracleIndex < oracle.count else { break }
                let types = oracle[oracleIndex].types
                func render(_ image: [Value]?) -> [Int: String]? {
                    guard let image else { return nil }
                    var out: [Int: String] = [:]
                    for (i, value) in image.enumerated() {
                        if case .unchanged = value { continue }
                        out[i + 1] = OracleRendering.render(value, column: rows.table.columns[i], type: types[i + 1] ?? "")
                    }
                    return out
                }
                let op = rows.kind == .insert ? "insert" : rows.kind == .update ? "update" : "delete"
                ours.append((op, "\(rows.table.database).\(rows.table.table)", render(row.before), render(row.after)))
                oracleIndex += 1
            }
        }
        #expect(ours.count == oracle.count, "\(name): \(ours.count) rows decoded, the oracle printed \(oracle.count)")
        defer { if !oracle.isEmpty { #expect(compared > 0) } }
        if ProcessInfo.processInfo.environment["SLUICE_ORACLE_VERBOSE"] != nil {
            print("oracle \(name): \(oracle.count) rows of \(decodedRows)")
        }
        for (mine, theirs) in zip(ours, oracle) {
            #expect(mine.op == theirs.op && mine.table == theirs.table)
            for (image, expected) in [(mine.before, theirs.before), (mine.after, theirs.after)] {
                #expect((image == nil) == (expected == nil))
                guard let image, let expected else { continue }
                for (column, text) in expected {
                    let got = image[column] ?? "<missing>"
                    // -vv prints integers signed with the unsigned reading in parentheses when they differ.
                    let alternatives = [text, String(text.split(separator: " ").first ?? "")]
                        + (text.contains("(") ? [String(text.split(separator: "(").last!.dropLast())] : [])
                    #expect(alternatives.contains(got), "\(name) \(theirs.table) @\(column): ours \(got), oracle \(text)")
                    compared += 1
                }
            }
        }
    }

    @Test func transactionPayloadDecodesItsInnerEvents() throws {
        let events = try Fixtures.decode("transaction_compression.000001")
        let rows = events.compactMap { event -> RowsEvent? in if case .rows(let r) = event.body { return r } else { return nil } }
        #expect(rows.count == 1)
        #expect(rows.first?.table.database == "test" && rows.first?.table.table == "tb1")
        #expect(rows.first?.rows.first?.after == [.int(1)])
        // The inner events share the payload's position and are numbered within it.
        let inner = events.filter { $0.indexInPayload != nil }
        #expect(inner.map(\.indexInPayload) == [0, 1, 2, 3])
        #expect(Set(inner.map(\.position)) == [274])
        guard case .xid = inner.last?.body else { Issue.record("the payload does not end with its XID"); return }
    }

    @Test func jsonBinaryAndPartialUpdates() throws {
        let events = try Fixtures.decode("json.binlog.000001")
        var current: [Int64: String] = [:]  // id → json_col, as the rows carry it
        var partialRows = 0
        for event in events {
            guard case .rows(let rows) = event.body else { continue }
            for row in rows.rows {
                guard let after = row.after else { continue }
                let key = after[0] == .unchanged ? row.before?[0] : after[0]
                guard case .int(let id)? = key else { continue }
                if let updates = row.unappliedJSONUpdates, let update = updates[1] {
                    // binlog_row_image=MINIMAL: the before image has only the key; apply the diffs to the row's
                    // last value (from the earlier events of the file), as a replica holding it would.
                    let before = try #require(current[id])
                    let applied = try update.applied(to: before)
                    // The table's generated column `age` (json_col->'$.age') is in the same after image.
                    guard case .int(let age) = after[3] else { Issue.record("no generated age column"); continue }
                    #expect(applied.contains("\"age\": \(age)"), "\(applied)")
                    #expect(update.operations.map(\.path) == ["$.age"])
                    current[id] = applied
                    partialRows += 1
                } else if case .json(let text) = after[1] {
                    #expect(text.hasPrefix("{\"age\": "))
                    current[id] = text
                }
            }
        }
        #expect(partialRows == 6)
        #expect(current[1]?.contains("\"name\": \"Joe\"") == true)
    }

    @Test func partialJSONDiffsApplyToABeforeImage() throws {
        let update = JSONPartialUpdate(operations: [
            .init(kind: .replace, path: "$.a[1]", value: "5"),
            .init(kind: .insert, path: "$.c", value: "{\"x\": true}"),
            .init(kind: .remove, path: "$.b"),
            .init(kind: .insert, path: "$.a[0]", value: "\"first\""),
        ])
        #expect(try update.applied(to: "{\"a\": [1, 2], \"b\": null}") == "{\"a\": [\"first\", 1, 5], \"c\": {\"x\": true}}")
    }

    @Test func enumSetAndColumnNamesFromFullMetadata() throws {
        let events = try Fixtures.decode("mysql-enum-string-set.000001")
        let maps = events.compactMap { event -> TableMap? in if case .tableMap(let m) = event.body { return m } else { return nil } }
        let map = try #require(maps.last)
        #expect(map.hasColumnNames)
        #expect(map.columns.contains { $0.enumValues != nil })
        #expect(map.columns.contains { $0.setValues != nil })
    }

    @Test func damagedChecksumIsReportedWithItsPosition() throws {
        var bytes = try Fixtures.bytes("mariadb-bin.000001")
        let events = try Fixtures.decode(bytes: bytes, file: "x")
        let rowsEvent = try #require(events.first { if case .rows = $0.body { return true } else { return false } })
        bytes[Int(rowsEvent.position) + 25] ^= 0x40
        #expect {
            _ = try Fixtures.decode(bytes: bytes, file: "mariadb-bin.000001")
        } throws: { error in
            let text = "\(error)"
            return text.contains("CRC32 mismatch") && text.contains("mariadb-bin.000001:\(rowsEvent.position)")
        }
    }

    @Test func gtidsOfMySQLAndMariaDB() throws {
        let tagged = try Fixtures.decode("binlog_transaction_with_GTID_TAG.000001")
        let gtids = tagged.compactMap { event -> String? in
            if case .mysqlGTID(let gtid?, _) = event.body { return gtid } else { return nil }
        }
        #expect(gtids == ["55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:6"])
        let previous = tagged.compactMap { event -> String? in
            if case .previousGTIDs(let set) = event.body { return set.description } else { return nil }
        }
        #expect(previous == ["55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-2"])
        let maria = try Fixtures.decode("mariadb-bin.000001")
        let mariaGTIDs = maria.compactMap { event -> String? in if case .mariaGTID(let g) = event.body { return g.text } else { return nil } }
        #expect(mariaGTIDs.count == 2)
    }
}
