import Foundation
import SluiceCore
import SluicePostgres
import SluiceRuntime
import SluiceTestSupport
import Testing

@Suite("Incremental snapshots (DBLog watermarks) against a real server", .needsPostgres)
struct IncrementalSnapshotTests {
    @Test("an incremental snapshot under concurrent writes: replaying the log (latest per key) equals the table")
    func incrementalSnapshotDuringWrites() async throws {
        let url = try TestServers.postgres()
        let table = uniqueName("incr")
        let slot = table + "_slot", publication = table + "_pub"
        let keys = 40_000
        try psql(url, """
            CREATE TABLE \(table) (id bigint PRIMARY KEY, version int NOT NULL, pad text);
            INSERT INTO \(table) SELECT g, 1, 'p' FROM generate_series(1, \(keys)) g;
            """)
        defer { cleanUp(url, slot: slot, publication: publication, tables: [table]) }
        let log = RecordingRuntime()
        let settings: [String: ConfigValue] = [
            "slot": .string(slot), "publication": .string(publication), "tables": .list([.string(table)]),
            "snapshot_mode": .string("never"), "snapshot_chunk_size": .int(2000), "status_interval": .duration(1),
        ]
        // A writer committing small transactions back to back (updates of random keys, inserts, deletes), so
        // that changes land between the watermarks of most chunks.
        let writer = Box<Process?>(nil)
        defer { if let process = writer.value, process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let requested = Box(false)
        try await runSource(log.context(url: url, settings), timeout: 120, until: {
            if writer.value == nil && slotActive(url, slot) {
                let started = recordingFailure("starting the writer") {
                    try startWriter(url, table: table, keys: keys, iterations: 4000, base: 1_000_000, sleep: 0)
                }
                guard let started else { return true }
                writer.value = started
            }
            if writer.value != nil && !requested.value && log.events(of: table).count > 200 {
                requested.value = true
                log.requestSnapshot(table)
            }
            return requested.value && log.pendingSnapshotRequests.isEmpty
        })
        let writerRunning = writer.value?.isRunning ?? false
        writer.value?.waitUntilExit()
        // Stream until the writer's last changes are in.
        try await runSource(log.context(url: url, settings), until: {
            guard let expected = recordingFailure("reading the table", { try tableVersions(url, table) }) else { return true }
            return versions(log.events(of: table)) == expected
        })
        let events = log.events(of: table)
        let snapshotRows = events.filter { $0.op == .read }
        #expect(writerRunning, "the writer finished before the snapshot: no concurrency was tested")
        #expect(snapshotRows.count > keys * 9 / 10, "only \(snapshotRows.count) snapshot rows")
        #expect(log.state("incremental-snapshot") == nil, "progress not cleared")
        #expect(log.pendingSnapshotRequests.isEmpty)
        let positions = events.map(\.position)
        #expect(zip(positions, positions.dropFirst()).allSatisfy { $0 < $1 }, "positions must increase")
        let replayed = versions(events), expected = try tableVersions(url, table)
        let differing = expected.filter { replayed[$0.key] != $0.value }.count + replayed.keys.filter { expected[$0] == nil }.count
        #expect(differing == 0, "\(differing) rows differ between the replayed log and the table")
        print("incremental snapshot: \(snapshotRows.count) r events, \(events.count - snapshotRows.count) streamed changes")
    }

    @Test("a table created later that matches the include patterns is added to the publication and snapshotted")
    func newTableMatchingPatternIsPickedUp() async throws {
        let url = try TestServers.postgres()
        let base = uniqueName("pat")
        let first = base + "_a", later = base + "_b"
        let slot = base + "_slot", publication = base + "_pub"
        try psql(url, "CREATE TABLE \(first) (id bigint PRIMARY KEY, version int NOT NULL, pad text)")
        defer { cleanUp(url, slot: slot, publication: publication, tables: [first, later]) }
        let log = RecordingRuntime()
        let settings: [String: ConfigValue] = [
            "slot": .string(slot), "publication": .string(publication), "include": .list([.string("public.\(base)_*")]),
            "publication_refresh_interval": .duration(1), "snapshot_chunk_size": .int(700), "status_interval": .duration(1),
        ]
        let created = Box(false), updated = Box(false)
        try await runSource(log.context(url: url, settings), timeout: 60, until: {
            if !created.value && slotActive(url, slot) {
                created.value = true
                let created = recordingFailure("creating the later table") {
                    try psql(url, """
                        CREATE TABLE \(later) (id bigint PRIMARY KEY, version int NOT NULL, pad text);
                        INSERT INTO \(later) SELECT g, 1, 'old' FROM generate_series(1, 5000) g;
                        INSERT INTO \(first) VALUES (1, 1, 'x');
                        """)
                }
                if created == nil { return true }
            }
            if created.value, log.state("auto-snapshot-requests").map({ String(decoding: $0, as: UTF8.self) }) == "[]" {
                if !updated.value {
                    updated.value = true
                    let changed = recordingFailure("changing the later table") {
                        try psql(url, "UPDATE \(later) SET version = version + 1 WHERE id <= 10; INSERT INTO \(later) VALUES (9999, 1, 'new')")
                    }
                    if changed == nil { return true }
                }
                guard let expected = recordingFailure("reading the later table", { try tableVersions(url, later) }) else {
                    return true
                }
                return versions(log.events(of: later)) == expected
            }
            return false
        })
        let events = log.events(of: later)
        #expect(events.filter { $0.op == .read }.count == 5000)
        #expect(versions(events) == (try tableVersions(url, later)))
        #expect(versions(log.events(of: first)) == (try tableVersions(url, first)))
        let members = try psql(url, "SELECT count(*) FROM pg_publication_tables WHERE pubname = '\(publication)'")
        #expect(members == "2")
    }
}

/// Applies events in log order: id → version.
func versions(_ events: [ChangeEvent]) -> [Int64: Int64] {
    var rows: [Int64: Int64] = [:]
    for event in events {
        switch event.op {
        case .read, .insert, .update:
            guard let after = event.after, case .int(let id)? = after["id"], case .int(let version)? = after["version"] else { continue }
            rows[id] = version
        case .delete:
            if case .int(let id)? = event.before?["id"] { rows[id] = nil }
        case .truncate: rows = [:]
        default: break
        }
    }
    return rows
}

func tableVersions(_ url: String, _ table: String) throws -> [Int64: Int64] {
    var rows: [Int64: Int64] = [:]
    for line in try psql(url, "SELECT id, version FROM \(table)").split(separator: "\u{1E}") {
        let parts = line.split(separator: "\u{1F}")
        rows[Int64(parts[0])!] = Int64(parts[1])!
    }
    return rows
}
