import Foundation
import SluiceAvro
import SluiceCore
import SluiceTestSupport
import Testing

@testable import SluiceIceberg

@Suite struct CatalogTests {
    func emptyTable(_ catalog: any IcebergCatalog, name: String) throws -> IcebergTable {
        try IcebergTable.loadOrCreate(
            catalog: catalog, identifier: TableIdentifier(namespace: "shop", name: name),
            schema: {
                (
                    try TableWriter.evolvedSchema(
                        current: nil, lastColumnId: 0, source: OrdersWorkload.schema(), mode: .upsert), .unpartitioned
                )
            }, properties: [])
    }

    /// Two writers commit on the same base: exactly one wins, the other gets a conflict and wins after reloading.
    func checkOptimisticConcurrency(_ makeCatalog: () throws -> any IcebergCatalog) throws {
        let first = try emptyTable(try makeCatalog(), name: "race")
        let second = try emptyTable(try makeCatalog(), name: "race")
        #expect(first.loaded.metadataLocation == second.loaded.metadataLocation)
        try first.updateMetadata { metadata in
            var next = metadata
            next.properties.append(("writer", "first"))
            return next
        }
        var base = second.metadata
        base.properties.append(("writer", "second"))
        #expect(throws: IcebergError.self) { _ = try second.catalog.commit(base: second.loaded, metadata: base) }
        try second.updateMetadata { metadata in
            var next = metadata
            next.properties.append(("writer", "second"))
            return next
        }
        try first.refresh()
        #expect(first.metadata.properties.filter { $0.0 == "writer" }.map(\.1) == ["first", "second"])
        #expect(first.metadata.metadataLog.count == 2)
    }

    @Test func filesystemCatalogCommitsAreAtomic() throws {
        let warehouse = try temporaryFolder("fs-race")
        try checkOptimisticConcurrency { FileSystemCatalog(warehouse: warehouse) }
        let hint = try String(contentsOfFile: warehouse + "/shop/race/metadata/version-hint.text", encoding: .utf8)
        #expect(hint == "3")
        // A hint left behind by a crash is passed by probing for newer versions.
        try "1".write(toFile: warehouse + "/shop/race/metadata/version-hint.text", atomically: true, encoding: .utf8)
        let loaded = try #require(
            try FileSystemCatalog(warehouse: warehouse)
                .loadTable(TableIdentifier(namespace: "shop", name: "race")))
        #expect(loaded.metadataLocation.hasSuffix("/v3.metadata.json"))
    }

    @Test func sqliteCatalogCommitsByConditionalUpdate() throws {
        let warehouse = try temporaryFolder("sqlite-race")
        try checkOptimisticConcurrency {
            try SQLCatalog(name: "sluice", uri: warehouse + "/catalog.db", warehouse: warehouse)
        }
        // pyiceberg's SqlCatalog lists the namespace and table.
        let result = try Python.jsonObject(.icebergCatalogTables, [warehouse + "/catalog.db"])
        #expect(result["namespaces"] as? [[String]] == [["shop"]])
        #expect(result["tables"] as? [[String]] == [["shop", "race"]])
        #expect(result["writer"] as? String == "second")
    }

    @Test(.needsPostgres)
    func postgresCatalogCommitsByConditionalUpdate() async throws {
        let url = try TestServers.postgres()
        let warehouse = try temporaryFolder("pg-catalog")
        let name = "c\(UInt32.random(in: 0...UInt32.max))"
        try checkOptimisticConcurrency { try SQLCatalog(name: name, uri: url, warehouse: warehouse) }
        // The sink on a PostgreSQL catalog: the table scans equal to the source in pyiceberg (by its metadata file).
        let workload = OrdersWorkload(count: 1200, keys: 150)
        let sink = try makeSink(
            warehouse,
            [
                "mode": .string("upsert"), "catalog": .string("sql"), "catalog_uri": .string(url),
                "catalog_name": .string(name),
            ])
        try await feed(sink, workload.batches())
        let catalog = try SQLCatalog(name: name, uri: url, warehouse: warehouse)
        let loaded = try #require(try catalog.loadTable(TableIdentifier(namespace: "shop", name: "orders")))
        let scan = try Python.jsonObject(
            .icebergScan,
            [
                "static", LocalFiles.path(loaded.metadataLocation), OrdersWorkload.columns.joined(separator: ","),
            ])
        #expect((scan["rows"] as? [String])?.sorted() == workload.expectedRows)
    }
}

@Suite struct ConcurrentMaintenanceTests {
    /// Compaction and snapshot expiry run in a loop on another thread while the sink writes an upsert table.
    @Test func compactionWhileTheSinkWritesKeepsTheTableRight() async throws {
        let warehouse = try temporaryFolder("concurrent")
        let workload = OrdersWorkload(count: 4000, keys: 300)
        let sink = try makeSink(warehouse, ["mode": .string("upsert"), "commit_rows": .int(150)])
        let batches = workload.batches(size: 50)
        try await feed(sink, Array(batches.prefix(10)))
        let stop = ManagedAtomicFlag()
        let compactions = ManagedCounter()
        let maintenance = BackgroundThread {
            let catalog = FileSystemCatalog(warehouse: warehouse)
            while !stop.isSet {
                do {
                    guard let loaded = try catalog.loadTable(TableIdentifier(namespace: "shop", name: "orders")) else {
                        continue
                    }
                    let table = IcebergTable(catalog: catalog, loaded: loaded)
                    let result = try TableMaintenance.compact(table, targetFileSize: 1 << 30)
                    if result.rewrittenDataFiles > 0 { compactions.increment() }
                    _ = try TableMaintenance.expireSnapshots(
                        table, olderThanMs: Int64(Date().timeIntervalSince1970 * 1000) - 200, retainLast: 3)
                } catch {
                    compactions.recordError("\(error)")
                }
                usleep(20_000)  // pacing between maintenance rounds, not a wait for an event
            }
        }
        for batch in batches.dropFirst(10) {
            _ = try await sink.write(batch)
            try await Task.sleep(for: .milliseconds(15))  // pacing: commits interleave with the maintenance
        }
        _ = try await sink.flush()
        stop.set()
        await maintenance.join()
        #expect(compactions.value > 0, "compaction errors: \(compactions.errors.prefix(3))")
        let scan = try scanStatic(warehouse)
        #expect((scan["rows"] as? [String])?.sorted() == workload.expectedRows)
        #expect(compactions.errors.filter { !$0.contains("commit conflict") }.isEmpty)
    }
}

final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var isSet: Bool { lock.withLock { flag } }
    func set() { lock.withLock { flag = true } }
}

final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var recorded: [String] = []
    var value: Int { lock.withLock { count } }
    var errors: [String] { lock.withLock { recorded } }
    func increment() { lock.withLock { count += 1 } }
    func recordError(_ text: String) { lock.withLock { recorded.append(text) } }
}
