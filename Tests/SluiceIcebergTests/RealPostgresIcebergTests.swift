import Foundation
import SluiceTestSupport
import Testing

@testable import SluiceIceberg

/// The issue's pyiceberg check on a real PostgreSQL: a mixed workload (inserts, updates, deletes, key changes, a
/// delete and re-insert in one transaction) captured by the real `sluice` executable (postgres source → core log →
/// two iceberg sinks) over several `sluice run --until-caught-up` runs; then
///
/// - the `mode: upsert` table, read through pyiceberg's `SqlCatalog` (SQLite), scans equal to the source table;
/// - the `mode: append` table, read through `StaticTable.from_metadata`, holds exactly one row per change (snapshot
///   reads included) with dense `_offset`s.
///
/// Server: `SLUICE_TEST_PG_URL` (`scripts/servers.sh start DIR`, then `eval "$(scripts/servers.sh env DIR)"`); without
/// it the test is skipped, unless `SLUICE_REQUIRE_SERVERS` is set. Tools: `psql` on PATH, the `sluice` executable
/// (`TestEnvironment.sluiceExecutable()`), Python with pyiceberg (`TestEnvironment.python()`).
@Suite struct RealPostgresIcebergTests {
    @Test(.needsPostgres, .timeLimit(.minutes(10)))
    func realPostgresWorkloadLandsInUpsertAndAppendTables() throws {
        let url = try TestServers.postgres()
        let run = try RealPostgresIcebergRun(serverURL: url)
        defer { run.cleanUp() }
        try run.execute()
    }
}

/// One test's table, pipeline, runs and checks. Tools write their output to files (reading Foundation pipes was
/// seen to crash on EINTR).
final class RealPostgresIcebergRun {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let serverURL: String
    let directory: String
    let tools: Tools
    /// Unique per run: the table, pipeline, slot and publication names.
    let name: String
    var slot: String { name + "_slot" }
    var publication: String { name + "_pub" }
    var upsertWarehouse: String { directory + "/upsert" }
    var appendWarehouse: String { directory + "/append" }
    var catalogFile: String { upsertWarehouse + "/catalog.db" }
    private var steps = 0
    private var sluiceRuns = 0

    init(serverURL: String) throws {
        self.serverURL = serverURL
        name = "ice_pg_" + UUID().uuidString.prefix(8).lowercased()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-iceberg-real-\(name)").path
        tools = Tools(directory: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: upsertWarehouse, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: appendWarehouse, withIntermediateDirectories: true)
    }

    /// Runs a SQL script with psql (not quiet: the command tags count the rows each statement changed).
    @discardableResult
    func psql(_ script: String, step: String, tuplesOnly: Bool = false) throws -> ToolResult {
        steps += 1
        let step = String(format: "%02d-", steps) + step
        try tools.write("SET TimeZone = 'UTC';\n" + script, step + ".sql")
        var arguments = [serverURL, "-X", "-v", "ON_ERROR_STOP=1", "-f", tools.path(step + ".sql")]
        if tuplesOnly { arguments += ["-A", "-t", "-q"] }
        let result = try tools.run("psql", arguments, name: step, timeout: 300)
        guard result.status == 0 else {
            throw Failure(description: "psql \(step) failed (\(result.status)): \(result.errors.suffix(2000))")
        }
        return result
    }

