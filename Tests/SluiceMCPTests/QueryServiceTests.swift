import Foundation
import MCP
import SluiceConnectorKit
import SluiceCore
import SluiceLog
import SluiceRuntime
import Testing

@testable import SluiceMCP

/// A log with one customers stream (schema in `_schemas`), a state store fed from it, and a query service.
final class QueryFixture {
    let directory: URL
    let log: SQLiteChangeLog
    let state: StateSink
    let service: QueryService
    let stream = "shop.public.customers"
    static let table = TableID(database: "db", schema: "public", name: "customers")
    static let schema = TableSchema(
        table: table, version: 1,
        columns: [
            ColumnSchema(name: "id", sourceType: "bigint", kind: .int, nullable: false),
            ColumnSchema(name: "email", sourceType: "text", kind: .string),
            ColumnSchema(name: "region", sourceType: "text", kind: .string),
            ColumnSchema(name: "card", sourceType: "text", kind: .string),
        ], primaryKey: ["id"])

    static let mcp = """
        pseudonym_key: a-long-enough-pseudonym-key
        principals:
          bot: {token_sha256: \(Governance.tokenHash("bot-token")), roles: [support], limits: {max_rows_per_call: 25, calls_per_minute: 1000}}
          nobody: {token_sha256: \(Governance.tokenHash("nobody-token"))}
          eu: {token_sha256: \(Governance.tokenHash("eu-token")), policies: [all, eu-only]}
        roles:
          support: {policies: [all, pii]}
        policies:
          all: {streams: ["shop.public.*"]}
          pii:
            streams: ["shop.public.customers"]
            columns:
              email: {action: pseudonym}
              card: {action: partial, keep_last: 4}
          eu-only:
            effect: deny
            streams: ["shop.public.customers"]
            rows: [{column: region, op: ne, value: EU}]
        """

    /// Writes `changes` changes over 10 customers: inserts, then updates moving between regions, some deletes;
    /// `cardPadding` zeros lengthen every card number (for large events).
    init(changes: Int = 200, cardPadding: Int = 0) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sluice-mcp-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        log = try SQLiteChangeLog(path: directory.appendingPathComponent("log.db").path, syncPolicy: .off)
        let statePath = directory.appendingPathComponent("state.db").path
        state = try StateSink(path: statePath)
        let yaml = """
            name: shop
            sources:
              gen: {type: gen}
            sinks:
              state: {type: state, path: \(statePath)}
            mcp:
            \(Self.mcp.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            """
        let registry = ConnectorRegistry(sources: [NoSource.self], sinks: [StateSink.self])
        let config = try PipelineLoader(registry: registry, sections: ["mcp": MCPSettings.fields])
            .load(text: yaml, file: "test.yaml", environment: [:])
        let settings = try MCPSettings(section: config.sections["mcp"], pipeline: config)
        service = QueryService(pipeline: config, settings: settings, log: log, logger: .init(label: "test"))
        try await log.append(
            AppendBatch(records: [
                (
                    SystemStream.schemas,
                    [
                        LogRecordDraft(
                            key: nil, payload: SchemaCatalog.encode(Self.schema), position: nil, timestampMicros: 0)
                    ]
                )
            ]))
        var drafts: [LogRecordDraft] = []
        var events: [ChangeEvent] = []
        var current: [Int64: Row] = [:]
        for n in 0..<changes {
            let id = Int64(n % 10 + 1)
            let region = ["EU", "US", "EU", "CA"][(n / 10) % 4]
            let after = customerRow(
                id: id, email: "user\(id)@example.com", region: region,
                card: "411111111111\(1000 + id)" + String(repeating: "0", count: cardPadding))
            let event: ChangeEvent
            if let before = current[id] {
                if n % 37 == 0 {
                    event = customerEvent(.delete, before: before, after: nil)
                    current[id] = nil
                } else {
                    event = customerEvent(.update, before: before, after: after)
                    current[id] = after
                }
            } else {
                event = customerEvent(.insert, before: nil, after: after)
                current[id] = after
            }
            events.append(event)
            drafts.append(
                LogRecordDraft(
                    key: EventCoding.encodeKey([.int(id)]), payload: EventCoding.encode(event),
                    position: event.position, timestampMicros: 1_700_000_000_000_000 + Int64(n)))
        }
        let ranges = try await log.append(AppendBatch(records: [(stream, drafts)]))
        let first = ranges[stream]!.lowerBound
        let records = events.enumerated().map {
            SinkRecord(offset: first + Int64($0.offset), event: $0.element, appendedAtMicros: 0)
        }
        try await state.apply(SinkBatch(stream: stream, table: Self.table, records: records, schemas: [1: Self.schema]))
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    func principal(_ token: String) throws -> Principal {
        try #require(service.authenticate(token: token))
    }

