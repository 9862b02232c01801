// Benchmarks the SQLite core log against raw SQLite inserts and reads of the same bytes.
//
//     LogBenchmark [--events N] [--runs R] [--policy full|normal|off]...
//         Appends N (default 1,000,000) 200-byte events in batches of 1,000 under sync policies full and normal (or
//         the policies given), then reads them back 1,000 at a time. The ceiling does the same with a plain SQLite
//         table (INTEGER PRIMARY KEY and one BLOB column, a prepared statement, one transaction per batch, the same
//         journal and synchronous settings; reads copy each payload into an array as the log does). Prints the
//         median of R (default 3) runs: events per second of wall time, CPU microseconds per event (all threads;
//         steadier than wall time on a shared machine), and the log/ceiling ratio.
//
//     LogBenchmark crash-writer PATH RUN
//         Used by the crash test: appends batches to two streams from four tasks until killed, printing one line per
//         acknowledged append: "ack RUN TASK SEQUENCE FIRST_A END_A FIRST_B END_B".

import CSQLite
import Foundation
import SluiceCore
import SluiceLog

let batchSize = 1_000
let payloadSize = 200
let streamName = "bench.public.events"

/// Distinct batches cycled through by every run, so building events is not part of the measurement.
func makeBatches(count: Int) -> [[LogRecordDraft]] {
    // A fixed xorshift sequence: payloads look random to SQLite, and building them costs no system calls.
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func nextByte() -> UInt8 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
    return (0..<count).map { batchIndex in
        (0..<batchSize).map { index in
            let sequence = UInt64(batchIndex * batchSize + index)
            return LogRecordDraft(
                key: SourcePosition.sortKey(sequence % 100_000),
                payload: (0..<payloadSize).map { _ in nextByte() },
                position: SourcePosition(
                    sortKey: SourcePosition.sortKey(sequence), text: "0/\(String(sequence, radix: 16))"),
                timestampMicros: 1_700_000_000_000_000 + Int64(sequence)
            )
        }
    }
}

/// The cost of one phase: events per wall-clock second and CPU microseconds per event.
struct Rate {
    var eventsPerSecond: Double
    var cpuMicrosPerEvent: Double

    static func median(_ rates: [Rate]) -> Rate {
        func middle(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        return Rate(
            eventsPerSecond: middle(rates.map(\.eventsPerSecond)),
            cpuMicrosPerEvent: middle(rates.map(\.cpuMicrosPerEvent)))
    }
}

/// CPU seconds (user and system) this process used so far, over all threads.
func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

func measure(events: Int, _ body: () async throws -> Void) async rethrows -> Rate {
    let cpuStart = processCPUSeconds()
    let wallStart = ContinuousClock.now
    try await body()
    let wall = ContinuousClock.now - wallStart
    let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) * 1e-18
    return Rate(
        eventsPerSecond: Double(events) / wallSeconds,
        cpuMicrosPerEvent: (processCPUSeconds() - cpuStart) * 1e6 / Double(events)
    )
}

func temporaryDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "sluice-log-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// Appends to and reads from the log.
func measureLog(events: Int, policy: SyncPolicy, batches: [[LogRecordDraft]]) async throws -> (append: Rate, read: Rate)
{
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let log = try SQLiteChangeLog(path: directory.appendingPathComponent("log.db").path, syncPolicy: policy)
    let batchCount = events / batchSize
    let append = try await measure(events: batchCount * batchSize) {
        for batchIndex in 0..<batchCount {
            try await log.append(AppendBatch(records: [(streamName, batches[batchIndex % batches.count])]))
        }
    }
    var offset: Int64 = 0
    var payloadBytes = 0
    let read = try await measure(events: batchCount * batchSize) {
        while true {
            let records = try await log.read(stream: streamName, from: offset, limit: batchSize)
            guard let last = records.last else { break }
            payloadBytes += records.reduce(0) { $0 + $1.payload.count }
            offset = last.offset + 1
        }
    }
    precondition(offset == Int64(batchCount * batchSize) && payloadBytes == batchCount * batchSize * payloadSize)
    try await log.close()
    return (append, read)
}

