// Benchmark: Sluice end to end as users run it: one `sluice run --until-caught-up` process, source → durable core log
// (sync: full) → one sink, next to the source's own tool reading the same range in the same run. For each source and
// sink it prints the medians over the runs of wall seconds, CPU seconds (user + system) and peak RSS of the sluice
// process, the peer's median wall seconds, and the ratio peer wall / sluice wall (1.0: as fast as the peer).
//
//     EndToEndBenchmark [--source mysql|postgres|snapshot]... [--sink NAME]... [--rows N] [--runs R] [--sluice PATH]
//                       [--baseline PATH]
//
//   mysql     SLUICE_TEST_MYSQL_URL; ../shared/bench/mysql-workload.sh ROWS 1000 (default 100,000 rows, about 215k
//             row changes); peer `mariadb-binlog -v` over the same binlog range, to /dev/null.
//   postgres  SLUICE_TEST_PG_URL; ../shared/bench/pg-workload.sh run ROWS 10 (default 200,000 rows, about 270k
//             changes); each run reads its own copy of a slot made before the workload; peer pg_recvlogical to the
//             workload's end LSN, to /dev/null.
//   snapshot  SLUICE_TEST_PG_URL; a table of ROWS rows of the orders shape (default 1,000,000); each run snapshots it
//             through a new slot; peer psql `\copy (SELECT * FROM table) TO /dev/null`.
//   Sinks: parquet, iceberg (upsert, filesystem catalog), jsonl, state, snowflake_stage, delta (default: all).
//   The sluice binary defaults to <repo>/.build/release/sluice (swift build -c release --product sluice).
//   --baseline PATH also runs another sluice binary (an earlier build) on the same range, alternating with the first
//   run by run, and prints its figures and the ratio baseline wall / sluice wall.
import Foundation
import SluiceLog

/// Prints `line` at once, also when the output is a file or a pipe.
func say(_ line: String) {
    print(line)
    fflush(nil)
}

// MARK: Options

struct Options {
    var sources: [String] = []
    var sinks: [String] = []
    var rows: Int?
    var runs = 3
    var sluice: String?
    var baseline: String?
}

let allSources = ["mysql", "postgres", "snapshot"]
let allSinks = ["parquet", "iceberg", "jsonl", "state", "snowflake_stage", "delta"]

func usage(_ message: String) -> Never {
    say("error: \(message)")
    say("usage: EndToEndBenchmark [--source \(allSources.joined(separator: "|"))]... [--sink NAME]... "
        + "[--rows N] [--runs R] [--sluice PATH] [--baseline PATH]")
    exit(2)
}

var options = Options()
var argumentIterator = CommandLine.arguments.dropFirst().makeIterator()
while let argument = argumentIterator.next() {
    func value() -> String {
        guard let value = argumentIterator.next() else { usage("\(argument) needs a value") }
        return value
    }
    switch argument {
    case "--source":
        let source = value()
        guard allSources.contains(source) else { usage("unknown source \(source)") }
        options.sources.append(source)
    case "--sink":
        let sink = value()
        guard allSinks.contains(sink) else { usage("unknown sink \(sink); one of \(allSinks.joined(separator: ", "))") }
        options.sinks.append(sink)
    case "--rows":
        guard let rows = Int(value()), rows > 0 else { usage("--rows needs a positive number") }
        options.rows = rows
    case "--runs":
        guard let runs = Int(value()), runs > 0 else { usage("--runs needs a positive number") }
        options.runs = runs
    case "--sluice": options.sluice = value()
    case "--baseline": options.baseline = value()
    default: usage("unknown argument \(argument)")
    }
}
if options.sources.isEmpty { options.sources = allSources }
if options.sinks.isEmpty { options.sinks = allSinks }

let repository = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
let bench = repository.deletingLastPathComponent().appendingPathComponent("shared/bench")
let sluice = options.sluice ?? repository.appendingPathComponent(".build/release/sluice").path
guard FileManager.default.isExecutableFile(atPath: sluice) else {
    usage("no sluice binary at \(sluice): build it (swift build -c release --product sluice) or pass --sluice PATH")
}
if let baseline = options.baseline, !FileManager.default.isExecutableFile(atPath: baseline) {
    usage("no baseline sluice binary at \(baseline)")
}
let environment = ProcessInfo.processInfo.environment
let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-e2e-\(getpid())")
try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: scratch) }

