import Foundation
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceMySQL

/// A `sluice run` process of a mysql → jsonl pipeline in a temporary directory.
struct PipelineDirectory {
    let url: URL

    init(name: String, mysqlURL: String, database: String) throws {
        url = try TestEnvironment.temporaryFolder("sluice-mysql")
        let sources = """
              my:
                type: mysql
                url: \(mysqlURL)
                include: ["\(database).*"]
                snapshot_mode: initial
                snapshot_chunk_size: 1000
                heartbeat_interval: 1s
            """
        try TestPipeline(name: name, sources: sources, runtime: TestPipeline.quickRetries).write(in: url)
    }

    func start(_ extra: [String] = [], stderr: URL? = nil) throws -> Child {
        let arguments = [try TestEnvironment.sluiceExecutable().path, "run", "pipeline.yaml", "--log-level", "warning"] + extra
        return try Child.spawn(arguments, directory: url.path, stderr: stderr?.path ?? "/dev/null")
    }

    func lines(_ stream: String) throws -> [[String: Any]] {
        let file = url.appendingPathComponent("out/\(stream).jsonl")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }
}

/// A child process started with posix_spawn and waited for by its pid (no Foundation `Process`: its exit
/// monitoring hung in this test bundle).
final class Child {
    let pid: pid_t
    private(set) var status: Int32?

    private init(pid: pid_t) { self.pid = pid }

    /// Runs `arguments` in `directory` (through `sh -c 'cd … && exec …'`, so the pid is the program's).
    static func spawn(_ arguments: [String], directory: String, stderr: String) throws -> Child {
        func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let script = "cd \(quote(directory)) && exec " + arguments.map(quote).joined(separator: " ")
            + " </dev/null >/dev/null 2>\(quote(stderr))"
        var pid: pid_t = 0
        let strings: [String] = ["/bin/sh", "-c", script]
        let argv: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let result = posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ)
        guard result == 0 else { throw SluiceError(.internal, "posix_spawn failed: \(result)") }
        return Child(pid: pid)
    }

    var isRunning: Bool {
        if status != nil { return false }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid { status = raw }
        return status == nil
    }

    /// Waits for the exit; returns (exited normally, exit code or signal).
    @discardableResult
    func wait() -> (exited: Bool, code: Int32) {
        if status == nil {
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
            status = raw
        }
        let raw = status!
        return raw & 0x7f == 0 ? (true, (raw >> 8) & 0xff) : (false, raw & 0x7f)
    }
}

/// A throwaway MariaDB of its own (scripts/servers.sh), for tests that restart the server.
final class DedicatedServer {
    let directory: String
    let url: String
    let env: [String: String]
    static let script = TestEnvironment.repositoryRoot.appendingPathComponent("scripts/servers.sh").path

    init() throws {
        directory = "/tmp/sluice-my-\(UUID().uuidString.prefix(6))"
        try Self.shell([Self.script, "start", "--mysql-only", directory])
        let text = try String(contentsOfFile: "\(directory)/servers.env", encoding: .utf8)
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { env[parts[0]] = parts[1] }
        }
        self.env = env
        url = env["SLUICE_TEST_MYSQL_URL"] ?? ""
    }

    /// Stops the server (SIGTERM, by its pid) and starts it again on the same data, port and binlog.
    func restart() throws {
        let pidText = try String(contentsOfFile: env["SLUICE_TEST_MYSQL_PIDFILE"]!, encoding: .utf8)
        let pid = Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines))!
        let command = try String(decoding: Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")), as: UTF8.self)
            .split(separator: "\0").map(String.init)
        kill(pid, SIGTERM)
        // The server is another process: its pid disappears once it has shut down.
        guard waitUntilBlocking(timeout: 60, interval: 0.1, { kill(pid, 0) != 0 }) else {
            throw SluiceError(.internal, "the MariaDB server (pid \(pid)) did not stop within 60 s of SIGTERM")
        }
        _ = try Child.spawn(["/usr/bin/setsid"] + command, directory: "/", stderr: "/dev/null")
        // A refused connection means "not up yet"; the deadline turns a server that never comes up into the error.
        guard waitUntilBlocking(timeout: 60, interval: 0.1, { (try? LiveServer.connect(url: url)) != nil }) else {
            throw SluiceError(.internal, "the restarted server did not come up within 60 s")
        }
    }

    func stop() {
        try? Self.shell([Self.script, "stop", directory])
    }

    /// Runs a command with `system` (which waits for its own child by pid) and its output to /dev/null.
    static func shell(_ arguments: [String]) throws {
        let command = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let status = system(command + " >/dev/null 2>&1 </dev/null")
        guard status == 0 else {
            throw SluiceError(.internal, "\(arguments.joined(separator: " ")) failed (\(status))")
        }
    }
}

