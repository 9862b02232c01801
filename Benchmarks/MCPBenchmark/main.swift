// Benchmarks the governed MCP query tools on a large log.
//
//     MCPBenchmark [--events N] [--keys K] [--dir PATH] [--iterations I]
//         Generates N changes (default 10,000,000) over two tables with the generator source into a SQLite log and a
//         state sink (skipped when PATH already holds a log of that size), then times, in process, I calls each
//         (default 300) of `read_changes` with limit 1,000 from random offsets and `get_row_history` of random keys,
//         through the whole tool path: policy evaluation, log reads, masking (a pseudonymized and a redacted column),
//         the JSON rendering, the audit record (hash-chained append to `_audit`) and the JSON-RPC response bytes as
//         the server sends them (`ToolCallFastPath`). Prints p50/p99 and, as the peer figure from the same run, the
//         ungoverned baseline: the same log reads and JSON rendering without governance or audit; also read_changes
//         through the sdk's generic Codable handler path, which the fast path avoids.
//         Then what an agent sees: `read_changes` of 300 events through the official Python MCP client over Streamable
//         HTTP (`client_latency.py`, run with SLUICE_PYTHON) against this process's HTTP server, beside the same calls
//         answered in process, and the gap between the two.

import Foundation
import Logging
import MCP
import SluiceCore
import SluiceDevConnectors
import SluiceLog
import SluiceMCP
import SluiceRuntime

struct Options {
    var events = 10_000_000
    var keys = 200_000
    var directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mcp-bench").path
    var iterations = 300

