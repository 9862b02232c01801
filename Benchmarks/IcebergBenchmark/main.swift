// Commits the bench orders workload (the columns of /work/shared/bench/pg-workload.sh) into an Iceberg table
// through the Iceberg sink, and has pyiceberg append the same rows (as Arrow tables) in the same run.
//
//   swift run -c release --scratch-path .build-iceberg IcebergBenchmark [ROWS] [COMMIT_ROWS]
//
// The sink's figure covers turning change events into Iceberg rows (and, in upsert mode, tracking keys), Parquet,
// manifests and catalog commits; pyiceberg's covers `Table.append` of ready Arrow tables (building them is not
// timed), with the same commit size.
//
// Python: SLUICE_PYTHON, else .venv/bin/python (needs pyiceberg[sql-sqlite] and pyarrow; scripts/install-deps.sh).
import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceIceberg
import SluiceRuntime

let arguments = CommandLine.arguments
let rowCount = arguments.count > 1 ? Int(arguments[1]) ?? 200_000 : 200_000
let commitRows = arguments.count > 2 ? Int(arguments[2]) ?? 100_000 : 100_000
let batchSize = 1000
let runs = 3

let table = TableID(database: "bench", schema: "public", name: "sluice_bench_orders")
let schema = TableSchema(
    table: table, version: 1,
    columns: [
        ColumnSchema(name: "id", sourceType: "bigint", kind: .int, nullable: false),
        ColumnSchema(name: "customer_id", sourceType: "integer", kind: .int, nullable: false),
        ColumnSchema(name: "sku", sourceType: "text", kind: .string, nullable: false),
        ColumnSchema(name: "qty", sourceType: "integer", kind: .int),
        ColumnSchema(name: "price", sourceType: "numeric(12,2)", kind: .decimal, precision: 12, scale: 2),
        ColumnSchema(name: "status", sourceType: "text", kind: .string),
        ColumnSchema(name: "note", sourceType: "text", kind: .string),
        ColumnSchema(name: "created_at", sourceType: "timestamptz", kind: .timestampTZ),
        ColumnSchema(name: "payload", sourceType: "jsonb", kind: .json),
        ColumnSchema(name: "active", sourceType: "boolean", kind: .bool),
    ], primaryKey: ["id"])
let names = schema.columns.map(\.name)
let createdBase: Int64 = 1_767_225_600_000_000

