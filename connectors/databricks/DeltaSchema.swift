import Foundation
import SluiceCore
import SluiceParquet
import SluiceStaging

/// A column of a Sluice-written Delta table: its Delta (Spark) type and the Parquet column that stores it.
///
/// | kind                 | Delta type                         | Parquet                               |
/// |----------------------|------------------------------------|---------------------------------------|
/// | bool                 | boolean                            | BOOLEAN                               |
/// | int                  | long (`bigint unsigned`: decimal(20,0)) | INT64 (DECIMAL)                  |
/// | double               | double                             | DOUBLE                                |
/// | decimal p ≤ 38       | decimal(p,s)                       | DECIMAL(p,s)                          |
/// | decimal (no/large p) | string (exact text, `NaN` kept)    | STRING                                |
/// | string, interval     | string (interval as ISO 8601)      | STRING                                |
/// | bytes                | binary                             | BYTE_ARRAY                            |
/// | date                 | date                               | DATE                                  |
/// | time, timetz         | string (`HH:MM:SS.ffffff[+hh:mm]`) | STRING                                |
/// | timestamp(tz)        | timestamp                          | INT64 TIMESTAMP(MICROS, UTC)          |
/// | uuid                 | string (canonical, lower case)     | STRING                                |
/// | json                 | string (the source's text)         | STRING                                |
/// | array                | array<element type>                | three-level LIST                      |
///
/// `timestamp` without zone is stored as if it were UTC (Delta's `timestamp_ntz` needs reader version 3 and table
/// features, which many readers lack): the wall-clock digits are kept.
struct DeltaColumn: Sendable, Hashable {
    indirect enum DeltaType: Sendable, Hashable {
        case boolean, long, double, string, binary, date, timestamp
        case decimal(Int, Int)
        case array(DeltaType)

        /// The type in a Delta schemaString.
        var json: Any {
            switch self {
            case .boolean: return "boolean"
            case .long: return "long"
            case .double: return "double"
            case .string: return "string"
            case .binary: return "binary"
            case .date: return "date"
            case .timestamp: return "timestamp"
            case .decimal(let precision, let scale): return "decimal(\(precision),\(scale))"
            case .array(let element):
                return ["type": "array", "elementType": element.json, "containsNull": true] as [String: Any]
            }
        }

        var parquet: ParquetColumnType {
            switch self {
            case .boolean: return .boolean
            case .long: return .int64
            case .double: return .double
            case .string: return .string
            case .binary: return .bytes
            case .date: return .date
            case .timestamp: return .timestamp(isAdjustedToUTC: true)
            case .decimal(let precision, let scale): return .decimal(precision: precision, scale: scale)
            case .array(let element): return element.parquet
            }
        }
    }

    var name: String
    var type: DeltaType

    /// The column for a source column.
    init(source: ColumnSchema) {
        name = source.name
        if source.kind == .array {
            let element = ColumnSchema(
                name: source.name, sourceType: source.sourceType.replacingOccurrences(of: "[]", with: ""),
                kind: source.elementKind ?? .string, precision: source.precision, scale: source.scale)
            type = .array(Self.scalarType(element))
        } else {
            type = Self.scalarType(source)
        }
    }

    init(name: String, type: DeltaType) {
        self.name = name
        self.type = type
    }

    static func scalarType(_ column: ColumnSchema) -> DeltaType {
        switch column.kind {
        case .bool: return .boolean
        case .int:
            let width = StagingTypeMapping.integerWidth(sourceType: column.sourceType)
            return width.unsigned && width.bits == 64 ? .decimal(20, 0) : .long
        case .double: return .double
        case .decimal:
            if let (precision, scale) = StagingTypeMapping.decimal(column) { return .decimal(precision, scale) }
            return .string
        case .string, .interval, .uuid, .json, .time, .timeTZ, .array: return .string
        case .bytes: return .binary
        case .date: return .date
        case .timestamp, .timestampTZ: return .timestamp
        }
    }

    /// The field in a Delta schemaString.
    var fieldJSON: [String: Any] {
        ["name": name, "type": type.json, "nullable": true, "metadata": [String: Any]()]
    }

    var parquetColumn: ParquetColumn {
        if case .array = type {
            return .list(name: name, elementType: type.parquet, isNullable: true)
        }
        return ParquetColumn(name: name, type: type.parquet, isNullable: true)
    }

    /// The value as this column stores it (uuid, time and json become text).
    func deltaValue(_ value: Value) -> Value {
        Self.convert(value, to: type)
    }

    private static func convert(_ value: Value, to type: DeltaType) -> Value {
        switch (value, type) {
        case (.uuid(let uuid), _): return .string(uuid.uuidString.lowercased())
        case (.time(let time), _): return .string(TemporalText.time(time))
        case (.json(let text), _): return .string(text)
        case (.array(let elements), .array(let element)): return .array(elements.map { convert($0, to: element) })
        default: return value
        }
    }