// MARK: Processes

/// What one finished process cost, from the kernel's accounting of that child alone (`wait4`).
struct Measured {
    var wall: Double
    var cpu: Double
    var peakMB: Double
}

/// Runs `command` (searched in PATH) with its output appended to `outputPath`; throws when it does not exit 0.
@discardableResult
func run(_ command: [String], outputPath: String = "/dev/null", extraEnvironment: [String: String] = [:]) throws
    -> Measured
{
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = command.map { strdup($0) } + [nil]
    let envp = environment.merging(extraEnvironment) { $1 }.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let started = DispatchTime.now()
    let spawned = posix_spawnp(&pid, command[0], &actions, nil, argv, envp)
    guard spawned == 0 else { throw BenchmarkError("cannot start \(command[0]): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let wall = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
    // Exited normally with status 0: the low 7 bits (the signal) and the exit code byte are zero.
    guard status == 0 else {
        throw BenchmarkError("\(command.joined(separator: " ")) failed (wait status \(status)); see \(outputPath)")
    }
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return Measured(wall: wall, cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
                    peakMB: Double(usage.ru_maxrss) / 1024)
}

/// Runs `command` and returns what it printed (trimmed); throws when it does not exit 0.
func output(_ command: [String], extraEnvironment: [String: String] = [:]) throws -> String {
    let path = scratch.appendingPathComponent("output-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let printed = { ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }
    do {
        try run(command, outputPath: path, extraEnvironment: extraEnvironment)
    } catch {
        throw BenchmarkError("\(command[0]) failed: \(printed().split(separator: "\n").suffix(5).joined(separator: " / "))")
    }
    return printed()
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

// MARK: Sources

/// One source's workload, ready to be read: the pipeline's `sources:` entry for a run, and the peer reading the range.
struct Workload {
    let name: String
    let changes: String
    /// The YAML of the source for one run; `prepare` makes what that run needs (a slot), `finish` removes it.
    let sourceYAML: (_ run: String) -> String
    let prepare: (_ run: String) throws -> Void
    let finish: (_ run: String) -> Void
    let stream: String
    let peerName: String
    let peer: () throws -> Measured
    /// Removes what the workload made on the server (slots hold WAL back; tables take space).
    var cleanUp: () -> Void = {}
}

func postgresURL() throws -> String {
    guard let url = environment["SLUICE_TEST_PG_URL"] else {
        throw BenchmarkError("set SLUICE_TEST_PG_URL (eval \"$(scripts/servers.sh env DIR)\" after servers.sh start)")
    }
    return url
}

func psql(_ url: String, _ sql: String) throws -> String {
    try output(["psql", "-Atq", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
               extraEnvironment: ["PGOPTIONS": "-c client_min_messages=warning"])
}

func mysqlWorkload(rows: Int) throws -> Workload {
    guard let url = environment["SLUICE_TEST_MYSQL_URL"], let parts = URLComponents(string: url) else {
        throw BenchmarkError("set SLUICE_TEST_MYSQL_URL=mysql://user:pw@127.0.0.1:PORT/ (scripts/servers.sh start)")
    }
    let host = parts.host ?? "127.0.0.1", port = parts.port ?? 3306
    let user = parts.user ?? "root", password = parts.password ?? ""
    let printed = try output([bench.appendingPathComponent("mysql-workload.sh").path, String(rows), "1000"],
                             extraEnvironment: ["MYSQL_ARGS": "-h\(host) -P\(port) -u\(user) -p\(password)"])
    let lines = printed.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    guard let start = lines.first(where: { $0.first == "start" }), let end = lines.first(where: { $0.first == "end" }),
          start.count >= 3, end.count >= 3, start[1] == end[1]
    else { throw BenchmarkError("unexpected output of mysql-workload.sh: \(printed)") }
    let (file, startPosition, endPosition) = (start[1], start[2], end[2])
    return Workload(
        name: "mysql", changes: "binlog \(file) \(startPosition)…\(endPosition) (\(rows) rows inserted, then updated and deleted)",
        sourceYAML: { _ in
            "my: {type: mysql, url: \"\(url)\", start_position: \"\(file):\(startPosition)\", tables: [sluice_bench.orders]}"
        },
        prepare: { _ in }, finish: { _ in }, stream: "bench.sluice_bench.orders", peerName: "mariadb-binlog -v",
        peer: {
            try run(["mariadb-binlog", "-v", "--base64-output=decode-rows", "--read-from-remote-server", "-h\(host)",
                     "-P\(port)", "-u\(user)", "-p\(password)", "--start-position=\(startPosition)",
                     "--stop-position=\(endPosition)", file])
        })
}

func postgresStreamingWorkload(rows: Int) throws -> Workload {
    let url = try postgresURL()
    let workload = bench.appendingPathComponent("pg-workload.sh").path
    try run([workload, "setup", url])
    // Every run (and the peer) copies this slot, made before the workload, so all read the same changes.
    _ = try? psql(url, "SELECT pg_drop_replication_slot('sluice_e2e_start')")
    _ = try psql(url, "SELECT lsn FROM pg_create_logical_replication_slot('sluice_e2e_start', 'pgoutput')")
    let end = try output([workload, "run", url, String(rows), "10"])
    func slot(_ run: String) -> String { "sluice_e2e_\(run)" }
    func copySlot(_ name: String) throws {
        _ = try? psql(url, "SELECT pg_drop_replication_slot('\(name)')")
        _ = try psql(url, "SELECT pg_copy_logical_replication_slot('sluice_e2e_start', '\(name)')")
    }
    func dropSlot(_ name: String) { _ = try? psql(url, "SELECT pg_drop_replication_slot('\(name)')") }
    return Workload(
        name: "postgres", changes: "WAL to \(end) (\(rows) rows inserted in transactions of 10, then updated and deleted)",
        sourceYAML: { run in
            """
            pg: {type: postgres, url: "\(url)", tables: [public.sluice_bench_orders], slot: \(slot(run)), \
            publication: sluice_bench, snapshot_mode: never, create_slot: false}
            """
        },
        prepare: { run in try copySlot(slot(run)) }, finish: { run in dropSlot(slot(run)) },
        stream: "bench.public.sluice_bench_orders", peerName: "pg_recvlogical",
        peer: {
            let peerSlot = slot("peer")
            try copySlot(peerSlot)
            defer { dropSlot(peerSlot) }
            let binary = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?
                .sorted().last.map { "/usr/lib/postgresql/\($0)/bin/pg_recvlogical" } ?? "pg_recvlogical"
            return try run([binary, "-d", url, "--slot", peerSlot, "--start", "-o", "proto_version=1",
                            "-o", "publication_names=sluice_bench", "--endpos", end, "-F", "0", "-f", "/dev/null"])
        },
        cleanUp: { dropSlot("sluice_e2e_start") })
}

func postgresSnapshotWorkload(rows: Int) throws -> Workload {
    let url = try postgresURL()
    let table = "sluice_e2e_snapshot"
    _ = try psql(url, """
        DROP TABLE IF EXISTS \(table);
        CREATE TABLE \(table) (id bigint PRIMARY KEY, customer_id int NOT NULL, sku text NOT NULL, qty int,
          price numeric(12,2), status text, note text, created_at timestamptz DEFAULT now(), payload jsonb, active bool);
        INSERT INTO \(table) (id, customer_id, sku, qty, price, status, note, payload, active)
        SELECT g, g % 5000, 'SKU-' || (g % 997), g % 7, (g % 10000) / 100.0, 'new', repeat('x', 40),
               jsonb_build_object('k', g, 'tags', jsonb_build_array('a', 'b')), g % 2 = 0
        FROM generate_series(1, \(rows)) g;
        DROP PUBLICATION IF EXISTS \(table);
        CREATE PUBLICATION \(table) FOR TABLE \(table);
        """)
    _ = try psql(url, "VACUUM ANALYZE \(table)")
    func slot(_ run: String) -> String { "sluice_e2e_snap_\(run)" }
    return Workload(
        name: "snapshot", changes: "\(rows) rows of table \(table)",
        sourceYAML: { run in
            """
            pg: {type: postgres, url: "\(url)", tables: [public.\(table)], slot: \(slot(run)), \
            publication: \(table), snapshot_mode: initial}
            """
        },
        prepare: { run in _ = try? psql(url, "SELECT pg_drop_replication_slot('\(slot(run))')") },
        finish: { run in _ = try? psql(url, "SELECT pg_drop_replication_slot('\(slot(run))')") },
        stream: "bench.public.\(table)", peerName: "psql \\copy",
        peer: { try run(["psql", "-q", url, "-c", "\\copy (SELECT * FROM \(table)) TO '/dev/null'"]) },
        cleanUp: { _ = try? psql(url, "DROP PUBLICATION IF EXISTS \(table); DROP TABLE IF EXISTS \(table)") })
}

// MARK: Sinks

func sinkYAML(_ sink: String, folder: String) -> String {
    switch sink {
    case "iceberg": "out: {type: iceberg, warehouse: \(folder)/warehouse, mode: upsert}"
    case "state": "out: {type: state, path: \(folder)/state.db}"
    default: "out: {type: \(sink), path: \(folder)/\(sink)}"
    }
}

// MARK: Runs

/// Runs `binary` once over the workload into `sink`, in a fresh folder; returns its cost and the events it logged.
func runSluice(_ binary: String, _ workload: Workload, sink: String, runName: String) async throws -> (Measured, Int) {
    let folder = scratch.appendingPathComponent("\(workload.name)-\(runName)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let pipeline = """
        name: bench
        log: {path: \(folder)/bench.sluicelog, sync: full}
        runtime: {status_interval: 0}
        sources:
          \(workload.sourceYAML(runName))
        sinks:
          \(sinkYAML(sink, folder: folder))
        """
    let pipelinePath = "\(folder)/pipeline.yaml"
    try pipeline.write(toFile: pipelinePath, atomically: true, encoding: .utf8)
    try workload.prepare(runName)
    defer { workload.finish(runName) }
    let outputPath = scratch.appendingPathComponent("\(workload.name)-\(runName).out").path
    let measured = try run([binary, "run", "--until-caught-up", pipelinePath], outputPath: outputPath)
    let log = try SQLiteChangeLog(path: "\(folder)/bench.sluicelog")
    let events = Int(try await log.stream(workload.stream)?.count ?? 0)
    try await log.close()
    return (measured, events)
}

func figures(_ measured: [Measured]) -> String {
    String(format: "wall=%.2fs cpu=%.2fs peak=%.0fMB", median(measured.map(\.wall)), median(measured.map(\.cpu)),
           median(measured.map(\.peakMB)))
}

var ranAny = false
say("sluice: \(sluice)" + (options.baseline.map { "; baseline: \($0)" } ?? "")
    + "; \(options.runs) runs each, alternating; medians")
for source in options.sources {
    let workload: Workload
    do {
        switch source {
        case "mysql": workload = try mysqlWorkload(rows: options.rows ?? 100_000)
        case "postgres": workload = try postgresStreamingWorkload(rows: options.rows ?? 200_000)
        default: workload = try postgresSnapshotWorkload(rows: options.rows ?? 1_000_000)
        }
    } catch {
        say("\(source): skipped: \(error)")
        continue
    }
    say("\(source): \(workload.changes)")
    defer { workload.cleanUp() }
    for sink in options.sinks {
        var measured: [Measured] = [], baseline: [Measured] = [], peer: [Double] = []
        var events = 0
        do {
            for index in 0..<options.runs {
                let (cost, logged) = try await runSluice(sluice, workload, sink: sink, runName: "\(sink)_\(index)")
                measured.append(cost)
                events = logged
                if let binary = options.baseline {
                    let (cost, logged) = try await runSluice(binary, workload, sink: sink, runName: "\(sink)_base_\(index)")
                    guard logged == events else {
                        throw BenchmarkError("the baseline logged \(logged) events where sluice logged \(events)")
                    }
                    baseline.append(cost)
                }
                peer.append(try workload.peer().wall)
            }
        } catch {
            say("  \(sink): failed: \(error)")
            continue
        }
        ranAny = true
        let wall = median(measured.map(\.wall)), peerWall = median(peer)
        var line = "  " + sink.padding(toLength: 16, withPad: " ", startingAt: 0) + "events=\(events) sluice "
            + figures(measured) + "  " + workload.peerName + String(format: " wall=%.2fs  ratio %.2f", peerWall, peerWall / wall)
        if !baseline.isEmpty {
            line += "  baseline " + figures(baseline)
                + String(format: "  vs baseline %.2f", median(baseline.map(\.wall)) / wall)
        }
        say(line)
    }
}
if !ranAny { exit(1) }
