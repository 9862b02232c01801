import Foundation
import SluiceTestSupport
import Testing

/// A real pipeline process (generator → core log → jsonl, snowflake_stage and delta sinks) killed with SIGKILL at
/// random moments and at each step of the sinks' commit protocols, then run to the end: the stage and the Delta
/// tables hold every change exactly once and merge to the state the jsonl sink recorded.
@Suite(.serialized) struct SigkillTests {
    static let tables = ["orders", "customers"]

    func writePipeline(in directory: String) throws {
        let sources = TestPipeline.generatorSource(
            count: 50000, rate: 4000, batchSize: 150, keys: 250, tables: Self.tables)
        let sinks = TestPipeline.jsonlSink + "\n" + """
              stage:
                type: snowflake_stage
                path: stage
                max_file_rows: 400
              lake:
                type: delta
                path: lake
                max_file_rows: 600
                current_file_rows: 150
            """
        try TestPipeline(name: "kill", sources: sources, sinks: sinks, runtime: ["sink_batch_events: 250"])
            .write(in: URL(fileURLWithPath: directory))
    }

    @Test func sigkillMidBatchThenRestartChangesNothing() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try writePipeline(in: directory)
        var random = SystemRandomNumberGenerator()
        // Kills at random moments…
        for _ in 0..<6 {
            let process = try startSluice(["run", "pipeline.yaml", "--log-level", "error"], in: URL(fileURLWithPath: directory))
            process.kill(after: Double.random(in: 0.2...0.9, using: &random))
            #expect(process.wasKilled(by: SIGKILL), "the run was not ended by the kill (\(process.endDescription))")
        }
        // …and exactly between the steps of the commit protocols (the process kills itself there).
        let steps = [
            "snowflake.file-written", "snowflake.ledger-appended", "delta.changes-file-written",
            "delta.commit-written", "delta.changes-committed", "delta.current-files-written",
        ]
        for step in steps {
            let process = try startSluice(
                ["run", "pipeline.yaml", "--log-level", "error"], in: URL(fileURLWithPath: directory),
                environment: ["SLUICE_STAGING_CRASH_AT": step, "SLUICE_STAGING_CRASH_AFTER": "2"])
            #expect(process.waitForInjectedKill(timeout: 30), "the process did not stop at \(step) (\(process.endDescription))")
        }
        let final = try startSluice(
            ["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"], in: URL(fileURLWithPath: directory))
        final.waitUntilExit()
        #expect(final.exitedCleanly, "the final run failed (\(final.endDescription))")

        for table in Self.tables {
            let jsonl = directory + "/out/kill.generator.\(table).jsonl"
            let columns = ["id", "name", "amount", "version", "updated_at", "active"]
            let staged = try StagingChecker.run([
                "mode": "duckdb", "folder": directory + "/stage/generator.\(table)", "test_stage": directory + "/duck",
                "jsonl": jsonl, "deletes": "hard", "columns": columns, "replay_back": [1],
            ])
            #expect(staged["offsets_dense"] as? Bool == true, "\(table): staged offsets are not dense")
            #expect(staged["problem_count"] as? Int == 0, "\(table): \(staged["problems"] ?? "")")
            let lake = try StagingChecker.run([
                "mode": "delta", "folder": directory + "/lake/generator.\(table)", "jsonl": jsonl, "columns": columns,
            ])
            #expect(lake["duplicates"] as? Int == 0, "\(table): changes doubled")
            #expect(lake["ops_match"] as? Bool == true, "\(table): changes missing or out of place")
            #expect(lake["problem_count"] as? Int == 0, "\(table): \(lake["problems"] ?? "")")
        }
    }
}