    init(_ arguments: [String]) {
        var index = 1
        while index + 1 < arguments.count {
            let value = arguments[index + 1]
            switch arguments[index] {
            case "--events": events = Int(value) ?? events
            case "--keys": keys = Int(value) ?? keys
            case "--dir": directory = value
            case "--iterations": iterations = Int(value) ?? iterations
            default: break
            }
            index += 2
        }
    }
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

let options = Options(CommandLine.arguments)
let token = "bench-token"
let hash = Governance.tokenHash(token)
let yaml = """
    name: bench
    log:
      path: \(options.directory)/bench.sluicelog
      sync: normal
    sources:
      gen:
        type: generator
        count: \(options.events)
        keys: \(options.keys)
        batch_size: 5000
        tables: [orders, customers]
    sinks:
      state:
        type: state
        path: \(options.directory)/state.db
    runtime:
      status_interval: 0
      sink_batch_events: 20000
      max_in_flight_batches: 8
    mcp:
      listen: 127.0.0.1:0
      pseudonym_key: benchmark-pseudonym-key-0123456789
      principals:
        agent: {token_sha256: \(hash), policies: [all, pii], limits: {max_rows_per_call: 1000, calls_per_minute: 1000000}}
      policies:
        all: {streams: ["bench.*"]}
        pii: {streams: ["bench.*"], columns: {name: {action: pseudonym}, amount: {action: redact}}}
    """

let registry = ConnectorRegistry(sources: [GeneratorSource.self], sinks: [StateSink.self])
let config = try PipelineLoader(registry: registry, sections: ["mcp": MCPSettings.fields])
    .load(text: yaml, file: "bench.yaml", environment: [:])
let settings = try MCPSettings(section: config.sections["mcp"], pipeline: config)
try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
var logger = Logger(label: "bench")
logger.logLevel = .warning
let log = try LogFactory.open(config.log)
let stream = "bench.generator.orders"

let existing = try await log.streams().filter { config.isChangeStream($0.name) }.map(\.nextOffset).reduce(0, +)
if existing < Int64(options.events) {
    print("generating \(options.events) changes (\(options.keys) keys per table) into \(options.directory) …")
    let started = ContinuousClock.now
    let runner = PipelineRunner(config: config, registry: registry, log: log, logger: logger, untilCaughtUp: true)
    try await runner.run()
    let seconds = milliseconds(ContinuousClock.now - started) / 1000
    print(
        String(
            format: "generated in %.0f s (%.0f changes/s through the log and the state sink)", seconds,
            Double(options.events) / seconds))
}
guard let info = try await log.stream(stream), info.count > 2000 else {
    print("no data in \(stream)")
    exit(1)
}
let total = try await log.streams().filter { config.isChangeStream($0.name) }.map(\.count).reduce(0, +)
print("log: \(total) changes; \(stream): \(info.count) changes")

let service = QueryService(pipeline: config, settings: settings, log: log, logger: logger)
let principal = service.authenticate(token: token)!
let encoder = JSONEncoder()
let sortedEncoder = JSONEncoder()
var random = SystemRandomNumberGenerator()

/// Times `body` `iterations` times after a few warm-up calls.
func measure(_ iterations: Int, _ body: () async throws -> Void) async rethrows -> [Double] {
    for _ in 0..<5 { try await body() }
    var samples: [Double] = []
    samples.reserveCapacity(iterations)
    for _ in 0..<iterations {
        let start = ContinuousClock.now
        try await body()
        samples.append(milliseconds(ContinuousClock.now - start))
    }
    return samples
}

func report(_ name: String, _ governed: [Double], _ baseline: [Double], aim: Double) {
    let p50 = percentile(governed, 0.5), p99 = percentile(governed, 0.99)
    let b50 = percentile(baseline, 0.5), b99 = percentile(baseline, 0.99)
    print(
        String(
            format:
                "%@: p50 %.2f ms, p99 %.2f ms (aim p99 < %.0f ms: %@) | ungoverned baseline p50 %.2f ms, p99 %.2f ms | ratio p50 %.2f×",
            name, p50, p99, aim, p99 < aim ? "met" : "missed", b50, b99, p50 / max(b50, 0.0001)))
}

// read_changes of 1,000 events from random offsets.
var returned = 0
let readSamples = await measure(options.iterations) {
    let from = Int64.random(in: info.firstOffset..<(info.nextOffset - 1000), using: &random)
    let response = await service.respond(
        tool: "read_changes",
        arguments: [
            "stream": .string(stream), "from_offset": .int(Int(from)), "limit": 1000,
        ], principal: principal)
    returned += response.jsonRPCResponse(id: "1").count
}
// The same calls answered through the sdk's own handler path: Codable encode, decode into Value, encode again.
let sdkPath = try await measure(max(20, options.iterations / 10)) {
    let from = Int64.random(in: info.firstOffset..<(info.nextOffset - 1000), using: &random)
    let result = await service.call(
        tool: "read_changes",
        arguments: [
            "stream": .string(stream), "from_offset": .int(Int(from)), "limit": 1000,
        ], principal: principal)
    let value = try JSONDecoder().decode(MCP.Value.self, from: try encoder.encode(result))
    sortedEncoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    _ = try sortedEncoder.encode(value)
}
let readBaseline = try await measure(options.iterations) {
    let from = Int64.random(in: info.firstOffset..<(info.nextOffset - 1000), using: &random)
    var text = ""
    for record in try await log.read(stream: stream, from: from, limit: 1000) {
        text += JSONRendering.render(
            try EventCoding.decode(record.payload), stream: stream, offset: record.offset,
            appendedAtMicros: record.appendedAtMicros)
    }
    _ = text.utf8.count
}
print("read_changes: \(returned / (options.iterations + 5) / 1024) KiB per JSON-RPC response on average")
print(
    String(
        format: "read_changes through the sdk's Codable handler path instead: p50 %.2f ms, p99 %.2f ms",
        percentile(sdkPath, 0.5), percentile(sdkPath, 0.99)))
report("read_changes (1,000 events)", readSamples, readBaseline, aim: 50)

// get_row_history of random keys (ids are dense from 1 in the generator).
let store = try StateStore(path: settings.statePath!)
let liveKeys = try await store.rows(stream: stream, afterKey: nil, limit: 100_000).compactMap { row -> Int64? in
    if case .int(let id)? = row.row["id"] { return id }
    return nil
}
var historyLengths = 0
let historySamples = await measure(options.iterations) {
    let id = liveKeys.randomElement(using: &random)!
    let response = await service.respond(
        tool: "get_row_history",
        arguments: [
            "stream": .string(stream), "key": ["id": .int(Int(id))], "limit": 1000,
        ], principal: principal)
    _ = response.jsonRPCResponse(id: "1")
    historyLengths += response.text.components(separatedBy: "\"op\":").count - 1
}
let historyBaseline = try await measure(options.iterations) {
    let id = liveKeys.randomElement(using: &random)!
    let offsets = try await store.history(stream: stream, key: EventCoding.encodeKey([.int(id)]), fromOffset: 0, limit: 1000)
    var text = ""
    for offset in offsets {
        for record in try await log.read(stream: stream, from: offset, limit: 1) {
            text += JSONRendering.render(
                try EventCoding.decode(record.payload), stream: stream, offset: record.offset,
                appendedAtMicros: record.appendedAtMicros)
        }
    }
    _ = text.utf8.count
}
print("get_row_history returned \(historyLengths / options.iterations) changes per key on average")
report("get_row_history (by key)", historySamples, historyBaseline, aim: 20)

// What an agent sees: the official Python client over HTTP, beside the same calls answered in process.
let clientLimit = 300
let serverSide = await measure(options.iterations) {
    let from = Int64.random(in: info.firstOffset..<(info.nextOffset - Int64(clientLimit)), using: &random)
    let response = await service.respond(
        tool: "read_changes",
        arguments: ["stream": .string(stream), "from_offset": .int(Int(from)), "limit": .int(clientLimit)],
        principal: principal)
    _ = response.jsonRPCResponse(id: "1").count
}
if let python = ProcessInfo.processInfo.environment["SLUICE_PYTHON"] {
    let http = MCPHTTPServer(service: service, logger: logger)
    let port = AsyncStream<Int>.makeStream()
    let serving = Task { try await http.run { port.continuation.yield($0) } }
    var iterator = port.stream.makeAsyncIterator()
    guard let listening = await iterator.next() else { exit(1) }
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("client_latency.py")
    let client = Process()
    client.executableURL = URL(fileURLWithPath: python)
    client.arguments = [script.path, "http://127.0.0.1:\(listening)/mcp", token, stream, "\(info.firstOffset)",
                        "\(info.nextOffset)", "\(clientLimit)", "\(options.iterations)"]
    let output = Pipe()
    client.standardOutput = output
    try client.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    client.waitUntilExit()
    await http.shutdown()
    _ = await serving.result
    if client.terminationStatus == 0,
       let figures = try JSONSerialization.jsonObject(with: data) as? [String: Double],
       let p50 = figures["p50"], let p99 = figures["p99"]
    {
        let s50 = percentile(serverSide, 0.5), s99 = percentile(serverSide, 0.99)
        print(String(format: "read_changes (%d events) through the official Python client over HTTP: p50 %.2f ms, "
                         + "p99 %.2f ms | in process p50 %.2f ms, p99 %.2f ms | client/server ratio p50 %.1f×",
                     clientLimit, p50, p99, s50, s99, p50 / max(s50, 0.0001)))
    } else {
        print("the Python client failed (exit \(client.terminationStatus)): is the mcp package in SLUICE_PYTHON's venv?")
    }
} else {
    print("client-side figure skipped: set SLUICE_PYTHON to the venv's python (scripts/install-deps.sh makes it)")
}
try await log.close()
