// Writes 1.2M rows of the bench "orders" shape (../shared/bench/pg-workload.sh) to zstd Parquet with
// SluiceParquet, then has pyarrow write the same rows from an Arrow table in the same run, and prints both
// rates, both file sizes and the ratios (median of 3 runs each, one thread).
//
// usage: ParquetBenchmark [ROWS]   (default 1200000; Python with pyarrow: SLUICE_PYTHON, else .venv/bin/python)
import Foundation
import SluiceParquet

let rowCount = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1_200_000 : 1_200_000
let runs = 3
let batchRows = 65_536
let baseMicros: Int64 = 1_732_000_000_000_000
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-parquet-bench-\(getpid())")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }

let schema = try ParquetSchema(columns: [
    ParquetColumn(name: "id", type: .int64, isNullable: false),
    ParquetColumn(name: "customer_id", type: .int32, isNullable: false),
    ParquetColumn(name: "sku", type: .string, isNullable: false),
    ParquetColumn(name: "qty", type: .int32),
    ParquetColumn(name: "price", type: .decimal(precision: 12, scale: 2)),
    ParquetColumn(name: "status", type: .string),
    ParquetColumn(name: "note", type: .string),
    ParquetColumn(name: "created_at", type: .timestamp(isAdjustedToUTC: true)),
    ParquetColumn(name: "payload", type: .json),
    ParquetColumn(name: "active", type: .boolean),
])

/// Fills one batch of column buffers with rows `start..<end` (g is the row number, as in the workload).
func fillBatch(_ columns: inout [ColumnValues], rows: Range<Int>) throws {
    let note = String(repeating: "x", count: 40)
    for index in columns.indices {
        columns[index].removeAll()
    }
    for g in rows {
        try columns[0].append(Int64(g))
        try columns[1].append(Int64(g % 5000))
        try columns[2].append("SKU-\(g % 997)")
        try columns[3].append(Int64(g % 7))
        try columns[4].append(Int64(g % 10000))
        try columns[5].append("new")
        try columns[6].append(note)
        try columns[7].append(baseMicros + Int64(g) * 1000)
        try columns[8].append("{\"k\": \(g), \"tags\": [\"a\", \"b\"]}")
        try columns[9].append(g % 2 == 0)
    }
}

func median(_ values: [Double]) -> Double {
    values.sorted()[values.count / 2]
}

func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

// Build the batches once (like pyarrow's table construction, not timed in the write figure).
var batches: [[ColumnValues]] = []
var fillSeconds: [Double] = []
for start in stride(from: 0, to: rowCount, by: batchRows) {
    var columns = schema.makeColumnBuffers(reservingCapacity: batchRows)
    let began = now()
    try fillBatch(&columns, rows: start..<min(start + batchRows, rowCount))
    fillSeconds.append(now() - began)
    batches.append(columns)
}

var sluiceSeconds: [Double] = []
var sluiceSize: Int64 = 0
for run in 0..<runs {
    let path = directory.appendingPathComponent("sluice-\(run).parquet").path
    var options = ParquetWriterOptions()
    options.compression = .zstd
    let began = now()
    let writer = try ParquetWriter(path: path, schema: schema, options: options)
    for batch in batches {
        try writer.append(columns: batch)
    }
    let summary = try writer.close()
    sluiceSeconds.append(now() - began)
    sluiceSize = summary.fileSize
}

let pythonScript = #"""
import sys, time, json, datetime, decimal
import pyarrow as pa, pyarrow.parquet as pq
pa.set_cpu_count(1)
pa.set_io_thread_count(1)
rows, runs, directory = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
base = 1732000000000000
g = list(range(rows))
schema = pa.schema([
    pa.field("id", pa.int64(), nullable=False), pa.field("customer_id", pa.int32(), nullable=False),
    pa.field("sku", pa.string(), nullable=False), pa.field("qty", pa.int32()),
    pa.field("price", pa.decimal128(12, 2)), pa.field("status", pa.string()), pa.field("note", pa.string()),
    pa.field("created_at", pa.timestamp("us", tz="UTC")), pa.field("payload", pa.string()),
    pa.field("active", pa.bool_()),
])
ids = pa.array(g, pa.int64())
table = pa.Table.from_arrays([
    ids,
    pa.array([n % 5000 for n in g], pa.int32()),
    pa.array(["SKU-%d" % (n % 997) for n in g], pa.string()),
    pa.array([n % 7 for n in g], pa.int32()),
    pa.array([decimal.Decimal(n % 10000).scaleb(-2) for n in g], pa.decimal128(12, 2)),
    pa.array(["new"] * rows, pa.string()),
    pa.array(["x" * 40] * rows, pa.string()),
    pa.array([base + n * 1000 for n in g], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
    pa.array(['{"k": %d, "tags": ["a", "b"]}' % n for n in g], pa.string()),
    pa.array([n % 2 == 0 for n in g], pa.bool_()),
], schema=schema)
seconds = []
for run in range(runs):
    path = "%s/pyarrow-%d.parquet" % (directory, run)
    began = time.perf_counter()
    pq.write_table(table, path, compression="zstd")
    seconds.append(time.perf_counter() - began)
import os
print(json.dumps({"seconds": seconds, "size": os.path.getsize(path)}))
"""#

let python = ProcessInfo.processInfo.environment["SLUICE_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".venv/bin/python").path
let process = Process()
process.executableURL = URL(fileURLWithPath: python)
process.arguments = ["-c", pythonScript, String(rowCount), String(runs), directory.path]
let pipe = Pipe()
process.standardOutput = pipe
try process.run()
let output = pipe.fileHandleForReading.readDataToEndOfFile()
process.waitUntilExit()
guard process.terminationStatus == 0,
    let result = try JSONSerialization.jsonObject(with: output) as? [String: Any],
    let pyarrowSeconds = result["seconds"] as? [Double], let pyarrowSize = result["size"] as? Int
else {
    print("pyarrow run failed (exit \(process.terminationStatus)); run scripts/install-deps.sh or set SLUICE_PYTHON")
    exit(1)
}

let sluiceRate = Double(rowCount) / median(sluiceSeconds)
let pyarrowRate = Double(rowCount) / median(pyarrowSeconds)
let fillRate = Double(rowCount) / fillSeconds.reduce(0, +)
func formatted(_ value: Double) -> String { String(format: "%.0f", value) }
print("rows: \(rowCount), orders shape, zstd, one thread, median of \(runs)")
print("sluice  write: \(formatted(sluiceRate)) rows/s  (file \(sluiceSize) bytes)")
print("pyarrow write: \(formatted(pyarrowRate)) rows/s  (file \(pyarrowSize) bytes)")
print(String(format: "speed ratio sluice/pyarrow: %.2f   size ratio sluice/pyarrow: %.3f",
             sluiceRate / pyarrowRate, Double(sluiceSize) / Double(pyarrowSize)))
print("sluice column-buffer fill (not in the write figure): \(formatted(fillRate)) rows/s; "
    + "fill + write: \(formatted(Double(rowCount) / (fillSeconds.reduce(0, +) + median(sluiceSeconds)))) rows/s")
