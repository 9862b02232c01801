import Foundation
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
/// Tools: `psql` and `mariadb` (or `mysql`) on PATH, the `sluice` executable (`SLUICE_BIN` or next to the tests), and
/// Python with duckdb, deltalake and pyarrow (`SLUICE_PYTHON`, else `.venv/bin/python`).
struct RealSourceStagingTests {
    static let pgSkipReason: Comment =
        "SLUICE_TEST_PG_URL is not set: start servers with scripts/servers.sh start DIR; eval \"$(scripts/servers.sh env DIR)\""
    static let mysqlSkipReason: Comment =
        "SLUICE_TEST_MYSQL_URL is not set: start servers with scripts/servers.sh start DIR; eval \"$(scripts/servers.sh env DIR)\""

    @Test(.enabled(if: RealServers.runnable("SLUICE_TEST_PG_URL"), pgSkipReason), .timeLimit(.minutes(15)))
    func postgresWorkloadStagesAndMergesExactlyOnceAcrossKills() throws {
        guard let url = try RealServers.url("SLUICE_TEST_PG_URL") else { return }
        let run = try RealSourceRun(dialect: .postgres, serverURL: url, seed: 0x5EED_0001)
        defer { run.cleanUp() }
        try run.execute()
    }

    @Test(.enabled(if: RealServers.runnable("SLUICE_TEST_MYSQL_URL"), mysqlSkipReason), .timeLimit(.minutes(15)))
    func mariadbWorkloadStagesAndMergesExactlyOnceAcrossKills() throws {
        guard let url = try RealServers.url("SLUICE_TEST_MYSQL_URL") else { return }
        let run = try RealSourceRun(dialect: .mysql, serverURL: url, seed: 0x5EED_0002)
        defer { run.cleanUp() }
        try run.execute()
    }
}

enum RealServers {
    static var required: Bool { ProcessInfo.processInfo.environment["SLUICE_REQUIRE_SERVERS"].map { !$0.isEmpty } ?? false }

    /// Whether the test should run: the server is configured, or servers are required (then it fails without one).
    static func runnable(_ variable: String) -> Bool {
        required || !(ProcessInfo.processInfo.environment[variable] ?? "").isEmpty
    }

    static func url(_ variable: String) throws -> String? {
        if let url = ProcessInfo.processInfo.environment[variable], !url.isEmpty { return url }
        if required {
            throw StagingChecker.Failure(
                description: "\(variable) is not set but SLUICE_REQUIRE_SERVERS is: start the servers with "
                    + "scripts/servers.sh start DIR and eval \"$(scripts/servers.sh env DIR)\"")
        }
        return nil
    }
}

/// A tool's exit status and output (written to files: reading Foundation pipes was seen to crash on EINTR).
struct ToolResult {
    var status: Int32
    var output: String
    var errors: String
}

/// Runs tools with their output in files.
struct Tools {
    let directory: String

    /// Starts a tool found on PATH (or at an absolute path); output goes to `<name>.out` / `<name>.err`.
    func start(
        _ tool: String, _ arguments: [String], input: String? = nil, environment: [String: String] = [:],
        name: String
    ) throws -> Process {
        let process = Process()
        if tool.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [tool] + arguments
        }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        FileManager.default.createFile(atPath: path(name + ".out"), contents: nil)
        FileManager.default.createFile(atPath: path(name + ".err"), contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: path(name + ".out"))
        process.standardError = FileHandle(forWritingAtPath: path(name + ".err"))
        if let input {
            process.standardInput = FileHandle(forReadingAtPath: input)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        return process
    }

    /// Waits for a started tool (killing it after `timeout` seconds) and returns its result.
    func finish(_ process: Process, name: String, timeout: Double = 600) -> ToolResult {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return ToolResult(status: status, output: read(name + ".out"), errors: read(name + ".err"))
    }

    func run(
        _ tool: String, _ arguments: [String], input: String? = nil, environment: [String: String] = [:], name: String,
        timeout: Double = 600
    ) throws -> ToolResult {
        finish(try start(tool, arguments, input: input, environment: environment, name: name), name: name, timeout: timeout)
    }

