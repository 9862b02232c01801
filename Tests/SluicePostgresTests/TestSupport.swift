import Foundation
import SluiceConnectorKit
import SluiceCore
import SluicePostgres
import SluiceRuntime
import SluiceTestSupport
import Testing

/// A unique lower-case name for a test's tables, slot and publication.
func uniqueName(_ base: String) -> String {
    "t_\(base)_\(UInt32.random(in: 0...UInt32.max))"
}

/// Runs SQL through psql (tests only; keeps libpq handling in the connector).
@discardableResult
func psql(_ url: String, _ sql: String) throws -> String {
    let options = "-c client_min_messages=warning -c TimeZone=UTC -c extra_float_digits=3 -c IntervalStyle=iso_8601"
    let result = try runTool(
        "psql", [url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\u{1F}", "-R", "\u{1E}", "-c", sql],
        environment: ["PGOPTIONS": options])
    guard result.succeeded else {
        throw TestFailure("psql failed (\(result.endDescription)): \(result.err) for: \(sql.prefix(200))")
    }
    return result.out.trimmingCharacters(in: .newlines)
}

extension RecordingRuntime {
    /// A context for a PostgreSQL source at `url` (instance `pg`) with `values` as its settings.
    func context(url: String, _ values: [String: ConfigValue], untilCaughtUp: Bool = false) -> SourceContext {
        var config = values
        config["url"] = .string(url)
        return context(instance: "pg", config, untilCaughtUp: untilCaughtUp, logLabel: "test.postgres")
    }
}

/// Runs a source in the background until `until` holds (or the timeout), then stops it.
func runSource(_ context: SourceContext, timeout: Double = 60, until: @escaping @Sendable () -> Bool) async throws {
    let source = try PostgresSource(context: context)
    let task = Task { try await source.run() }
    // The condition reads what the source recorded and, in some tests, the server: polled until the deadline.
    _ = try await waitUntil(timeout: timeout) { until() }
    try await stopSource(task)
    #expect(until(), "the source did not reach the expected state within \(timeout) s")
}

/// Runs `body` inside a polled condition, which cannot throw: a failure is recorded as the test's issue (never
/// swallowed) and nil tells the condition to end the wait.
func recordingFailure<T>(_ what: String, _ body: () throws -> T) -> T? {
    do {
        return try body()
    } catch {
        Issue.record("\(what) failed: \(error)")
        return nil
    }
}

/// Drops a test's slot (waiting until it is inactive), publication and tables. Best effort: a clean-up that
/// fails leaves a uniquely named object behind and must not turn a test's result into a clean-up error.
func cleanUp(_ url: String, slot: String, publication: String, tables: [String]) {
    _ = waitUntilBlocking(timeout: 5, interval: 0.1) { !slotActive(url, slot) }
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

/// The integer `id`s left after replaying `events` in order (reads, inserts and updates add, deletes remove, a truncate
/// clears): what a sink applying them holds.
func replayedIDs(_ events: [ChangeEvent]) -> Set<Int64> {
    var rows: Set<Int64> = []
    for event in events {
        switch event.op {
        case .read, .insert, .update: if case .int(let id)? = event.after?["id"] { rows.insert(id) }
        case .delete: if case .int(let id)? = event.before?["id"] { rows.remove(id) }
        case .truncate: rows.removeAll()
        default: break
        }
    }
    return rows
}
