import Foundation
import SluiceTestSupport
import Testing

/// The `sluice` executable built next to the test bundle (or `SLUICE_BIN`).
func sluiceExecutable() throws -> URL { try TestEnvironment.sluiceExecutable() }

/// The readers' Python (`TestEnvironment.python()`, never the system python3) when it has the official `mcp` SDK;
/// nil otherwise (the suites are then skipped with that reason).
let mcpPython: String? = {
    guard let python = try? TestEnvironment.python() else { return nil }  // no venv: skipped, reason in the trait
    let check = try? run(python, ["-c", "import mcp.client, httpx2"], in: FileManager.default.temporaryDirectory)
    return check?.succeeded == true ? python : nil
}()

/// Runs a program in `directory`; returns how it ended and what it printed (stdout and stderr kept apart).
@discardableResult
func run(
    _ executable: String, _ arguments: [String], in directory: URL, environment: [String: String] = [:]
) throws -> ProcessResult {
    try runProcess(URL(fileURLWithPath: executable), arguments, in: directory, environment: environment)
}

/// Drives a pipeline's MCP surface with the official Python `mcp` client (stdio and Streamable HTTP).
@Suite(.serialized, .enabled(if: mcpPython != nil, "needs Python with the `mcp` package (scripts/install-deps.sh)"))
struct PythonClientTests {
    static let pipeline = """
        name: demo
        log:
          path: log/demo.sluicelog
          sync: off
        sources:
          gen:
            type: generator
            count: 3000
            keys: 50
            tables: [orders, customers, secrets]
        sinks:
          state:
            type: state
            path: state/state.db
        runtime:
          status_interval: 0
        mcp:
          pseudonym_key: test-pseudonym-key-0123456789
          max_sessions_per_principal: 3
          principals:
            agent:
              token_sha256: \(sha256("agent-token"))
              roles: [analyst]
            outsider:
              token_sha256: \(sha256("outsider-token"))
          roles:
            analyst:
              policies: [read-generated, pii, no-secrets, active-customers]
          policies:
            read-generated:
              streams: ["demo.generator.*"]
            pii:
              streams: ["demo.generator.*"]
              columns:
                name: {action: pseudonym}
                amount: {action: redact}
            no-secrets:
              effect: deny
              streams: ["demo.generator.secrets"]
            active-customers:
              effect: deny
              streams: ["demo.generator.customers"]
              rows: [{column: active, value: "false"}]
        """

