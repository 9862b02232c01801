import Foundation
import SluiceCore
import SluiceLog
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

// Process-level tests: a real `sluice run` (postgres → jsonl) killed with SIGKILL at random moments, and a
// server restart mid-stream. Each table row carries a `version` that every UPDATE increments; with
// REPLICA IDENTITY FULL every event's images carry it, so the events of a key in the sink must form an
// unbroken chain (nothing missing, nothing doubled), and replaying them must give the table.

/// A pipeline directory: postgres source → jsonl sink, its log, and helpers to run and check it.
struct PgPipelineDir {
    let dir: URL
    let url: String
    let table: String
    let slot: String
    let publication: String

    init(url: String, table: String, chunkSize: Int) throws {
        self.url = url
        self.table = table
        slot = table + "_slot"
        publication = table + "_pub"
        dir = try TestEnvironment.temporaryFolder("sluice-pgproc")
        let sources = """
              pg:
                type: postgres
                url: "\(url)"
                slot: \(slot)
                publication: \(publication)
                tables: [public.\(table)]
                snapshot_chunk_size: \(chunkSize)
                status_interval: 1s
                max_batch_delay: 50ms
            """
        try TestPipeline(name: "pgcrash", sources: sources, log: ["sync: normal"], runtime: TestPipeline.quickRetries)
            .write(in: dir)
    }

    var logPath: String { dir.appendingPathComponent("log/pgcrash.sluicelog").path }
    var sinkFile: URL { dir.appendingPathComponent("out/pgcrash.public.\(table).jsonl") }

    /// Bytes in the sink's file so far (0 before it exists).
    func sinkFileSize() -> Int { fileSize(atPath: sinkFile.path) }

    /// Starts `sluice run` in the background; stderr goes to a file in the directory.
    func start(_ extra: [String] = [], logLevel: String = "warning") throws -> Process {
        let process = Process()
        process.executableURL = try TestEnvironment.sluiceExecutable()
        process.arguments = ["run", "pipeline.yaml", "--log-level", logLevel] + extra
        process.currentDirectoryURL = dir
        let errPath = dir.appendingPathComponent("stderr-\(UUID().uuidString.prefix(6)).log").path
        try Data().write(to: URL(fileURLWithPath: errPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs `sluice run --until-caught-up` to completion; returns its status and stderr.
    func runUntilCaughtUp(timeout: Double = 240) throws -> (Int32, String) {
        let process = try start(["--until-caught-up"])
        guard process.waitForExit(timeout: timeout) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return (-1, "timed out after \(timeout) s")
        }
        guard process.terminationReason == .exit else { return (-1, "\(process.endDescription): \(stderrText())") }
        return (process.terminationStatus, stderrText())
    }

    func stderrText() -> String {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasPrefix("stderr-") }.sorted().compactMap {
            try? String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8)
        }.joined(separator: "\n")
    }

    /// The stored snapshot progress of the source: nil (none yet), false (unfinished) or true (done).
    func snapshotDone() async throws -> Bool? {
        guard FileManager.default.fileExists(atPath: logPath) else { return nil }
        let log = try SQLiteChangeLog(path: logPath, syncPolicy: .normal)
        defer { Task { try? await log.close() } }
        guard let bytes = try await log.state("source.pg.snapshot"),
              let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
        return object["done"] as? Bool ?? false
    }

    func remove() {
        try? FileManager.default.removeItem(at: dir)
    }

