/// The type of a Parquet column as Sluice writes it: each maps to one physical type plus logical annotations.
public enum ParquetColumnType: Sendable, Hashable {
    /// BOOLEAN.
    case boolean
    /// INT32 annotated INTEGER(8, signed).
    case int8
    /// INT32 annotated INTEGER(16, signed).
    case int16
    /// INT32 annotated INTEGER(32, signed).
    case int32
    /// INT64 annotated INTEGER(64, signed).
    case int64
    /// INT32 annotated INTEGER(8, unsigned).
    case uint8
    /// INT32 annotated INTEGER(16, unsigned).
    case uint16
    /// INT32 annotated INTEGER(32, unsigned); values are stored as the two's-complement bit pattern.
    case uint32
    /// INT64 annotated INTEGER(64, unsigned); values are stored as the two's-complement bit pattern.
    case uint64
    /// FLOAT (IEEE 754 binary32).
    case float
    /// DOUBLE (IEEE 754 binary64).
    case double
    /// BYTE_ARRAY annotated STRING (UTF-8).
    case string
    /// BYTE_ARRAY without annotation.
    case bytes
    /// BYTE_ARRAY annotated JSON (UTF-8 JSON text).
    case json
    /// FIXED_LEN_BYTE_ARRAY(16) annotated UUID, bytes in RFC 4122 order.
    case uuid
    /// INT32 annotated DATE: days since 1970-01-01.
    case date
    /// DECIMAL(precision, scale): INT32 when precision ≤ 9, INT64 when ≤ 18, otherwise the shortest
    /// FIXED_LEN_BYTE_ARRAY that holds the precision; the unscaled value, big-endian two's complement.
    case decimal(precision: Int, scale: Int)
    /// INT64 annotated TIME(MICROS): microseconds since midnight.
    case time(isAdjustedToUTC: Bool)
    /// INT64 annotated TIMESTAMP(MICROS): microseconds since 1970-01-01T00:00:00 (UTC when adjusted to UTC,
    /// otherwise a local wall-clock time).
    case timestamp(isAdjustedToUTC: Bool)

    /// The largest decimal precision Sluice writes (a 32-byte FIXED_LEN_BYTE_ARRAY, like Arrow's decimal256).
    public static let maximumDecimalPrecision = 76
}

/// One top-level column of a Parquet schema: a scalar column or a list of scalar elements.
public struct ParquetColumn: Sendable, Hashable {
    /// Whether the column holds a list, and the shape of its elements.
    public struct ListElement: Sendable, Hashable {
        /// Whether elements may be null.
        public var isNullable: Bool
        /// The Parquet `field_id` of the `element` node (Iceberg's element-id).
        public var fieldId: Int32?

        public init(isNullable: Bool = true, fieldId: Int32? = nil) {
            self.isNullable = isNullable
            self.fieldId = fieldId
        }
    }

    /// The column name (the `name` of its schema node).
    public var name: String
    /// The value type (of the elements, for a list column).
    public var type: ParquetColumnType
    /// Whether the column (the whole list, for a list column) may be null.
    public var isNullable: Bool
    /// The Parquet `field_id`; `ParquetSchema` assigns one when nil.
    public var fieldId: Int32?
    /// The element shape when the column is a three-level LIST; nil for a scalar column.
    public var listElement: ListElement?

    /// A scalar column.
    public init(name: String, type: ParquetColumnType, isNullable: Bool = true, fieldId: Int32? = nil) {
        self.name = name
        self.type = type
        self.isNullable = isNullable
        self.fieldId = fieldId
        self.listElement = nil
    }

    /// A list column written as `<optional|required> group name (LIST) { repeated group list {
    /// <optional|required> type element } }`.
    public static func list(
        name: String, elementType: ParquetColumnType, isNullable: Bool = true, fieldId: Int32? = nil,
        element: ListElement = ListElement()
    ) -> ParquetColumn {
        var column = ParquetColumn(name: name, type: elementType, isNullable: isNullable, fieldId: fieldId)
        column.listElement = element
        return column
    }

    /// Whether the column is a list.
    public var isList: Bool { listElement != nil }
}

