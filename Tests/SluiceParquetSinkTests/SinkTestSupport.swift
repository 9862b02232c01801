import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceParquet
import SluiceParquetSink
import SluiceRuntime
import SluiceTestSupport

/// Builders and expectations shared by the sink tests.
enum SinkFixtures {
    static let table = TableID(database: "db", schema: "shop", name: "everything")
    static let stream = "p.shop.everything"

    /// A scratch folder, removed by the caller.
    static func temporaryFolder() throws -> URL { try TestEnvironment.temporaryFolder("pqsink") }

    /// A sink writing to `path` with the given settings over the spec's defaults.
    static func sink(path: String, pipeline: String = "p", _ settings: [String: ConfigValue] = [:]) throws
        -> ParquetFileSink
    {
        var values: [String: ConfigValue] = [:]
        for field in ParquetFileSink.spec.fields {
            if let value = field.defaultValue { values[field.name] = value }
        }
        values["path"] = .string(path)
        values.merge(settings) { $1 }
        return try ParquetFileSink(context: SinkContext(
            pipeline: pipeline, config: ConnectorConfig(instanceName: "files", values: values),
            logger: Logger(label: "test")))
    }

    /// Every published `.parquet` file under `folder`, sorted by path.
    static func publishedFiles(in folder: URL) -> [String] {
        let walker = FileManager.default.enumerator(atPath: folder.path)
        var files: [String] = []
        while let relative = walker?.nextObject() as? String {
            if relative.hasSuffix(".parquet") { files.append(folder.path + "/" + relative) }
        }
        return files.sorted()
    }

    /// Every file under `folder` whose name starts with a dot (temporary files).
    static func hiddenFiles(in folder: URL) -> [String] {
        let walker = FileManager.default.enumerator(atPath: folder.path)
        var files: [String] = []
        while let relative = walker?.nextObject() as? String {
            if (relative as NSString).lastPathComponent.hasPrefix(".") { files.append(relative) }
        }
        return files
    }

    /// One column of every kind, with the source types that pick each Parquet mapping.
    static let everyKindColumns: [ColumnSchema] = [
        ColumnSchema(name: "id", sourceType: "bigint", kind: .int, nullable: false),
        ColumnSchema(name: "tiny", sourceType: "tinyint", kind: .int),
        ColumnSchema(name: "small", sourceType: "smallint", kind: .int),
        ColumnSchema(name: "medium", sourceType: "integer", kind: .int),
        ColumnSchema(name: "unsigned_small", sourceType: "smallint unsigned", kind: .int),
        ColumnSchema(name: "unsigned_big", sourceType: "bigint unsigned", kind: .int),
        ColumnSchema(name: "flag", sourceType: "boolean", kind: .bool),
        ColumnSchema(name: "single", sourceType: "real", kind: .double),
        ColumnSchema(name: "ratio", sourceType: "double precision", kind: .double),
        ColumnSchema(name: "price", sourceType: "numeric(9,2)", kind: .decimal, precision: 9, scale: 2),
        ColumnSchema(name: "total", sourceType: "numeric(18,4)", kind: .decimal, precision: 18, scale: 4),
        ColumnSchema(name: "wide", sourceType: "numeric(38,10)", kind: .decimal, precision: 38, scale: 10),
        ColumnSchema(name: "free", sourceType: "numeric", kind: .decimal),
    ] + ColumnSchema.postgresNonNumericKinds + [
        ColumnSchema(name: "numbers", sourceType: "integer[]", kind: .array, elementKind: .int),
        ColumnSchema(name: "labels", sourceType: "text[]", kind: .array, elementKind: .string),
    ]

    static func schema(version: Int = 1, columns: [ColumnSchema] = everyKindColumns) -> TableSchema {
        TableSchema(table: table, version: version, columns: columns, primaryKey: ["id"])
    }

    /// A row of every kind; `variant` picks among edge values (0 extremes, 1 nulls, other: ordinary values).
    static func everyKindRow(id: Int64, variant: Int) -> [Value] {
        let uuid = UUID(uuidString: "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0")!
        switch variant {
        case 0:
            return [
                .int(id), .int(-128), .int(32767), .int(Int64(Int32.min)), .int(65535), .int(Int64.max),
                .bool(true), .double(Double(Float.greatestFiniteMagnitude)), .double(.nan),
                .decimal(ExactDecimal("-9999999.99")!), .decimal(ExactDecimal("99999999999999.9999")!),
                .decimal(ExactDecimal("-9999999999999999999999999999.9999999999")!),
                .decimal(ExactDecimal("-Infinity")!), .string("héllo 🌍 \u{0}"), .bytes([0, 1, 254, 255]),
                .date(Value.dateInfinity), .time(TimeOfDay(micros: 86_399_999_999)),
                .time(TimeOfDay(micros: 3_600_000_000, utcOffsetSeconds: 7200)),
                .timestamp(.infinity(isUTC: false)), .timestamp(.negativeInfinity(isUTC: true)),
                .interval(Interval(months: -14, days: 3, micros: -4_000_001)), .uuid(uuid),
                .json("{\"a\": [1, 2, {\"b\": null}]}"), .array([.int(1), .null, .int(-3)]),
                .array([.string(""), .null, .string("x")]),
            ]
        case 1:
            return [.int(id)] + Array(repeating: .null, count: everyKindColumns.count - 1)
        default:
            let n = id
            return [
                .int(id), .int(n % 100), .int(-n), .int(n * 1000), .int(n % 60000), .int(n * 1_000_000_007),
                .bool(n % 2 == 0), .double(Double(n) / 8), .double(-Double(n) * 1.1e-300),
                .decimal(ExactDecimal("\(n).5")!), .int(n), .decimal(ExactDecimal("0.\(n)")!),
                .decimal(ExactDecimal("1\(n)e-3")!), .string("row \(n)"), .bytes(Array("b\(n)".utf8)),
                .date(Int32(truncatingIfNeeded: n) - 5000), .time(TimeOfDay(micros: n * 1_000_001)),
                .time(TimeOfDay(micros: n * 1_000_000, utcOffsetSeconds: -3600)),
                .timestamp(Timestamp(micros: 1_700_000_000_000_001 + n, isUTC: false)),
                .timestamp(Timestamp(micros: -1_000_000 * n, isUTC: true)),
                .interval(Interval(months: Int32(n % 30), days: 1, micros: n)),
                .uuid(UUID(uuid: (UInt8(n & 255), UInt8(n >> 8 & 255), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 1))),
                .json("[\(n)]"), .array((0..<(n % 4)).map { .int($0) }), .array([.string("l\(n)")]),
            ]
        }
    }

