import Foundation
import SluiceAvro
import SluiceConnectorKit
import SluiceCore
import SluiceRuntime
import SluiceTestSupport
import Testing

@testable import SluiceIceberg

@Suite struct IcebergSinkTests {
    @Test func upsertTableScansEqualToTheSourceInPyiceberg() async throws {
        let workload = OrdersWorkload(count: 3000, keys: 400)
        let (warehouse, sink) = try await writeWorkload(
            workload, into: "upsert", ["mode": .string("upsert")])
        let scan = try scanStatic(warehouse)
        #expect(scan["count"] as? Int == workload.state.count)
        #expect((scan["rows"] as? [String])?.sorted() == workload.expectedRows)
        let fields = try #require(scan["fields"] as? [[Any]])
        #expect(fields.map { $0[1] as? String } == OrdersWorkload.columns)
        #expect(
            fields.map { $0[2] as? String } == ["long", "string", "decimal(12, 2)", "long", "timestamptz", "boolean"])
        #expect(scan["identifier"] as? [Int] == [1])
        let summary = try #require(scan["summary"] as? [String: String])
        #expect(summary["sluice.offsets"] == #"{"p.public.orders":3000}"#)
        #expect(try await sink.resumeOffsets(streams: [OrdersWorkload.stream]) == [OrdersWorkload.stream: 3000])
    }

    @Test func appendTableHoldsEveryChangeThroughTheSQLCatalog() async throws {
        let workload = OrdersWorkload(count: 2000, keys: 300)
        let (warehouse, _) = try await writeWorkload(
            workload, into: "append", ["mode": .string("append"), "catalog": .string("sql")])
        let scan = try Python.jsonObject(
            .icebergScan,
            [
                "sql", "sqlite:///\(warehouse)/catalog.db", "sluice", "shop", "orders", "_offset,_op,id,_tx_id",
            ])
        #expect(scan["count"] as? Int == 2000)
        let rows = try #require(scan["rows"] as? [String])
        let offsets = rows.compactMap { Int($0.split(separator: "|")[0]) }.sorted()
        #expect(offsets == Array(0..<2000))
        let expectedOps = workload.events.map(\.op.rawValue)
        let ops = rows.sorted { Int($0.split(separator: "|")[0])! < Int($1.split(separator: "|")[0])! }
            .map { String($0.split(separator: "|")[1]) }
        #expect(ops == expectedOps)
        let fields = try #require(scan["fields"] as? [[Any]])
        #expect(fields.map { $0[1] as? String }.suffix(5) == ["_op", "_position", "_commit_ts", "_tx_id", "_offset"])
    }

    /// In the append (changelog) layout an update that moves a row to a new key (1 → 99) is the delete of the old
    /// key, then the row under the new key, at the same offset and position.
    @Test func appendTableWritesAKeyChangeAsDeleteThenNewRow() async throws {
        var workload = OrdersWorkload(count: 1, keys: 1)
        let inserted = try #require(workload.events[0].after)
        var update = workload.events[0]
        update.op = .update
        update.before = inserted
        update.after = Row(columns: inserted.columns, values: [.int(99)] + inserted.values.dropFirst())
        update.position = SourcePosition(sortKey: SourcePosition.sortKey(1), text: "0/1")
        workload.events.append(update)
        let (warehouse, _) = try await writeWorkload(workload, into: "keychange", ["mode": .string("append")])
        let scan = try scanStatic(warehouse, columns: ["_offset", "_op", "id", "_position", "name"])
        let rows = try #require(scan["rows"] as? [String])
        #expect(rows.sorted() == ["0|c|1|0/0|item 1 v1", "1|d|1|0/1|item 1 v1", "1|u|99|0/1|item 1 v1"])
    }

    /// In the append layout a value the source did not send (an unchanged TOASTed value) that no before image holds
    /// is null and named in `_unchanged`, as in the Parquet changelog (it used to be a bare null).
    @Test func appendTableNamesUnchangedValues() async throws {
        var workload = OrdersWorkload(count: 1, keys: 1)
        let inserted = try #require(workload.events[0].after)
        var update = workload.events[0]
        update.op = .update
        update.before = Row(columns: ["id"], values: [.int(1)])
        update.after = Row(columns: inserted.columns, values: inserted.values.enumerated().map { $0.offset == 1 ? .unchanged : $0.element })
        update.position = SourcePosition(sortKey: SourcePosition.sortKey(1), text: "0/1")
        workload.events.append(update)
        let (warehouse, _) = try await writeWorkload(workload, into: "unchanged", ["mode": .string("append")])
        let scan = try scanStatic(warehouse, columns: ["_offset", "_op", "name", "_unchanged"])
        let rows = try #require(scan["rows"] as? [String])
        #expect(rows.sorted() == ["0|c|item 1 v1|null", "1|u|null|['name']"])
    }

    /// A table named `../../escaped` becomes a table (and folder) inside the warehouse.
    @Test func hostileTableNamesStayInTheWarehouse() async throws {
        let folder = try HostileNames.sinkFolder()
        defer { HostileNames.remove(folder) }
        let sink = try makeSink(folder.path, ["table": .string("{table}")])
        try await feed(sink, [HostileNames.batch()])
        #expect(HostileNames.escaped(from: folder) == [])
        #expect(try await sink.resumeOffsets(streams: [HostileNames.stream]) == [HostileNames.stream: 1])
    }

    /// A NaN in a numeric(12,2) column has no Iceberg decimal: the sink stops naming the column (it used to write a
    /// silent null).
    @Test(arguments: ["append", "upsert"])
    func nanInAFixedPrecisionDecimalStopsTheSink(mode: String) async throws {
        var workload = OrdersWorkload(count: 1, keys: 1)
        let inserted = try #require(workload.events[0].after)
        workload.events[0].after = Row(columns: inserted.columns, values: inserted.values.enumerated().map {
            $0.offset == 2 ? .decimal(ExactDecimal("NaN")!) : $0.element
        })
        await #expect {
            _ = try await writeWorkload(workload, into: "nan-\(mode)", ["mode": .string(mode)])
        } throws: { error in
            "\(error)".contains("column amount") && "\(error)".contains("does not fit decimal(12,2)")
        }
    }

    @Test func partitionedUpsertTableByDayScansEqualToTheSource() async throws {
        let workload = OrdersWorkload(count: 1500, keys: 200)
        let (warehouse, _) = try await writeWorkload(
            workload, into: "partitioned", ["mode": .string("upsert"), "partition_by": .string("day(updated_at)")])
        let scan = try scanStatic(warehouse)
        #expect((scan["rows"] as? [String])?.sorted() == workload.expectedRows)
        let metadata = try AvroJSON.parse(
            bytes: Array(try Data(contentsOf: URL(fileURLWithPath: currentMetadataPath(warehouse)))))
        #expect(
            metadata["partition-specs"]?.arrayValue?.first?["fields"]?.arrayValue?.first?["transform"] == .string("day")
        )
    }

    @Test func equalityDeletesAreWrittenOnlyWhenAsked() async throws {
        let workload = OrdersWorkload(count: 600, keys: 100)
        let (warehouse, _) = try await writeWorkload(
            workload, into: "equality", ["mode": .string("upsert"), "deletes": .string("equality")])
        let table = try #require(
            try FileSystemCatalog(warehouse: warehouse)
                .loadTable(TableIdentifier(namespace: "shop", name: "orders")))
        let files = try IcebergTable(catalog: FileSystemCatalog(warehouse: warehouse), loaded: table).liveFiles()
        // Equality deletes for every key a commit touches; rows superseded within one commit get position deletes
        // (equality deletes never apply to their own commit's files).
        let equality = files.deletes.filter { $0.file.content == .equalityDeletes }
        #expect(!equality.isEmpty && equality.allSatisfy { $0.file.equalityIds == [1] })
        #expect(files.deletes.allSatisfy { $0.file.content == .equalityDeletes || $0.file.content == .positionDeletes })
        // Compaction applies them, after which pyiceberg (which cannot read equality deletes) reads the table.
        let handle = IcebergTable(catalog: FileSystemCatalog(warehouse: warehouse), loaded: table)
        _ = try TableMaintenance.compact(handle)
        #expect((try scanStatic(warehouse)["rows"] as? [String])?.sorted() == workload.expectedRows)
    }

    @Test func schemaChangeMidStreamShowsInPyicebergSchema() async throws {
        let workload = OrdersWorkload(count: 1200, keys: 150, schemaChangeAt: 700)
        let (warehouse, _) = try await writeWorkload(
            workload, into: "evolve", ["mode": .string("upsert")])
        let scan = try scanStatic(warehouse, columns: OrdersWorkload.columns + ["note"])
        let fields = try #require(scan["fields"] as? [[Any]])
        #expect(fields.map { $0[1] as? String } == OrdersWorkload.columns + ["note"])
        #expect(fields[2][2] as? String == "decimal(16, 2)")
        #expect(fields[6][0] as? Int == 7)
        #expect(scan["schemaId"] as? Int == 1)
        // Rows written before the change have no note; rows after do.
        var expected: [String] = []
        for event in workload.events {
            _ = event
        }
        var state: [Int64: String] = [:]
        for event in workload.events {
            guard case .int(let key)? = (event.after ?? event.before)?["id"] else { continue }
            if let after = event.after {
                state[key] = OrdersWorkload.render(after, withNote: true)
            } else {
                state[key] = nil
            }
        }
        expected = state.values.sorted()
        #expect((scan["rows"] as? [String])?.sorted() == expected)
    }
}