/// Inserts into and reads from a plain SQLite table: the ceiling for the log.
func measureRawSQLite(
    events: Int, policy: SyncPolicy, batches: [[LogRecordDraft]]
) async throws -> (append: Rate, read: Rate) {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    var database: OpaquePointer?
    guard sqlite3_open(directory.appendingPathComponent("raw.db").path, &database) == SQLITE_OK, let database else {
        fatalError("cannot open the raw SQLite database in \(directory.path)")
    }
    defer { sqlite3_close(database) }
    func execute(_ sql: String) {
        guard sqlite3_exec(database, sql, nil, nil, nil) == SQLITE_OK else {
            fatalError("raw SQLite failed: \(sql): \(String(cString: sqlite3_errmsg(database)))")
        }
    }
    func prepare(_ sql: String) -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(database, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            fatalError("raw SQLite cannot prepare \(sql): \(String(cString: sqlite3_errmsg(database)))")
        }
        return statement
    }
    let synchronous =
        switch policy {
        case .full: "FULL"
        case .normal: "NORMAL"
        case .off: "OFF"
        }
    execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = \(synchronous);")
    execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
    let insert = prepare("INSERT INTO raw (payload) VALUES (?1)")
    defer { sqlite3_finalize(insert) }
    let batchCount = events / batchSize
    let append = await measure(events: batchCount * batchSize) {
        for batchIndex in 0..<batchCount {
            execute("BEGIN")
            for draft in batches[batchIndex % batches.count] {
                draft.payload.withUnsafeBytes { bytes in
                    sqlite3_bind_blob(insert, 1, bytes.baseAddress, Int32(bytes.count), nil)
                    guard sqlite3_step(insert) == SQLITE_DONE else {
                        fatalError("raw SQLite insert failed: \(String(cString: sqlite3_errmsg(database)))")
                    }
                    sqlite3_reset(insert)
                }
            }
            execute("COMMIT")
        }
    }

    let select = prepare("SELECT id, payload FROM raw WHERE id > ?1 ORDER BY id LIMIT \(batchSize)")
    defer { sqlite3_finalize(select) }
    var count = 0
    let read = await measure(events: batchCount * batchSize) {
        var lastID: Int64 = 0
        while true {
            sqlite3_bind_int64(select, 1, lastID)
            var payloads: [[UInt8]] = []
            while sqlite3_step(select) == SQLITE_ROW {
                lastID = sqlite3_column_int64(select, 0)
                let pointer = sqlite3_column_blob(select, 1)!.assumingMemoryBound(to: UInt8.self)
                payloads.append(
                    [UInt8](UnsafeBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(select, 1)))))
            }
            sqlite3_reset(select)
            guard !payloads.isEmpty else { break }
            count += payloads.count
        }
    }
    precondition(count == batchCount * batchSize)
    return (append, read)
}

func runBenchmark(arguments: [String]) async throws {
    var events = 1_000_000
    var runs = 3
    var policies: [SyncPolicy] = []
    var remaining = arguments[...]
    while let argument = remaining.popFirst() {
        switch argument {
        case "--events": events = remaining.popFirst().flatMap(Int.init) ?? events
        case "--runs": runs = remaining.popFirst().flatMap(Int.init) ?? runs
        case "--policy": policies += remaining.popFirst().flatMap(SyncPolicy.init(rawValue:)).map { [$0] } ?? []
        default:
            fatalError(
                "usage: LogBenchmark [--events N] [--runs R] [--policy full|normal|off]... | crash-writer PATH RUN")
        }
    }
    let batches = makeBatches(count: 16)
    print("SluiceLog SQLite backend: \(events) events of \(payloadSize) bytes, batches of \(batchSize)")
    print("median of \(runs) runs; CPU is µs per event over all threads")
    func row(_ phase: String, _ log: Rate, _ raw: Rate) -> String {
        String(
            format: "  %@  log %9.0f events/s (%.2f µs CPU)   raw SQLite %9.0f events/s (%.2f µs CPU)   ratio %.2f",
            phase, log.eventsPerSecond, log.cpuMicrosPerEvent, raw.eventsPerSecond, raw.cpuMicrosPerEvent,
            log.eventsPerSecond / raw.eventsPerSecond
        )
    }
    for policy in policies.isEmpty ? [.full, .normal] : policies {
        var logRuns: [(append: Rate, read: Rate)] = []
        var rawRuns: [(append: Rate, read: Rate)] = []
        for _ in 0..<runs {
            logRuns.append(try await measureLog(events: events, policy: policy, batches: batches))
            rawRuns.append(try await measureRawSQLite(events: events, policy: policy, batches: batches))
        }
        print("sync policy \(policy):")
        print(row("append", Rate.median(logRuns.map(\.append)), Rate.median(rawRuns.map(\.append))))
        print(row("read  ", Rate.median(logRuns.map(\.read)), Rate.median(rawRuns.map(\.read))))
    }
}

/// Appends until killed; see the file comment. Each payload is "RUN:TASK:SEQUENCE:STREAM:COUNT:INDEX".
func runCrashWriter(path: String, run: String) async throws {
    let log = try SQLiteChangeLog(path: path, syncPolicy: .full)
    let output = NSLock()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for task in 0..<4 {
            group.addTask {
                var sequence = 0
                while true {
                    var records: [(stream: String, records: [LogRecordDraft])] = []
                    for stream in ["crash.a", "crash.b"] {
                        let count = Int.random(in: 1...40)
                        records.append(
                            (
                                stream,
                                (0..<count).map { index in
                                    LogRecordDraft(
                                        key: nil,
                                        payload: Array("\(run):\(task):\(sequence):\(stream):\(count):\(index)".utf8),
                                        position: nil, timestampMicros: 0
                                    )
                                }
                            ))
                    }
                    let state = ["writer.\(task)": Array("\(run):\(sequence)".utf8)]
                    let ranges = try await log.append(AppendBatch(records: records, state: state))
                    let offsets = ["crash.a", "crash.b"].map { "\(ranges[$0]!.lowerBound) \(ranges[$0]!.upperBound)" }
                    let line = "ack \(run) \(task) \(sequence) \(offsets.joined(separator: " "))\n"
                    output.withLock {
                        FileHandle.standardOutput.write(Data(line.utf8))
                    }
                    sequence += 1
                }
            }
        }
        try await group.waitForAll()
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "crash-writer", arguments.count == 3 {
    try await runCrashWriter(path: arguments[1], run: arguments[2])
} else {
    try await runBenchmark(arguments: arguments)
}
