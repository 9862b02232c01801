import Foundation
import SluiceTestSupport
import Testing

/// Runs sluice with arguments in `directory`; returns how it ended and what it printed.
@discardableResult
func runSluice(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws -> ProcessResult {
    try runProcess(try TestEnvironment.sluiceExecutable(), arguments, in: directory, environment: environment)
}

/// Reads a JSON-lines file into objects.
func jsonLines(_ url: URL) throws -> [[String: Any]] {
    let text = try String(contentsOf: url, encoding: .utf8)
    return try text.split(separator: "\n").map {
        try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
    }
}

@Suite(.serialized) struct CrashRecoveryTests {
    static let changes = 30_000

    func writePipeline(in dir: URL) throws {
        let sources = TestPipeline.generatorSource(
            count: Self.changes, rate: 15000, batchSize: 250, keys: 300, tables: ["orders", "customers", "items"])
        try TestPipeline(name: "crash", sources: sources).write(in: dir)
    }

    @Test func sigkillAtRandomMomentsLosesAndDoublesNothing() throws {
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writePipeline(in: dir)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let process = try startSluice(["run", "pipeline.yaml", "--log-level", "error"], in: dir)
            process.kill(after: Double.random(in: 0.05...0.6, using: &generator))  // a random crash point
            #expect(process.wasKilled(by: SIGKILL), "the run was not ended by the kill (\(process.endDescription))")
        }
        let final = try runSluice(["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"], in: dir)
        #expect(final.status == 0, "final run failed: \(final.err)")

        var positions: [Int] = []
        for table in ["orders", "customers", "items"] {
            let lines = try jsonLines(dir.appendingPathComponent("out/crash.generator.\(table).jsonl"))
            // Offsets dense from 0: nothing missing, nothing doubled in the sink.
            #expect(lines.map { $0["offset"] as! Int } == Array(0..<lines.count), "offsets of \(table) are not dense")
            var lastVersion: [Int: Int] = [:]
            var lastPosition = -1
            for line in lines {
                let source = line["source"] as! [String: Any]
                let position = Int(source["position"] as! String)!
                #expect(position > lastPosition, "\(table): position \(position) after \(lastPosition)")
                lastPosition = position
                positions.append(position)
                // Per key, versions follow each other: an insert starts at 1, each update adds 1.
                let op = line["op"] as! String
                let image = (line["after"] as? [String: Any]) ?? (line["before"] as! [String: Any])
                let id = image["id"] as! Int, version = image["version"] as! Int
                switch op {
                case "c": #expect(lastVersion[id] == nil && version == 1)
                case "u": #expect(lastVersion[id] == version - 1, "\(table) key \(id): update to \(version) after \(lastVersion[id] ?? -1)")
                case "d": #expect(lastVersion[id] == version)
                default: Issue.record("unexpected op \(op)")
                }
                lastVersion[id] = op == "d" ? nil : version
            }
        }
        #expect(positions.sorted() == Array(0..<Self.changes), "every generated change exactly once")
    }

    @Test func sigtermDrainsAndCommits() throws {
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try writePipeline(in: dir)
        let process = Process()
        process.executableURL = try TestEnvironment.sluiceExecutable()
        process.arguments = ["run", "pipeline.yaml", "--log-level", "error"]
        process.currentDirectoryURL = dir
        try process.run()
        // Stop it mid-stream: once the sink has published some output and before the source is done.
        let out = dir.appendingPathComponent("out/crash.generator.orders.jsonl").path
        let streaming = waitUntilBlocking(timeout: 30) {
            fileSize(atPath: out) > 0 || !process.isRunning
        }
        #expect(streaming && process.isRunning, "the run published nothing within 30 s (\(process.isRunning ? "running" : process.endDescription))")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        // Nothing the stopped run acknowledged is lost or doubled when the next run finishes the job.
        let final = try runSluice(["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"], in: dir)
        #expect(final.status == 0, "final run failed: \(final.err)")
        var total = 0
        for table in ["orders", "customers", "items"] {
            let lines = try jsonLines(dir.appendingPathComponent("out/crash.generator.\(table).jsonl"))
            #expect(lines.map { $0["offset"] as! Int } == Array(0..<lines.count))
            total += lines.count
        }
        #expect(total == Self.changes)
    }
}

@Suite struct CLITests {
    @Test func validateExitsTwoAndNamesKeyAndLine() throws {
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = """
            name: cli
            sources:
              gen:
                type: generator
                cuont: 5
            sinks:
              out:
                type: jsonl
            """
        try yaml.write(to: dir.appendingPathComponent("bad.yaml"), atomically: true, encoding: .utf8)
        let result = try runSluice(["validate", "bad.yaml"], in: dir)
        #expect(result.status == 2)
        #expect(result.err.contains("line 5: sources.gen.cuont: unknown key 'cuont'; did you mean 'count'?"))
        #expect(result.err.contains("sinks.out.path: missing required key 'path'"))
        let usage = try runSluice(["run"], in: dir)
        #expect(usage.status == 2)
    }