    static func sha256(_ token: String) -> String {
        // The tests check the documented recipe: `echo -n TOKEN | sha256sum`.
        let result = try? run(
            "/bin/sh", ["-c", "printf %s '\(token)' | sha256sum | cut -d' ' -f1"], in: URL(fileURLWithPath: "/"))
        return result?.out.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// The client script: runs every scenario and prints one JSON summary.
    static let script = #"""
        import asyncio, json, sys
        import httpx2
        from mcp import StdioServerParameters
        from mcp.client import Client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        mode, target, token, sluice = sys.argv[1:5]
        summary = {"texts": [], "calls": 0}

        async def call(c, name, args):
            summary["calls"] += 1
            r = await c.call_tool(name, args)
            text = "".join(getattr(x, "text", "") for x in r.content)
            summary["texts"].append(text)
            return r, text

        async def scenario(c):
            tools = await c.list_tools()
            summary["tools"] = [{"name": t.name, "input": t.input_schema, "output": t.output_schema,
                                 "readOnly": t.annotations.read_only_hint if t.annotations else None} for t in tools.tools]
            r, _ = await call(c, "list_streams", {})
            summary["streams"] = [s["name"] for s in r.structured_content["streams"]]
            offsets, pages, cursor = [], 0, None
            while True:
                args = {"stream": "demo.generator.orders", "limit": 150}
                if cursor: args["cursor"] = cursor
                r, text = await call(c, "read_changes", args)
                assert not r.is_error, text
                assert r.structured_content == json.loads(text)
                pages += 1
                offsets += [e["offset"] for e in r.structured_content["events"]]
                cursor = r.structured_content["next_cursor"]
                if cursor is None: break
            summary["pages"], summary["offsets"] = pages, offsets
            ops, active = {}, True
            cursor = None
            while True:
                args = {"stream": "demo.generator.customers", "limit": 500}
                if cursor: args["cursor"] = cursor
                r, _ = await call(c, "read_changes", args)
                for e in r.structured_content["events"]:
                    ops[e["op"]] = ops.get(e["op"], 0) + 1
                    for image in ("before", "after"):
                        if e[image] is not None and e[image].get("active") is not True: active = False
                cursor = r.structured_content["next_cursor"]
                if cursor is None: break
            summary["customer_ops"], summary["customers_all_active"] = ops, active
            r, text = await call(c, "read_changes", {"stream": "demo.generator.secrets"})
            summary["secrets_read"] = {"is_error": r.is_error, "text": text}
            r, text = await call(c, "get_row_history", {"stream": "demo.generator.secrets", "key": {"id": 1}})
            summary["secrets_history"] = {"is_error": r.is_error, "text": text}
            r, text = await call(c, "get_row_history", {"stream": "demo.generator.orders", "key": {"id": 3}})
            summary["history"] = {"is_error": r.is_error, "count": len(r.structured_content["events"]) if not r.is_error else -1}
            r, text = await call(c, "get_current_rows", {"stream": "demo.generator.orders", "limit": 5})
            summary["current"] = {"is_error": r.is_error, "count": len(r.structured_content["rows"]) if not r.is_error else -1}
            r, _ = await call(c, "describe_stream", {"stream": "demo.generator.orders"})
            summary["describe_access"] = {col["name"]: col["access"] for col in r.structured_content["schema_versions"][0]["columns"]}
            r, _ = await call(c, "pipeline_status", {})
            summary["status_streams"] = [s["name"] for s in r.structured_content["streams"]]
            summary["malformed"] = []
            for name, args in [("read_changes", {"stream": 7}), ("read_changes", {"stream": "demo.generator.orders", "limit": "ten"}),
                               ("read_changes", {"stream": "demo.generator.orders", "where": {"amount": "1.00"}}),
                               ("get_current_rows", {"stream": "demo.generator.orders", "surprise": True}),
                               ("get_row_history", {"stream": "demo.generator.orders", "key": "three"})]:
                r, text = await call(c, name, args)
                summary["malformed"].append({"is_error": r.is_error, "text": text})
            resources = await c.list_resources()
            summary["resources"] = [str(x.uri) for x in resources.resources]
            summary["calls"] += 1
            rr = await c.read_resource("sluice://streams/demo.generator.orders")
            summary["texts"].append(rr.contents[0].text)

        async def main():
            if mode == "stdio":
                params = StdioServerParameters(command=sluice, args=["mcp", target],
                                               env={"SLUICE_TOKEN": token, "SLUICE_LOG_LEVEL": "warning"})
                async with Client(params) as c:
                    await scenario(c)
            else:
                base = target.rsplit("/mcp", 1)[0]
                init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                   "clientInfo": {"name": "t", "version": "1"}}}
                headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
                http = {}
                r = httpx2.post(target, json=init, headers=headers)
                http["no_token"] = [r.status_code, r.headers.get("www-authenticate")]
                r = httpx2.post(target, json=init, headers={**headers, "authorization": "Bearer wrong"})
                http["wrong_token"] = [r.status_code, r.headers.get("www-authenticate")]
                r = httpx2.post(target, json=init, headers={**headers, "authorization": "Bearer outsider-token"})
                http["outsider"] = [r.status_code]
                r = httpx2.post(target, json=init, headers={**headers, "authorization": "Bearer " + token,
                                                            "origin": "https://evil.example"})
                http["bad_origin"] = [r.status_code]
                r = httpx2.get(base + "/.well-known/oauth-protected-resource")
                http["metadata"] = [r.status_code, r.json()]
                auth = {**headers, "authorization": "Bearer " + token}
                # Sessions per principal are bounded (max_sessions_per_principal: 3): the 4th is refused with 429.
                opened, statuses = [], []
                for _ in range(4):
                    r = httpx2.post(target, json=init, headers=auth)
                    statuses.append(r.status_code)
                    if r.status_code == 200: opened.append(r.headers["mcp-session-id"])
                http["session_statuses"] = statuses
                sid = opened[0]
                session = {**auth, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
                httpx2.post(target, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
                r = httpx2.post(target, json=[{"jsonrpc": "2.0", "id": i, "method": "tools/list"} for i in range(3)],
                                headers=session)
                http["batch"] = [r.status_code, r.json()["error"]["code"], r.json()["error"]["message"]]
                r = httpx2.post(target, json={"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": [1]},
                                headers=session)
                http["array_params"] = [r.status_code, r.json()["error"]["code"], r.json()["id"]]
                r = httpx2.post(target, content=b"{not json", headers=session)
                http["not_json"] = [r.status_code, r.json()["error"]["code"]]
                # A lone response comes back as application/json when the client accepts it.
                call = {"jsonrpc": "2.0", "id": 10, "method": "tools/call",
                        "params": {"name": "read_changes", "arguments": {"stream": "demo.generator.orders", "limit": 1000}}}
                r = httpx2.post(target, json=call, headers=session)
                http["lone_response"] = [r.status_code, r.headers.get("content-type"), len(r.content),
                                         len(r.json()["result"]["structuredContent"]["events"])]
                # Requests sharing an id while in flight: every one is answered (200 or 409), none hangs.
                import concurrent.futures
                def same_id(_):
                    try:
                        return httpx2.post(target, json={**call, "id": 77}, headers=session, timeout=20).status_code
                    except Exception as error:
                        return type(error).__name__
                with concurrent.futures.ThreadPoolExecutor(8) as pool:
                    http["same_id"] = sorted(set(str(x) for x in pool.map(same_id, range(8))))
                for opened_id in opened:
                    httpx2.delete(target, headers={**auth, "mcp-session-id": opened_id, "mcp-protocol-version": "2025-11-25"})
                summary["http"] = http
                async with create_mcp_http_client(headers={"authorization": "Bearer " + token}) as client:
                    async with Client(streamable_http_client(target, http_client=client)) as c:
                        await scenario(c)

        asyncio.run(main())
        print(json.dumps(summary))
        """#

    /// A directory with the pipeline file, its log filled by `sluice run --until-caught-up`, and the client script.
    func prepare() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sluice-mcp-py-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.pipeline.write(
            to: directory.appendingPathComponent("pipeline.yaml"), atomically: true, encoding: .utf8)
        try Self.script.write(to: directory.appendingPathComponent("client.py"), atomically: true, encoding: .utf8)
        let result = try run(
            try sluiceExecutable().path, ["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"],
            in: directory)
        guard result.status == 0 else { throw TestFailure("sluice run failed: \(result.err)") }
        return directory
    }

    func checkSummary(_ json: String) throws -> [String: Any] {
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "client output: \(json)")
        let tools = try #require(summary["tools"] as? [[String: Any]])
        #expect(
            tools.map { $0["name"] as? String } == [
                "list_streams", "describe_stream", "read_changes", "get_row_history", "get_current_rows",
                "pipeline_status",
            ])
        for tool in tools {
            #expect(tool["input"] is [String: Any])
            #expect(tool["output"] is [String: Any])
            #expect(tool["readOnly"] as? Bool == true)
        }
        // A denied stream is neither listed nor readable, anywhere.
        #expect(summary["streams"] as? [String] == ["demo.generator.customers", "demo.generator.orders"])
        #expect(summary["status_streams"] as? [String] == ["demo.generator.customers", "demo.generator.orders"])
        #expect(!(summary["resources"] as? [String] ?? []).contains { $0.contains("secrets") })
        #expect((summary["secrets_read"] as? [String: Any])?["is_error"] as? Bool == true)
        #expect((summary["secrets_history"] as? [String: Any])?["is_error"] as? Bool == true)
        // Pages cover the stream exactly once, in order.
        #expect(summary["offsets"] as? [Int] == Array(0..<1000))
        #expect((summary["pages"] as? Int ?? 0) >= 7)
        // Row filter: only active customers; updates leaving scope arrive as deletes.
        #expect(summary["customers_all_active"] as? Bool == true)
        #expect(((summary["customer_ops"] as? [String: Int])?["d"] ?? 0) > 0)
        // The masked column never appears in any output: generated names are "item <id>".
        let texts = try #require(summary["texts"] as? [String])
        #expect(texts.count > 20)
        for text in texts { #expect(!text.contains("item "), "masked value leaked: \(text.prefix(200))") }
        #expect(texts.contains { $0.contains("pn_") })
        let access = summary["describe_access"] as? [String: String]
        #expect(access?["name"] == "pseudonym")
        #expect(access?["amount"] == "redacted")
        #expect(access?["id"] == "visible")
        #expect((summary["history"] as? [String: Any])?["count"] as? Int ?? 0 > 0)
        #expect((summary["current"] as? [String: Any])?["count"] as? Int == 5)
        for malformed in summary["malformed"] as? [[String: Any]] ?? [] {
            #expect(malformed["is_error"] as? Bool == true)
            #expect(!(malformed["text"] as? String ?? "").isEmpty)
        }
        return summary
    }

    /// Every call is in `_audit`; `audit verify` passes, and fails naming the offset once a record is altered.
    /// Over HTTP, also each `initialize` and each refused request (no or wrong token, an outsider, a bad origin).
    func checkAudit(in directory: URL, calls: ClosedRange<Int>, http: Bool = false) throws {
        let sluice = try sluiceExecutable().path
        let read = try run(sluice, ["audit", "read", "pipeline.yaml"], in: directory)
        #expect(read.status == 0)
        let records = read.out.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["record"] as? [String: Any]
        }
        let tools = records.filter { !($0["tool"] as? String ?? "").hasPrefix("http ") && $0["tool"] as? String != "initialize" }
        #expect(calls.contains(tools.count), "\(tools.count) tool records for \(calls) calls")
        #expect(tools.allSatisfy { $0["principal"] as? String == "agent" })
        if http {
            let refusals = records.filter { ($0["tool"] as? String ?? "").hasPrefix("http ") }.compactMap { $0["decision"] as? String }
            #expect(refusals.sorted() == ["forbidden", "forbidden-origin", "unauthenticated", "unauthenticated"], "\(refusals)")
            let initializes = records.filter { $0["tool"] as? String == "initialize" }
            #expect(initializes.count == 4 && initializes.allSatisfy { $0["principal"] as? String == "agent" })
        }
        let verify = try run(sluice, ["audit", "verify", "pipeline.yaml"], in: directory)
        #expect(verify.status == 0, "\(verify.err)")
        #expect(verify.out.contains("intact: \(records.count) records"))
        // Alter audit record 5 in the file, whichever storage layout the log uses (one row per record or chunks).
        let tamper = #"""
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            sid = db.execute("select id from streams where name = '_audit'").fetchone()[0]
            tables = {r[0] for r in db.execute("select name from sqlite_master where type = 'table'")}
            if "chunks" in tables:
                row = db.execute("select id, data from chunks where stream_id = ? and base_offset <= 5 and last_offset >= 5",
                                 (sid,)).fetchone()
                update = "update chunks set data = ? where id = ?"
            else:
                row = db.execute("select record_offset, payload from records where stream_id = ? and record_offset = 5",
                                 (sid,)).fetchone()
                update = "update records set payload = ? where stream_id = %d and record_offset = ?" % sid
            data = bytes(row[1])
            i = data.index(b'"seq":5,')
            data = data[:i] + data[i:].replace(b'"principal":"agent"', b'"principal":"other"', 1)
            db.execute(update, (data, row[0]))
            db.commit()
            """#
        let altered = try run(mcpPython!, ["-c", tamper, "log/demo.sluicelog"], in: directory)
        #expect(altered.status == 0, "\(altered.err)")
        let broken = try run(sluice, ["audit", "verify", "pipeline.yaml"], in: directory)
        #expect(broken.status == 1)
        #expect(broken.err.contains("offset 5"), "\(broken.err)")
    }

    @Test func stdio() throws {
        let directory = try prepare()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try run(
            mcpPython!, ["client.py", "stdio", "pipeline.yaml", "agent-token", try sluiceExecutable().path],
            in: directory)
        #expect(result.status == 0, "\(result.err)")
        let summary = try checkSummary(result.out)
        try checkAudit(in: directory, calls: (summary["calls"] as! Int)...(summary["calls"] as! Int))
    }

    @Test func streamableHTTP() throws {
        let directory = try prepare()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = Process()
        server.executableURL = try sluiceExecutable()
        server.arguments = [
            "serve", "pipeline.yaml", "--listen", "127.0.0.1:0", "--no-pipeline", "--log-level", "warning",
        ]
        server.currentDirectoryURL = directory
        let errors = Pipe()
        server.standardError = errors
        try server.run()
        defer {
            if server.isRunning { server.interrupt() }
            server.waitUntilExit()
        }
        // The first line names the port.
        var line = Data()
        let deadline = Date().addingTimeInterval(30)
        while !line.contains(UInt8(ascii: "\n")) && Date() < deadline {
            line.append(errors.fileHandleForReading.availableData)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let range = text.range(of: #"http://127\.0\.0\.1:\d+/mcp"#, options: .regularExpression) else {
            throw TestFailure("sluice serve did not report its address: \(text)")
        }
        let url = String(text[range])
        let result = try run(
            mcpPython!, ["client.py", "http", url, "agent-token", try sluiceExecutable().path], in: directory)
        #expect(result.status == 0, "\(result.err)")
        let summary = try checkSummary(result.out)
        let http = try #require(summary["http"] as? [String: [Any]])
        #expect(http["no_token"]?.first as? Int == 401)
        #expect((http["no_token"]?.last as? String)?.contains("resource_metadata=\"http://127.0.0.1:") == true)
        #expect(http["wrong_token"]?.first as? Int == 401)
        #expect((http["wrong_token"]?.last as? String)?.contains("invalid_token") == true)
        #expect(http["outsider"]?.first as? Int == 403)
        #expect(http["bad_origin"]?.first as? Int == 403)
        #expect(http["metadata"]?.first as? Int == 200)
        #expect(((http["metadata"]?.last as? [String: Any])?["resource"] as? String) == url)
        #expect(http["session_statuses"] as? [Int] == [200, 200, 200, 429])
        #expect(http["batch"]?[0] as? Int == 400 && http["batch"]?[1] as? Int == -32600)
        #expect((http["batch"]?[2] as? String)?.contains("batches") == true)
        #expect(http["array_params"]?[0] as? Int == 400 && http["array_params"]?[1] as? Int == -32602)
        #expect(http["array_params"]?[2] as? Int == 9)
        #expect(http["not_json"]?[1] as? Int == -32700)
        #expect(http["lone_response"]?[0] as? Int == 200)
        #expect(http["lone_response"]?[1] as? String == "application/json")
        // 1,000 events asked for: the page stops at about 256 KiB of events, the rest is for the next cursor.
        let loneEvents = http["lone_response"]?[3] as? Int ?? 0
        #expect(loneEvents > 100 && loneEvents < 1000, "\(http["lone_response"] ?? [])")
        #expect(Set(http["same_id"] as? [String] ?? ["none"]).isSubset(of: ["200", "409"]), "\(http["same_id"] ?? [])")
        server.interrupt()
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)
        // Besides the client's calls: the raw lone-response call and 1-8 of the same-id calls reached the tool.
        let calls = summary["calls"] as! Int
        try checkAudit(in: directory, calls: (calls + 2)...(calls + 9), http: true)
    }
}
