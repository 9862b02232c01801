import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceRuntime
import Testing

@testable import SluiceIceberg

/// Runs Python with pyiceberg and fastavro: `SLUICE_PYTHON`, else the repository's `.venv`, else `python3`.
enum Python {
    static var executable: String {
        if let path = ProcessInfo.processInfo.environment["SLUICE_PYTHON"], !path.isEmpty { return path }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let venv = repo.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/python3"
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func run(_ script: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-c", script] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "python (\(executable)) failed: " + String(decoding: errorData, as: UTF8.self))
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func json(_ script: String, _ arguments: [String]) throws -> [String: Any] {
        let text = try run(script, arguments)
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw Failure(description: "the script printed no JSON object: \(text.prefix(300))")
        }
        return object
    }

    /// Loads a table with pyiceberg (`static METADATA` or `sql URI CATALOG NAMESPACE TABLE`), scans it, and prints
    /// its schema and rows (each row one line of `|`-joined rendered values of the requested columns).
    static let scanScript = #"""
        import sys, json, datetime, decimal
        from pyiceberg.table import StaticTable
        EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        def render(v):
            if v is None: return "null"
            if isinstance(v, bool): return "true" if v else "false"
            if isinstance(v, decimal.Decimal): return format(v, "f")
            if isinstance(v, datetime.datetime):
                if v.tzinfo is None: v = v.replace(tzinfo=datetime.timezone.utc)
                return str((v - EPOCH) // datetime.timedelta(microseconds=1))
            if isinstance(v, (bytes, bytearray)): return bytes(v).hex()
            return str(v)
        args = sys.argv[1:]
        if args[0] == "static":
            table = StaticTable.from_metadata(args[1]); cols = args[2].split(",")
        else:
            from pyiceberg.catalog.sql import SqlCatalog
            catalog = SqlCatalog(args[2], uri=args[1], warehouse="file:///tmp")
            table = catalog.load_table((args[3], args[4])); cols = args[5].split(",")
        arrow = table.scan().to_arrow()
        names = arrow.column_names
        rows = arrow.to_pylist()
        schema = table.schema()
        snapshot = table.current_snapshot()
        print(json.dumps({
            "fields": [[f.field_id, f.name, str(f.field_type), f.required] for f in schema.fields],
            "identifier": list(schema.identifier_field_ids),
            "schemaId": schema.schema_id,
            "rows": ["|".join(render(r.get(c)) for c in cols) for r in rows],
            "count": len(rows),
            "snapshots": len(table.metadata.snapshots),
            "summary": dict(snapshot.summary.additional_properties) if snapshot else {},
            "operation": str(snapshot.summary.operation) if snapshot else None,
        }))
        """#
}

/// A fresh temporary folder.
func temporaryFolder(_ name: String) -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
        "sluice-iceberg-\(name)-\(UUID().uuidString.prefix(8))"
    ).path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
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
        var random = seed
        func next() -> UInt64 {
            random &+= 0x9E37_79B9_7F4A_7C15
            var z = random
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
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

/// The current metadata file of a filesystem-catalog table.
func currentMetadataPath(_ warehouse: String, namespace: String = "shop", table: String = "orders") throws -> String {
    let catalog = FileSystemCatalog(warehouse: warehouse)
    guard let loaded = try catalog.loadTable(TableIdentifier(namespace: namespace, name: table)) else {
        throw Python.Failure(description: "no table \(namespace).\(table) in \(warehouse)")
    }
    return LocalFiles.path(loaded.metadataLocation)
}

/// Scans a filesystem-catalog table with pyiceberg's StaticTable.
func scanStatic(_ warehouse: String, columns: [String] = OrdersWorkload.columns) throws -> [String: Any] {
    try Python.json(Python.scanScript, ["static", try currentMetadataPath(warehouse), columns.joined(separator: ",")])
}