    /// Checks the sink file against the table: dense offsets, unbroken version chains per key, replay = table.
    /// Returns (snapshot rows, streamed changes).
    @discardableResult
    func verify() throws -> (snapshot: Int, streamed: Int) {
        let text = try String(contentsOf: sinkFile, encoding: .utf8)
        var lastVersion: [Int: Int] = [:]     // live keys → version
        var seen: Set<Int> = []
        var problems: [String] = []
        var snapshotRows = 0, streamed = 0
        var expectedOffset = 0
        var lastLSN: UInt64 = 0
        for line in text.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let offset = object["offset"] as! Int
            if offset != expectedOffset { problems.append("offset \(offset) where \(expectedOffset) was expected") }
            expectedOffset = offset + 1
            let op = object["op"] as! String
            let before = object["before"] as? [String: Any], after = object["after"] as? [String: Any]
            let source = object["source"] as! [String: Any]
            func version(_ image: [String: Any]?) -> Int { image?["version"] as? Int ?? -1 }
            if op != "r" {
                streamed += 1
                let parts = (source["position"] as! String).split(separator: "/")
                let lsn = (UInt64(parts[0], radix: 16)! << 32) | UInt64(parts[1], radix: 16)!
                if lsn < lastLSN { problems.append("commit LSN \(source["position"]!) after a later one") }
                lastLSN = lsn
            }
            switch op {
            case "r":
                snapshotRows += 1
                let id = after!["id"] as! Int
                if seen.contains(id) { problems.append("key \(id): snapshot row after other events") }
                seen.insert(id)
                lastVersion[id] = version(after)
            case "c":
                let id = after!["id"] as! Int
                if lastVersion[id] != nil { problems.append("key \(id): insert of a live key (doubled?)") }
                if version(after) != 1 { problems.append("key \(id): insert with version \(version(after))") }
                seen.insert(id)
                lastVersion[id] = 1
            case "u":
                let id = after!["id"] as! Int
                if lastVersion[id] != version(before) || version(after) != version(before) + 1 {
                    problems.append("key \(id): update \(version(before))→\(version(after)) after version \(lastVersion[id] ?? -1)")
                }
                lastVersion[id] = version(after)
            case "d":
                let id = before!["id"] as! Int
                if lastVersion[id] != version(before) {
                    problems.append("key \(id): delete of version \(version(before)) after version \(lastVersion[id] ?? -1)")
                }
                lastVersion[id] = nil
            default:
                problems.append("unexpected op \(op)")
            }
            if problems.count > 20 { break }
        }
        var table: [Int: Int] = [:]
        for row in try psql(url, "SELECT id, version FROM \(self.table)").split(separator: "\u{1E}") {
            let parts = row.split(separator: "\u{1F}")
            table[Int(parts[0])!] = Int(parts[1])!
        }
        if table != lastVersion {
            let missing = table.keys.filter { lastVersion[$0] == nil }.count
            let extra = lastVersion.keys.filter { table[$0] == nil }.count
            let differing = table.keys.filter { lastVersion[$0] != nil && lastVersion[$0] != table[$0] }.count
            problems.append("replay differs from the table: \(missing) rows missing, \(extra) extra, \(differing) differ")
        }
        #expect(problems.isEmpty, "\(problems.prefix(20).joined(separator: "\n"))")
        return (snapshotRows, streamed)
    }
}