/// The columns of a Parquet file, validated, with a `field_id` on every node.
public struct ParquetSchema: Sendable, Hashable {
    /// The columns in file order; every `fieldId` (and list element `fieldId`) is set.
    public private(set) var columns: [ParquetColumn]

    /// Validates `columns` and assigns field ids to columns and list elements that lack one: the next ids after
    /// the largest id given, in column order.
    public init(columns: [ParquetColumn]) throws(ParquetError) {
        guard !columns.isEmpty else {
            throw ParquetError(code: .invalidSchema, message: "a Parquet schema needs at least one column")
        }
        var names = Set<String>()
        var usedIds = Set<Int32>()
        for column in columns {
            guard !column.name.isEmpty else {
                throw ParquetError(code: .invalidSchema, message: "column names must not be empty")
            }
            guard names.insert(column.name).inserted else {
                throw ParquetError(
                    code: .invalidSchema, message: "the column name appears twice; rename one of them",
                    column: column.name)
            }
            if case .decimal(let precision, let scale) = column.type {
                guard (1...ParquetColumnType.maximumDecimalPrecision).contains(precision),
                    (0...precision).contains(scale)
                else {
                    throw ParquetError(
                        code: .invalidSchema,
                        message: "DECIMAL(\(precision), \(scale)) is not writable: precision must be 1..."
                            + "\(ParquetColumnType.maximumDecimalPrecision) and scale 0...precision; "
                            + "write such values as strings",
                        column: column.name)
                }
            }
            for id in [column.fieldId, column.listElement?.fieldId].compactMap({ $0 }) {
                guard usedIds.insert(id).inserted else {
                    throw ParquetError(
                        code: .invalidSchema, message: "field id \(id) is used twice; field ids must be unique",
                        column: column.name)
                }
            }
        }
        var nextId = (usedIds.max() ?? 0) + 1
        var assigned = columns
        for index in assigned.indices {
            if assigned[index].fieldId == nil {
                assigned[index].fieldId = nextId
                nextId += 1
            }
            if assigned[index].listElement != nil, assigned[index].listElement?.fieldId == nil {
                assigned[index].listElement?.fieldId = nextId
                nextId += 1
            }
        }
        self.columns = assigned
    }

    /// Empty column buffers for one batch, in column order.
    public func makeColumnBuffers(reservingCapacity capacity: Int = 0) -> [ColumnValues] {
        columns.map { ColumnValues(column: $0, reservingCapacity: capacity) }
    }

    /// The flattened schema elements of the footer, root first.
    func schemaElements() -> [ParquetFormat.SchemaElement] {
        var elements = [ParquetFormat.SchemaElement(name: "schema", numChildren: Int32(columns.count))]
        for column in columns {
            let leaf = LeafLayout(column.type)
            let repetition: ParquetFormat.Repetition = column.isNullable ? .optional : .required
            if let element = column.listElement {
                elements.append(
                    ParquetFormat.SchemaElement(
                        repetitionType: repetition, name: column.name, numChildren: 1, convertedType: .list,
                        fieldId: column.fieldId, logicalType: .list))
                elements.append(ParquetFormat.SchemaElement(repetitionType: .repeated, name: "list", numChildren: 1))
                elements.append(
                    leaf.schemaElement(
                        name: "element", repetition: element.isNullable ? .optional : .required,
                        fieldId: element.fieldId))
            } else {
                elements.append(leaf.schemaElement(name: column.name, repetition: repetition, fieldId: column.fieldId))
            }
        }
        return elements
    }
}

/// How values of a leaf column are compared for min/max statistics.
enum StatisticsOrder {
    case signed
    case unsigned
    case floatingPoint
    case boolean
    /// Lexicographic over unsigned bytes (strings, binary, UUID).
    case bytewiseUnsigned
    /// Big-endian two's-complement numbers of equal length (FIXED_LEN_BYTE_ARRAY decimals).
    case bigEndianSigned
}

/// The physical layout and annotations of one leaf column type.
struct LeafLayout {
    var physicalType: ParquetFormat.PhysicalType
    var typeLength: Int32?
    var convertedType: ParquetFormat.ConvertedType?
    var logicalType: ParquetFormat.LogicalType?
    var scale: Int32?
    var precision: Int32?
    var statisticsOrder: StatisticsOrder
    /// For text columns: statistics are truncated on UTF-8 character boundaries.
    var isUTF8: Bool = false