    static func event(
        _ op: ChangeOperation, before: [Value]?, after: [Value]?, version: Int = 1, position: Int64,
        commitTimeMicros: Int64 = 1_700_000_000_000_000, columns: [ColumnSchema] = everyKindColumns,
        table: TableID = table
    ) -> ChangeEvent {
        let names = columns.map(\.name)
        return ChangeEvent(
            op: op, connector: "test", table: table, schemaVersion: version,
            before: before.map { Row(columns: Array(names.prefix($0.count)), values: $0) },
            after: after.map { Row(columns: names, values: $0) },
            position: SourcePosition(sortKey: SourcePosition.sortKey(UInt64(position)), text: "0/\(position)"),
            transactionID: position % 3 == 0 ? nil : "tx\(position / 3)", orderInTransaction: 0,
            commitTimeMicros: commitTimeMicros)
    }

    static func batch(
        _ events: [ChangeEvent], firstOffset: Int64, stream: String = stream, table: TableID = table,
        schemas: [TableSchema] = [schema()]
    ) -> SinkBatch {
        let records = events.enumerated().map { index, event in
            SinkRecord(offset: firstOffset + Int64(index), event: event, appendedAtMicros: 0)
        }
        return SinkBatch(
            stream: stream, table: table, records: records,
            schemas: Dictionary(uniqueKeysWithValues: schemas.map { ($0.version, $0) }))
    }
}

/// What pyarrow and duckdb should print for a written value (see `ParquetReaders`).
enum ExpectedRendering {
    static func render(_ value: Value, column: ColumnSchema) -> Any {
        let type = try! ParquetColumn(source: column).type
        if case .array(let elements) = value {
            var element = column
            element.kind = column.elementKind ?? .string
            element.sourceType = column.sourceType.replacingOccurrences(of: "[]", with: "")
            return elements.map { render($0, column: element) }
        }
        return render(value, type: type)
    }

    static func render(_ value: Value, type: ParquetColumnType) -> Any {
        switch value {
        case .null, .unchanged: return NSNull()
        case .bool(let flag): return flag ? "true" : "false"
        case .int(let number):
            if case .decimal(_, let scale) = type {
                return decimalText(negative: number < 0, digits: String(number.magnitude), scale: 0, to: scale)
            }
            return String(number)
        case .double(let number):
            return type == .float ? hex(Double(Float(number))) : hex(number)
        case .decimal(let decimal):
            if case .decimal(_, let scale) = type {
                return decimalText(negative: decimal.isNegative, digits: decimal.unscaledDigits, scale: decimal.scale,
                                   to: scale)
            }
            return decimal.description
        case .string(let text), .json(let text): return text
        case .bytes(let bytes): return bytes.map { String(format: "%02x", $0) }.joined()
        case .date(let days): return String(days)
        case .time(let time):
            if type == .string { return TemporalText.time(time) }  // times are text in Parquet files
            if case .time(isAdjustedToUTC: true) = type, let offset = time.utcOffsetSeconds {
                let day: Int64 = 86_400_000_000
                return String(((time.micros - Int64(offset) * 1_000_000) % day + day) % day)
            }
            return String(time.micros)
        case .timestamp(let timestamp): return String(timestamp.micros)
        case .interval(let interval): return TemporalText.interval(interval)
        case .uuid(let uuid):
            // Text in Parquet files (Spark refuses the UUID type); 16 bytes where a writer asks for the UUID type.
            return type == .uuid ? uuid.uuidString.replacingOccurrences(of: "-", with: "").lowercased()
                : uuid.uuidString.lowercased()
        case .array(let elements): return elements.map { render($0, type: type) }
        }
    }

    /// Plain decimal text of `digits × 10^-scale` written with `target` fractional digits.
    static func decimalText(negative: Bool, digits: String, scale: Int, to target: Int) -> String {
        var digits = digits + String(repeating: "0", count: target - scale)
        if digits.count <= target { digits = String(repeating: "0", count: target - digits.count + 1) + digits }
        let split = digits.index(digits.endIndex, offsetBy: -target)
        let text = target == 0 ? digits : digits[..<split] + "." + digits[split...]
        let isZero = digits.allSatisfy { $0 == "0" }
        return (negative && !isZero ? "-" : "") + text
    }

    static func hex(_ number: Double) -> String {
        withUnsafeBytes(of: number.bitPattern.littleEndian) { $0.map { String(format: "%02x", $0) }.joined() }
    }
}
