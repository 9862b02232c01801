import Foundation
import SluiceTestSupport
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceRuntime

/// A deterministic mixed workload on one table: inserts, updates (several of one key close together, some with an
/// unchanged TOASTed column), deletes and re-inserts of deleted keys, with the final state it must produce.
struct StagingWorkload {
    static let table = TableID(database: "shop", schema: "shop", name: "orders")
    static let stream = "t.shop.orders"
    static let schema = TableSchema(
        table: table, version: 1,
        columns: [
            ColumnSchema(name: "id", sourceType: "bigint", kind: .int, nullable: false),
            ColumnSchema(name: "name", sourceType: "text", kind: .string),
            ColumnSchema(name: "amount", sourceType: "numeric(12,2)", kind: .decimal, precision: 12, scale: 2),
            ColumnSchema(name: "note", sourceType: "text", kind: .string),
            ColumnSchema(name: "tags", sourceType: "text[]", kind: .array, elementKind: .string),
            ColumnSchema(name: "payload", sourceType: "jsonb", kind: .json),
            ColumnSchema(name: "ref", sourceType: "uuid", kind: .uuid),
            ColumnSchema(name: "updated_at", sourceType: "timestamptz", kind: .timestampTZ),
            ColumnSchema(name: "blob", sourceType: "bytea", kind: .bytes),
            ColumnSchema(name: "qty", sourceType: "integer", kind: .int),
            ColumnSchema(name: "ratio", sourceType: "double precision", kind: .double),
        ],
        primaryKey: ["id"])

    var events: [ChangeEvent] = []
    /// The source table after all events: id → values in schema order.
    var finalState: [Int64: [Value]] = [:]

    init(count: Int, keys: Int, seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var state: [Int64: [Value]] = [:]
        var lsn: UInt64 = 100
        var index = 0
        while events.count < count {
            // Bursts on one key put several changes of it into one batch.
            let key = Int64(random.next(below: UInt64(keys)) + 1)
            let burst = random.next(below: 4) == 0 ? Int(random.next(below: 4)) + 2 : 1
            for _ in 0..<burst where events.count < count {
                index += 1
                lsn += 1 + random.next(below: 3)
                let position = SourcePosition(sortKey: SourcePosition.sortKey(lsn, 0), text: "0/\(lsn)")
                let commitTime = 1_700_000_000_000_000 + Int64(lsn) * 1000
                if let old = state[key] {
                    if random.next(below: 5) == 0 {
                        events.append(
                            ChangeEvent(
                                op: .delete, connector: "test", table: Self.table, schemaVersion: 1,
                                before: Row(columns: ["id"], values: [.int(key)]), after: nil, position: position,
                                commitTimeMicros: commitTime))
                        state[key] = nil
                        continue
                    }
                    var new = Self.row(key: key, version: index, random: &random)
                    var after = new
                    var before: Row? = nil
                    if random.next(below: 3) == 0 {
                        after[3] = .unchanged  // note: unchanged TOAST
                        new[3] = old[3]
                        if random.next(below: 2) == 0 {
                            var full = old
                            full[3] = .unchanged
                            before = Row(columns: Self.schema.columns.map(\.name), values: full)
                        }
                    }
                    events.append(
                        ChangeEvent(
                            op: .update, connector: "test", table: Self.table, schemaVersion: 1, before: before,
                            after: Row(columns: Self.schema.columns.map(\.name), values: after), position: position,
                            commitTimeMicros: commitTime))
                    state[key] = new
                } else {
                    let new = Self.row(key: key, version: index, random: &random)
                    events.append(
                        ChangeEvent(
                            op: index % 7 == 0 ? .read : .insert, connector: "test", table: Self.table,
                            schemaVersion: 1, before: nil,
                            after: Row(columns: Self.schema.columns.map(\.name), values: new), position: position,
                            commitTimeMicros: commitTime))
                    state[key] = new
                }
            }
        }
        finalState = state
    }

