// SluiceDevConnectors: connectors that need no database: the `generator` source (synthetic changes) and the
// `jsonl` sink (the smallest real sink, the worked example in connectors/README.md).

import Foundation
import SluiceCore
import SluiceConnectorKit

/// A source that needs no database: deterministic synthetic inserts, updates and deletes over a few tables.
///
/// The n-th change depends only on `seed` and n, so a run that restarts anywhere produces the same
/// stream. Its position (the next change number) is stored with each batch, so a restart continues
/// exactly after the last durable batch.
public struct GeneratorSource: SourceConnector {
    public static let spec = ConnectorSpec(
        name: "generator", role: .source,
        summary: "Synthetic change stream (inserts, updates, deletes) for demos and tests; needs no database.",
        fields: [
            FieldSpec("tables", .list(.string), default: .list([.string("orders")]),
                      description: "names of the generated tables", example: "[orders, customers]"),
            FieldSpec("count", .int, default: .int(10_000), description: "changes to generate in all (0: without end)"),
            FieldSpec("rate", .double, default: .double(0), description: "changes per second (0: as fast as possible)"),
            FieldSpec("keys", .int, default: .int(1_000), description: "size of each table's key space"),
            FieldSpec("batch_size", .int, default: .int(500), description: "changes per batch handed to the log"),
            FieldSpec("seed", .int, default: .int(1), description: "seed of the deterministic generator"),
        ])

    static let stateKey = "next"
    let context: SourceContext
    let tables: [String]
    let count: Int64
    let rate: Double
    let keys: Int
    let batchSize: Int
    let seed: UInt64

    public init(context: SourceContext) throws {
        self.context = context
        let config = context.config
        func setting<T: ConfigFieldValue>(_ key: String) throws -> T { try config.required(key, of: Self.spec) }
        tables = try setting("tables")
        count = try setting("count")
        rate = try setting("rate")
        keys = max(1, try setting("keys"))
        batchSize = max(1, try setting("batch_size"))
        seed = UInt64(bitPattern: try setting("seed"))
        guard !tables.isEmpty else {
            throw SluiceError(.invalidConfiguration, "the generator needs at least one table",
                              location: "sources.\(config.instanceName).tables")
        }
    }

    /// The schema every generated table has.
    public static func schema(for table: TableID) -> TableSchema {
        TableSchema(table: table, version: 1, columns: [
            ColumnSchema(name: "id", sourceType: "bigint", kind: .int, nullable: false),
            ColumnSchema(name: "name", sourceType: "text", kind: .string),
            ColumnSchema(name: "amount", sourceType: "numeric(12,2)", kind: .decimal, precision: 12, scale: 2),
            ColumnSchema(name: "version", sourceType: "bigint", kind: .int, nullable: false),
            ColumnSchema(name: "updated_at", sourceType: "timestamptz", kind: .timestampTZ),
            ColumnSchema(name: "active", sourceType: "boolean", kind: .bool),
        ], primaryKey: ["id"], position: SourcePosition(sortKey: SourcePosition.sortKey(0), text: "0"))
    }

    public func run() async throws {
        let stored = try await context.loadState(Self.stateKey)
        var next: Int64 = 0
        if let stored, stored.count == 8 {
            next = Int64(bitPattern: stored.reduce(0) { $0 << 8 | UInt64($1) })
        }
        var model = GeneratorModel(tables: tables, keys: keys, seed: seed)
        model.skip(to: next)
        var pendingSchemas: [TableSchema] = []
        for name in tables {
            let id = TableID(database: "sluice", schema: "generator", name: name)
            if try await context.latestSchema(id) == nil { pendingSchemas.append(Self.schema(for: id)) }
        }
        if next > 0 { context.logger.info("generator resuming at change \(next)") }
        let started = ContinuousClock.now
        let startNext = next
        while count == 0 || next < count {
            try Task.checkCancellation()
            var size = Int64(batchSize)
            if count > 0 { size = min(size, count - next) }
            if rate > 0 {
                let due = Double(next - startNext + size) / rate
                let elapsed = ContinuousClock.now - started
                let ahead = due - (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                if ahead > 0 { try await Task.sleep(for: .seconds(ahead)) }
            }
            var events: [ChangeEvent] = []
            events.reserveCapacity(Int(size))
            for _ in 0..<size {
                events.append(model.event(next))
                next += 1
            }
            let nextBytes = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: next) >> (56 - 8 * UInt64($0))) }
            try await context.emit(SourceBatch(schemas: pendingSchemas, events: events, state: [Self.stateKey: nextBytes]))
            pendingSchemas = []
        }
        try await context.waitUntilDurable()
        if !context.untilCaughtUp {
            context.logger.info("generator produced all \(count) changes; idle until stopped")
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}