    func call(
        _ tool: String, _ arguments: [String: MCPValue]? = nil, as token: String = "bot-token"
    ) async throws -> CallTool.Result {
        await service.call(tool: tool, arguments: arguments, principal: try principal(token))
    }

    static func text(_ result: CallTool.Result) -> String {
        result.content.compactMap { if case .text(let t, _, _) = $0 { t } else { nil } }.joined()
    }

    static func object(_ result: CallTool.Result) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text(result).utf8)) as? [String: Any])
    }
}

@Suite(.serialized) struct QueryServiceTests {
    @Test func readChangesPagesThroughTheStreamWithMasksApplied() async throws {
        let fixture = try await QueryFixture()
        var offsets: [Int] = []
        var cursor: String?
        repeat {
            var args: [String: MCPValue] = ["stream": .string(fixture.stream), "limit": 60]
            if let cursor { args["cursor"] = .string(cursor) }
            let result = try await fixture.call("read_changes", args)
            #expect(result.isError == false)
            let text = QueryFixture.text(result)
            #expect(!text.contains("@example.com"))
            #expect(!text.contains("41111111"))
            // structuredContent is the same JSON as the text.
            #expect(result.structuredContent == (try JSONValueParser.parse(text)))
            let object = try QueryFixture.object(result)
            let events = try #require(object["events"] as? [[String: Any]])
            #expect(events.count <= 25)  // the principal's max_rows_per_call
            offsets += events.compactMap { $0["offset"] as? Int }
            cursor = object["next_cursor"] as? String
        } while cursor != nil
        #expect(offsets == Array(0..<200))
    }

    /// Pages of large events stop at about 256 KiB, whatever the limit; the cursors still cover every event.
    @Test func pagesAreBoundedByBytes() async throws {
        let fixture = try await QueryFixture(changes: 120, cardPadding: 20_000)
        var cursor: String?
        var offsets: [Int] = []
        var pages = 0
        repeat {
            var args: [String: MCPValue] = ["stream": .string(fixture.stream), "limit": 1000]
            if let cursor { args["cursor"] = .string(cursor) }
            let result = try await fixture.call("read_changes", args, as: "eu-token")
            let object = try QueryFixture.object(result)
            let events = object["events"] as? [[String: Any]] ?? []
            let bytes = try events.map { try JSONSerialization.data(withJSONObject: $0).count }
            #expect(bytes.dropLast().reduce(0, +) < 256 << 10, "page \(pages): \(events.count) events, \(bytes.reduce(0, +)) bytes")
            offsets += events.compactMap { $0["offset"] as? Int }
            pages += 1
            cursor = object["next_cursor"] as? String
        } while cursor != nil && pages < 100
        #expect(pages > 3)
        #expect(offsets == offsets.sorted() && Set(offsets).count == offsets.count && !offsets.isEmpty)
    }