    func path(_ name: String) -> String { directory + "/" + name }
    func read(_ name: String) -> String { (try? String(contentsOfFile: path(name), encoding: .utf8)) ?? "" }
    func write(_ text: String, _ name: String) throws { try text.write(toFile: path(name), atomically: true, encoding: .utf8) }
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
            throw StagingChecker.Failure(description: "\(step) failed (\(result.status)): \(result.errors.suffix(2000))")
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
            throw StagingChecker.Failure(description: "reading the source table failed: \(result.errors.suffix(2000))")
        }
        return tools.path(file + ".out")
    }

    // MARK: Pipeline

    func writePipeline(startPosition: String?) throws {
        let source: String
        switch dialect {
        case .postgres:
            source = """
                    type: postgres
                    url: "\(postgresURL(database: name))"
                    tables: [public.items]
                    status_interval: 1s
                    max_batch_events: 45
                """
        case .mysql:
            source = """
                    type: mysql
                    url: "\(serverURL)"
                    include: ["\(name).*"]
                    start_position: "\(startPosition ?? "latest")"
                    heartbeat_interval: 1s
                    max_batch_events: 45
                """
        }
        let yaml = """
            name: \(name)
            log:
              path: log/\(name).sluicelog
            sources:
              src:
            \(source)
            sinks:
              stage:
                type: snowflake_stage
                path: stage
                max_file_rows: 37
              lake:
                type: delta
                path: lake
                max_file_rows: 53
                current_file_rows: 16
            runtime:
              status_interval: 0
              flush_interval: 50ms
              sink_batch_events: 41
              retry_initial_backoff: 200ms
              retry_max_backoff: 1s
            """
        try tools.write(yaml, "pipeline.yaml")
    }

    func startSluice(untilCaughtUp: Bool, environment: [String: String] = [:]) throws -> (Process, String) {
        sluiceRuns += 1
        let step = "sluice-\(sluiceRuns)"
        let arguments = ["run", "pipeline.yaml", "--log-level", "warning"] + (untilCaughtUp ? ["--until-caught-up"] : [])
        return (try tools.start(try sluiceExecutable(), arguments, environment: environment, name: step), step)
    }

    func runUntilCaughtUp() throws {
        let (process, step) = try startSluice(untilCaughtUp: true)
        let result = tools.finish(process, name: step, timeout: 300)
        record("until caught up", process)
        guard result.status == 0 else {
            throw StagingChecker.Failure(
                description: "sluice run --until-caught-up exited with \(result.status): \(result.errors.suffix(3000))")
        }
    }

    /// Runs killed with SIGKILL after a random time.
    func killAtRandomMoments(_ count: Int, random: inout SeededRandom) throws {
        for _ in 0..<count {
            let before = stagedChanges()
            let (process, _) = try startSluice(untilCaughtUp: false)
            Thread.sleep(forTimeInterval: 0.3 + Double(random.next(below: 1200)) / 1000)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
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
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) } else { reached += 1 }
            process.waitUntilExit()
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
            throw StagingChecker.Failure(description: "SHOW MASTER STATUS failed: \(result.errors) \(result.output)")
        }
        return "\(fields[0]):\(fields[1])"
    }

    // MARK: The test

    func execute() throws {
        var random = SeededRandom(seed: UInt64(truncatingIfNeeded: name.hashValue))
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

/// Runs `RealSourceChecker.script` (duckdb, deltalake, pyarrow) on a request; request and answer go through files.
enum RealSourceChecker {
    static func run(_ request: [String: Any], in tools: Tools) throws -> [String: Any] {
        try tools.write(script, "check.py")
        try JSONSerialization.data(withJSONObject: request).write(to: URL(fileURLWithPath: tools.path("check-request.json")))
        let result = try tools.run(
            StagingChecker.python,
            [tools.path("check.py"), tools.path("check-request.json"), tools.path("check-answer.json")], name: "check")
        if result.status == 3 {
            throw StagingChecker.Failure(
                description: "\(StagingChecker.python) lacks duckdb, deltalake or pyarrow (\(result.errors)); run "
                    + "scripts/install-deps.sh or `pip install duckdb deltalake pyarrow`")
        }
        guard result.status == 0,
            let data = FileManager.default.contents(atPath: tools.path("check-answer.json")),
            let answer = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw StagingChecker.Failure(description: "the checker failed (\(result.status)): \(result.errors.suffix(3000))")
        }
        return answer
    }

    static let script = #"""
        import sys, json, os, shutil, datetime, decimal, uuid

        def fail(message):
            print(message, file=sys.stderr)
            sys.exit(3)

        try:
            import duckdb
            import pyarrow
            from deltalake import DeltaTable, QueryBuilder
        except ImportError as error:
            fail("missing python package: %s" % error)

        EPOCH = datetime.datetime(1970, 1, 1)
        EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

        def canonical(value):
            if value is None or isinstance(value, (bool, int, float, str)):
                return value
            if isinstance(value, decimal.Decimal):
                return format(value, "f")
            if isinstance(value, (bytes, bytearray, memoryview)):
                return bytes(value).hex()
            if isinstance(value, uuid.UUID):
                return str(value)
            if isinstance(value, datetime.datetime):
                delta = value - (EPOCH_UTC if value.tzinfo is not None else EPOCH)
                return delta // datetime.timedelta(microseconds=1)
            if isinstance(value, datetime.date):
                return (value - EPOCH.date()).days
            if isinstance(value, (list, tuple)):
                return [canonical(v) for v in value]
            return "unrendered:" + type(value).__name__

        def normalise(row, request):
            out = {}
            for column in request["columns"]:
                value = canonical(row.get(column))
                if column in request["json_columns"] and isinstance(value, str):
                    value = json.loads(value)
                out[column] = value
            return out

        def same(a, e):
            if isinstance(a, float) or isinstance(e, float):
                return a is not None and e is not None and float(a) == float(e)
            if isinstance(a, bool) or isinstance(e, bool):
                return a is not None and e is not None and int(a) == int(e)
            return a == e

        def compare(what, actual_rows, expected, request):
            problems = []
            actual = {}
            for row in actual_rows:
                key = str(row["id"])
                if key in actual:
                    problems.append("%s: key %s appears twice" % (what, key))
                actual[key] = normalise(row, request)
            for key in sorted(set(actual) | set(expected), key=int):
                if key not in actual:
                    problems.append("%s: key %s missing" % (what, key))
                elif key not in expected:
                    problems.append("%s: key %s should not exist" % (what, key))
                else:
                    for column in request["columns"]:
                        a, e = actual[key][column], expected[key][column]
                        if not same(a, e):
                            problems.append("%s: key %s column %s: %.200r, expected %.200r" % (what, key, column, a, e))
            return problems

        def load_source(request):
            rows = {}
            for line in open(request["source_rows"], encoding="utf-8"):
                line = line.strip()
                if not line:
                    continue
                row = json.loads(line)
                rows[str(row["id"])] = normalise(row, request)
            return rows

        def duckdb_apply(request, expected):
            folder = request["stage_folder"]
            name = os.path.basename(folder)
            test_stage = request["test_stage"]
            os.makedirs(os.path.join(test_stage, name), exist_ok=True)
            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET VARIABLE sluice_stage = ?", [test_stage])
            con.execute(open(os.path.join(folder, "setup.duckdb.sql")).read())
            apply = open(os.path.join(folder, "apply.duckdb.sql")).read()
            ledger = [json.loads(line) for line in open(os.path.join(folder, "_ledger.jsonl"))]
            replays = 0
            for index, entry in enumerate(ledger):
                shutil.copy(os.path.join(folder, entry["file"]), os.path.join(test_stage, name, entry["file"]))
                con.execute(apply)
                # The same file again: the load history skips it.
                con.execute(apply)
                # An older batch delivered again under a new name after newer ones: the guarded MERGE ignores it.
                for back in request["replay_back"]:
                    if index - back >= 0:
                        old = ledger[index - back]["file"]
                        copy = "replay-%d-%d-%s" % (index, back, old)
                        shutil.copy(os.path.join(folder, old), os.path.join(test_stage, name, copy))
                        con.execute(apply)
                        replays += 1
            schema, table = name.split(".", 1)
            actual = con.execute('SELECT * FROM "%s"."%s"' % (schema, table))
            names = [d[0] for d in actual.description]
            rows = [dict(zip(names, r)) for r in actual.fetchall()]
            problems = compare("duckdb target", rows, expected, request)
            staging_left = con.execute('SELECT count(*) FROM "%s"."%s__sluice_staging"' % (schema, table)).fetchone()[0]
            if staging_left:
                problems.append("duckdb: %d rows left in the staging table" % staging_left)
            offsets = [o for e in ledger for o in range(e["first_offset"], e["last_offset"] + 1)]
            if offsets != list(range(len(offsets))):
                problems.append("stage: ledger offsets are not dense 0..n-1 (%d offsets)" % len(offsets))
            # (an update that moves a key is two rows at one offset: the old key's delete, then the update)
            staged = sum(e["rows"] for e in ledger)
            if staged != len(request["expected_changes"]):
                problems.append("stage: %d rows staged, the workload made %d changes" % (staged, len(request["expected_changes"])))
            # every change, in order, from the staged files themselves
            files = [os.path.join(folder, e["file"]) for e in ledger]
            if files:
                got = con.execute("SELECT _op, id, _offset FROM read_parquet(?, union_by_name = true) "
                                  "ORDER BY _offset, _op <> 'd'", [files]).fetchall()
                seq = [[op, str(i)] for op, i, _ in got]
                if seq != request["expected_changes"]:
                    problems.append("stage: staged changes differ from the workload: %s" % first_difference(seq, request["expected_changes"]))
            return {"problems": problems, "files": len(ledger), "replays": replays, "rows": len(rows)}

        def first_difference(got, want):
            for i, (g, w) in enumerate(zip(got, want)):
                if g != w:
                    return "at %d: %r, expected %r (%d vs %d changes)" % (i, g, w, len(got), len(want))
            return "%d changes, expected %d" % (len(got), len(want))

        def arrow_rows(table):
            names = table.column_names
            columns = [table.column(n).to_pylist() for n in names]
            return [{n: c[i] for n, c in zip(names, columns)} for i in range(table.num_rows)]

        def delta_check(request, expected):
            folder = request["lake_folder"]
            problems = []
            changes = arrow_rows(DeltaTable(os.path.join(folder, "changes")).to_pyarrow_table())
            changes.sort(key=lambda r: (r["_offset"], r["_op"] != "d"))
            offsets = sorted(set(r["_offset"] for r in changes))
            if offsets != list(range(len(offsets))):
                problems.append("delta changes: offsets are not dense 0..n-1 (%d distinct)" % len(offsets))
            triples = [(r["_offset"], r["_op"], r["id"]) for r in changes]
            if len(set(triples)) != len(triples):
                problems.append("delta changes: %d rows appear twice" % (len(triples) - len(set(triples))))
            seq = [[r["_op"], str(r["id"])] for r in changes]
            if seq != request["expected_changes"]:
                problems.append("delta changes differ from the workload: %s" % first_difference(seq, request["expected_changes"]))
            # Replaying every change in order gives the source table.
            state = {}
            for r in changes:
                key = str(r["id"])
                if r["_op"] == "d":
                    state.pop(key, None)
                elif r["_op"] == "t":
                    state.clear()
                else:
                    row = dict(state.get(key, {}))
                    unchanged = set(r["_unchanged"] or [])
                    for column in request["columns"]:
                        if column not in unchanged:
                            row[column] = r[column]
                    state[key] = row
            problems += compare("delta changes replayed", list(state.values()), expected, request)
            current_table = DeltaTable(os.path.join(folder, "current"))
            current = arrow_rows(current_table.to_pyarrow_table())
            problems += compare("delta current", current, expected, request)
            # Readers skip files by the add actions' statistics: a filtered read (delta-rs's SQL engine) finds every
            # matching row. (Its pyarrow dataset path is not used: it reads a column without min/max as `column >= null`.)
            for name, table, rows in (("changes", DeltaTable(os.path.join(folder, "changes")), changes),
                                      ("current", current_table, current)):
                for column in ["_op", "_position", "_offset"] + request["columns"]:
                    values = [r[column] for r in rows if column in r and r[column] is not None]
                    if not values or isinstance(values[0], (bool, list, dict, datetime.date, datetime.datetime)):
                        continue
                    for value in (values[0], values[-1], min(values)):
                        if isinstance(value, str):
                            literal = "'" + value.replace("'", "''") + "'"
                        elif isinstance(value, decimal.Decimal):
                            # (a bare literal is a float to DataFusion, which then misses decimal(12,2) values)
                            literal = "CAST('%s' AS DECIMAL(38, %d))" % (format(value, "f"), max(0, -value.as_tuple().exponent))
                        else:
                            literal = repr(value)
                        want = sum(1 for r in rows if r.get(column) is not None and r[column] == value)
                        query = 'SELECT count(*) AS n FROM t WHERE "%s" = %s' % (column, literal)
                        answer = pyarrow.table(QueryBuilder().register("t", table).execute(query).read_all())
                        got = answer.column("n")[0].as_py()
                        if got != want:
                            problems.append("delta %s: %s finds %d rows, the table has %d" % (name, query[:120], got, want))
            return {"problems": problems, "changes_rows": len(changes), "current_rows": len(current)}

        request = json.load(open(sys.argv[1]))
        expected = load_source(request)
        result = {"source_rows": len(expected)}
        staged = duckdb_apply(request, expected)
        lake = delta_check(request, expected)
        result.update({"stage_files": staged["files"], "replays": staged["replays"], "duckdb_rows": staged["rows"],
                       "changes_rows": lake["changes_rows"], "current_rows": lake["current_rows"],
                       "problems": staged["problems"] + lake["problems"]})
        with open(sys.argv[2], "w") as out:
            json.dump(result, out)
            out.flush()
            os.fsync(out.fileno())
        # Skip interpreter teardown: native threads of duckdb/deltalake were seen to abort it
        # ("terminate called without an active exception") after the answer was written.
        os._exit(0)
        """#
}