    /// Rows changed per operation, from psql's command tags (`INSERT 0 n`, `UPDATE n`, `DELETE n`); the changes of
    /// a transaction count at `COMMIT`, none after `ROLLBACK`.
    static func changedRows(_ output: String) -> [String: Int] {
        var counts: [String: Int] = ["c": 0, "u": 0, "d": 0]
        var pending: [String: Int] = [:]
        var inTransaction = false
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ")
            var change: (String, Int)? = nil
            if words.count == 3, words[0] == "INSERT", let n = Int(words[2]) { change = ("c", n) }
            if words.count == 2, words[0] == "UPDATE", let n = Int(words[1]) { change = ("u", n) }
            if words.count == 2, words[0] == "DELETE", let n = Int(words[1]) { change = ("d", n) }
            if words == ["BEGIN"] { inTransaction = true }
            if words == ["COMMIT"] || words == ["ROLLBACK"] {
                if words == ["COMMIT"] { for (op, n) in pending { counts[op, default: 0] += n } }
                pending = [:]
                inTransaction = false
            }
            if let (op, n) = change {
                if inTransaction { pending[op, default: 0] += n } else { counts[op, default: 0] += n }
            }
        }
        return counts
    }

    // MARK: Pipeline

    func writePipeline() throws {
        let yaml = """
            name: \(name)
            log:
              path: \(directory)/log/\(name).sluicelog
            sources:
              pg:
                type: postgres
                url: "\(serverURL)"
                tables: [public.\(name)]
                slot: \(slot)
                publication: \(publication)
                status_interval: 1s
                max_batch_events: 7
            sinks:
              mirror:
                type: iceberg
                warehouse: \(upsertWarehouse)
                catalog: sql
                catalog_uri: \(catalogFile)
                namespace: shop
                table: "{table}"
                mode: upsert
                commit_interval: 1s
                commit_rows: 9
              changes:
                type: iceberg
                warehouse: \(appendWarehouse)
                catalog: filesystem
                namespace: shop
                table: "{table}"
                mode: append
                commit_interval: 1s
                commit_rows: 11
            runtime:
              status_interval: 0
              flush_interval: 50ms
              sink_batch_events: 13
              retry_initial_backoff: 200ms
              retry_max_backoff: 1s
            """
        try tools.write(yaml, "pipeline.yaml")
    }

    func runUntilCaughtUp() throws {
        sluiceRuns += 1
        let step = "sluice-\(sluiceRuns)"
        let result = try tools.run(
            try TestEnvironment.sluiceExecutable().path, ["run", "pipeline.yaml", "--log-level", "warning", "--until-caught-up"], name: step,
            timeout: 300)
        guard result.status == 0 else {
            throw Failure(
                description: "sluice run --until-caught-up (\(step)) exited with \(result.status): \(result.errors.suffix(3000))")
        }
    }

    // MARK: Workload

    /// A row's values: id, text, numeric(12,2), timestamptz, jsonb, bool, nullable int.
    static func values(_ id: Int, version: Int = 1) -> String {
        let cents = (id * 7919 + version * 104_729) % 10_000_000
        let amount = "\(id % 3 == 0 ? "-" : "")\(cents / 100).\(String(format: "%02d", cents % 100))"
        let text = id % 4 == 0 ? "'naïve ☃ \(id) v\(version) it''s'" : "'item \(id) v\(version)'"
        let seconds = 1_767_225_600 + id * 86_400 + version * 3_601 - (id % 5 == 0 ? 2_000_000_000 : 0)
        let timestamp = "to_timestamp(\(seconds).\(String(format: "%06d", (id * 131 + version) % 1_000_000)))"
        let doc = "'{\"id\": \(id), \"v\": \(version), \"tags\": [\"a\", \(id % 2 == 0 ? "null" : "1.5")], \"n\": {\"k\": \"x\"}}'"
        let maybe = id % 3 == 1 ? "NULL" : String(id * 10 + version)
        return "(\(id), \(text), \(amount), \(timestamp), \(doc), \(id % 2 == 0 ? "true" : "false"), \(maybe))"
    }

    var createTable: String {
        """
        CREATE TABLE \(name) (id bigint PRIMARY KEY, label text, amount numeric(12,2), at timestamptz, doc jsonb,
            flag boolean, maybe integer);
        ALTER TABLE \(name) REPLICA IDENTITY FULL;
        INSERT INTO \(name) VALUES \((1...40).map { Self.values($0) }.joined(separator: ",\n    "));

        """
    }

    var phase1: String {
        let t = name
        return """
            UPDATE \(t) SET amount = amount + 1.25, label = label || ' updated' WHERE id % 5 = 0;
            DELETE FROM \(t) WHERE id IN (3, 7);
            UPDATE \(t) SET id = 1011 WHERE id = 11;
            BEGIN;
            DELETE FROM \(t) WHERE id = 12;
            INSERT INTO \(t) VALUES \(Self.values(12, version: 2));
            COMMIT;
            INSERT INTO \(t) VALUES \((41...50).map { Self.values($0) }.joined(separator: ", "));
            UPDATE \(t) SET doc = jsonb_set(doc, '{v}', '9'), flag = NOT flag WHERE id BETWEEN 41 AND 45;
            UPDATE \(t) SET maybe = NULL, label = NULL WHERE id = 2;
            UPDATE \(t) SET maybe = 77 WHERE id = 1;

            """
    }

    var phase2: String {
        let t = name
        return """
            BEGIN;
            UPDATE \(t) SET label = 'first' WHERE id = 1;
            UPDATE \(t) SET label = 'second', at = at + interval '1 day' WHERE id = 1;
            DELETE FROM \(t) WHERE id = 4;
            INSERT INTO \(t) VALUES \(Self.values(4, version: 3));
            COMMIT;
            UPDATE \(t) SET id = id + 2000 WHERE id = 13;
            DELETE FROM \(t) WHERE id > 46 AND id <= 50;
            BEGIN;
            INSERT INTO \(t) VALUES \(Self.values(500));
            UPDATE \(t) SET amount = 0.01, doc = '[]' WHERE id = 500;
            DELETE FROM \(t) WHERE id = 500;
            COMMIT;
            BEGIN;
            INSERT INTO \(t) VALUES \(Self.values(600));
            ROLLBACK;
            UPDATE \(t) SET at = at + interval '1 hour', amount = -amount WHERE id < 10;
            DELETE FROM \(t) WHERE id = 1011;
            INSERT INTO \(t) VALUES \(Self.values(3, version: 4));

            """
    }

    /// The source table, one normalised JSON object per line.
    func fetchSource() throws -> String {
        let result = try psql(
            """
            SELECT json_build_object('id', id, 'label', label, 'amount', amount::text,
                'at', (extract(epoch FROM at) * 1000000)::bigint, 'doc', doc::text, 'flag', flag, 'maybe', maybe)
            FROM \(name) ORDER BY id;
            """, step: "source", tuplesOnly: true)
        try tools.write(result.output, "source-rows.jsonl")
        return tools.path("source-rows.jsonl")
    }

    // MARK: The test

    func execute() throws {
        let setup = try psql(createTable, step: "setup")
        let snapshotReads = Self.changedRows(setup.output)["c"]!
        try writePipeline()
        // Run 1: creates publication and slot and snapshots the rows (op r).
        try runUntilCaughtUp()
        let first = try psql(phase1, step: "phase-1")
        try runUntilCaughtUp()
        let second = try psql(phase2, step: "phase-2")
        try runUntilCaughtUp()
        // Nothing happened since: one more run changes nothing.
        try runUntilCaughtUp()

        var expected: [String: Int] = ["r": snapshotReads]
        for counts in [Self.changedRows(first.output), Self.changedRows(second.output)] {
            for (op, n) in counts { expected[op, default: 0] += n }
        }
        let total = expected.values.reduce(0, +)

        let source = try fetchSource()
        let metadata = try currentMetadataPath(appendWarehouse, namespace: "shop", table: name)
        let request: [String: Any] = [
            "source_rows": source, "catalog_uri": "sqlite:///" + catalogFile, "warehouse": "file://" + upsertWarehouse,
            "namespace": "shop", "table": name, "append_metadata": metadata,
            "columns": ["id", "label", "amount", "at", "doc", "flag", "maybe"], "json_columns": ["doc"],
        ]
        try JSONSerialization.data(withJSONObject: request).write(to: URL(fileURLWithPath: tools.path("check-request.json")))
        try Python.run(.icebergPipelineCheck, [tools.path("check-request.json"), tools.path("check-answer.json")])
        guard let data = FileManager.default.contents(atPath: tools.path("check-answer.json")),
            let answer = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw Failure(description: "the pyiceberg check wrote no answer object to \(tools.path("check-answer.json"))")
        }
        let problems = answer["problems"] as? [String] ?? ["the checker gave no problems list"]
        #expect(problems.isEmpty, "\(problems.count) problems:\n\(problems.prefix(30).joined(separator: "\n"))")
        #expect((answer["source_rows"] as? Int ?? 0) > 30, "the source table is unexpectedly small: \(answer)")
        #expect(answer["upsert_rows"] as? Int == answer["source_rows"] as? Int)
        // The two key changes of the workload (11 → 1011, 13 → 2013) are each a delete of the old key plus the update.
        var rows = expected.filter { $0.value > 0 }
        rows["d", default: 0] += 2
        #expect(answer["append_rows"] as? Int == total + 2, "append table rows vs the workload's \(total) changes \(expected)")
        #expect(answer["append_ops"] as? [String: Int] == rows)
        #expect(answer["distinct_offsets"] as? Int == total)
    }

    func cleanUp() {
        _ = try? psql(
            """
            SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '\(slot)' AND NOT active;
            DROP PUBLICATION IF EXISTS \(publication);
            DROP TABLE IF EXISTS \(name);
            """, step: "cleanup")
        if ProcessInfo.processInfo.environment["SLUICE_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
