import Foundation
import SluiceTestSupport
import Testing

/// Faults injected while `sluice run` streams: connections to PostgreSQL and MariaDB cut, stalled and slowed
/// mid-transaction by a TCP proxy, and the log's disk filling up. Each ends with `--until-caught-up` and the jsonl
/// sink compared with the source: every change exactly once (offsets dense, the count of changes made), and the
/// replayed rows equal to the table.
@Suite(.serialized) struct FaultInjectionTests {
    /// Changes per round: a transaction that inserts `inserted` rows, updates `updated` of them and deletes `deleted`.
    static let inserted = 12_000, updated = 3_000, deleted = 1_000

    enum Fault: CaseIterable {
        case cut, stall, slow
    }

    /// Runs `rounds` transactions through the proxy, each hit by the next fault while the server streams it, once
    /// `streaming` says the source streams again (a fault during a reconnect would test the connect timeout instead).
    func applyFaults(_ proxy: FaultProxy, rounds: Int, stallSeconds: Double, streaming: () throws -> Bool,
                     transaction: (Int) throws -> Process) throws {
        for round in 0..<rounds {
            #expect(try waitUntilBlocking(timeout: 30, streaming), "the source did not stream again after round \(round)")
            let writer = try transaction(round)
            Thread.sleep(forTimeInterval: Double.random(in: 0.05...0.3))  // a random point inside the transaction
            switch Fault.allCases[round % Fault.allCases.count] {
            case .cut:
                proxy.cut()
            case .stall:
                proxy.stall()
                Thread.sleep(forTimeInterval: stallSeconds)  // longer than the source's silence limit
                proxy.resume()
            case .slow:
                proxy.slow(bytesPerSecond: 256 * 1024)
                Thread.sleep(forTimeInterval: 1.5)
                proxy.resume()
            }
            writer.waitUntilExit()
            #expect(writer.exitedCleanly, "the workload's transaction \(round) failed (\(writer.endDescription))")
        }
        proxy.cut()
    }

    /// Checks the jsonl output of `stream` against the source table's `(id, v)` rows.
    func checkSink(_ dir: URL, stream: String, changes: Int, table: [Int: Int]) throws {
        let lines = try jsonLines(dir.appendingPathComponent("out/\(stream).jsonl"))
        #expect(lines.map { $0["offset"] as! Int } == Array(0..<lines.count), "offsets are not dense")
        #expect(lines.count == changes, "\(lines.count) changes in the sink, \(changes) made")
        var rows: [Int: Int] = [:]
        for line in lines {
            let op = line["op"] as! String
            let image = (line[op == "d" ? "before" : "after"] as? [String: Any]) ?? [:]
            let id = image["id"] as! Int
            if op == "d" { rows[id] = nil } else { rows[id] = image["v"] as? Int }
        }
        #expect(rows == table, "the replayed sink differs from the table (\(rows.count) rows vs \(table.count))")
    }

    func runUntilCaughtUp(_ dir: URL) throws -> ProcessResult {
        try runSluice(["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"], in: dir)
    }

