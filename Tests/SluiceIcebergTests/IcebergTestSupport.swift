import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceRuntime
import SluiceTestSupport
import Testing

@testable import SluiceIceberg

/// A fresh temporary folder.
func temporaryFolder(_ name: String) throws -> String {
    try TestEnvironment.temporaryFolder("sluice-iceberg-\(name)").path
}

/// A deterministic mixed workload on one table (inserts, updates, deletes) and the state it leaves.
struct OrdersWorkload {
    static let table = TableID(database: "shop", schema: "public", name: "orders")
    static let stream = "p.public.orders"
    static let columns = ["id", "name", "amount", "version", "updated_at", "active"]

    static func schema(version: Int = 1) -> TableSchema {
        var columns = [
            ColumnSchema(name: "id", sourceType: "bigint", kind: .int, nullable: false),
            ColumnSchema(name: "name", sourceType: "text", kind: .string),
            ColumnSchema(name: "amount", sourceType: "numeric(12,2)", kind: .decimal, precision: 12, scale: 2),
            ColumnSchema(name: "version", sourceType: "bigint", kind: .int, nullable: false),
            ColumnSchema(name: "updated_at", sourceType: "timestamptz", kind: .timestampTZ),
            ColumnSchema(name: "active", sourceType: "boolean", kind: .bool),
        ]
        if version >= 2 {
            columns[2] = ColumnSchema(
                name: "amount", sourceType: "numeric(16,2)", kind: .decimal, precision: 16, scale: 2)
            columns.append(ColumnSchema(name: "note", sourceType: "text", kind: .string))
        }
        return TableSchema(table: table, version: version, columns: columns, primaryKey: ["id"])
    }

    var events: [ChangeEvent] = []
    /// id → rendered row (as the scan script renders it).
    var state: [Int64: String] = [:]
    /// Version from which events use schema 2 (nil: never).
    let schemaChangeAt: Int?

    init(count: Int, keys: Int, seed: UInt64 = 7, schemaChangeAt: Int? = nil) {
        self.schemaChangeAt = schemaChangeAt
        var random = SeededGenerator(seed: seed)
        func next() -> UInt64 { random.next() }
        var live: [Int64] = []
        var versions: [Int64: Int64] = [:]
        var nextKey: Int64 = 1
        let base: Int64 = 1_767_225_600_000_000  // 2026-01-01
        for n in 0..<count {
            let schemaVersion = schemaChangeAt.map { n >= $0 ? 2 : 1 } ?? 1
            let roll = next() % 100
            let op: ChangeOperation
            let key: Int64
            if live.isEmpty || (live.count < keys && roll < 45) {
                op = .insert
                key = nextKey
                nextKey += 1
                live.append(key)
                versions[key] = 1
            } else {
                let index = Int(next() % UInt64(live.count))
                key = live[index]
                if roll < 85 {
                    op = .update
                    versions[key]! += 1
                } else {
                    op = .delete
                    live.remove(at: index)
                }
            }
            let version = versions[key]!
            let micros = base + Int64(n) * 3_600_000_000 / 7
            func image(_ version: Int64) -> Row {
                let cents = Int64((UInt64(bitPattern: key) &* 2_654_435_761 ^ UInt64(bitPattern: version)) % 10_000_000)
                var columns = OrdersWorkload.columns
                var values: [Value] = [
                    .int(key), .string("item \(key) v\(version)"),
                    .decimal(ExactDecimal(negative: false, unscaledDigits: String(cents), scale: 2)!),
                    .int(version), .timestamp(Timestamp(micros: micros, isUTC: true)), .bool(version % 2 == 1),
                ]
                if schemaVersion >= 2 {
                    columns.append("note")
                    values.append(.string("note \(version)"))
                }
                return Row(columns: columns, values: values)
            }
            let before: Row? = op == .insert ? nil : image(op == .update ? version - 1 : version)
            let after: Row? = op == .delete ? nil : image(version)
            events.append(
                ChangeEvent(
                    op: op, connector: "test", table: Self.table, schemaVersion: schemaVersion, before: before,
                    after: after,
                    position: SourcePosition(sortKey: SourcePosition.sortKey(UInt64(n)), text: "0/\(n)"),
                    transactionID: String(1000 + n), orderInTransaction: 0, commitTimeMicros: micros))
            if let after {
                state[key] = Self.render(after)
            } else {
                state[key] = nil
            }
            if op == .delete { versions[key] = nil }
        }
    }