/// Counts calls of a failure hook and throws once at the chosen stage and call.
final class CrashSwitch: @unchecked Sendable {
    struct Crash: Error {}
    let stage: CommitStage
    let atCommit: Int
    private let lock = NSLock()
    private var calls = 0
    private(set) var fired = false

    init(stage: CommitStage, atCommit: Int) {
        self.stage = stage
        self.atCommit = atCommit
    }

    func hook(_ stage: CommitStage) throws {
        try lock.withLock {
            guard stage == self.stage, !fired else { return }
            calls += 1
            if calls == atCommit {
                fired = true
                throw Crash()
            }
        }
    }
}

@Suite struct IcebergCrashTests {
    static let stages: [CommitStage] = [.afterDataFiles, .beforeCatalogCommit, .afterCatalogCommit]

    @Test(arguments: stages, ["upsert", "append"])
    func crashDuringACommitLosesAndDoublesNothing(stage: CommitStage, mode: String) async throws {
        let warehouse = try temporaryFolder("crash-\(stage.rawValue)-\(mode)")
        let workload = OrdersWorkload(count: 2000, keys: 250)
        let crash = CrashSwitch(stage: stage, atCommit: 2)
        let first = try makeSink(warehouse, ["mode": .string(mode)])
        await first.setFailpoint { try crash.hook($0) }
        // The first process crashes (is abandoned) as soon as the failure fired.
        for batch in workload.batches(to: 1500) {
            do {
                _ = try await first.write(batch)
            } catch {
                break
            }
            if crash.fired { break }
        }
        #expect(crash.fired)
        // The table loads in pyiceberg right after the crash.
        let afterCrash = try scanStatic(warehouse, columns: ["id"])
        #expect((afterCrash["count"] as? Int ?? -1) >= 0)

        // Restart: resume from the table's own record, and replay from an earlier offset too (the log may).
        let second = try makeSink(warehouse, ["mode": .string(mode)])
        let resume = try await second.resumeOffsets(streams: [OrdersWorkload.stream])?[OrdersWorkload.stream] ?? 0
        #expect(resume > 0 && resume % 400 == 0)
        try await feed(second, workload.batches(from: max(0, Int(resume) - 500)))
        if mode == "upsert" {
            let scan = try scanStatic(warehouse)
            #expect((scan["rows"] as? [String])?.sorted() == workload.expectedRows)
        } else {
            let scan = try scanStatic(warehouse, columns: ["_offset"])
            let offsets = (scan["rows"] as? [String] ?? []).compactMap(Int.init).sorted()
            #expect(offsets == Array(0..<2000))
        }
    }
}