    static func row(key: Int64, version: Int, random: inout SeededGenerator) -> [Value] {
        let cents = Int64(random.next(below: 10_000_000)) - 2_000_000
        let notes = ["", "plain", "quote ' and \" and ;", "ünïcödé ✓ 𝄞", String(repeating: "long text ", count: 40)]
        let tags: Value =
            random.next(below: 4) == 0
            ? .null : .array((0..<Int(random.next(below: 4))).map { .string("t\($0)-\(version % 5)") })
        var uuidBytes = (0..<16).map { _ in UInt8(random.next(below: 256)) }
        uuidBytes[6] = uuidBytes[6] & 0x0F | 0x40
        uuidBytes[8] = uuidBytes[8] & 0x3F | 0x80
        let uuid = UUID(
            uuid: (
                uuidBytes[0], uuidBytes[1], uuidBytes[2], uuidBytes[3], uuidBytes[4], uuidBytes[5], uuidBytes[6],
                uuidBytes[7], uuidBytes[8], uuidBytes[9], uuidBytes[10], uuidBytes[11], uuidBytes[12], uuidBytes[13],
                uuidBytes[14], uuidBytes[15]
            ))
        return [
            .int(key), .string("item \(key) v\(version)"),
            .decimal(ExactDecimal(negative: cents < 0, unscaledDigits: String(cents.magnitude), scale: 2)!),
            random.next(below: 6) == 0 ? .null : .string(notes[Int(random.next(below: UInt64(notes.count)))]),
            tags,
            .json("{\"v\":\(version),\"k\":[1,2]}"),
            .uuid(uuid),
            .timestamp(Timestamp(micros: 1_700_000_000_000_000 + Int64(version) * 1_000_003, isUTC: true)),
            random.next(below: 3) == 0 ? .null : .bytes((0..<Int(random.next(below: 6))).map { UInt8($0 * 37 % 256) }),
            .int(Int64(random.next(below: 1000)) - 500),
            .double(Double(random.next(below: 100_000)) / 64.0),
        ]
    }

    /// Sink records with log offsets from 0.
    var records: [SinkRecord] {
        events.enumerated().map { SinkRecord(offset: Int64($0.offset), event: $0.element, appendedAtMicros: 0) }
    }

    func batch(_ range: Range<Int>) -> SinkBatch {
        SinkBatch(
            stream: Self.stream, table: Self.table, records: Array(records[range]),
            schemas: [1: Self.schema])
    }

    /// The final state as JSON for the Python checker: id → column → canonical value.
    var expectedJSON: [String: Any] {
        var rows: [String: Any] = [:]
        for (key, values) in finalState {
            var row: [String: Any] = [:]
            for (column, value) in zip(Self.schema.columns, values) { row[column.name] = Self.canonical(value) }
            rows[String(key)] = row
        }
        return ["rows": rows, "ops": events.map(\.op.rawValue)]
    }

    /// Values as the checker renders what duckdb and deltalake return.
    static func canonical(_ value: Value) -> Any {
        switch value {
        case .null, .unchanged: return NSNull()
        case .bool(let flag): return flag
        case .int(let number): return number
        case .double(let number): return number
        case .decimal(let decimal): return decimal.description
        case .string(let text), .json(let text): return text
        case .bytes(let bytes): return bytes.map { String(format: "%02x", $0) }.joined()
        case .uuid(let uuid): return uuid.uuidString.lowercased()
        case .timestamp(let timestamp): return timestamp.micros
        case .date(let days): return Int(days)
        case .array(let elements): return elements.map(canonical)
        case .time, .interval: return "\(value)"
        }
    }
}


/// Configuration values for a sink under test.
func sinkContext(_ values: [String: ConfigValue], name: String = "staging") -> SinkContext {
    SinkContext(
        pipeline: "t", config: ConnectorConfig(instanceName: name, values: values),
        logger: Logger(label: "sluice.test"))
}

func temporaryDirectory() throws -> String {
    try TestEnvironment.temporaryFolder("sluice-staging").path
}