    @Test func rowFiltersTurnUpdatesLeavingScopeIntoDeletes() async throws {
        let fixture = try await QueryFixture()
        var ops: [String: Int] = [:]
        var cursor: String?
        repeat {
            var args: [String: MCPValue] = ["stream": .string(fixture.stream), "limit": 1000]
            if let cursor { args["cursor"] = .string(cursor) }
            let object = try QueryFixture.object(try await fixture.call("read_changes", args, as: "eu-token"))
            for event in object["events"] as? [[String: Any]] ?? [] {
                let op = event["op"] as! String
                ops[op, default: 0] += 1
                for image in ["before", "after"] {
                    if let row = event[image] as? [String: Any] { #expect(row["region"] as? String == "EU") }
                }
            }
            cursor = object["next_cursor"] as? String
        } while cursor != nil
        #expect(ops["d", default: 0] > 0)
        #expect(ops["c", default: 0] > 10)  // moves back into scope arrive as inserts
    }

    @Test func filtersKeysAndOperations() async throws {
        let fixture = try await QueryFixture()
        let byKey = try QueryFixture.object(
            try await fixture.call(
                "read_changes",
                [
                    "stream": .string(fixture.stream), "key": ["id": 3], "ops": ["u"], "limit": 100,
                ]))
        let events = try #require(byKey["events"] as? [[String: Any]])
        #expect(!events.isEmpty)
        for event in events {
            #expect(event["op"] as? String == "u")
            #expect((event["after"] as? [String: Any])?["id"] as? Int == 3)
        }
        // A pseudonymized column can be filtered by its pseudonym, never by its real value.
        let pseudonym = ColumnMasker(pseudonymKey: Array("a-long-enough-pseudonym-key".utf8)).pseudonym(
            .string("user4@example.com"))
        let byPseudonym = try QueryFixture.object(
            try await fixture.call(
                "read_changes",
                [
                    "stream": .string(fixture.stream), "where": ["email": .string(pseudonym)],
                ]))
        #expect(!(byPseudonym["events"] as! [Any]).isEmpty)
        let byReal = try QueryFixture.object(
            try await fixture.call(
                "read_changes",
                [
                    "stream": .string(fixture.stream), "where": ["email": "user4@example.com"],
                ]))
        #expect((byReal["events"] as! [Any]).isEmpty)
        let card = try await fixture.call(
            "read_changes", ["stream": .string(fixture.stream), "where": ["card": "4111111111111004"]])
        #expect(card.isError == true)
        #expect(QueryFixture.text(card).contains("filtering on it is not allowed"))
    }

    @Test func badArgumentsAreToolErrors() async throws {
        let fixture = try await QueryFixture()
        let cases: [(String, [String: MCPValue]?, String)] = [
            ("read_changes", nil, "'stream' is required"),
            ("read_changes", ["stream": 42], "'stream' must be a string"),
            ("read_changes", ["stream": .string(fixture.stream), "limit": "many"], "'limit' must be an integer"),
            ("read_changes", ["stream": .string(fixture.stream), "limit": 0], "'limit' must be 1 or more"),
            ("read_changes", ["stream": .string(fixture.stream), "bogus": 1], "unknown argument 'bogus'"),
            ("read_changes", ["stream": .string(fixture.stream), "ops": ["x"]], "unknown operation 'x'"),
            ("read_changes", ["stream": .string(fixture.stream), "since": "yesterday"], "ISO-8601"),
            ("read_changes", ["stream": .string(fixture.stream), "cursor": "garbage"], "cursor"),
            (
                "read_changes", ["stream": .string(fixture.stream), "from_offset": 1, "since": "2020-01-01T00:00:00Z"],
                "at most one"
            ),
            ("get_row_history", ["stream": .string(fixture.stream)], "'key' is required"),
            ("get_row_history", ["stream": .string(fixture.stream), "key": ["email": "x"]], "exactly the key columns"),
            ("get_row_history", ["stream": .string(fixture.stream), "key": ["id": "abc"]], "cannot hold"),
            ("no_such_tool", nil, "unknown tool"),
        ]
        for (tool, args, message) in cases {
            let result = try await fixture.call(tool, args)
            #expect(result.isError == true, "\(tool) \(String(describing: args))")
            #expect(QueryFixture.text(result).contains(message), "\(QueryFixture.text(result)) lacks \(message)")
        }
    }

    @Test func deniedStreamsAreNeitherListedNorReadable() async throws {
        let fixture = try await QueryFixture()
        let listed = try QueryFixture.object(try await fixture.call("list_streams", as: "nobody-token"))
        #expect((listed["streams"] as? [Any])?.isEmpty == true)
        let read = try await fixture.call("read_changes", ["stream": .string(fixture.stream)], as: "nobody-token")
        #expect(read.isError == true)
        #expect(QueryFixture.text(read).contains("no stream"))
        let mine = try QueryFixture.object(try await fixture.call("list_streams"))
        #expect((mine["streams"] as? [[String: Any]])?.map { $0["name"] as? String } == [fixture.stream])
    }

    @Test func historyAndCurrentRowsComeFromTheStateStore() async throws {
        let fixture = try await QueryFixture()
        let history = try QueryFixture.object(
            try await fixture.call("get_row_history", ["stream": .string(fixture.stream), "key": ["id": 5]]))
        let events = try #require(history["events"] as? [[String: Any]])
        #expect(
            events.map { $0["offset"] as! Int } == Array(Swift.stride(from: 4, to: 200, by: 10)).prefix(25).map { $0 })
        #expect(
            !QueryFixture.text(
                try await fixture.call("get_row_history", ["stream": .string(fixture.stream), "key": ["id": 5]])
            )
            .contains("example.com"))
        let rows = try QueryFixture.object(
            try await fixture.call("get_current_rows", ["stream": .string(fixture.stream)]))
        let current = try #require(rows["rows"] as? [[String: Any]])
        #expect(!current.isEmpty && current.count <= 10)
        for row in current {
            let image = try #require(row["row"] as? [String: Any])
            #expect((image["email"] as? String)?.hasPrefix("pn_") == true)
            #expect((image["card"] as? String)?.hasPrefix("************") == true)
        }
        let one = try QueryFixture.object(
            try await fixture.call("get_current_rows", ["stream": .string(fixture.stream), "key": ["id": 7]]))
        #expect((one["rows"] as? [Any])?.count ?? 0 <= 1)
        let describe = try QueryFixture.object(
            try await fixture.call("describe_stream", ["stream": .string(fixture.stream)]))
        let columns = ((describe["schema_versions"] as? [[String: Any]])?.first?["columns"] as? [[String: Any]]) ?? []
        #expect(columns.map { $0["access"] as? String } == ["visible", "pseudonym", "visible", "partial(last 4)"])
    }

    @Test func pipelineStatusSaysWhenTheStateStoreCannotBeRead() async throws {
        let fixture = try await QueryFixture()
        let statePath = fixture.directory.appendingPathComponent("state.db").path
        // Not a SQLite file: the status must still answer, and say why the state sink's progress is missing.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: statePath + suffix) }
        try Data(repeating: 0x5a, count: 8192).write(to: URL(fileURLWithPath: statePath))
        let status = try QueryFixture.object(try await fixture.call("pipeline_status"))
        let runtime = try #require(status["runtime"] as? [String: Any])
        let error = try #require(runtime["state_store_error"] as? String)
        #expect(error.contains(statePath) || error.lowercased().contains("not a database"))
        #expect((status["streams"] as? [Any])?.isEmpty == false)
    }

    @Test func everyCallIsAuditedAndTheChainVerifies() async throws {
        let fixture = try await QueryFixture()
        _ = try await fixture.call("list_streams")
        _ = try await fixture.call(
            "read_changes", ["stream": .string(fixture.stream), "where": ["region": "EU"], "limit": 3])
        _ = try await fixture.call("read_changes", ["stream": .string(fixture.stream)], as: "nobody-token")
        _ = try await fixture.call("read_changes", ["stream": 1])
        let records = try await fixture.log.read(stream: SystemStream.audit, from: 0, limit: 100)
        #expect(records.count == 4)
        let texts = records.map { String(decoding: $0.payload, as: UTF8.self) }
        #expect(!texts.joined().contains("\"EU\""))  // literal argument values are hashed
        let second = try #require(JSONSerialization.jsonObject(with: Data(records[1].payload)) as? [String: Any])
        #expect(second["decision"] as? String == "allow")
        #expect((second["reads"] as? [[String: Any]])?.first?["stream"] as? String == fixture.stream)
        #expect(second["masked_columns"] as? [String] == ["card", "email"])
        #expect(second["rows"] as? Int == 3)
        let third = try #require(JSONSerialization.jsonObject(with: Data(records[2].payload)) as? [String: Any])
        #expect(third["decision"] as? String == "default-deny")
        #expect(third["principal"] as? String == "nobody")
        #expect(try await AuditTrail.verify(log: fixture.log).isIntact)

        // A forged record appended outside the trail breaks the chain at its offset.
        try await fixture.log.append(
            AppendBatch(records: [
                (
                    SystemStream.audit,
                    [
                        LogRecordDraft(
                            key: nil,
                            payload: Array(
                                #"{"seq":4,"prev":"x","hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#
                                    .utf8),
                            position: nil, timestampMicros: 0)
                    ]
                )
            ]))
        let broken = try await AuditTrail.verify(log: fixture.log)
        #expect(broken.failure?.offset == 4)
    }

    /// Concurrent tool calls on a fresh log chain their audit records one after another (they used to fork the
    /// chain: two records with the same `seq` and `prev`).
    @Test func concurrentCallsKeepOneAuditChain() async throws {
        let fixture = try await QueryFixture(changes: 10)
        let service = fixture.service, principal = try fixture.principal("bot-token")
        await withTaskGroup(of: Void.self) { group in
            for call in 0..<20 {
                if call >= 10 { await group.next() }  // 10 in flight at a time
                group.addTask { _ = await service.call(tool: "list_streams", arguments: nil, principal: principal) }
            }
            await group.waitForAll()
        }
        let records = try await fixture.log.read(stream: SystemStream.audit, from: 0, limit: 100)
        #expect(records.count == 20)
        let seqs = records.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.payload)) as? [String: Any])?["seq"] as? Int }
        #expect(seqs == Array(0..<20))
        let verification = try await AuditTrail.verify(log: fixture.log)
        #expect(verification.isIntact, "\(verification)")
    }

    @Test func rateLimitsAreEnforcedAndAudited() async throws {
        let fixture = try await QueryFixture(changes: 10)
        let limited = Principal(
            name: "slow", kind: .agent, tokenSHA256: [], roles: [], policies: ["all"],
            limits: AccessLimits(maxRowsPerCall: 5, callsPerMinute: 2))
        _ = await fixture.service.call(tool: "list_streams", arguments: nil, principal: limited)
        _ = await fixture.service.call(tool: "list_streams", arguments: nil, principal: limited)
        let third = await fixture.service.call(tool: "list_streams", arguments: nil, principal: limited)
        #expect(third.isError == true)
        #expect(QueryFixture.text(third).contains("rate limit"))
        let last = try await fixture.log.read(stream: SystemStream.audit, from: 2, limit: 1)
        #expect(String(decoding: last[0].payload, as: UTF8.self).contains("\"decision\":\"rate-limited\""))
    }
}

