import SluiceCore

// The mapping from Sluice source columns (`ColumnSchema`: a `ValueKind` plus the source's type name) and their
// `Value`s to Parquet columns (source type names compare case-insensitively; `unsigned` picks the unsigned type):
//
// | kind        | source type                               | Parquet column                                     |
// |-------------|-------------------------------------------|----------------------------------------------------|
// | bool        | any                                       | BOOLEAN                                            |
// | int         | tinyint                                   | INT32 INTEGER(8)                                   |
// |             | smallint, int2, smallserial, year         | INT32 INTEGER(16)                                  |
// |             | int, integer, int4, mediumint, serial     | INT32 INTEGER(32)                                  |
// |             | anything else (bigint, int8, bigserial …) | INT64 INTEGER(64)                                  |
// | double      | real, float4, float                       | FLOAT                                              |
// |             | anything else                             | DOUBLE                                             |
// | decimal     | precision 1…38 and scale 0…precision      | DECIMAL(p, s): INT32, INT64 or FIXED_LEN_BYTE_ARRAY |
// |             | no or a larger precision (PG `numeric`)   | STRING, the canonical text (`-12.50`, `NaN`)       |
// | string      | any                                       | STRING                                             |
// | bytes       | any                                       | BYTE_ARRAY                                         |
// | date        | any                                       | DATE (±infinity as ±INT32 max, as DuckDB)                  |
// | time        | any                                       | STRING `HH:MM:SS.ffffff` (`-838:59:59.000000`)     |
// | timetz      | any                                       | STRING `HH:MM:SS.ffffff+hh:mm`, the source's offset |
// | timestamp   | any                                       | TIMESTAMP(MICROS, local) (±infinity as ±INT64 max, as DuckDB) |
// | timestamptz | any                                       | TIMESTAMP(MICROS, UTC), converted TIMESTAMP_MICROS |
// | interval    | any                                       | STRING, ISO 8601 duration (`P1Y2M3DT4H5M6S`)       |
// | uuid        | any                                       | STRING, the canonical 36-character lower-case text |
// | json        | any                                       | BYTE_ARRAY JSON (the source's text)                |
// | array       | `elem[]`: the element kind and type       | three-level LIST of the element's mapping          |
//
// DECIMAL stops at precision 38 because duckdb and Arrow's decimal128 read no wider decimals. Nested arrays are
// rejected. `Value.unchanged` (an unchanged TOASTed value) cannot be written: the
// sink must resolve it first. Times are text: PostgreSQL's 24:00:00 and MySQL's durations (negative, or up to
// 838 hours) fit no reader's time of day (pyarrow wraps them silently, duckdb refuses the file), and Apache Spark
// reads no Parquet TIME column at all. UUIDs are text, not Parquet's UUID type, because Apache Spark (and so Databricks)
// refuses a whole file with a FIXED_LEN_BYTE_ARRAY (UUID) column; the Iceberg sink keeps its `uuid` type.

extension ParquetColumnType {
    /// The widest DECIMAL precision the mapping uses; wider or unconstrained decimals are written as text.
    public static let maximumMappedDecimalPrecision = 38

    /// The Parquet type for values of `kind` from a source column of type `sourceType` (see the table above).
    public static func mapping(kind: ValueKind, sourceType: String, precision: Int?, scale: Int?) -> Self {
        let type = sourceType.lowercased()
        switch kind {
        case .bool: return .boolean
        case .int:
            let isUnsigned = type.contains("unsigned")
            switch type.prefix(while: { $0.isLetter || $0.isNumber }) {
            case "tinyint": return isUnsigned ? .uint8 : .int8
            case "smallint", "int2", "smallserial", "year": return isUnsigned ? .uint16 : .int16
            case "int", "integer", "int4", "mediumint", "serial": return isUnsigned ? .uint32 : .int32
            default: return isUnsigned ? .uint64 : .int64
            }
        case .double:
            return ["real", "float4", "float"].contains(type) ? .float : .double
        case .decimal:
            if let precision, (1...maximumMappedDecimalPrecision).contains(precision) {
                let scale = scale ?? 0
                if (0...precision).contains(scale) {
                    return .decimal(precision: precision, scale: scale)
                }
            }
            return .string
        case .string, .interval, .array, .uuid: return .string
        case .bytes: return .bytes
        case .date: return .date
        case .time, .timeTZ: return .string
        case .timestamp: return .timestamp(isAdjustedToUTC: false)
        case .timestampTZ: return .timestamp(isAdjustedToUTC: true)
        case .json: return .json
        }
    }
}

