import Foundation
import SluiceTestSupport
import Testing

/// A real PostgreSQL pipeline read through MCP by the official Python client: snapshot and streamed changes page by
/// page, a masked column never in any output. Needs `SLUICE_TEST_PG_URL` (scripts/servers.sh) and `psql`.
@Suite(
    .serialized,
    .needsPostgres,
    .enabled(if: mcpPython != nil, "needs Python with the `mcp` package (scripts/install-deps.sh)"))
struct PostgresPipelineTests {
    static let script = #"""
        import asyncio, json, sys
        from mcp import StdioServerParameters
        from mcp.client import Client

        async def main():
            params = StdioServerParameters(command=sys.argv[1], args=["mcp", "pipeline.yaml"],
                                           env={"SLUICE_TOKEN": "pg-agent", "SLUICE_LOG_LEVEL": "warning"})
            out = {"texts": [], "events": [], "pages": 0}
            async with Client(params) as c:
                r = await c.call_tool("list_streams", {})
                out["streams"] = [s["name"] for s in r.structured_content["streams"]]
                cursor = None
                while True:
                    args = {"stream": sys.argv[2], "limit": 40}
                    if cursor: args["cursor"] = cursor
                    r = await c.call_tool("read_changes", args)
                    text = r.content[0].text
                    out["texts"].append(text)
                    assert not r.is_error, text
                    out["pages"] += 1
                    out["events"] += [[e["offset"], e["op"], (e["after"] or e["before"])["id"]] for e in r.structured_content["events"]]
                    cursor = r.structured_content["next_cursor"]
                    if cursor is None: break
                r = await c.call_tool("get_row_history", {"stream": sys.argv[2], "key": {"id": 7}})
                out["texts"].append(r.content[0].text)
                out["history_ops"] = [e["op"] for e in r.structured_content["events"]]
                r = await c.call_tool("get_current_rows", {"stream": sys.argv[2], "key": {"id": 7}})
                out["texts"].append(r.content[0].text)
                out["current"] = r.structured_content["rows"]
            print(json.dumps(out))

        asyncio.run(main())
        """#

    @Test func pagesThroughARealPipelineWithMasks() throws {
        let url = try TestServers.postgres()
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let table = "mcp_customers_\(suffix)"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mcp-pg-\(suffix)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func psql(_ sql: String) throws {
            let result = try run("/usr/bin/env", ["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], in: directory)
            guard result.status == 0 else { throw TestFailure("psql failed: \(result.err)") }
        }
        try psql("""
            CREATE TABLE \(table) (id int PRIMARY KEY, email text NOT NULL, region text NOT NULL);
            ALTER TABLE \(table) REPLICA IDENTITY FULL;
            INSERT INTO \(table) SELECT g, 'secret' || g || '@example.com', 'EU' FROM generate_series(1, 100) g;
            """)
        defer { try? psql("DROP TABLE IF EXISTS \(table)") }
        let pipeline = """
            name: pgmcp
            log: {path: log/pg.sluicelog, sync: off}
            sources:
              pg:
                type: postgres
                url: \(url)
                tables: [public.\(table)]
                slot: sluice_mcp_\(suffix)
                publication: sluice_mcp_\(suffix)
            sinks:
              state: {type: state, path: state/state.db}
            runtime: {status_interval: 0}
            mcp:
              principals:
                agent: {token_sha256: \(PythonClientTests.sha256("pg-agent")), policies: [read, mask]}
              policies:
                read: {streams: ["pgmcp.public.*"]}
                mask: {streams: ["pgmcp.public.*"], columns: {email: {action: redact}}}
            """
        try pipeline.write(to: directory.appendingPathComponent("pipeline.yaml"), atomically: true, encoding: .utf8)
        try Self.script.write(to: directory.appendingPathComponent("client.py"), atomically: true, encoding: .utf8)
        let sluice = try sluiceExecutable().path
        defer { try? psql("SELECT pg_drop_replication_slot('sluice_mcp_\(suffix)'); DROP PUBLICATION IF EXISTS sluice_mcp_\(suffix)") }
        // Snapshot, then streamed changes: updates, deletes and more inserts.
        var result = try run(sluice, ["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"], in: directory)
        #expect(result.status == 0, "\(result.err)")
        try psql("""
            UPDATE \(table) SET region = 'US' WHERE id % 3 = 0;
            UPDATE \(table) SET email = 'changed' || id || '@example.com' WHERE id = 7;
            DELETE FROM \(table) WHERE id > 90;
            INSERT INTO \(table) SELECT g, 'late' || g || '@example.com', 'CA' FROM generate_series(101, 120) g;
            """)
        result = try run(sluice, ["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"], in: directory)
        #expect(result.status == 0, "\(result.err)")
        let stream = "pgmcp.public.\(table)"
        result = try run(mcpPython!, ["client.py", sluice, stream], in: directory)
        #expect(result.status == 0, "\(result.err)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any])
        #expect(summary["streams"] as? [String] == [stream])
        let events = try #require(summary["events"] as? [[Any]])
        #expect(events.map { $0[0] as? Int } == Array(0..<events.count))
        let expected = 164  // 100 snapshot rows, 33 + 1 updates, 10 deletes, 20 inserts
        #expect(events.count == expected)
        #expect(events.filter { $0[1] as? String == "r" }.count == 100)
        #expect(events.filter { $0[1] as? String == "d" }.count == 10)
        #expect((summary["pages"] as? Int ?? 0) >= 4)
        #expect(summary["history_ops"] as? [String] == ["r", "u"])
        #expect((summary["current"] as? [Any])?.count == 1)
        for text in summary["texts"] as? [String] ?? [] {
            #expect(!text.contains("@example.com"), "masked email leaked: \(text.prefix(200))")
        }
    }
}
