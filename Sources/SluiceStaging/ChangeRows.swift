// SluiceStaging: what the file-staging sinks (snowflake_stage, delta) share: change rows and their batching,
// the settings and roll policy, durable file publication, and the load-and-merge SQL in every dialect.

import SluiceCore
import SluiceConnectorKit

/// One change as a staged row: the operation, where it is in the source and the log, and one value per column of
/// its schema version.
public struct ChangeRow: Sendable {
    /// The operation, the log offset, the source position and the commit time at the source (µs since the epoch).
    public internal(set) var op: ChangeOperation
    public internal(set) var offset: Int64
    public internal(set) var position: SourcePosition
    public internal(set) var commitTimeMicros: Int64
    /// One value per schema column, never `.unchanged` (such columns hold `.null` and are named in `unchanged`).
    public internal(set) var values: [Value]
    /// Columns the source did not send in an update: the row keeps their previous value.
    public internal(set) var unchanged: [String]
    /// A rough size in memory and in the file, for rolling batches by size.
    var approximateBytes: Int

    /// The row of a change, or nil for records that change no row (messages, transaction markers).
    ///
    /// Inserts and snapshot reads take the after image (missing columns are null); updates take the after image,
    /// and a column it lacks or marks unchanged takes the before image's value when that has one, else is named in
    /// `unchanged`; deletes take the before image (often only the key); truncates carry no values.
    init?(record: SinkRecord, schema: TableSchema) {
        let event = record.event
        switch event.op {
        case .insert, .update, .delete, .read, .truncate: break
        case .message, .begin, .commit: return nil
        }
        op = event.op
        offset = record.offset
        position = event.position
        commitTimeMicros = event.commitTimeMicros
        var values: [Value] = []
        var unchanged: [String] = []
        values.reserveCapacity(schema.columns.count)
        let image = event.op == .delete ? event.before : (event.after ?? event.before)
        var bytes = 48 + event.position.sortKey.count * 2
        for column in schema.columns {
            var value: Value =
                event.op == .truncate ? .null : (image?[column.name] ?? (event.op == .update ? .unchanged : .null))
            if case .unchanged = value {
                if event.op != .delete, let previous = event.before?[column.name], previous != .unchanged {
                    value = previous
                } else if event.op == .update {
                    unchanged.append(column.name)
                    value = .null
                } else {
                    value = .null
                }
            }
            bytes += ChangeRow.approximateSize(value)
            values.append(value)
        }
        self.values = values
        self.unchanged = unchanged
        self.approximateBytes = bytes
    }

    /// The rows of a change: one, except for an update that changes the primary key, which becomes a delete of the
    /// old key (from the before image) followed by the update of the new key, both at the change's position and
    /// offset. Without the delete, the old key's row would stay in the target and the current table.
    public static func rows(record: SinkRecord, schema: TableSchema) -> [ChangeRow] {
        guard let row = ChangeRow(record: record, schema: schema) else { return [] }
        guard let delete = record.keyChangeDelete(primaryKey: schema.primaryKey) else { return [row] }
        return (ChangeRow(record: delete, schema: schema).map { [$0] } ?? []) + [row]
    }

    /// The position as text whose order is source order: lower-case hex of the sort key.
    public var positionText: String { HexBytes.encode(position.sortKey) }

    static func approximateSize(_ value: Value) -> Int {
        switch value {
        case .null, .unchanged: return 1
        case .bool: return 1
        case .int, .double, .date, .time, .timestamp: return 8
        case .decimal(let decimal): return decimal.unscaledDigits.utf8.count / 2 + 4
        case .string(let text), .json(let text): return text.utf8.count + 4
        case .bytes(let bytes): return bytes.count + 4
        case .interval, .uuid: return 16
        case .array(let elements): return elements.reduce(4) { $0 + approximateSize($1) }
        }
    }
}

/// A batch of change rows of one stream and one schema version, waiting to be written as one file.
public struct PendingRows: Sendable {
    /// The schema version of every row.
    public let schema: TableSchema
    /// The rows in log order.
    public private(set) var rows: [ChangeRow] = []
    var bytes = 0
    /// When the first row arrived (for rolling by age).
    var startedAt: ContinuousClock.Instant?

    init(schema: TableSchema) {
        self.schema = schema
    }

    public var isEmpty: Bool { rows.isEmpty }
    /// The log offsets of the first and last row.
    public var firstOffset: Int64 { rows.first?.offset ?? 0 }
    public var lastOffset: Int64 { rows.last?.offset ?? -1 }

    mutating func append(_ row: ChangeRow) {
        if rows.isEmpty { startedAt = .now }
        rows.append(row)
        bytes += row.approximateBytes
    }
}

/// The name of a file holding log offsets `first...last`: the same range always gives the same name.
public func offsetRangeFileName(prefix: String = "", first: Int64, last: Int64, suffix: String = ".parquet") -> String {
    func padded(_ number: Int64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }
    return prefix + padded(first) + "-" + padded(last) + suffix
}
