// Benchmark: Sluice's MySQL source decoding the binlog of ../shared/bench/mysql-workload.sh into a durable
// SQLite core log, next to python-mysql-replication (mysql-peer.py) and `mariadb-binlog -v` on the same range,
// in the same run. Prints rows/s of each, the ratios, and peak RSS.
//
// usage: SLUICE_TEST_MYSQL_URL=mysql://user:pw@127.0.0.1:PORT/ MySQLBenchmark [ROWS] [TX_SIZE]
import Foundation
import Logging
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

// 2. Sluice into a durable SQLite core log.
let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mysql-bench-\(getpid()).db").path
defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: logPath + suffix) } }
let log = try SQLiteChangeLog(path: logPath, syncPolicy: .full)
let appended = Atomic<Int>(0)
let schemas = Mutex<[TableID: TableSchema]>([:])
var logger = Logger(label: "bench")
logger.logLevel = .warning
let context = SourceContext(
    pipeline: "bench", config: ConnectorConfig(instanceName: "my", values: [
        "url": .string(url), "start_position": .string("\(file):\(startPosition)"),
        "tables": .list([.string("sluice_bench.orders")]),
    ]), logger: logger, untilCaughtUp: true,
    emit: { batch in
        var drafts: [LogRecordDraft] = []
        drafts.reserveCapacity(batch.events.count)
        let known = schemas.withLock { current in
            for schema in batch.schemas { current[schema.table] = schema }
            return current
        }
        for event in batch.events {
            let key = known[event.table].flatMap { event.key(primaryKey: $0.primaryKey) }.map(EventCoding.encodeKey)
            drafts.append(LogRecordDraft(key: key, payload: EventCoding.encode(event), position: event.position,
                                         timestampMicros: event.commitTimeMicros))
        }
        try await log.append(AppendBatch(records: [("bench.sluice_bench.orders", drafts)], state: batch.state))
        appended.add(batch.events.count, ordering: .relaxed)
    },
    loadState: { _ in nil }, loadStates: { _ in [:] }, waitUntilDurable: {}, latestSchema: { _ in nil },
    pendingSnapshotRequests: { [] })
let sluiceStarted = Date()
try await MySQLSource(context: context).run()
let sluiceSeconds = Date().timeIntervalSince(sluiceStarted)
try await log.close()
let sluiceRows = appended.load(ordering: .relaxed)
let sluiceRate = Double(sluiceRows) / sluiceSeconds
let sluiceRSS = peakRSSMegabytes(children: false)
print(String(format: "sluice (durable SQLite log, fsync): rows=%d seconds=%.3f rows_per_s=%.0f peak_rss=%.1fMB",
             sluiceRows, sluiceSeconds, sluiceRate, sluiceRSS))

// 2b. The decoding ceiling: the same source with batches dropped instead of appended.
let decoded = Atomic<Int>(0)
var decodeOnly = context
decodeOnly.emit = { batch in decoded.add(batch.events.count, ordering: .relaxed) }
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