    init(_ type: ParquetColumnType) {
        switch type {
        case .boolean:
            self.init(.boolean, order: .boolean)
        case .int8: self.init(.int32, .int8, .integer(bitWidth: 8, isSigned: true), order: .signed)
        case .int16: self.init(.int32, .int16, .integer(bitWidth: 16, isSigned: true), order: .signed)
        case .int32: self.init(.int32, .int32, .integer(bitWidth: 32, isSigned: true), order: .signed)
        case .int64: self.init(.int64, .int64, .integer(bitWidth: 64, isSigned: true), order: .signed)
        case .uint8: self.init(.int32, .uint8, .integer(bitWidth: 8, isSigned: false), order: .unsigned)
        case .uint16: self.init(.int32, .uint16, .integer(bitWidth: 16, isSigned: false), order: .unsigned)
        case .uint32: self.init(.int32, .uint32, .integer(bitWidth: 32, isSigned: false), order: .unsigned)
        case .uint64: self.init(.int64, .uint64, .integer(bitWidth: 64, isSigned: false), order: .unsigned)
        case .float: self.init(.float, order: .floatingPoint)
        case .double: self.init(.double, order: .floatingPoint)
        case .string:
            self.init(.byteArray, .utf8, .string, order: .bytewiseUnsigned)
            isUTF8 = true
        case .json:
            self.init(.byteArray, .json, .json, order: .bytewiseUnsigned)
            isUTF8 = true
        case .bytes: self.init(.byteArray, order: .bytewiseUnsigned)
        case .uuid:
            self.init(.fixedLenByteArray, nil, .uuid, order: .bytewiseUnsigned)
            typeLength = 16
        case .date: self.init(.int32, .date, .date, order: .signed)
        case .time(let isAdjustedToUTC):
            self.init(.int64, .timeMicros, .time(isAdjustedToUTC: isAdjustedToUTC, unit: .micros), order: .signed)
        case .timestamp(let isAdjustedToUTC):
            // The converted type TIMESTAMP_MICROS means "adjusted to UTC"; local timestamps carry none.
            self.init(
                .int64, isAdjustedToUTC ? .timestampMicros : nil,
                .timestamp(isAdjustedToUTC: isAdjustedToUTC, unit: .micros), order: .signed)
        case .decimal(let precision, let scale):
            let logical = ParquetFormat.LogicalType.decimal(scale: Int32(scale), precision: Int32(precision))
            if precision <= 9 {
                self.init(.int32, .decimal, logical, order: .signed)
            } else if precision <= 18 {
                self.init(.int64, .decimal, logical, order: .signed)
            } else {
                self.init(.fixedLenByteArray, .decimal, logical, order: .bigEndianSigned)
                typeLength = Int32(LeafLayout.decimalByteLength(precision: precision))
            }
            self.scale = Int32(scale)
            self.precision = Int32(precision)
        }
    }

    private init(
        _ physicalType: ParquetFormat.PhysicalType, _ convertedType: ParquetFormat.ConvertedType? = nil,
        _ logicalType: ParquetFormat.LogicalType? = nil, order: StatisticsOrder
    ) {
        self.physicalType = physicalType
        self.convertedType = convertedType
        self.logicalType = logicalType
        self.statisticsOrder = order
    }

    /// The fewest bytes whose two's complement holds every unscaled value of `precision` digits.
    static func decimalByteLength(precision: Int) -> Int {
        var length = 1
        // 10^precision - 1 must be ≤ 2^(8·length − 1) − 1, i.e. precision·log2(10) < 8·length − 1.
        while Double(precision) * 3.321928094887362 >= Double(8 * length - 1) {
            length += 1
        }
        return length
    }

    func schemaElement(
        name: String, repetition: ParquetFormat.Repetition, fieldId: Int32?
    ) -> ParquetFormat.SchemaElement {
        ParquetFormat.SchemaElement(
            type: physicalType, typeLength: typeLength, repetitionType: repetition, name: name,
            convertedType: convertedType, scale: scale, precision: precision, fieldId: fieldId,
            logicalType: logicalType)
    }
}
