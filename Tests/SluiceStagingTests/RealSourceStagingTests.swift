import Foundation
import SluiceTestSupport
import Testing

/// The issue's "Show" on real servers: a mixed workload on a real PostgreSQL and a real MariaDB, captured by the real
/// `sluice` executable (source → core log → `snowflake_stage` and `delta` sinks), killed with SIGKILL at random
/// moments and exactly between the sinks' commit steps, then finished with `--until-caught-up`:
///
/// - applying the DuckDB-dialect statements for every staged file in order (each file twice, and older files again
///   under new names after newer ones, i.e. batches delivered twice) yields a table equal to the source table;
/// - the staged files and the Delta `changes` table hold every change of the workload exactly once and in order, and
///   replaying them gives the source table; the Delta `current` table equals the source table.
///
/// Servers: `SLUICE_TEST_PG_URL` and `SLUICE_TEST_MYSQL_URL` (`scripts/servers.sh start DIR`, then
/// `eval "$(scripts/servers.sh env DIR)"`). Without one the test is skipped, unless `SLUICE_REQUIRE_SERVERS` is set.
/// Tools: `psql` and `mariadb` (or `mysql`) on PATH, the `sluice` executable (`TestEnvironment.sluiceExecutable()`),
/// and Python with duckdb, deltalake and pyarrow (`TestEnvironment.python()`).
struct RealSourceStagingTests {
    @Test(.needsPostgres, .timeLimit(.minutes(15)))
    func postgresWorkloadStagesAndMergesExactlyOnceAcrossKills() throws {
        try execute(.postgres, serverURL: try TestServers.postgres(), seed: 0x5EED_0001)
    }

    @Test(.needsMySQL, .timeLimit(.minutes(15)))
    func mariadbWorkloadStagesAndMergesExactlyOnceAcrossKills() throws {
        try execute(.mysql, serverURL: try TestServers.mysql(), seed: 0x5EED_0002)
    }

    /// Runs and checks the workload of `dialect` on the server at `serverURL`, then removes what it made.
    func execute(_ dialect: RealSourceWorkload.Dialect, serverURL: String, seed: UInt64) throws {
        let run = try RealSourceRun(dialect: dialect, serverURL: serverURL, seed: seed)
        defer { run.cleanUp() }
        try run.execute()
    }
}

/// One test's database, pipeline and runs.
final class RealSourceRun {
    let dialect: RealSourceWorkload.Dialect
    let serverURL: String
    let workload: RealSourceWorkload
    let directory: String
    let tools: Tools
    /// Unique per test run: database and pipeline (hence slot, publication, server id) names.
    let name: String
    private var sluiceRuns = 0
    /// After each run: how it ended and how far the sinks got (for failure messages and the report).
    private(set) var progress: [String] = []
    /// Runs killed at a random moment that had staged changes and left work for later runs.
    private(set) var killedMidStream = 0

    init(dialect: RealSourceWorkload.Dialect, serverURL: String, seed: UInt64) throws {
        self.dialect = dialect
        self.serverURL = serverURL
        workload = RealSourceWorkload(dialect: dialect, seed: seed)
        directory = try temporaryDirectory()
        tools = Tools(directory: directory)
        name = "stg_\(dialect == .postgres ? "pg" : "my")_" + UUID().uuidString.prefix(8).lowercased()
    }

    // MARK: Database clients

    /// postgresql://user@host:port/db → the same URL on another database.
    func postgresURL(database: String) -> String {
        guard var components = URLComponents(string: serverURL) else { return serverURL }
        components.path = "/" + database
        return components.string ?? serverURL
    }