    /// The scan script's rendering of a row (columns id…active, plus note when asked).
    static func render(_ row: Row, withNote: Bool = false) -> String {
        var names = columns
        if withNote { names.append("note") }
        return names.map { name -> String in
            switch row[name] {
            case .int(let v)?: return String(v)
            case .string(let s)?: return s
            case .decimal(let d)?: return d.description
            case .timestamp(let t)?: return String(t.micros)
            case .bool(let b)?: return b ? "true" : "false"
            default: return "null"
            }
        }.joined(separator: "|")
    }

    var expectedRows: [String] { state.values.sorted() }

    /// Batches of records from `start` (offsets = event numbers).
    func batches(from start: Int = 0, to end: Int? = nil, size: Int = 250) -> [SinkBatch] {
        let end = end ?? events.count
        var schemas: [Int: TableSchema] = [1: Self.schema(version: 1)]
        if schemaChangeAt != nil { schemas[2] = Self.schema(version: 2) }
        return stride(from: start, to: end, by: size).map { first in
            let records = (first..<min(first + size, end)).map {
                SinkRecord(offset: Int64($0), event: events[$0], appendedAtMicros: events[$0].commitTimeMicros)
            }
            return SinkBatch(stream: Self.stream, table: Self.table, records: records, schemas: schemas)
        }
    }
}

/// Builds an Iceberg sink over a warehouse.
func makeSink(_ warehouse: String, _ settings: [String: ConfigValue] = [:]) throws -> IcebergSink {
    var values: [String: ConfigValue] = [
        "warehouse": .string(warehouse), "namespace": .string("shop"), "table": .string("{table}"),
        "commit_rows": .int(400), "commit_interval": .duration(3600),
    ]
    for (key, value) in settings { values[key] = value }
    var logger = Logger(label: "test.iceberg")
    logger.logLevel = .warning
    return try IcebergSink(
        context: SinkContext(
            pipeline: "p", config: ConnectorConfig(instanceName: "lake", values: values), logger: logger))
}

/// Feeds batches to a sink and flushes it.
func feed(_ sink: IcebergSink, _ batches: [SinkBatch], flush: Bool = true) async throws {
    for batch in batches { _ = try await sink.write(batch) }
    if flush { _ = try await sink.flush() }
}

/// Writes `batches` of `workload` (all by default) through a new sink with `settings` into a new warehouse folder
/// named after `name`; returns the warehouse and the sink.
func writeWorkload(
    _ workload: OrdersWorkload, into name: String, _ settings: [String: ConfigValue], batches: [SinkBatch]? = nil
) async throws -> (warehouse: String, sink: IcebergSink) {
    let warehouse = try temporaryFolder(name)
    let sink = try makeSink(warehouse, settings)
    try await feed(sink, batches ?? workload.batches())
    return (warehouse, sink)
}

/// The current metadata file of a filesystem-catalog table.
func currentMetadataPath(_ warehouse: String, namespace: String = "shop", table: String = "orders") throws -> String {
    let catalog = FileSystemCatalog(warehouse: warehouse)
    guard let loaded = try catalog.loadTable(TableIdentifier(namespace: namespace, name: table)) else {
        throw TestFailure("no table \(namespace).\(table) in \(warehouse)")
    }
    return LocalFiles.path(loaded.metadataLocation)
}

/// The table `shop.orders` of a filesystem-catalog warehouse, opened for maintenance and inspection.
func ordersTable(_ warehouse: String) throws -> IcebergTable {
    let catalog = FileSystemCatalog(warehouse: warehouse)
    guard let loaded = try catalog.loadTable(TableIdentifier(namespace: "shop", name: "orders")) else {
        throw TestFailure("no table shop.orders in \(warehouse)")
    }
    return IcebergTable(catalog: catalog, loaded: loaded)
}

/// Scans a filesystem-catalog table with pyiceberg's StaticTable.
func scanStatic(_ warehouse: String, columns: [String] = OrdersWorkload.columns) throws -> [String: Any] {
    try Python.jsonObject(.icebergScan, ["static", try currentMetadataPath(warehouse), columns.joined(separator: ",")])
}