@Suite struct IcebergMaintenanceTests {
    @Test func compactExpireAndRemoveOrphansKeepTheTableEqual() async throws {
        let workload = OrdersWorkload(count: 2500, keys: 300)
        let (warehouse, sink) = try await writeWorkload(
            workload, into: "maintenance", ["mode": .string("upsert"), "commit_rows": .int(200)],
            batches: workload.batches(to: 2000))
        let table = try ordersTable(warehouse)
        let before = try table.liveFiles()
        #expect(before.data.count > 5 && !before.deletes.isEmpty)

        let result = try TableMaintenance.compact(table)
        #expect(result.rewrittenDataFiles == before.data.count)
        let after = try table.liveFiles()
        #expect(after.data.count == 1 && after.deletes.isEmpty)
        #expect(table.metadata.currentSnapshot?.summaryValue("operation") == "replace")
        #expect(table.committedOffsets() == [OrdersWorkload.stream: 2000])

        // The sink keeps writing after compaction (its key index is stale and must be rebuilt).
        try await feed(sink, workload.batches(from: 2000))
        #expect((try scanStatic(warehouse)["rows"] as? [String])?.sorted() == workload.expectedRows)

        try table.refresh()
        let expired = try TableMaintenance.expireSnapshots(table, olderThanMs: Int64.max, retainLast: 1)
        #expect(expired.snapshots > 5 && expired.files > 0)
        #expect(table.metadata.snapshots.count == 1)
        let orphan = LocalFiles.path(table.metadata.location) + "/data/orphan-from-a-crash.parquet"
        _ = FileManager.default.createFile(atPath: orphan, contents: Data("x".utf8))
        let removed = try TableMaintenance.removeOrphans(table, olderThan: Date().addingTimeInterval(60))
        #expect(removed.contains(orphan))
        #expect((try scanStatic(warehouse)["rows"] as? [String])?.sorted() == workload.expectedRows)
    }
}