    /// mysql://user:password@host:port/ → client arguments and the password for MYSQL_PWD.
    func mariadbArguments() -> (arguments: [String], environment: [String: String]) {
        let components = URLComponents(string: serverURL)
        var arguments = [
            "--protocol=TCP", "-h", components?.host ?? "127.0.0.1", "-P", String(components?.port ?? 3306),
            "--default-character-set=utf8mb4",
        ]
        if let user = components?.user { arguments += ["-u", user] }
        var environment: [String: String] = [:]
        if let password = components?.password { environment["MYSQL_PWD"] = password.removingPercentEncoding ?? password }
        return (arguments, environment)
    }

    var mariadbClient: String {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        for directory in paths where FileManager.default.isExecutableFile(atPath: "\(directory)/mariadb") {
            return "mariadb"
        }
        return "mysql"
    }

    /// Starts a SQL script on the test's database (or the server's default one).
    func startSQL(_ script: String, name step: String, onDatabase: Bool = true) throws -> Process {
        try tools.write(script, step + ".sql")
        switch dialect {
        case .postgres:
            let url = onDatabase ? postgresURL(database: name) : serverURL
            return try tools.start(
                "psql", [url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", tools.path(step + ".sql")], name: step)
        case .mysql:
            let (arguments, environment) = mariadbArguments()
            return try tools.start(
                mariadbClient, arguments + (onDatabase ? ["-D", name] : []), input: tools.path(step + ".sql"),
                environment: environment, name: step)
        }
    }

    func runSQL(_ script: String, name step: String, onDatabase: Bool = true) throws {
        let result = tools.finish(try startSQL(script, name: step, onDatabase: onDatabase), name: step)
        guard result.status == 0 else {
            throw TestFailure("\(step) failed (\(result.status)): \(result.errors.suffix(2000))")
        }
    }

    /// The source table, one normalised JSON object per line, in a file.
    func fetchSource() throws -> String {
        let file = "source-rows"
        try tools.write(workload.fetchQuery, file + ".sql")
        let result: ToolResult
        switch dialect {
        case .postgres:
            result = try tools.run(
                "psql", [postgresURL(database: name), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-f", tools.path(file + ".sql")],
                name: file)
        case .mysql:
            let (arguments, environment) = mariadbArguments()
            result = try tools.run(
                mariadbClient, arguments + ["-D", name, "-N", "-B", "-r"], input: tools.path(file + ".sql"),
                environment: environment, name: file)
        }
        guard result.status == 0 else {
            throw TestFailure("reading the source table failed: \(result.errors.suffix(2000))")
        }
        return tools.path(file + ".out")
    }

    // MARK: Pipeline

    func writePipeline(startPosition: String?) throws {
        let source: String
        switch dialect {
        case .postgres:
            source = """
                  src:
                    type: postgres
                    url: "\(postgresURL(database: name))"
                    tables: [public.items]
                    status_interval: 1s
                    max_batch_events: 45
                """
        case .mysql:
            source = """
                  src:
                    type: mysql
                    url: "\(serverURL)"
                    include: ["\(name).*"]
                    start_position: "\(startPosition ?? "latest")"
                    heartbeat_interval: 1s
                    max_batch_events: 45
                """
        }
        let sinks = """
              stage:
                type: snowflake_stage
                path: stage
                max_file_rows: 37
              lake:
                type: delta
                path: lake
                max_file_rows: 53
                current_file_rows: 16
            """
        let runtime = ["sink_batch_events: 41", "retry_initial_backoff: 200ms", "retry_max_backoff: 1s"]
        try TestPipeline(name: name, sources: source, sinks: sinks, runtime: runtime)
            .write(in: URL(fileURLWithPath: directory))
    }

    func startSluice(untilCaughtUp: Bool, environment: [String: String] = [:]) throws -> (Process, String) {
        sluiceRuns += 1
        let step = "sluice-\(sluiceRuns)"
        let arguments = ["run", "pipeline.yaml", "--log-level", "warning"] + (untilCaughtUp ? ["--until-caught-up"] : [])
        return (try tools.start(try TestEnvironment.sluiceExecutable().path, arguments, environment: environment, name: step), step)
    }

    func runUntilCaughtUp() throws {
        let (process, step) = try startSluice(untilCaughtUp: true)
        let result = tools.finish(process, name: step, timeout: 300)
        record("until caught up", process)
        guard result.status == 0 else {
            throw TestFailure("sluice run --until-caught-up exited with \(result.status): \(result.errors.suffix(3000))")
        }
    }

    /// Runs killed with SIGKILL after a random time.
    func killAtRandomMoments(_ count: Int, random: inout SeededGenerator) throws {
        for _ in 0..<count {
            let before = stagedChanges()
            let (process, _) = try startSluice(untilCaughtUp: false)
            process.kill(after: 0.3 + Double(random.next(below: 1200)) / 1000)  // a random crash point
            record("SIGKILL at a random moment", process)
            let after = stagedChanges()
            if after > before && after < workload.expectedChanges.count { killedMidStream += 1 }
        }
    }

    /// Runs that kill themselves exactly between the steps of the sinks' commit protocols (or are killed when the
    /// backlog ends first). Returns how many reached their step.
    func killBetweenCommitSteps() throws -> Int {
        let steps = [
            "snowflake.file-written", "snowflake.ledger-appended", "delta.changes-file-written",
            "delta.commit-written", "delta.changes-committed", "delta.current-files-written",
        ]
        var reached = 0
        for step in steps {
            let (process, _) = try startSluice(
                untilCaughtUp: false, environment: ["SLUICE_STAGING_CRASH_AT": step, "SLUICE_STAGING_CRASH_AFTER": "2"])
            if process.waitForInjectedKill(timeout: 15) { reached += 1 }
            record("crash at \(step)", process)
        }
        return reached
    }

    var stageFolder: String { directory + "/stage/" + (dialect == .postgres ? "public" : name) + ".items" }
    var lakeFolder: String { directory + "/lake/" + (dialect == .postgres ? "public" : name) + ".items" }

    /// Changes the stage ledger records.
    func stagedChanges() -> Int {
        let ledger = (try? String(contentsOfFile: stageFolder + "/_ledger.jsonl", encoding: .utf8)) ?? ""
        var staged = 0
        for line in ledger.split(separator: "\n") {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let rows = object["rows"] as? Int
            {
                staged += rows
            }
        }
        return staged
    }

    /// Changes the stage ledger records and the number of Delta commits of the changes table.
    func sinkProgress() -> String {
        let staged = stagedChanges()
        let commits = (try? FileManager.default.contentsOfDirectory(atPath: lakeFolder + "/changes/_delta_log"))?
            .filter { $0.hasSuffix(".json") }.count ?? 0
        return "staged \(staged) changes, \(commits) delta commits"
    }

    func record(_ what: String, _ process: Process) {
        let ended = process.terminationReason == .uncaughtSignal ? "signal \(process.terminationStatus)" : "exit \(process.terminationStatus)"
        progress.append("run \(sluiceRuns) (\(what)): \(ended); \(sinkProgress())")
    }

    /// The MariaDB binlog position before the test's first statement.
    func mariadbPosition() throws -> String {
        let (arguments, environment) = mariadbArguments()
        try tools.write("SHOW MASTER STATUS;\n", "position.sql")
        let result = try tools.run(
            mariadbClient, arguments + ["-N", "-B"], input: tools.path("position.sql"), environment: environment,
            name: "position")
        let fields = result.output.split(whereSeparator: { $0 == "\t" || $0 == "\n" })
        guard result.status == 0, fields.count >= 2 else {
            throw TestFailure("SHOW MASTER STATUS failed: \(result.errors) \(result.output)")
        }
        return "\(fields[0]):\(fields[1])"
    }

    // MARK: The test

    func execute() throws {
        var random = SeededGenerator(seed: UInt64(truncatingIfNeeded: name.hashValue))
        var startPosition: String? = nil
        switch dialect {
        case .postgres:
            try runSQL("CREATE DATABASE \(name);\n", name: "create-database", onDatabase: false)
        case .mysql:
            startPosition = try mariadbPosition()
            try runSQL("CREATE DATABASE \(name) CHARACTER SET utf8mb4;\n", name: "create-database", onDatabase: false)
        }
        try runSQL(workload.setup, name: "setup")
        try writePipeline(startPosition: startPosition)
        // First run: PostgreSQL creates publication and slot and snapshots the initial rows; MariaDB streams them.
        try runUntilCaughtUp()

        // Phase 1 is written (slowly) while runs are killed at random moments; phase 2 is written before runs that
        // kill themselves between the sinks' commit steps, then runs killed at random moments.
        let phase1 = try startSQL(workload.phases[0], name: "phase-1")
        while phase1.isRunning { try killAtRandomMoments(1, random: &random) }
        let phase1Result = tools.finish(phase1, name: "phase-1")
        #expect(phase1Result.status == 0, "phase 1 failed: \(phase1Result.errors.suffix(2000))")
        try runSQL(workload.phases[1], name: "phase-2")
        let reached = try killBetweenCommitSteps()
        try killAtRandomMoments(2, random: &random)
        try runUntilCaughtUp()
        // Nothing happened since: one more run changes nothing.
        try runUntilCaughtUp()

        let sourceRows = try fetchSource()
        try progress.joined(separator: "\n").write(toFile: tools.path("progress.txt"), atomically: true, encoding: .utf8)
        let answer = try RealSourceChecker.run(
            [
                "stage_folder": stageFolder, "lake_folder": lakeFolder,
                "test_stage": directory + "/duck", "source_rows": sourceRows, "columns": RealSourceWorkload.columns,
                "json_columns": RealSourceWorkload.jsonColumns, "replay_back": [1, 3],
                "expected_changes": workload.expectedChanges,
            ], in: tools)
        let problems = answer["problems"] as? [String] ?? ["the checker gave no problems list"]
        #expect(
            problems.isEmpty,
            "\(problems.count) problems: \(problems.prefix(25).joined(separator: "\n"))\nruns:\n\(progress.joined(separator: "\n"))")
        #expect((answer["source_rows"] as? Int ?? 0) > 0, "the source table is empty")
        #expect(answer["changes_rows"] as? Int == workload.expectedChanges.count)
        #expect((answer["stage_files"] as? Int ?? 0) > 10, "too few staged files to exercise batches: \(answer)")
        #expect(reached >= 1, "no run reached a commit step before the backlog ended")
        #expect(
            killedMidStream >= 1,
            "no run killed at a random moment had made progress that a later run continued:\n\(progress.joined(separator: "\n"))")
    }

    func cleanUp() {
        switch dialect {
        case .postgres:
            let slot = "sluice_\(name)_src"
            _ = try? runSQL(
                """
                SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '\(slot)' AND NOT active;
                DROP DATABASE IF EXISTS \(name);
                """, name: "drop", onDatabase: false)
        case .mysql:
            _ = try? runSQL("DROP DATABASE IF EXISTS \(name);\n", name: "drop", onDatabase: false)
        }
        if ProcessInfo.processInfo.environment["SLUICE_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}

/// Runs `Readers/real_source_staging_check.py` (duckdb, deltalake, pyarrow) on a request; request and answer go through files.
enum RealSourceChecker {
    static func run(_ request: [String: Any], in tools: Tools) throws -> [String: Any] {
        try JSONSerialization.data(withJSONObject: request).write(to: URL(fileURLWithPath: tools.path("check-request.json")))
        try Python.run(.realSourceStagingCheck, [tools.path("check-request.json"), tools.path("check-answer.json")])
        guard let data = FileManager.default.contents(atPath: tools.path("check-answer.json")),
            let answer = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw TestFailure("the checker wrote no answer object to \(tools.path("check-answer.json"))")
        }
        return answer
    }
}
