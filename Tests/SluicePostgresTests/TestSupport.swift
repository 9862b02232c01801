import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluicePostgres
import SluiceRuntime
import Testing

/// The test server's URL, from `SLUICE_TEST_PG_URL` (see scripts/servers.sh).
enum TestServer {
    static let url = ProcessInfo.processInfo.environment["SLUICE_TEST_PG_URL"]
    static let required = ProcessInfo.processInfo.environment["SLUICE_REQUIRE_SERVERS"] != nil

    /// Enabled when the server is configured, or when it is required (then the test fails on its own).
    static var available: Bool { url != nil || required }

    /// The URL, or a recorded failure when servers are required but this one is missing.
    static func requireURL() -> String? {
        if let url { return url }
        Issue.record("SLUICE_TEST_PG_URL is not set but SLUICE_REQUIRE_SERVERS is: start one with scripts/servers.sh")
        return nil
    }

    static let skipMessage: Comment = "PostgreSQL test server missing: set SLUICE_TEST_PG_URL (scripts/servers.sh start)"

    /// A unique lower-case name for this test's tables, slot and publication.
    static func uniqueName(_ base: String) -> String {
        "t_\(base)_\(UInt32.random(in: 0...UInt32.max))"
    }
}

/// Runs SQL through psql (tests only; keeps libpq handling in the connector).
@discardableResult
func psql(_ url: String, _ sql: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\u{1F}", "-R", "\u{1E}", "-c", sql]
    var environment = ProcessInfo.processInfo.environment
    environment["PGOPTIONS"] = "-c client_min_messages=warning -c TimeZone=UTC -c extra_float_digits=3 -c IntervalStyle=iso_8601"
    process.environment = environment
    // Output goes to files: Foundation's pipe reads crash on EINTR.
    let base = NSTemporaryDirectory() + "sluice-psql-\(UUID().uuidString)"
    FileManager.default.createFile(atPath: base + ".out", contents: nil)
    FileManager.default.createFile(atPath: base + ".err", contents: nil)
    defer {
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".err")
    }
    process.standardOutput = FileHandle(forWritingAtPath: base + ".out")
    process.standardError = FileHandle(forWritingAtPath: base + ".err")
    try process.run()
    process.waitUntilExit()
    let data = FileManager.default.contents(atPath: base + ".out") ?? Data()
    let errors = FileManager.default.contents(atPath: base + ".err") ?? Data()
    if process.terminationStatus != 0 {
        throw TestFailure("psql failed: \(String(decoding: errors, as: UTF8.self)) for: \(sql.prefix(200))")
    }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// An in-memory log for one source: batches are durable at once; state and schemas are kept.
final class MemoryLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var events: [ChangeEvent] = []
    private(set) var schemas: [TableSchema] = []
    private(set) var state: [String: [UInt8]] = [:]
    private(set) var batches = 0
    /// Pending incremental snapshot requests (as `sluice snapshot` stores them).
    private var requests: Set<String> = []

    func requestSnapshot(_ table: String) { lock.withLock { _ = requests.insert(table) } }
    var pendingRequests: Set<String> { lock.withLock { requests } }
    func stateValue(_ key: String) -> [UInt8]? { lock.withLock { state[key] } }

    var snapshotEvents: [ChangeEvent] { lock.withLock { events } }
    var schemaList: [TableSchema] { lock.withLock { schemas } }

    func events(of table: String) -> [ChangeEvent] {
        lock.withLock { events.filter { $0.table.name == table } }
    }

    func context(url: String, _ values: [String: ConfigValue], untilCaughtUp: Bool = false) -> SourceContext {
        var config = values
        config["url"] = .string(url)
        var logger = Logger(label: "test.postgres")
        logger.logLevel = .warning
        return SourceContext(
            pipeline: "test", config: ConnectorConfig(instanceName: "pg", values: config), logger: logger,
            untilCaughtUp: untilCaughtUp,
            emit: { [self] batch in
                let emitted = try batch.allEvents()  // encoded events read back as the log's readers read them
                lock.withLock {
                    schemas.append(contentsOf: batch.schemas)
                    events.append(contentsOf: emitted)
                    for (key, value) in batch.state {
                        if let value { state[key] = value } else { state.removeValue(forKey: key) }
                    }
                    batches += 1
                }
                batch.onDurable?()
            },
            loadState: { [self] key in lock.withLock { state[key] } },
            loadStates: { [self] prefix in lock.withLock { state.filter { $0.key.hasPrefix(prefix) } } },
            waitUntilDurable: {},
            latestSchema: { [self] table in lock.withLock { schemas.last { $0.table == table } } },
            pendingSnapshotRequests: { [self] in lock.withLock { requests.sorted() } },
            completeSnapshotRequest: { [self] table in lock.withLock { _ = requests.remove(table) } })
    }
}

/// Runs a source in the background until `until` holds (or the timeout), then stops it.
func runSource(_ context: SourceContext, timeout: Double = 60, until: @escaping @Sendable () -> Bool) async throws {
    let source = try PostgresSource(context: context)
    let task = Task { try await source.run() }
    let deadline = Date().addingTimeInterval(timeout)
    while !until() && Date() < deadline {
        try await Task.sleep(for: .milliseconds(50))
    }
    task.cancel()
    do { try await task.value } catch is CancellationError {} catch let error as SluiceError {
        // A source stopped by cancellation may report the cancellation as its error.
        if !Task.isCancelled && !"\(error)".contains("cancel") { throw error }
    }
    #expect(until(), "the source did not reach the expected state within \(timeout) s")
}

/// Drops a test's slot (waiting until it is inactive), publication and tables.
func cleanUp(_ url: String, slot: String, publication: String, tables: [String]) {
    for _ in 0..<50 {
        let active = (try? psql(url, "SELECT active FROM pg_replication_slots WHERE slot_name = '\(slot)'")) ?? ""
        if active != "t" { break }
        Thread.sleep(forTimeInterval: 0.1)
    }
    _ = try? psql(url, "SELECT pg_drop_replication_slot('\(slot)') WHERE EXISTS "
                  + "(SELECT 1 FROM pg_replication_slots WHERE slot_name = '\(slot)')")
    _ = try? psql(url, "DROP PUBLICATION IF EXISTS \(publication)")
    for table in tables { _ = try? psql(url, "DROP TABLE IF EXISTS \(table) CASCADE") }
}

/// A mutable value shared with the polling closure of `runSource` (which runs on one task at a time).
final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// True once the source is streaming from its slot (changes written from then on are captured).
func slotActive(_ url: String, _ slot: String) -> Bool {
    (try? psql(url, "SELECT active FROM pg_replication_slots WHERE slot_name = '\(slot)'")) == "t"
}