@Suite struct UpsertEdgeCaseTests {
    @Test func truncateEmptiesTheTableAndLaterChangesApply() async throws {
        let warehouse = try temporaryFolder("truncate")
        var workload = OrdersWorkload(count: 600, keys: 80)
        var events = workload.events
        let truncate = ChangeEvent(
            op: .truncate, connector: "test", table: OrdersWorkload.table, schemaVersion: 1, before: nil, after: nil,
            position: events[300].position, commitTimeMicros: events[300].commitTimeMicros)
        events.insert(truncate, at: 300)
        workload.events = events
        var state: [Int64: String] = [:]
        for event in events[301...] {
            guard case .int(let key)? = (event.after ?? event.before)?["id"] else { continue }
            state[key] = event.after.map { OrdersWorkload.render($0) }
        }
        let sink = try makeSink(warehouse, ["mode": .string("upsert"), "commit_rows": .int(120)])
        try await feed(sink, workload.batches(size: 70))
        #expect((try scanStatic(warehouse)["rows"] as? [String])?.sorted() == state.values.sorted())
    }

    @Test func unchangedValuesKeepWhatTheTableHolds() async throws {
        let warehouse = try temporaryFolder("unchanged")
        let columns = OrdersWorkload.columns
        func event(_ n: Int, _ op: ChangeOperation, name: Value, version: Int64) -> ChangeEvent {
            let row = Row(
                columns: columns,
                values: [
                    .int(1), name, .decimal(ExactDecimal("1.00")!), .int(version),
                    .timestamp(Timestamp(micros: 1_000_000, isUTC: true)), .bool(true),
                ])
            return ChangeEvent(
                op: op, connector: "test", table: OrdersWorkload.table, schemaVersion: 1,
                before: nil, after: row,
                position: SourcePosition(sortKey: SourcePosition.sortKey(UInt64(n)), text: "\(n)"),
                commitTimeMicros: 1_000_000)
        }
        func batch(_ events: [ChangeEvent], from offset: Int) -> SinkBatch {
            SinkBatch(
                stream: OrdersWorkload.stream, table: OrdersWorkload.table,
                records: events.enumerated().map {
                    SinkRecord(offset: Int64(offset + $0.offset), event: $0.element, appendedAtMicros: 0)
                },
                schemas: [1: OrdersWorkload.schema()])
        }
        try await feed(
            try makeSink(warehouse), [batch([event(0, .insert, name: .string("kept"), version: 1)], from: 0)])
        // A new sink (after a restart) must find the old value in the table's data files.
        try await feed(try makeSink(warehouse), [batch([event(1, .update, name: .unchanged, version: 2)], from: 1)])
        let rows = try #require(try scanStatic(warehouse)["rows"] as? [String])
        #expect(rows == ["1|kept|1.00|2|1000000|true"])
    }
}

@Suite struct ManifestMergeTests {
    @Test func manyCommitsMergeManifests() async throws {
        let workload = OrdersWorkload(count: 1300, keys: 120)
        let (warehouse, _) = try await writeWorkload(
            workload, into: "merge", ["mode": .string("append"), "commit_rows": .int(10)],
            batches: workload.batches(size: 10))
        let table = try ordersTable(warehouse)
        let manifests = try table.manifestFiles(try #require(table.metadata.currentSnapshot))
        #expect(table.metadata.snapshots.count == 130)
        #expect(manifests.count < IcebergTable.manifestMergeThreshold)
        #expect(try scanStatic(warehouse, columns: ["_offset"])["count"] as? Int == 1300)
    }
}