extension ParquetColumn {
    /// The Parquet column for a source column: its mapped type, nullability and name; arrays become lists of
    /// nullable elements.
    public init(source: ColumnSchema, fieldId: Int32? = nil, elementFieldId: Int32? = nil) throws(ParquetError) {
        if source.kind == .array {
            guard let elementKind = source.elementKind, elementKind != .array else {
                throw ParquetError(
                    code: .invalidSchema,
                    message: "array columns need a scalar element kind; nested arrays cannot be written to Parquet",
                    column: source.name)
            }
            // A source array type names its element type (`integer[]`, `_int4`): map the element by that name.
            let elementType = source.sourceType.replacingOccurrences(of: "[]", with: "")
            self = .list(
                name: source.name,
                elementType: .mapping(
                    kind: elementKind, sourceType: elementType, precision: source.precision, scale: source.scale),
                isNullable: source.nullable, fieldId: fieldId,
                element: ListElement(isNullable: true, fieldId: elementFieldId))
        } else {
            self.init(
                name: source.name,
                type: .mapping(
                    kind: source.kind, sourceType: source.sourceType, precision: source.precision,
                    scale: source.scale),
                isNullable: source.nullable, fieldId: fieldId)
        }
    }
}

extension ColumnValues {
    private static let microsecondsPerDay: Int64 = 86_400_000_000

    /// Appends a `Value` to a column built by `ParquetColumn(source:)` (see the mapping table above); a value
    /// whose kind does not fit the column throws a `ParquetError` naming the column and row.
    public mutating func append(_ value: Value) throws(ParquetError) {
        switch value {
        case .null:
            try appendNull()
        case .unchanged:
            throw ParquetError(
                code: .invalidValue,
                message: "an unchanged (TOASTed) value cannot be written; resolve it from the before image or "
                    + "configure the source to send full rows (REPLICA IDENTITY FULL)",
                column: column.name, row: rowCount)
        case .bool(let flag):
            try append(flag)
        case .int(let number):
            switch column.type {
            case .string: try append(String(number))
            case .decimal(_, let scale):
                let digits = String(number.magnitude).utf8.map { $0 - UInt8(ascii: "0") }
                try append(decimal: number < 0, digits: digits, fractionDigitCount: 0, scale: scale)
            default: try append(number)
            }
        case .double(let number):
            if column.type == .string {
                try append(String(number))
            } else {
                try append(number)
            }
        case .decimal(let decimal):
            if case .decimal(_, let scale) = column.type {
                guard decimal.special == nil else {
                    throw ParquetError(
                        code: .invalidValue,
                        message: "NaN and infinite decimals have no DECIMAL form; declare the column without a "
                            + "precision so it is written as text",
                        column: column.name, row: rowCount)
                }
                let digits = decimal.unscaledDigits.utf8.map { $0 - UInt8(ascii: "0") }
                try append(
                    decimal: decimal.isNegative, digits: digits, fractionDigitCount: decimal.scale, scale: scale)
            } else {
                try append(decimal.description)
            }
        case .string(let text), .json(let text):
            try append(text)
        case .bytes(let bytes):
            try append(bytes: bytes)
        case .date(let days):
            try append(Int64(days))
        case .time(let time):
            if column.type == .string {
                try append(TemporalText.time(time))
            } else if case .time(isAdjustedToUTC: true) = column.type, let offset = time.utcOffsetSeconds {
                let utc = time.micros - Int64(offset) * 1_000_000
                try append((utc % Self.microsecondsPerDay + Self.microsecondsPerDay) % Self.microsecondsPerDay)
            } else {
                try append(time.micros)
            }
        case .timestamp(let timestamp):
            try append(timestamp.micros)
        case .interval(let interval):
            try append(TemporalText.interval(interval))
        case .uuid(let uuid):
            if column.type == .uuid {
                try append(uuid: uuid)
            } else {
                try append(uuid.uuidString.lowercased())
            }
        case .array(let elements):
            try beginList()
            for element in elements {
                if case .array = element {
                    throw ParquetError(
                        code: .invalidValue, message: "nested arrays cannot be written to a Parquet list column",
                        column: column.name, row: rowCount)
                }
                try append(element)
            }
            try endList()
        }
    }

    private mutating func append(
        decimal isNegative: Bool, digits: [UInt8], fractionDigitCount: Int, scale: Int
    ) throws(ParquetError) {
        guard
            let scaled = DecimalLiteral(
                isNegative: isNegative, digits: digits, fractionDigitCount: fractionDigitCount, scale: scale)
        else {
            throw ParquetError(
                code: .invalidValue,
                message: "the decimal has more than \(scale) fractional digits; widen the column's scale",
                column: column.name, row: rowCount)
        }
        try append(scaled)
    }
}

extension [ColumnValues] {
    /// Appends one row: `row[i]` to column `i` (see `ColumnValues.append(_: Value)`). After an error the buffers
    /// hold part of the row: discard the batch (`removeAll()` each buffer) rather than write it.
    public mutating func appendRow(_ row: [Value]) throws(ParquetError) {
        guard row.count == count else {
            throw ParquetError(
                code: .batchMismatch,
                message: "the row has \(row.count) values but the schema has \(count) columns")
        }
        for index in indices {
            try self[index].append(row[index])
        }
    }
}