func event(_ n: Int) -> ChangeEvent {
    let g = Int64(n)
    let cents = g % 10_000
    let row = Row(
        columns: names,
        values: [
            .int(g + 1), .int(g % 5000), .string("SKU-\(g % 997)"), .int(g % 7),
            .decimal(ExactDecimal(negative: false, unscaledDigits: String(cents), scale: 2)!), .string("new"),
            .string(String(repeating: "x", count: 40)),
            .timestamp(Timestamp(micros: createdBase + g * 1000, isUTC: true)),
            .json(#"{"k": \#(g), "tags": ["a", "b"]}"#), .bool(g % 2 == 0),
        ])
    return ChangeEvent(
        op: .insert, connector: "bench", table: table, schemaVersion: 1, before: nil, after: row,
        position: SourcePosition(sortKey: SourcePosition.sortKey(UInt64(n)), text: String(n)),
        transactionID: String(n / 10), orderInTransaction: n % 10, commitTimeMicros: createdBase + g * 1000)
}

func runSluice(mode: String, batches: [SinkBatch]) async throws -> Double {
    let warehouse = NSTemporaryDirectory() + "sluice-iceberg-bench-\(mode)-\(UUID().uuidString.prefix(8))"
    var logger = Logger(label: "bench")
    logger.logLevel = .warning
    let sink = try IcebergSink(
        context: SinkContext(
            pipeline: "bench",
            config: ConnectorConfig(
                instanceName: "lake",
                values: [
                    "warehouse": .string(warehouse), "catalog": .string("sql"), "mode": .string(mode),
                    "commit_rows": .int(commitRows), "commit_interval": .duration(3600), "namespace": .string("bench"),
                    "table": .string("{table}"),
                ]), logger: logger))
    let start = ContinuousClock.now
    for batch in batches { _ = try await sink.write(batch) }
    _ = try await sink.flush()
    let elapsed = ContinuousClock.now - start
    try? FileManager.default.removeItem(atPath: warehouse)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

let peerScript = #"""
    import sys, time, tempfile, datetime, decimal, shutil
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog
    rows, commit_rows = int(sys.argv[1]), int(sys.argv[2])
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    schema = pa.schema([
        pa.field("id", pa.int64(), nullable=False), pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("sku", pa.string(), nullable=False), pa.field("qty", pa.int64()),
        pa.field("price", pa.decimal128(12, 2)), pa.field("status", pa.string()), pa.field("note", pa.string()),
        pa.field("created_at", pa.timestamp("us", tz="UTC")), pa.field("payload", pa.string()), pa.field("active", pa.bool_())])
    def chunk(start, end):
        g = range(start, end)
        return pa.table({
            "id": [x + 1 for x in g], "customer_id": [x % 5000 for x in g], "sku": ["SKU-%d" % (x % 997) for x in g],
            "qty": [x % 7 for x in g], "price": [decimal.Decimal(x % 10000).scaleb(-2) for x in g],
            "status": ["new"] * len(g), "note": ["x" * 40] * len(g),
            "created_at": [base + datetime.timedelta(microseconds=x * 1000) for x in g],
            "payload": ['{"k": %d, "tags": ["a", "b"]}' % x for x in g], "active": [x % 2 == 0 for x in g]}, schema=schema)
    chunks = [chunk(s, min(s + commit_rows, rows)) for s in range(0, rows, commit_rows)]
    warehouse = tempfile.mkdtemp(prefix="pyiceberg-bench-")
    catalog = SqlCatalog("bench", uri="sqlite:///%s/catalog.db" % warehouse, warehouse="file://" + warehouse)
    catalog.create_namespace("bench")
    times = []
    for run in range(int(sys.argv[3])):
        table = catalog.create_table(("bench", "orders%d" % run), schema=schema)
        start = time.perf_counter()
        for c in chunks:
            table.append(c)
        times.append(time.perf_counter() - start)
        assert len(table.scan().to_arrow()) == rows
    shutil.rmtree(warehouse)
    print(sorted(times)[len(times) // 2])
    """#

/// The venv's Python (never the system python3, which lacks the readers).
func python() -> String {
    if let path = ProcessInfo.processInfo.environment["SLUICE_PYTHON"], !path.isEmpty { return path }
    return ".venv/bin/python"
}

func runPeer() throws -> Double? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python())
    process.arguments = ["-c", peerScript, String(rowCount), String(commitRows), String(runs)]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
}

let events = (0..<rowCount).map(event)
let batches = stride(from: 0, to: rowCount, by: batchSize).map { first in
    SinkBatch(
        stream: "bench.public.sluice_bench_orders", table: table,
        records: (first..<min(first + batchSize, rowCount)).map {
            SinkRecord(offset: Int64($0), event: events[$0], appendedAtMicros: 0)
        }, schemas: [1: schema])
}
print(
    "iceberg benchmark: \(rowCount) bench orders rows, commits of \(commitRows) rows, SQLite catalog, "
        + "median of \(runs)")
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
var upsertRuns: [Double] = []
var appendRuns: [Double] = []
for _ in 0..<runs {
    upsertRuns.append(try await runSluice(mode: "upsert", batches: batches))
    appendRuns.append(try await runSluice(mode: "append", batches: batches))
}
let upsertSeconds = median(upsertRuns)
let appendSeconds = median(appendRuns)
let upsertRate = Double(rowCount) / upsertSeconds
let appendRate = Double(rowCount) / appendSeconds
print(String(format: "sluice iceberg sink, upsert mode:   %8.2f s  %10.0f rows/s", upsertSeconds, upsertRate))
print(String(format: "sluice iceberg sink, append mode:   %8.2f s  %10.0f rows/s", appendSeconds, appendRate))
if let peerSeconds = try runPeer() {
    let peerRate = Double(rowCount) / peerSeconds
    print(String(format: "pyiceberg Table.append (Arrow):     %8.2f s  %10.0f rows/s", peerSeconds, peerRate))
    print(
        String(
            format: "ratio sluice upsert / pyiceberg: %.2fx; sluice append / pyiceberg: %.2fx",
            upsertRate / peerRate, appendRate / peerRate))
} else {
    print("pyiceberg peer failed to run; install pyiceberg[sql-sqlite] and pyarrow (scripts/install-deps.sh)")
}