@Suite struct StateSinkTests {
    @Test func replaysAreSkippedAndOffsetsResume() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sluice-state-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state.db").path
        let stream = "shop.public.customers"
        func record(_ offset: Int64, _ event: ChangeEvent) -> SinkRecord {
            SinkRecord(offset: offset, event: event, appendedAtMicros: 0)
        }
        let batch = SinkBatch(
            stream: stream, table: QueryFixture.table,
            records: [
                record(0, customerEvent(.insert, before: nil, after: customerRow(id: 1))),
                record(1, customerEvent(.insert, before: nil, after: customerRow(id: 2))),
                record(
                    2,
                    customerEvent(
                        .update, before: customerRow(id: 1),
                        after: Row(
                            columns: ["id", "email", "region", "card"],
                            values: [.int(1), .unchanged, .string("US"), .string("c")]))),
            ], schemas: [1: QueryFixture.schema])
        do {
            let sink = try StateSink(path: path)
            #expect(try await sink.write(batch) == [stream: 3])
            try await sink.close()
        }
        let reopened = try StateSink(path: path)
        #expect(try await reopened.resumeOffsets(streams: [stream, "other"]) == [stream: 3, "other": 0])
        // A replay of what is applied changes nothing; a delete after it applies.
        #expect(try await reopened.write(batch) == [stream: 3])
        _ = try await reopened.write(
            SinkBatch(
                stream: stream, table: QueryFixture.table,
                records: [
                    record(3, customerEvent(.delete, before: customerRow(id: 2), after: nil))
                ], schemas: [1: QueryFixture.schema]))
        let store = try StateStore(path: path)
        let row = try #require(try await store.row(stream: stream, key: EventCoding.encodeKey([.int(1)])))
        #expect(row.row["email"] == .string("ann@example.com"))  // unchanged value filled from the stored row
        #expect(row.row["region"] == .string("US"))
        #expect(try await store.row(stream: stream, key: EventCoding.encodeKey([.int(2)])) == nil)
        #expect(
            try await store.history(stream: stream, key: EventCoding.encodeKey([.int(1)]), fromOffset: 0, limit: 10) == [
                0, 2,
            ])
        #expect(
            try await store.history(stream: stream, key: EventCoding.encodeKey([.int(2)]), fromOffset: 0, limit: 10) == [
                1, 3,
            ])
        #expect(try await store.progress() == [stream: 4])
    }
}