    @Test func connectorsDescribeComesFromSpec() throws {
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = try runSluice(["connectors"], in: dir)
        #expect(list.status == 0)
        // Names are printed whole, however long (snowflake_stage used to be cut at 12 characters).
        let names = Set(list.out.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        #expect(names.isSuperset(of: ["generator", "jsonl", "postgres", "mysql", "parquet", "iceberg", "snowflake_stage"]),
                "listed: \(names.sorted())")
        let describe = try runSluice(["connectors", "describe", "jsonl"], in: dir)
        #expect(describe.status == 0 && describe.out.contains("path: string, required"))
        #expect(try runSluice(["connectors", "describe", "nope"], in: dir).status == 2)
    }

    @Test func logReadFromOffsetAndSince() throws {
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = """
            name: reader
            log: {path: reader.sluicelog}
            sources:
              gen: {type: generator, count: 100}
            sinks:
              out: {type: jsonl, path: out}
            """
        try yaml.write(to: dir.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        #expect(try runSluice(["run", "p.yaml", "--until-caught-up"], in: dir).status == 0)
        let read = try runSluice(["log", "read", "p.yaml", "reader.generator.orders", "--from", "10", "--limit", "5"], in: dir)
        #expect(read.status == 0)
        let lines = read.out.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.map { $0["offset"] as! Int } == [10, 11, 12, 13, 14])
        let since = try runSluice(["log", "read", "p.yaml", "reader.generator.orders", "--since", "1h", "--limit", "3"], in: dir)
        #expect(since.out.split(separator: "\n").count == 3)
        let missing = try runSluice(["log", "read", "p.yaml", "nope"], in: dir)
        #expect(missing.status == 2)
        // Ages beyond 100 years are refused, not a crash converting them to Int64.
        for age in ["999999999999d", "inf", "1e20s"] {
            let huge = try runSluice(["log", "read", "p.yaml", "reader.generator.orders", "--since", age], in: dir)
            #expect(huge.status == 2 && huge.err.contains("--since"), "\(age): \(huge.status) \(huge.err)")
        }
    }

    /// Reading commands on a mistyped log path say so instead of creating an empty log there.
    @Test func readingAMissingLogIsAnError() throws {
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = """
            name: typo
            log: {path: tpyo.sluicelog}
            sources:
              gen: {type: generator, count: 5}
            """
        try yaml.write(to: dir.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        for command in [["log", "streams", "p.yaml"], ["log", "read", "p.yaml", "typo.generator.orders"],
                        ["audit", "verify", "p.yaml"]] {
            let result = try runSluice(command, in: dir)
            #expect(result.status != 0 && result.err.contains("tpyo.sluicelog does not exist"),
                    "\(command): \(result.status) \(result.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("tpyo.sluicelog").path))
    }

    /// One runner per pipeline: a second `run` of a running pipeline is refused at once, naming the holder, while
    /// readers work beside it; once the first stops, the pipeline runs again.
    @Test func secondRunnerOfAPipelineIsRefused() async throws {
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = """
            name: once
            log: {path: once.sluicelog}
            sources:
              gen: {type: generator, count: 1000000, rate: 50}
            sinks:
              out: {type: jsonl, path: out}
            runtime: {status_interval: 0}
            """
        try yaml.write(to: dir.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        let first = try startSluice(["run", "p.yaml"], in: dir)
        defer { if first.isRunning { first.interrupt() } }
        let started = try await waitUntil(timeout: 30) {
            FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/once.generator.orders.jsonl").path)
        }
        #expect(started, "the first runner did not start")
        let second = try runSluice(["run", "p.yaml", "--until-caught-up"], in: dir)
        #expect(second.status != 0 && second.err.contains("pipeline 'once' is already running (pid \(first.processIdentifier))"),
                "\(second.status): \(second.err)")
        #expect(try runSluice(["log", "streams", "p.yaml"], in: dir).status == 0)
        first.interrupt()
        #expect(first.waitForExit(timeout: 30) && first.terminationStatus == 0)
        let third = try startSluice(["run", "p.yaml"], in: dir)
        try await Task.sleep(for: .seconds(1))
        #expect(third.isRunning, "the pipeline could not run again after its runner stopped")
        third.interrupt()
        #expect(third.waitForExit(timeout: 30))
    }

    /// A pipeline without sinks only captures: the changes are in the log for MCP and `log read`.
    @Test func logOnlyPipelineCapturesIntoTheLog() throws {
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = """
            name: capture
            log: {path: capture.sluicelog}
            sources:
              gen: {type: generator, count: 50, tables: [orders]}
            """
        try yaml.write(to: dir.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        #expect(try runSluice(["validate", "p.yaml"], in: dir).status == 0)
        let run = try runSluice(["run", "p.yaml", "--until-caught-up"], in: dir)
        #expect(run.status == 0, "run failed: \(run.err)")
        let read = try runSluice(["log", "read", "p.yaml", "capture.generator.orders", "--limit", "1000"], in: dir)
        #expect(read.status == 0 && read.out.split(separator: "\n").count == 50, "log read: \(read.out.prefix(500)) \(read.err)")
    }
}