/// Starts a writer (one psql process) that commits `iterations` small transactions: updates of random keys,
/// an insert and an update of a new key, a delete of a random key.
func startWriter(_ url: String, table: String, keys: Int, iterations: Int, base: Int, sleep: Double = 0.004) throws
    -> Process
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=0", "-c", """
        DO $$ DECLARE i int; BEGIN
        FOR i IN 1..\(iterations) LOOP
          UPDATE \(table) SET version = version + 1
            WHERE id IN (SELECT (random() * \(keys - 1))::int + 1 FROM generate_series(1, 4));
          INSERT INTO \(table) VALUES (\(base) + i, 1, 'w');
          UPDATE \(table) SET version = version + 1 WHERE id = \(base) + i AND i % 3 = 0;
          DELETE FROM \(table) WHERE id = (random() * \(keys - 1))::int + 1;
          COMMIT;
          PERFORM pg_sleep(\(sleep));
        END LOOP; END $$;
        """]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

@Suite("sluice run processes against PostgreSQL", .serialized, .needsPostgres)
struct PostgresProcessTests {
    @Test("SIGKILL during the snapshot and during streaming, then --until-caught-up: nothing missing, nothing doubled")
    func sigkillDuringSnapshotAndStreaming() async throws {
        let url = try TestServers.postgres()
        let table = uniqueName("kill")
        let keys = 150_000
        try psql(url, """
            CREATE TABLE \(table) (id bigint PRIMARY KEY, version int NOT NULL, pad text);
            ALTER TABLE \(table) REPLICA IDENTITY FULL;
            INSERT INTO \(table) SELECT g, 1, repeat('p', 30) FROM generate_series(1, \(keys)) g;
            """)
        let pipeline = try PgPipelineDir(url: url, table: table, chunkSize: 500)
        defer {
            cleanUp(url, slot: pipeline.slot, publication: pipeline.publication, tables: [table])
            pipeline.remove()
        }
        let writer = try startWriter(url, table: table, keys: keys, iterations: 3000, base: 1_000_000)
        defer { if writer.isRunning { kill(writer.processIdentifier, SIGKILL) } }
        var duringSnapshot = 0, duringStreaming = 0
        var rounds = 0
        while rounds < 16 && (duringSnapshot < 3 || duringStreaming < 3) && (writer.isRunning || duringStreaming < 3) {
            rounds += 1
            let before = try await pipeline.snapshotDone()
            let sizeAtStart = pipeline.sinkFileSize()
            let process = try pipeline.start()
            if before == true {
                // A random crash point while streaming, not a wait for an event.
                try await Task.sleep(for: .seconds(Double.random(in: 0.8...2.5)))
            } else {
                // Mid-snapshot kills must not depend on machine speed: wait until this run has delivered
                // snapshot rows (startup and slot creation can take seconds under load), then kill soon after.
                _ = try await waitUntil(timeout: 30, interval: .milliseconds(20)) {
                    pipeline.sinkFileSize() > sizeAtStart || !process.isRunning
                }
                try await Task.sleep(for: .seconds(Double.random(in: 0...0.3)))  // a random crash point
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.wasKilled(by: SIGKILL), "sluice ended by itself (\(process.endDescription)): \(pipeline.stderrText())")
            let after = try await pipeline.snapshotDone()
            if after == true && before == true { duringStreaming += 1 } else if after != true { duringSnapshot += 1 }
        }
        writer.waitUntilExit()
        let (status, stderr) = try pipeline.runUntilCaughtUp()
        #expect(status == 0, "final run failed: \(stderr.suffix(2000))")
        #expect(duringSnapshot >= 1, "no kill landed during the snapshot")
        #expect(duringStreaming >= 1, "no kill landed during streaming")
        let counts = try pipeline.verify()
        print("sigkill test: \(rounds) kills (\(duringSnapshot) during the snapshot, \(duringStreaming) while streaming); "
              + "\(counts.snapshot) snapshot rows, \(counts.streamed) streamed changes")
    }

    @Test("a server restart mid-stream: the source reconnects with backoff and loses or doubles nothing")
    func serverRestartMidStream() async throws {
        _ = try TestServers.postgres()  // the suite's gate: servers can be started here
        let server = try ThrowawayServer.start()
        defer { server.stop() }
        let url = server.url
        let table = uniqueName("restart")
        let keys = 5_000
        try psql(url, """
            CREATE TABLE \(table) (id bigint PRIMARY KEY, version int NOT NULL, pad text);
            ALTER TABLE \(table) REPLICA IDENTITY FULL;
            INSERT INTO \(table) SELECT g, 1, 'p' FROM generate_series(1, \(keys)) g;
            """)
        let pipeline = try PgPipelineDir(url: url, table: table, chunkSize: 1000)
        defer { pipeline.remove() }
        let process = try pipeline.start(logLevel: "info")
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        // Writers before, across and after the restart (a writer cut off by the restart just stops early).
        var writer = try startWriter(url, table: table, keys: keys, iterations: 100_000, base: 1_000_000, sleep: 0.002)
        #expect(try await pipeline.snapshotDoneWhileRunning(server: url, slot: pipeline.slot))
        // Restart only once changes of the writer are streaming into the sink.
        let sizeAtStreaming = pipeline.sinkFileSize()
        let streamed = try await waitUntil(timeout: 30) { pipeline.sinkFileSize() > sizeAtStreaming }
        #expect(streamed, "no streamed change reached the sink within 30 s")
        try server.restart(downFor: 2)
        writer.waitUntilExit()
        writer = try startWriter(url, table: table, keys: keys, iterations: 300, base: 2_000_000, sleep: 0.002)
        writer.waitUntilExit()
        // The running source must have reconnected and caught up by itself.
        let target = try psql(url, "SELECT pg_current_wal_lsn()")
        let caughtUp = try await waitUntil(timeout: 60, interval: .milliseconds(200)) {
            try psql(url, """
                SELECT confirmed_flush_lsn >= '\(target)'::pg_lsn FROM pg_replication_slots WHERE slot_name = '\(pipeline.slot)'
                """) == "t"
        }
        #expect(caughtUp, "the source did not catch up after the restart")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "sluice run failed: \(pipeline.stderrText().suffix(2000))")
        let stderr = pipeline.stderrText()
        let retries = stderr.components(separatedBy: "retrying").count - 1
        #expect(retries >= 2, "expected failed reconnects with backoff while the server was down: \(retries)")
        let (status, finalErr) = try pipeline.runUntilCaughtUp()
        #expect(status == 0, "final run failed: \(finalErr.suffix(2000))")
        let counts = try pipeline.verify()
        print("server restart test: \(counts.snapshot) snapshot rows, \(counts.streamed) streamed changes; retries: \(retries)")
    }
}

extension PostgresProcessTests {
    /// The field's most reported CDC incident: a slot whose tables are quiet while the server writes elsewhere
    /// retains WAL without bound. Sluice acknowledges the server's keepalives (their WAL end) whenever nothing of
    /// its own is in flight, so the slot's confirmed position follows the server without a heartbeat
    /// (`heartbeat_interval` stays off by default). Its restart_lsn, which decides what WAL is kept, moves only at
    /// the server's running-transactions records (every 15 s while it writes, and at checkpoints): the slot keeps up
    /// to about 15 s of the server's WAL, and lets it go once those records pass.
    @Test("a quiet slot while the server writes elsewhere for 30 s: its confirmed position follows, its WAL is released")
    func quietSlotRetainsLittleWAL() async throws {
        let url = try TestServers.postgres()
        let table = uniqueName("quiet"), busy = uniqueName("busy"), database = uniqueName("elsewhere")
        try psql(url, "CREATE TABLE \(table) (id bigint PRIMARY KEY, version int NOT NULL, pad text); "
                    + "CREATE TABLE \(busy) (id bigserial PRIMARY KEY, pad text)")
        try psql(url, "CREATE DATABASE \(database)")
        let elsewhere = url[..<url.lastIndex(of: "/")!] + "/" + database
        try psql(elsewhere, "CREATE TABLE busy (id bigserial PRIMARY KEY, pad text)")
        let pipeline = try PgPipelineDir(url: url, table: table, chunkSize: 1000)
        defer {
            cleanUp(url, slot: pipeline.slot, publication: pipeline.publication, tables: [table, busy])
            _ = try? psql(url, "DROP DATABASE IF EXISTS \(database)")
            pipeline.remove()
        }
        let process = try pipeline.start()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        #expect(try await pipeline.snapshotDoneWhileRunning(server: url, slot: pipeline.slot))
        // 30 s of writes the slot does not capture: in another database and in an uncaptured table of this one.
        func writer(_ target: String, _ busyTable: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["psql", target, "-Xq", "-v", "ON_ERROR_STOP=1", "-c", """
                DO $$ DECLARE stop timestamptz := clock_timestamp() + interval '30 seconds'; BEGIN
                WHILE clock_timestamp() < stop LOOP
                  INSERT INTO \(busyTable) (pad) SELECT repeat('w', 500) FROM generate_series(1, 20);
                  COMMIT;
                  PERFORM pg_sleep(0.01);
                END LOOP; END $$;
                """]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        let startLSN = try psql(url, "SELECT pg_current_wal_lsn()")
        let writers = [try writer(elsewhere, "busy"), try writer(url, busy)]
        defer { for w in writers where w.isRunning { kill(w.processIdentifier, SIGKILL) } }
        let retainedSQL = """
            SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
            FROM pg_replication_slots WHERE slot_name = '\(pipeline.slot)'
            """
        func sample() throws -> (retained: Int, unconfirmed: Int)? {
            let parts = try psql(url, retainedSQL).split(separator: "\u{1F}").compactMap { Int($0) }
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }
        var samples: [(retained: Int, unconfirmed: Int)] = []
        while writers.contains(where: \.isRunning) {
            try await Task.sleep(for: .seconds(1))
            if let next = try sample() { samples.append(next) }
        }
        let written = Int(try psql(url, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '\(startLSN)')::bigint")) ?? 0
        let mb = 1 << 20
        let maxRetained = samples.map(\.retained).max() ?? .max, lastUnconfirmed = samples.last?.unconfirmed ?? .max
        // Once the writes stop, the server's next running-transactions record (within 15 s) lets the WAL go.
        var settled: (retained: Int, unconfirmed: Int)?
        _ = try await waitUntil(timeout: 25, interval: .milliseconds(500)) {
            settled = try sample()
            return (settled?.retained ?? .max) < 2 * mb
        }
        print("quiet slot: \(written / 1024) KiB of WAL written elsewhere in 30 s; retained at most "
              + "\(maxRetained / 1024) KiB meanwhile, \((settled?.retained ?? -1) / 1024) KiB after; unconfirmed at the "
              + "end \(lastUnconfirmed / 1024) KiB")
        #expect(samples.count >= 20, "too few samples: \(samples.count)")
        #expect(written > 16 * mb, "the writers wrote only \(written) bytes")
        #expect(lastUnconfirmed < mb, "the slot's confirmed position lags by \(lastUnconfirmed) bytes")
        #expect(maxRetained < written * 3 / 4, "the slot kept \(maxRetained) of \(written) bytes: WAL is piling up")
        #expect((settled?.retained ?? .max) < 2 * mb, "the slot still retains \(settled?.retained ?? -1) bytes")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "sluice run failed: \(pipeline.stderrText().suffix(2000))")
    }
}

extension PgPipelineDir {
    /// True once the running source streams (its slot is active and no snapshot connection is reading).
    func snapshotDoneWhileRunning(server: String, slot: String) async throws -> Bool {
        try await waitUntil(timeout: 60, interval: .milliseconds(100)) { slotActive(server, slot) }
    }
}

/// A PostgreSQL server of this test only (scripts/servers.sh in a temp dir), so that restarting it disturbs
/// nobody else.
struct ThrowawayServer {
    let dir: String
    let url: String
    let script: String

    static func start() throws -> ThrowawayServer {
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("scripts/servers.sh").path
        let output = try shellOutput(script, ["start", "--postgres-only"])
        guard let dir = output.split(separator: "\n").last.map(String.init), !dir.isEmpty else {
            throw TestFailure("servers.sh printed no directory")
        }
        let env = try String(contentsOfFile: dir + "/servers.env", encoding: .utf8)
        guard let line = env.split(separator: "\n").first(where: { $0.hasPrefix("SLUICE_TEST_PG_URL=") }) else {
            throw TestFailure("no URL in \(dir)/servers.env")
        }
        return ThrowawayServer(dir: dir, url: String(line.dropFirst("SLUICE_TEST_PG_URL=".count)), script: script)
    }

    /// Stops this server (`pg_ctl stop -m fast`), keeps it down for `downFor` seconds, and starts it again
    /// (as the postgres user when running as root).
    func restart(downFor: Double) throws {
        let data = dir + "/pg/data"
        let pgCtl = (ProcessInfo.processInfo.environment["SLUICE_PG_BIN"] ?? "/usr/lib/postgresql/15/bin") + "/pg_ctl"
        func pgctl(_ arguments: [String]) throws {
            if getuid() == 0 {
                _ = try shellOutput("/usr/sbin/runuser", ["-u", "postgres", "--", pgCtl] + arguments)
            } else {
                _ = try shellOutput(pgCtl, arguments)
            }
        }
        try pgctl(["-D", data, "-m", "fast", "-w", "stop"])
        Thread.sleep(forTimeInterval: downFor)  // the outage itself: the server stays down this long
        try pgctl(["-D", data, "-w", "-l", dir + "/pg/server.log", "start"])
    }

    func stop() {
        _ = try? shellOutput(script, ["stop", dir])
    }
}

/// Runs a program; returns stdout; throws on a non-zero exit.
///
/// posix_spawn + waitpid rather than Foundation's Process: a daemon the program leaves running (pg_ctl's
/// postmaster) inherits the descriptor Foundation watches for the child's exit, so `waitUntilExit` would hang.
func shellOutput(_ program: String, _ arguments: [String]) throws -> String {
    let base = NSTemporaryDirectory() + "sluice-sh-\(UUID().uuidString)"
    defer {
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".err")
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, base + ".out", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, base + ".err", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let argv = ([program] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
    guard spawned == 0 else { throw TestFailure("cannot run \(program): errno \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let out = String(decoding: FileManager.default.contents(atPath: base + ".out") ?? Data(), as: UTF8.self)
    guard status == 0 else {
        let err = String(decoding: FileManager.default.contents(atPath: base + ".err") ?? Data(), as: UTF8.self)
        throw TestFailure("\(program) \(arguments.joined(separator: " ")) failed (\(status)): \(err.suffix(1000))")
    }
    return out
}