    static func pad(_ number: UInt64, _ width: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// The columns of one of a stream's Delta tables.
struct DeltaTableSchema: Sendable, Hashable {
    var columns: [DeltaColumn]

    /// The Spark StructType JSON of the metaData action.
    var schemaString: String {
        let object: [String: Any] = ["type": "struct", "fields": columns.map(\.fieldJSON)]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// The columns of the `changes` table: the change's metadata, then the source columns.
    static func changes(_ schema: TableSchema) -> DeltaTableSchema {
        DeltaTableSchema(
            columns: [
                DeltaColumn(name: StagingColumns.op, type: .string),
                DeltaColumn(name: StagingColumns.position, type: .string),
                DeltaColumn(name: StagingColumns.offset, type: .long),
                DeltaColumn(name: StagingColumns.commitTime, type: .timestamp),
                DeltaColumn(name: StagingColumns.unchanged, type: .array(.string)),
            ] + schema.columns.map(DeltaColumn.init(source:)))
    }

    /// The columns of the `current` table: the source columns, then the position of the change each row reflects.
    static func current(_ schema: TableSchema) -> DeltaTableSchema {
        DeltaTableSchema(
            columns: schema.columns.map(DeltaColumn.init(source:)) + [
                DeltaColumn(name: StagingColumns.position, type: .string),
                DeltaColumn(name: StagingColumns.offset, type: .long),
                DeltaColumn(name: StagingColumns.commitTime, type: .timestamp),
            ])
    }

    /// This schema widened by `newer`: columns of both, in this schema's order then the new ones. Throws when a
    /// column changed its type, which a Delta table cannot follow without a rewrite.
    func merged(with newer: DeltaTableSchema, table: String) throws -> DeltaTableSchema {
        var result = columns
        for column in newer.columns {
            if let existing = columns.first(where: { $0.name == column.name }) {
                guard existing.type == column.type else {
                    throw SluiceError(
                        .sink, "column \(column.name) of \(table) changed its type; the Delta table cannot follow",
                        location: "table \(table)",
                        hint: "write the table to a new path (or drop it) so Sluice recreates it with the new type")
                }
            } else {
                result.append(column)
            }
        }
        return DeltaTableSchema(columns: result)
    }
}

/// Per-file statistics in the form of an add action's `stats` string.
struct DeltaFileStatistics {
    private var numRecords = 0
    private var nullCounts: [Int]
    private var minimums: [Value?]
    private var maximums: [Value?]
    private var disabled: [Bool]
    let columns: [DeltaColumn]

    init(columns: [DeltaColumn]) {
        self.columns = columns
        nullCounts = Array(repeating: 0, count: columns.count)
        minimums = Array(repeating: nil, count: columns.count)
        maximums = Array(repeating: nil, count: columns.count)
        disabled = columns.map { column in
            switch column.type {
            case .long, .string, .date, .timestamp: return false
            default: return true  // no min/max for booleans, doubles, decimals, binary, arrays
            }
        }
    }

    /// Adds a row of Delta values (after `deltaValue`).
    mutating func add(_ row: [Value]) {
        numRecords += 1
        for index in row.indices {
            let value = row[index]
            if value.isNull {
                nullCounts[index] += 1
                continue
            }
            guard !disabled[index] else { continue }
            switch value {
            case .string(let text) where text.utf8.count > 32:
                disabled[index] = true  // a truncated maximum would need care; leave it out
            case .timestamp(let timestamp) where timestamp.isInfinite:
                disabled[index] = true
            case .date(let days) where days == Value.dateInfinity || days == Value.dateNegativeInfinity:
                disabled[index] = true
            default:
                if minimums[index] == nil || Self.less(value, minimums[index]!) { minimums[index] = value }
                if maximums[index] == nil || Self.less(maximums[index]!, value) { maximums[index] = value }
            }
        }
    }

    private static func less(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y
        case (.string(let x), .string(let y)): return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8))
        case (.date(let x), .date(let y)): return x < y
        case (.timestamp(let x), .timestamp(let y)): return x.micros < y.micros
        default: return false
        }
    }

    /// The stats JSON string.
    var json: String {
        var minValues: [String: Any] = [:]
        var maxValues: [String: Any] = [:]
        var nullCount: [String: Any] = [:]
        for (index, column) in columns.enumerated() {
            if case .array = column.type {} else { nullCount[column.name] = nullCounts[index] }
            guard !disabled[index], let minimum = minimums[index], let maximum = maximums[index] else { continue }
            // A bound that has no statistics form (a decimal staged as text) is left out, never written as null.
            let low = Self.statistic(minimum, roundUp: false)
            let high = Self.statistic(maximum, roundUp: true)
            guard !(low is NSNull), !(high is NSNull) else { continue }
            minValues[column.name] = low
            maxValues[column.name] = high
        }
        let object: [String: Any] = [
            "numRecords": numRecords, "minValues": minValues, "maxValues": maxValues, "nullCount": nullCount,
        ]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    private static func statistic(_ value: Value, roundUp: Bool) -> Any {
        switch value {
        case .int(let number): return number
        case .string(let text): return text
        case .date(let days): return CivilTime.dateText(days: Int64(days))
        case .timestamp(let timestamp):
            // Delta keeps timestamp statistics in milliseconds: round the maximum up so it stays an upper bound.
            var millis = timestamp.micros / 1000
            if timestamp.micros % 1000 < 0 { millis -= 1 }
            if roundUp && timestamp.micros % 1000 != 0 { millis += 1 }
            return CivilTime.timestampText(millis: millis)
        default: return NSNull()
        }
    }
}

/// Calendar arithmetic for statistics text (proleptic Gregorian, UTC).
enum CivilTime {
    static func dateText(days: Int64) -> String {
        let (year, month, day) = TemporalText.civil(fromDays: days)
        return DeltaColumn.pad(UInt64(max(0, year)), 4) + "-" + DeltaColumn.pad(UInt64(month), 2) + "-"
            + DeltaColumn.pad(UInt64(day), 2)
    }

    static func timestampText(millis: Int64) -> String {
        var days = millis / 86_400_000
        var rest = millis % 86_400_000
        if rest < 0 {
            rest += 86_400_000
            days -= 1
        }
        let seconds = UInt64(rest / 1000)
        return dateText(days: days) + "T" + DeltaColumn.pad(seconds / 3600, 2) + ":"
            + DeltaColumn.pad(seconds / 60 % 60, 2) + ":" + DeltaColumn.pad(seconds % 60, 2) + "."
            + DeltaColumn.pad(UInt64(rest % 1000), 3) + "Z"
    }
}
