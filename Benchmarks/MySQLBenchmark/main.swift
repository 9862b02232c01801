// Benchmark: Sluice's MySQL source decoding the binlog of ../shared/bench/mysql-workload.sh into a durable
// SQLite core log (through the pipeline runtime, as `sluice run --until-caught-up`), next to python-mysql-replication
// (mysql-peer.py) and `mariadb-binlog -v` on the same range, in the same run. Prints rows/s of each, the ratios, and
// peak RSS.
//
// usage: SLUICE_TEST_MYSQL_URL=mysql://user:pw@127.0.0.1:PORT/ MySQLBenchmark [ROWS] [TX_SIZE]
import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceLog
import SluiceMySQL
import SluiceRuntime
import Synchronization

let arguments = CommandLine.arguments
let rows = arguments.count > 1 ? Int(arguments[1]) ?? 100_000 : 100_000
let transactionSize = arguments.count > 2 ? Int(arguments[2]) ?? 1000 : 1000
guard let url = ProcessInfo.processInfo.environment["SLUICE_TEST_MYSQL_URL"], let parts = URLComponents(string: url) else {
    print("set SLUICE_TEST_MYSQL_URL=mysql://user:pw@127.0.0.1:PORT/ (scripts/servers.sh start --mysql-only)")
    exit(2)
}
let host = parts.host ?? "127.0.0.1", port = parts.port ?? 3306
let user = parts.user ?? "root", password = parts.password ?? ""
let repository = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let bench = repository.deletingLastPathComponent().appendingPathComponent("shared/bench")

@discardableResult
func shell(_ command: [String], environment: [String: String] = [:], output: URL? = nil) throws -> (String, Double) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = command
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pipe = Pipe()
    if let output {
        // Open, never create: FileManager.createFile replaces the path atomically, which would turn
        // /dev/null into a regular file.
        guard let handle = FileHandle(forWritingAtPath: output.path) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: output.path])
        }
        process.standardOutput = handle
    } else {
        process.standardOutput = pipe
    }
    process.standardError = FileHandle.standardError
    let started = Date()
    try process.run()
    let data = output == nil ? pipe.fileHandleForReading.readDataToEndOfFile() : Data()
    process.waitUntilExit()
    let seconds = Date().timeIntervalSince(started)
    guard process.terminationStatus == 0 else {
        throw SluiceError(.internal, "\(command.first ?? "?") failed with status \(process.terminationStatus)")
    }
    return (String(decoding: data, as: UTF8.self), seconds)
}

/// The loader wants a sink; the benchmark removes it after loading (it measures the source into the log).
struct DiscardSink: SinkConnector {
    static let spec = ConnectorSpec(name: "discard", role: .sink, summary: "drops batches", fields: [])
    init(context: SinkContext) {}
    func write(_ batch: SinkBatch) async throws -> [String: Int64] { [:] }
    func flush() async throws -> [String: Int64] { [:] }
}

/// User plus system CPU time of this process so far, in seconds.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func peakRSSMegabytes(children: Bool) -> Double {
    var usage = rusage()
    getrusage(Int32(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

// 1. The workload.
print("workload: \(rows) inserts in transactions of \(transactionSize), then updates and deletes")
let (workloadOutput, _) = try shell([bench.appendingPathComponent("mysql-workload.sh").path, String(rows), String(transactionSize)],
                                    environment: ["MYSQL_ARGS": "-h\(host) -P\(port) -u\(user) -p\(password)"])
let lines = workloadOutput.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
guard let startLine = lines.first(where: { $0.first == "start" }), let endLine = lines.first(where: { $0.first == "end" }),
      startLine.count >= 3, endLine.count >= 3 else {
    print("unexpected workload output: \(workloadOutput)")
    exit(1)
}
let file = startLine[1], startPosition = startLine[2], endPosition = endLine[2]
let startGTID = startLine.count > 3 ? startLine[3] : ""
print("binlog range: \(file) \(startPosition) → \(endLine[1]) \(endPosition)")

// 2. Sluice into a durable SQLite core log: the pipeline runtime of `sluice run --until-caught-up` (source, batch
// queue, appender, log with sync full), without sinks.
let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mysql-bench-\(getpid()).db").path
defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: logPath + suffix) } }
let yaml = """
    name: bench
    log: {path: \(logPath), sync: full}
    runtime: {status_interval: 0}
    sources:
      my: {type: mysql, url: "\(url)", start_position: "\(file):\(startPosition)", tables: [sluice_bench.orders]}
    sinks:
      none: {type: discard}
    """