    @Test(.needsPostgres) func postgresStreamSurvivesCutsStallsAndSlowLinks() async throws {
        let url = try TestServers.postgres()
        let port = try #require(URLComponents(string: url)?.port.map(UInt16.init))
        let proxy = try FaultProxy(targetPort: port)
        defer { proxy.shutdown() }
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let name = "t_fault_\(UInt32.random(in: 0...UInt32.max))"
        func psql(_ sql: String) throws -> ProcessResult {
            try runTool("psql", [url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
        }
        #expect(try psql("CREATE TABLE \(name) (id int PRIMARY KEY, v int NOT NULL)").succeeded)
        defer {
            _ = try? psql("SELECT pg_drop_replication_slot('\(name)') FROM pg_replication_slots WHERE slot_name = '\(name)'")
            _ = try? psql("DROP PUBLICATION IF EXISTS \(name); DROP TABLE IF EXISTS \(name)")
        }
        let proxied = "postgresql://postgres@127.0.0.1:\(proxy.port)/postgres"
        try TestPipeline(name: "pgfault", sources: """
              pg:
                type: postgres
                url: \(proxied)
                tables: [public.\(name)]
                slot: \(name)
                publication: \(name)
                status_interval: 1s
            """, runtime: TestPipeline.quickRetries + ["max_retry_duration: 2m"]).write(in: dir)
        let stderr = dir.appendingPathComponent("run.err")
        let run = try startSluice(["run", "pipeline.yaml", "--log-level", "warning"], in: dir, stderrFile: stderr)
        // Changes count from the moment the slot streams (earlier ones would be snapshot reads).
        #expect(try await waitUntil(timeout: 30) {
            try psql("SELECT active FROM pg_replication_slots WHERE slot_name = '\(name)'").out.hasPrefix("t")
        })
        let rounds = 6
        try applyFaults(proxy, rounds: rounds, stallSeconds: 7, streaming: {
            try psql("SELECT active FROM pg_replication_slots WHERE slot_name = '\(name)'").out.hasPrefix("t")
        }) { round in
            let base = round * Self.inserted
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", """
                BEGIN;
                INSERT INTO \(name) SELECT g, 0 FROM generate_series(\(base), \(base + Self.inserted - 1)) g;
                UPDATE \(name) SET v = 1 WHERE id BETWEEN \(base) AND \(base + Self.updated - 1);
                DELETE FROM \(name) WHERE id BETWEEN \(base + Self.inserted - Self.deleted) AND \(base + Self.inserted - 1);
                COMMIT;
                """]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            return process
        }
        kill(run.processIdentifier, SIGTERM)
        #expect(run.waitForExit(timeout: 60), "the run did not stop after SIGTERM")
        let log = (try? String(contentsOf: stderr, encoding: .utf8)) ?? ""
        #expect(log.contains("stalled"), "the stall was not detected: \(log.suffix(2000))")
        #expect(!log.contains("pipeline failed"), "\(log.suffix(2000))")
        #expect(proxy.accepted > 4, "the source did not reconnect (\(proxy.accepted) connections)")
        let final = try runUntilCaughtUp(dir)
        #expect(final.succeeded, "\(final.err)")
        let table = try psql("SELECT id, v FROM \(name)").out.split(separator: "\n").reduce(into: [Int: Int]()) {
            let parts = $1.split(separator: "|")
            $0[Int(parts[0])!] = Int(parts[1])!
        }
        try checkSink(dir, stream: "pgfault.public.\(name)", changes: rounds * (Self.inserted + Self.updated + Self.deleted),
                      table: table)
    }

    @Test(.needsMySQL) func mariadbStreamSurvivesCutsStallsAndSlowLinks() async throws {
        let url = try #require(URLComponents(string: try TestServers.mysql()))
        let port = try #require(url.port.map(UInt16.init))
        let proxy = try FaultProxy(targetPort: port)
        defer { proxy.shutdown() }
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let database = "sluice_fault_\(UInt32.random(in: 0...UInt32.max))"
        let client = ["mariadb", "-h", "127.0.0.1", "-P", "\(port)", "-u", url.user ?? "root", "-N", "-B"]
        let credentials = ["MYSQL_PWD": url.password ?? ""]
        func sql(_ text: String) throws -> ProcessResult {
            try runTool(client[0], Array(client.dropFirst()) + ["-e", text], environment: credentials)
        }
        #expect(try sql("CREATE DATABASE \(database); CREATE TABLE \(database).t (id int PRIMARY KEY, v int NOT NULL)").succeeded)
        defer { _ = try? sql("DROP DATABASE IF EXISTS \(database)") }
        try TestPipeline(name: "myfault", sources: """
              my:
                type: mysql
                host: 127.0.0.1
                port: \(proxy.port)
                user: \(url.user ?? "root")
                password: ${MYSQL_PWD}
                tables: [\(database).t]
                heartbeat_interval: 1s
            """, runtime: TestPipeline.quickRetries + ["max_retry_duration: 2m"]).write(in: dir)
        let stderr = dir.appendingPathComponent("run.err")
        let run = try startSluice(["run", "pipeline.yaml", "--log-level", "warning"], in: dir, environment: credentials,
                                  stderrFile: stderr)
        // The source stores its start position once connected: changes from then on are captured.
        #expect(try await waitUntil(timeout: 30) { proxy.accepted >= 2 })
        try await Task.sleep(for: .seconds(1))
        let rounds = 6
        try applyFaults(proxy, rounds: rounds, stallSeconds: 5, streaming: {
            try sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").out
                .trimmingCharacters(in: .whitespacesAndNewlines) != "0"
        }) { round in
            let base = round * Self.inserted
            let values = (base..<(base + Self.inserted)).map { "(\($0),0)" }.joined(separator: ",")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = client + ["-e", """
                BEGIN;
                INSERT INTO \(database).t VALUES \(values);
                UPDATE \(database).t SET v = 1 WHERE id BETWEEN \(base) AND \(base + Self.updated - 1);
                DELETE FROM \(database).t WHERE id BETWEEN \(base + Self.inserted - Self.deleted) AND \(base + Self.inserted - 1);
                COMMIT;
                """]
            process.environment = ProcessInfo.processInfo.environment.merging(credentials) { $1 }
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            return process
        }
        kill(run.processIdentifier, SIGTERM)
        #expect(run.waitForExit(timeout: 60), "the run did not stop after SIGTERM")
        #expect(proxy.accepted > 4, "the source did not reconnect (\(proxy.accepted) connections)")
        let final = try runSluice(["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"], in: dir,
                                  environment: credentials)
        #expect(final.succeeded, "\(final.err)")
        let table = try sql("SELECT id, v FROM \(database).t").out.split(separator: "\n").reduce(into: [Int: Int]()) {
            let parts = $1.split(separator: "\t")
            $0[Int(parts[0])!] = Int(parts[1])!
        }
        try checkSink(dir, stream: "myfault.\(database).t", changes: rounds * (Self.inserted + Self.updated + Self.deleted),
                      table: table)
    }

    /// The log's disk fills up mid-run: appends are retried with warnings (nothing acknowledged), and once space
    /// returns the run finishes with every change once. Needs root to mount a small tmpfs (CI runs as root).
    @Test(.enabled(if: geteuid() == 0 || TestServers.required, "needs root to mount a small tmpfs for the log"))
    func fullDiskIsRetriedUntilSpaceReturns() throws {
        let dir = try TestEnvironment.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let volume = dir.appendingPathComponent("log")
        try FileManager.default.createDirectory(at: volume, withIntermediateDirectories: true)
        let mount = try runTool("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", volume.path])
        try #require(mount.succeeded, "mount failed: \(mount.err)")
        defer { _ = try? runTool("umount", ["-l", volume.path]) }
        let changes = 60_000
        try TestPipeline(name: "full", sources: TestPipeline.generatorSource(
            count: changes, rate: 0, batchSize: 1000, keys: 5000, tables: ["orders"]),
                         runtime: ["retry_initial_backoff: 200ms", "retry_max_backoff: 500ms"]).write(in: dir)
        let stderr = dir.appendingPathComponent("run.err")
        let run = try startSluice(["run", "pipeline.yaml", "--until-caught-up", "--log-level", "warning"], in: dir,
                                  stderrFile: stderr)
        let retried = waitUntilBlocking(timeout: 60) {
            ((try? String(contentsOf: stderr, encoding: .utf8)) ?? "").contains("log append failed, retrying")
        }
        #expect(retried, "the full disk was not retried")
        #expect(!run.waitForExit(timeout: 1), "the run ended on a full disk instead of waiting for space")
        let grown = try runTool("mount", ["-o", "remount,size=64m", volume.path])
        try #require(grown.succeeded, "remount failed: \(grown.err)")
        #expect(run.waitForExit(timeout: 60) && run.exitedCleanly, "\(run.endDescription)")
        let lines = try jsonLines(dir.appendingPathComponent("out/full.generator.orders.jsonl"))
        #expect(lines.map { $0["offset"] as! Int } == Array(0..<changes), "every change once after the disk was full")
    }
}