/// The deterministic state machine behind the generator: which keys exist, and change n.
struct GeneratorModel {
    struct TableState {
        var live: [Int64] = []
        var index: [Int64: Int] = [:]
        var versions: [Int64: Int64] = [:]
        var nextKey: Int64 = 1
    }

    let tables: [TableID]
    let keys: Int
    let seed: UInt64
    var states: [TableState]
    var generated: Int64 = 0

    init(tables: [String], keys: Int, seed: UInt64) {
        self.tables = tables.map { TableID(database: "sluice", schema: "generator", name: $0) }
        self.keys = keys
        self.seed = seed
        states = Array(repeating: TableState(), count: tables.count)
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Advances the model to change `n` without producing events (after a restart).
    mutating func skip(to n: Int64) {
        while generated < n { _ = event(generated) }
    }

    /// Change number `n` (must be called in order).
    mutating func event(_ n: Int64) -> ChangeEvent {
        precondition(n == generated, "generator changes are produced in order")
        generated += 1
        let random = Self.mix(seed ^ UInt64(bitPattern: n) &* 0x2545_F491_4F6C_DD1D)
        let t = Int(UInt64(bitPattern: n) % UInt64(tables.count))
        // Move the table's state out of the array so that its dictionaries stay uniquely referenced
        // (mutating a copy would copy them whole for every change).
        var state = states[t]
        states[t] = TableState()
        defer { states[t] = state }
        let roll = random % 100
        let op: ChangeOperation
        let key: Int64
        if state.live.isEmpty || (state.live.count < keys && roll < 50) {
            op = .insert
            key = state.nextKey
            state.nextKey += 1
            state.index[key] = state.live.count
            state.live.append(key)
            state.versions[key] = 1
        } else {
            key = state.live[Int((random >> 8) % UInt64(state.live.count))]
            if roll < 85 {
                op = .update
                state.versions[key, default: 1] += 1
            } else {
                op = .delete
                let i = state.index.removeValue(forKey: key)!
                let moved = state.live.removeLast()
                if moved != key {
                    state.live[i] = moved
                    state.index[moved] = i
                }
            }
        }
        let version = state.versions[key] ?? 1
        if op == .delete { state.versions[key] = nil }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        func image(_ version: Int64) -> Row {
            let cents = Int64(bitPattern: Self.mix(UInt64(bitPattern: key) ^ UInt64(bitPattern: version)) % 10_000_000)
            return Row(columns: ["id", "name", "amount", "version", "updated_at", "active"], values: [
                .int(key), .string("item \(key)"),
                .decimal(ExactDecimal(negative: false, unscaledDigits: String(cents), scale: 2)!),
                .int(version), .timestamp(Timestamp(micros: now, isUTC: true)), .bool(version % 2 == 1),
            ])
        }
        let before: Row? = op == .insert ? nil : image(op == .update ? version - 1 : version)
        let after: Row? = op == .delete ? nil : image(version)
        return ChangeEvent(
            op: op, connector: "generator", table: tables[t], schemaVersion: 1, before: before, after: after,
            position: SourcePosition(sortKey: SourcePosition.sortKey(UInt64(n)), text: String(n)),
            transactionID: String(n), orderInTransaction: 0, commitTimeMicros: now)
    }
}