let registry = ConnectorRegistry(sources: [MySQLSource.self], sinks: [DiscardSink.self])
var config = try PipelineLoader(registry: registry).load(text: yaml, file: "bench.yaml", environment: [:])
config.sinks = []  // measured: the source into the durable log
var logger = Logger(label: "bench")
logger.logLevel = .warning
let log = try LogFactory.open(config.log)
let sluiceStarted = Date(), sluiceCPUStarted = cpuSeconds()
try await PipelineRunner(config: config, registry: registry, log: log, logger: logger, untilCaughtUp: true).run()
let sluiceSeconds = Date().timeIntervalSince(sluiceStarted), sluiceCPU = cpuSeconds() - sluiceCPUStarted
let sluiceRows = Int(try await log.stream("bench.sluice_bench.orders")?.count ?? 0)
try await log.close()
let sluiceRate = Double(sluiceRows) / sluiceSeconds
let sluiceRSS = peakRSSMegabytes(children: false)
print(String(format: "sluice (durable SQLite log, fsync): rows=%d seconds=%.3f rows_per_s=%.0f cpu_seconds=%.3f peak_rss=%.1fMB",
             sluiceRows, sluiceSeconds, sluiceRate, sluiceCPU, sluiceRSS))

// 2b. The decoding ceiling: the same source with batches dropped instead of appended.
let decoded = Atomic<Int>(0)
let decodeOnly = SourceContext(
    pipeline: config.name, config: config.sources[0].config, logger: logger, untilCaughtUp: true,
    emit: { batch in decoded.add(batch.eventCount, ordering: .relaxed) },
    loadState: { _ in nil }, loadStates: { _ in [:] }, waitUntilDurable: {}, latestSchema: { _ in nil },
    pendingSnapshotRequests: { [] })
let decodeStarted = Date()
try await MySQLSource(context: decodeOnly).run()
let decodeSeconds = Date().timeIntervalSince(decodeStarted)
print(String(format: "sluice decoding only (no log): rows=%d seconds=%.3f rows_per_s=%.0f", decoded.load(ordering: .relaxed),
             decodeSeconds, Double(decoded.load(ordering: .relaxed)) / decodeSeconds))

// 3. mariadb-binlog -v over the same range.
let (_, toolSeconds) = try shell(["mariadb-binlog", "-v", "--base64-output=decode-rows", "--read-from-remote-server",
                                  "-h\(host)", "-P\(port)", "-u\(user)", "-p\(password)",
                                  "--start-position=\(startPosition)", "--stop-position=\(endPosition)", file],
                                 output: URL(fileURLWithPath: "/dev/null"))
let toolRate = Double(sluiceRows) / toolSeconds
print(String(format: "mariadb-binlog -v: rows=%d seconds=%.3f rows_per_s=%.0f", sluiceRows, toolSeconds, toolRate))

// 4. python-mysql-replication.
let python = repository.appendingPathComponent(".venv/bin/python").path
var peerRate: Double?
if FileManager.default.isExecutableFile(atPath: python) {
    var command = [python, bench.appendingPathComponent("mysql-peer.py").path, host, String(port), user, password, file,
                   startPosition, endPosition]
    if !startGTID.isEmpty { command += ["--mariadb", startGTID] }
    do {
        let (output, _) = try shell(command)
        print(output.trimmingCharacters(in: .whitespacesAndNewlines))
        peerRate = output.split(separator: " ").first { $0.hasPrefix("rows_per_s=") }
            .flatMap { Double($0.dropFirst("rows_per_s=".count).trimmingCharacters(in: .whitespacesAndNewlines)) }
    } catch {
        print("python-mysql-replication failed: \(error)")
    }
} else {
    print("python-mysql-replication: skipped (no \(python); pip install mysql-replication into .venv)")
}
print(String(format: "ratio sluice / mariadb-binlog -v: %.2f", sluiceRate / toolRate))
if let peerRate { print(String(format: "ratio sluice / python-mysql-replication: %.1f", sluiceRate / peerRate)) }
print(String(format: "peak RSS of the Sluice process: %.1fMB", sluiceRSS))