extension LiveMariaDBTests {
    /// SIGKILL of a real `sluice run` at random moments (during the snapshot and while streaming, under
    /// concurrent writes), then `--until-caught-up`: every key's history is complete and single, and the replay
    /// equals the table.
    @Test func sigkillOfSluiceRunLosesAndDoublesNothing() throws {
        let db = try LiveServer.database("sluice_t_kill")
        try Workload.createTable(db, rows: 30_000)
        let pipeline = try PipelineDirectory(name: "kill", mysqlURL: try TestServers.mysql(), database: "sluice_t_kill")
        defer { try? FileManager.default.removeItem(at: pipeline.url) }
        let workload = try Workload(database: "sluice_t_kill", pause: 0.001)
        workload.start()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<8 {
            let process = try pipeline.start()
            Thread.sleep(forTimeInterval: Double.random(in: 0.3...2.5, using: &rng))  // a random crash point
            kill(process.pid, SIGKILL)
            let exit = process.wait()
            #expect(!exit.exited && exit.code == SIGKILL)
        }
        try workload.stop()
        let errors = pipeline.url.appendingPathComponent("final.err")
        let final = try pipeline.start(["--until-caught-up"], stderr: errors)
        let finalExit = final.wait()
        #expect(finalExit.exited && finalExit.code == 0, "final run: \((try? String(contentsOf: errors, encoding: .utf8)) ?? "")")
        let lines = try pipeline.lines("kill.sluice_t_kill.t")
        #expect(lines.map { $0["offset"] as! Int } == Array(0..<lines.count), "offsets are not dense")
        let changes = lines.map(CheckedChange.init(json:))
        #expect(changes.contains { $0.isSnapshot } && changes.contains { !$0.isSnapshot })
        let table = try db.query("SELECT id, v, s FROM t")
        ChangeChecker.check(changes, table: table, "after \(8) SIGKILLs (\(workload.changes) concurrent changes)")
    }

    /// The server restarts while `sluice run` streams: the source reconnects with backoff and resumes at the
    /// exact event.
    @Test func serverRestartMidStreamReconnectsAndResumesExactly() async throws {
        let server = try DedicatedServer()
        defer { server.stop() }
        let db = try LiveServer.connect(url: server.url)
        try db.execute("CREATE DATABASE sluice_t_srvrestart")
        try db.execute("USE sluice_t_srvrestart")
        try Workload.createTable(db, rows: 2_000)
        let pipeline = try PipelineDirectory(name: "srv", mysqlURL: server.url, database: "sluice_t_srvrestart")
        defer { try? FileManager.default.removeItem(at: pipeline.url) }
        let workload = try Workload(url: server.url, database: "sluice_t_srvrestart", pause: 0.001)
        workload.start()
        let errors = pipeline.url.appendingPathComponent("run.err")
        let process = try pipeline.start(stderr: errors)
        // Restart once the pipeline streams: some of the writer's changes are in the sink.
        let streaming = try await waitUntil(timeout: 60, interval: .milliseconds(100)) {
            try pipeline.lines("srv.sluice_t_srvrestart.t").contains { !CheckedChange(json: $0).isSnapshot }
        }
        #expect(streaming, "the pipeline streamed nothing within 60 s")
        let before = try pipeline.lines("srv.sluice_t_srvrestart.t").count
        try server.restart()
        // Writes after the restart (the writer reconnects), which the source has to resume and capture.
        #expect(try await workload.waitForChanges(moreThan: workload.changes + 50, timeout: 60), "no writes after the restart")
        try workload.stop()
        // Wait until the running pipeline has caught up with the table (same process: it reconnected).
        let check = try LiveServer.connect(url: server.url)
        let table = try check.query("SELECT id, v, s FROM sluice_t_srvrestart.t")
        let endPosition = try LiveServer.position(check)
        var changes: [CheckedChange] = []
        _ = try await waitUntil(timeout: 60, interval: .milliseconds(100)) {
            changes = try pipeline.lines("srv.sluice_t_srvrestart.t").map(CheckedChange.init(json:))
            let done = changes.last.map { position($0.position) >= position(endPosition) - 2_000 } ?? false
            return done && replays(changes, to: table)
        }
        #expect(process.isRunning, "the pipeline process exited: \((try? String(contentsOf: errors, encoding: .utf8)) ?? "")")
        kill(process.pid, SIGTERM)
        process.wait()
        let log = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        #expect(log.contains("retrying"), "no reconnect in the log: \(log.suffix(2000))")
        #expect(before > 0 && changes.count > before, "\(before) events before the restart, \(changes.count) after")
        #expect(workload.changes > 0)
        ChangeChecker.check(changes, table: table, "server restart")
    }

    private func position(_ text: String) -> Int {
        let parts = text.split(separator: ":")
        let file = parts.first.flatMap { $0.split(separator: ".").last }.flatMap { Int($0) } ?? 0
        return file * 1_000_000_000 + (parts.last.flatMap { Int($0) } ?? 0)
    }

    private func replays(_ changes: [CheckedChange], to table: [[String?]]) -> Bool {
        var state: [Int: Int] = [:]
        for change in changes {
            if change.op == "d" { state[change.id] = nil } else { state[change.id] = change.afterV }
        }
        guard state.count == table.count else { return false }
        return table.allSatisfy { state[Int($0[0]!)!] == Int($0[1]!)! }
    }
}
