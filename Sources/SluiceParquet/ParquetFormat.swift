/// The parquet-format Thrift structures (parquet.thrift) that Sluice writes, with compact-protocol encoding and
/// decoding. Field names and numbers follow parquet.thrift; fields Sluice never writes are skipped when decoding.
public enum ParquetFormat {
    /// `Type`: the physical storage type of a leaf column.
    public enum PhysicalType: Int32, Sendable {
        case boolean = 0, int32 = 1, int64 = 2, int96 = 3, float = 4, double = 5, byteArray = 6
        case fixedLenByteArray = 7
    }

    /// `FieldRepetitionType`.
    public enum Repetition: Int32, Sendable {
        case required = 0, optional = 1, repeated = 2
    }

    /// `ConvertedType`: the legacy logical annotation, still read by older readers.
    public enum ConvertedType: Int32, Sendable {
        case utf8 = 0, map = 1, mapKeyValue = 2, list = 3, enumeration = 4, decimal = 5, date = 6
        case timeMillis = 7, timeMicros = 8, timestampMillis = 9, timestampMicros = 10
        case uint8 = 11, uint16 = 12, uint32 = 13, uint64 = 14, int8 = 15, int16 = 16, int32 = 17, int64 = 18
        case json = 19, bson = 20, interval = 21
    }

    /// `Encoding`.
    public enum Encoding: Int32, Sendable {
        case plain = 0, plainDictionary = 2, rle = 3, bitPacked = 4, deltaBinaryPacked = 5
        case deltaLengthByteArray = 6, deltaByteArray = 7, rleDictionary = 8, byteStreamSplit = 9
    }

    /// `CompressionCodec`.
    public enum CompressionCodec: Int32, Sendable {
        case uncompressed = 0, snappy = 1, gzip = 2, lzo = 3, brotli = 4, lz4 = 5, zstd = 6, lz4Raw = 7
    }

    /// `PageType`.
    public enum PageType: Int32, Sendable {
        case dataPage = 0, indexPage = 1, dictionaryPage = 2, dataPageV2 = 3
    }

    /// `TimeUnit` of TIME and TIMESTAMP logical types.
    public enum TimeUnit: Int16, Sendable {
        case millis = 1, micros = 2, nanos = 3
    }

    /// `LogicalType`: the union of logical annotations (the subset Sluice writes; others decode as `.other`).
    public enum LogicalType: Sendable, Equatable {
        case string
        case list
        case decimal(scale: Int32, precision: Int32)
        case date
        case time(isAdjustedToUTC: Bool, unit: TimeUnit)
        case timestamp(isAdjustedToUTC: Bool, unit: TimeUnit)
        case integer(bitWidth: Int8, isSigned: Bool)
        case json
        case uuid
        /// A union member Sluice does not write, by field id.
        case other(fieldId: Int16)
    }

    /// `SchemaElement`: one node of the flattened schema tree (depth-first, root first).
    public struct SchemaElement: Sendable, Equatable {
        public var type: PhysicalType?
        public var typeLength: Int32?
        public var repetitionType: Repetition?
        public var name: String
        public var numChildren: Int32?
        public var convertedType: ConvertedType?
        public var scale: Int32?
        public var precision: Int32?
        public var fieldId: Int32?
        public var logicalType: LogicalType?

        public init(
            type: PhysicalType? = nil, typeLength: Int32? = nil, repetitionType: Repetition? = nil, name: String,
            numChildren: Int32? = nil, convertedType: ConvertedType? = nil, scale: Int32? = nil,
            precision: Int32? = nil, fieldId: Int32? = nil, logicalType: LogicalType? = nil
        ) {
            self.type = type
            self.typeLength = typeLength
            self.repetitionType = repetitionType
            self.name = name
            self.numChildren = numChildren
            self.convertedType = convertedType
            self.scale = scale
            self.precision = precision
            self.fieldId = fieldId
            self.logicalType = logicalType
        }
    }

    /// `Statistics` of a column chunk or page. `minValue`/`maxValue` are the PLAIN encoding of the value.
    public struct Statistics: Sendable, Equatable {
        public var nullCount: Int64?
        public var distinctCount: Int64?
        public var maxValue: [UInt8]?
        public var minValue: [UInt8]?
        public var isMaxValueExact: Bool?
        public var isMinValueExact: Bool?

        public init(
            nullCount: Int64? = nil, distinctCount: Int64? = nil, maxValue: [UInt8]? = nil,
            minValue: [UInt8]? = nil, isMaxValueExact: Bool? = nil, isMinValueExact: Bool? = nil
        ) {
            self.nullCount = nullCount
            self.distinctCount = distinctCount
            self.maxValue = maxValue
            self.minValue = minValue
            self.isMaxValueExact = isMaxValueExact
            self.isMinValueExact = isMinValueExact
        }
    }

    /// `KeyValue`: an application-defined metadata entry.
    public struct KeyValue: Sendable, Equatable {
        public var key: String
        public var value: String?

        public init(key: String, value: String?) {
            self.key = key
            self.value = value
        }
    }

    /// `ColumnMetaData`: where a column chunk's pages are and what they hold.
    public struct ColumnMetaData: Sendable, Equatable {
        public var type: PhysicalType
        public var encodings: [Encoding]
        public var pathInSchema: [String]
        public var codec: CompressionCodec
        public var numValues: Int64
        public var totalUncompressedSize: Int64
        public var totalCompressedSize: Int64
        public var dataPageOffset: Int64
        public var dictionaryPageOffset: Int64?
        public var statistics: Statistics?

        public init(
            type: PhysicalType, encodings: [Encoding], pathInSchema: [String], codec: CompressionCodec,
            numValues: Int64, totalUncompressedSize: Int64, totalCompressedSize: Int64, dataPageOffset: Int64,
            dictionaryPageOffset: Int64? = nil, statistics: Statistics? = nil
        ) {
            self.type = type
            self.encodings = encodings
            self.pathInSchema = pathInSchema
            self.codec = codec
            self.numValues = numValues
            self.totalUncompressedSize = totalUncompressedSize
            self.totalCompressedSize = totalCompressedSize
            self.dataPageOffset = dataPageOffset
            self.dictionaryPageOffset = dictionaryPageOffset
            self.statistics = statistics
        }
    }

    /// `ColumnChunk`: one column of one row group.
    public struct ColumnChunk: Sendable, Equatable {
        public var fileOffset: Int64
        public var metaData: ColumnMetaData?

        public init(fileOffset: Int64, metaData: ColumnMetaData?) {
            self.fileOffset = fileOffset
            self.metaData = metaData
        }
    }

    /// `RowGroup`: a horizontal slice of the file holding one chunk per leaf column.
    public struct RowGroup: Sendable, Equatable {
        public var columns: [ColumnChunk]
        public var totalByteSize: Int64
        public var numRows: Int64
        public var fileOffset: Int64?
        public var totalCompressedSize: Int64?
        public var ordinal: Int16?

        public init(
            columns: [ColumnChunk], totalByteSize: Int64, numRows: Int64, fileOffset: Int64? = nil,
            totalCompressedSize: Int64? = nil, ordinal: Int16? = nil
        ) {
            self.columns = columns
            self.totalByteSize = totalByteSize
            self.numRows = numRows
            self.fileOffset = fileOffset
            self.totalCompressedSize = totalCompressedSize
            self.ordinal = ordinal
        }
    }

    /// `ColumnOrder`: how min/max statistics of a leaf column compare.
    public enum ColumnOrder: Sendable, Equatable {
        /// `TYPE_ORDER`: the order defined by the column's logical (or physical) type.
        case typeDefinedOrder
        /// A union member Sluice does not write, by field id.
        case other(fieldId: Int16)
    }

    /// `FileMetaData`: the footer.
    public struct FileMetaData: Sendable, Equatable {
        public var version: Int32
        public var schema: [SchemaElement]
        public var numRows: Int64
        public var rowGroups: [RowGroup]
        public var keyValueMetadata: [KeyValue]?
        public var createdBy: String?
        public var columnOrders: [ColumnOrder]?

        public init(
            version: Int32, schema: [SchemaElement], numRows: Int64, rowGroups: [RowGroup],
            keyValueMetadata: [KeyValue]? = nil, createdBy: String? = nil, columnOrders: [ColumnOrder]? = nil
        ) {
            self.version = version
            self.schema = schema
            self.numRows = numRows
            self.rowGroups = rowGroups
            self.keyValueMetadata = keyValueMetadata
            self.createdBy = createdBy
            self.columnOrders = columnOrders
        }
    }

    /// `DataPageHeader` (data page v1).
    public struct DataPageHeader: Sendable, Equatable {
        public var numValues: Int32
        public var encoding: Encoding
        public var definitionLevelEncoding: Encoding
        public var repetitionLevelEncoding: Encoding

        public init(
            numValues: Int32, encoding: Encoding, definitionLevelEncoding: Encoding = .rle,
            repetitionLevelEncoding: Encoding = .rle
        ) {
            self.numValues = numValues
            self.encoding = encoding
            self.definitionLevelEncoding = definitionLevelEncoding
            self.repetitionLevelEncoding = repetitionLevelEncoding
        }
    }

    /// `DictionaryPageHeader`.
    public struct DictionaryPageHeader: Sendable, Equatable {
        public var numValues: Int32
        public var encoding: Encoding

        public init(numValues: Int32, encoding: Encoding = .plain) {
            self.numValues = numValues
            self.encoding = encoding
        }
    }

    /// `PageHeader`: precedes every page of a column chunk.
    public struct PageHeader: Sendable, Equatable {
        public var type: PageType
        public var uncompressedPageSize: Int32
        public var compressedPageSize: Int32
        public var dataPageHeader: DataPageHeader?
        public var dictionaryPageHeader: DictionaryPageHeader?

        public init(
            type: PageType, uncompressedPageSize: Int32, compressedPageSize: Int32,
            dataPageHeader: DataPageHeader? = nil, dictionaryPageHeader: DictionaryPageHeader? = nil
        ) {
            self.type = type
            self.uncompressedPageSize = uncompressedPageSize
            self.compressedPageSize = compressedPageSize
            self.dataPageHeader = dataPageHeader
            self.dictionaryPageHeader = dictionaryPageHeader
        }
    }
}

// MARK: - Encoding

extension ParquetFormat.FileMetaData {
    /// The compact-protocol encoding of this footer.
    public func encoded() -> [UInt8] {
        var writer = ThriftCompactWriter()
        writer.writeStructBody { writer in
            writer.writeI32(fieldId: 1, version)
            writer.writeList(fieldId: 2, elementType: .structure, schema) { writer, element in
                writer.writeStructBody { element.encode(into: &$0) }
            }
            writer.writeI64(fieldId: 3, numRows)
            writer.writeList(fieldId: 4, elementType: .structure, rowGroups) { writer, rowGroup in
                writer.writeStructBody { rowGroup.encode(into: &$0) }
            }
            if let keyValueMetadata {
                writer.writeList(fieldId: 5, elementType: .structure, keyValueMetadata) { writer, entry in
                    writer.writeStructBody { writer in
                        writer.writeString(fieldId: 1, entry.key)
                        if let value = entry.value {
                            writer.writeString(fieldId: 2, value)
                        }
                    }
                }
            }
            if let createdBy {
                writer.writeString(fieldId: 6, createdBy)
            }
            if let columnOrders {
                writer.writeList(fieldId: 7, elementType: .structure, columnOrders) { writer, order in
                    writer.writeStructBody { writer in
                        if case .typeDefinedOrder = order {
                            writer.writeStruct(fieldId: 1) { _ in }
                        }
                    }
                }
            }
        }
        return writer.bytes
    }

    /// Decodes a footer from its compact-protocol bytes.
    public static func decode(_ bytes: [UInt8]) throws(ParquetError) -> Self {
        var reader = ThriftCompactReader(bytes: bytes)
        var metadata = Self(version: 0, schema: [], numRows: 0, rowGroups: [])
        try reader.readStruct { reader, fieldId, type throws(ParquetError) in
            switch (fieldId, type) {
            case (1, .i32): metadata.version = try reader.readI32()
            case (2, .list): metadata.schema = try reader.readList { r throws(ParquetError) in try .decode(&r) }
            case (3, .i64): metadata.numRows = try reader.readI64()
            case (4, .list): metadata.rowGroups = try reader.readList { r throws(ParquetError) in try .decode(&r) }
            case (5, .list):
                metadata.keyValueMetadata = try reader.readList { r throws(ParquetError) in
                    var entry = ParquetFormat.KeyValue(key: "", value: nil)
                    try r.readStruct { r, fieldId, type throws(ParquetError) in
                        switch (fieldId, type) {
                        case (1, .binary): entry.key = try r.readString()
                        case (2, .binary): entry.value = try r.readString()
                        default: try r.skip(type)
                        }
                    }
                    return entry
                }
            case (6, .binary): metadata.createdBy = try reader.readString()
            case (7, .list):
                metadata.columnOrders = try reader.readList { r throws(ParquetError) in
                    var order = ParquetFormat.ColumnOrder.other(fieldId: 0)
                    try r.readStruct { r, fieldId, type throws(ParquetError) in
                        order = fieldId == 1 ? .typeDefinedOrder : .other(fieldId: fieldId)
                        try r.skip(type)
                    }
                    return order
                }
            default: try reader.skip(type)
            }
        }
        return metadata
    }
}

extension ParquetFormat.SchemaElement {
    func encode(into writer: inout ThriftCompactWriter) {
        if let type { writer.writeI32(fieldId: 1, type.rawValue) }
        if let typeLength { writer.writeI32(fieldId: 2, typeLength) }
        if let repetitionType { writer.writeI32(fieldId: 3, repetitionType.rawValue) }
        writer.writeString(fieldId: 4, name)
        if let numChildren { writer.writeI32(fieldId: 5, numChildren) }
        if let convertedType { writer.writeI32(fieldId: 6, convertedType.rawValue) }
        if let scale { writer.writeI32(fieldId: 7, scale) }
        if let precision { writer.writeI32(fieldId: 8, precision) }
        if let fieldId { writer.writeI32(fieldId: 9, fieldId) }
        if let logicalType {
            writer.writeStruct(fieldId: 10) { logicalType.encode(into: &$0) }
        }
    }

    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> Self {
        var element = Self(name: "")
        try reader.readStruct { reader, fieldId, type throws(ParquetError) in
            switch (fieldId, type) {
            case (1, .i32): element.type = ParquetFormat.PhysicalType(rawValue: try reader.readI32())
            case (2, .i32): element.typeLength = try reader.readI32()
            case (3, .i32): element.repetitionType = ParquetFormat.Repetition(rawValue: try reader.readI32())
            case (4, .binary): element.name = try reader.readString()
            case (5, .i32): element.numChildren = try reader.readI32()
            case (6, .i32): element.convertedType = ParquetFormat.ConvertedType(rawValue: try reader.readI32())
            case (7, .i32): element.scale = try reader.readI32()
            case (8, .i32): element.precision = try reader.readI32()
            case (9, .i32): element.fieldId = try reader.readI32()
            case (10, .structure): element.logicalType = try ParquetFormat.LogicalType.decode(&reader)
            default: try reader.skip(type)
            }
        }
        return element
    }
}

extension ParquetFormat.LogicalType {
    func encode(into writer: inout ThriftCompactWriter) {
        switch self {
        case .string: writer.writeStruct(fieldId: 1) { _ in }
        case .list: writer.writeStruct(fieldId: 3) { _ in }
        case .decimal(let scale, let precision):
            writer.writeStruct(fieldId: 5) { writer in
                writer.writeI32(fieldId: 1, scale)
                writer.writeI32(fieldId: 2, precision)
            }
        case .date: writer.writeStruct(fieldId: 6) { _ in }
        case .time(let isAdjustedToUTC, let unit):
            writer.writeStruct(fieldId: 7) { Self.encodeTemporal(isAdjustedToUTC, unit, into: &$0) }
        case .timestamp(let isAdjustedToUTC, let unit):
            writer.writeStruct(fieldId: 8) { Self.encodeTemporal(isAdjustedToUTC, unit, into: &$0) }
        case .integer(let bitWidth, let isSigned):
            writer.writeStruct(fieldId: 10) { writer in
                writer.writeI8(fieldId: 1, bitWidth)
                writer.writeBool(fieldId: 2, isSigned)
            }
        case .json: writer.writeStruct(fieldId: 12) { _ in }
        case .uuid: writer.writeStruct(fieldId: 14) { _ in }
        case .other(let fieldId): writer.writeStruct(fieldId: fieldId) { _ in }
        }
    }

    private static func encodeTemporal(
        _ isAdjustedToUTC: Bool, _ unit: ParquetFormat.TimeUnit, into writer: inout ThriftCompactWriter
    ) {
        writer.writeBool(fieldId: 1, isAdjustedToUTC)
        writer.writeStruct(fieldId: 2) { writer in
            writer.writeStruct(fieldId: unit.rawValue) { _ in }
        }
    }

    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> Self {
        var result = Self.other(fieldId: 0)
        try reader.readStruct { reader, fieldId, type throws(ParquetError) in
            switch fieldId {
            case 1: result = .string
            case 3: result = .list
            case 5:
                var scale: Int32 = 0
                var precision: Int32 = 0
                try reader.readStruct { reader, fieldId, type throws(ParquetError) in
                    switch (fieldId, type) {
                    case (1, .i32): scale = try reader.readI32()
                    case (2, .i32): precision = try reader.readI32()
                    default: try reader.skip(type)
                    }
                }
                result = .decimal(scale: scale, precision: precision)
                return
            case 6: result = .date
            case 7, 8:
                var isAdjustedToUTC = false
                var unit = ParquetFormat.TimeUnit.micros
                try reader.readStruct { reader, fieldId, type throws(ParquetError) in
                    switch (fieldId, type) {
                    case (1, _): isAdjustedToUTC = try reader.readBool()
                    case (2, .structure):
                        try reader.readStruct { reader, unitId, unitType throws(ParquetError) in
                            unit = ParquetFormat.TimeUnit(rawValue: unitId) ?? unit
                            try reader.skip(unitType)
                        }
                    default: try reader.skip(type)
                    }
                }
                result = fieldId == 7
                    ? .time(isAdjustedToUTC: isAdjustedToUTC, unit: unit)
                    : .timestamp(isAdjustedToUTC: isAdjustedToUTC, unit: unit)
                return
            case 10:
                var bitWidth: Int8 = 0
                var isSigned = false
                try reader.readStruct { reader, fieldId, type throws(ParquetError) in
                    switch (fieldId, type) {
                    case (1, .byte): bitWidth = try reader.readI8()
                    case (2, _): isSigned = try reader.readBool()
                    default: try reader.skip(type)
                    }
                }
                result = .integer(bitWidth: bitWidth, isSigned: isSigned)
                return
            case 12: result = .json
            case 14: result = .uuid
            default: result = .other(fieldId: fieldId)
            }
            try reader.skip(type)
        }
        return result
    }
}

extension ParquetFormat.Statistics {
    func encode(into writer: inout ThriftCompactWriter) {
        if let nullCount { writer.writeI64(fieldId: 3, nullCount) }
        if let distinctCount { writer.writeI64(fieldId: 4, distinctCount) }
        if let maxValue { writer.writeBinary(fieldId: 5, maxValue) }
        if let minValue { writer.writeBinary(fieldId: 6, minValue) }
        if let isMaxValueExact { writer.writeBool(fieldId: 7, isMaxValueExact) }
        if let isMinValueExact { writer.writeBool(fieldId: 8, isMinValueExact) }
    }

    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> Self {
        var statistics = Self()
        try reader.readStruct { reader, fieldId, type throws(ParquetError) in
            switch (fieldId, type) {
            case (3, .i64): statistics.nullCount = try reader.readI64()
            case (4, .i64): statistics.distinctCount = try reader.readI64()
            case (5, .binary): statistics.maxValue = try reader.readBinary()
            case (6, .binary): statistics.minValue = try reader.readBinary()
            case (7, .booleanTrue), (7, .booleanFalse): statistics.isMaxValueExact = try reader.readBool()
            case (8, .booleanTrue), (8, .booleanFalse): statistics.isMinValueExact = try reader.readBool()
            default: try reader.skip(type)
            }
        }
        return statistics
    }
}

extension ParquetFormat.RowGroup {
    func encode(into writer: inout ThriftCompactWriter) {
        writer.writeList(fieldId: 1, elementType: .structure, columns) { writer, chunk in
            writer.writeStructBody { writer in
                writer.writeI64(fieldId: 2, chunk.fileOffset)
                if let metaData = chunk.metaData {
                    writer.writeStruct(fieldId: 3) { metaData.encode(into: &$0) }
                }
            }
        }
        writer.writeI64(fieldId: 2, totalByteSize)
        writer.writeI64(fieldId: 3, numRows)
        if let fileOffset { writer.writeI64(fieldId: 5, fileOffset) }
        if let totalCompressedSize { writer.writeI64(fieldId: 6, totalCompressedSize) }
        if let ordinal { writer.writeI16(fieldId: 7, ordinal) }
    }

    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> Self {
        var rowGroup = Self(columns: [], totalByteSize: 0, numRows: 0)
        try reader.readStruct { reader, fieldId, type throws(ParquetError) in
            switch (fieldId, type) {
            case (1, .list):
                rowGroup.columns = try reader.readList { reader throws(ParquetError) in
                    var chunk = ParquetFormat.ColumnChunk(fileOffset: 0, metaData: nil)
                    try reader.readStruct { reader, fieldId, type throws(ParquetError) in
                        switch (fieldId, type) {
                        case (2, .i64): chunk.fileOffset = try reader.readI64()
                        case (3, .structure): chunk.metaData = try ParquetFormat.ColumnMetaData.decode(&reader)
                        default: try reader.skip(type)
                        }
                    }
                    return chunk
                }
            case (2, .i64): rowGroup.totalByteSize = try reader.readI64()
            case (3, .i64): rowGroup.numRows = try reader.readI64()
            case (5, .i64): rowGroup.fileOffset = try reader.readI64()
            case (6, .i64): rowGroup.totalCompressedSize = try reader.readI64()
            case (7, .i16): rowGroup.ordinal = try reader.readI16()
            default: try reader.skip(type)
            }
        }
        return rowGroup
    }
}

extension ParquetFormat.ColumnMetaData {
    func encode(into writer: inout ThriftCompactWriter) {
        writer.writeI32(fieldId: 1, type.rawValue)
        writer.writeList(fieldId: 2, elementType: .i32, encodings) { $0.writeI32Element($1.rawValue) }
        writer.writeList(fieldId: 3, elementType: .binary, pathInSchema) { $0.writeBinaryValue(Array($1.utf8)) }
        writer.writeI32(fieldId: 4, codec.rawValue)
        writer.writeI64(fieldId: 5, numValues)
        writer.writeI64(fieldId: 6, totalUncompressedSize)
        writer.writeI64(fieldId: 7, totalCompressedSize)
        writer.writeI64(fieldId: 9, dataPageOffset)
        if let dictionaryPageOffset { writer.writeI64(fieldId: 11, dictionaryPageOffset) }
        if let statistics {
            writer.writeStruct(fieldId: 12) { statistics.encode(into: &$0) }
        }
    }

    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> Self {
        var metaData = Self(
            type: .boolean, encodings: [], pathInSchema: [], codec: .uncompressed, numValues: 0,
            totalUncompressedSize: 0, totalCompressedSize: 0, dataPageOffset: 0)
        try reader.readStruct { reader, fieldId, type throws(ParquetError) in
            switch (fieldId, type) {
            case (1, .i32): metaData.type = ParquetFormat.PhysicalType(rawValue: try reader.readI32()) ?? .boolean
            case (2, .list):
                metaData.encodings = try reader.readList { reader throws(ParquetError) in
                    ParquetFormat.Encoding(rawValue: try reader.readI32()) ?? .plain
                }
            case (3, .list):
                metaData.pathInSchema = try reader.readList { reader throws(ParquetError) in try reader.readString() }
            case (4, .i32):
                metaData.codec = ParquetFormat.CompressionCodec(rawValue: try reader.readI32()) ?? .uncompressed
            case (5, .i64): metaData.numValues = try reader.readI64()
            case (6, .i64): metaData.totalUncompressedSize = try reader.readI64()
            case (7, .i64): metaData.totalCompressedSize = try reader.readI64()
            case (9, .i64): metaData.dataPageOffset = try reader.readI64()
            case (11, .i64): metaData.dictionaryPageOffset = try reader.readI64()
            case (12, .structure): metaData.statistics = try ParquetFormat.Statistics.decode(&reader)
            default: try reader.skip(type)
            }
        }
        return metaData
    }
}

extension ParquetFormat.PageHeader {
    /// The compact-protocol encoding of this page header.
    public func encoded() -> [UInt8] {
        var writer = ThriftCompactWriter()
        writer.writeStructBody { writer in
            writer.writeI32(fieldId: 1, type.rawValue)
            writer.writeI32(fieldId: 2, uncompressedPageSize)
            writer.writeI32(fieldId: 3, compressedPageSize)
            if let dataPageHeader {
                writer.writeStruct(fieldId: 5) { writer in
                    writer.writeI32(fieldId: 1, dataPageHeader.numValues)
                    writer.writeI32(fieldId: 2, dataPageHeader.encoding.rawValue)
                    writer.writeI32(fieldId: 3, dataPageHeader.definitionLevelEncoding.rawValue)
                    writer.writeI32(fieldId: 4, dataPageHeader.repetitionLevelEncoding.rawValue)
                }
            }
            if let dictionaryPageHeader {
                writer.writeStruct(fieldId: 7) { writer in
                    writer.writeI32(fieldId: 1, dictionaryPageHeader.numValues)
                    writer.writeI32(fieldId: 2, dictionaryPageHeader.encoding.rawValue)
                }
            }
        }
        return writer.bytes
    }

    /// Decodes a page header from `bytes` starting at `offset`; returns it with the offset just past it.
    public static func decode(_ bytes: [UInt8], at offset: Int) throws(ParquetError) -> (Self, end: Int) {
        var reader = ThriftCompactReader(bytes: bytes, position: offset)
        var header = Self(type: .dataPage, uncompressedPageSize: 0, compressedPageSize: 0)
        try reader.readStruct { reader, fieldId, type throws(ParquetError) in
            switch (fieldId, type) {
            case (1, .i32): header.type = ParquetFormat.PageType(rawValue: try reader.readI32()) ?? .indexPage
            case (2, .i32): header.uncompressedPageSize = try reader.readI32()
            case (3, .i32): header.compressedPageSize = try reader.readI32()
            case (5, .structure):
                var page = ParquetFormat.DataPageHeader(numValues: 0, encoding: .plain)
                try reader.readStruct { reader, fieldId, type throws(ParquetError) in
                    switch (fieldId, type) {
                    case (1, .i32): page.numValues = try reader.readI32()
                    case (2, .i32): page.encoding = ParquetFormat.Encoding(rawValue: try reader.readI32()) ?? .plain
                    case (3, .i32):
                        page.definitionLevelEncoding = ParquetFormat.Encoding(rawValue: try reader.readI32()) ?? .rle
                    case (4, .i32):
                        page.repetitionLevelEncoding = ParquetFormat.Encoding(rawValue: try reader.readI32()) ?? .rle
                    default: try reader.skip(type)
                    }
                }
                header.dataPageHeader = page
            case (7, .structure):
                var page = ParquetFormat.DictionaryPageHeader(numValues: 0)
                try reader.readStruct { reader, fieldId, type throws(ParquetError) in
                    switch (fieldId, type) {
                    case (1, .i32): page.numValues = try reader.readI32()
                    case (2, .i32): page.encoding = ParquetFormat.Encoding(rawValue: try reader.readI32()) ?? .plain
                    default: try reader.skip(type)
                    }
                }
                header.dictionaryPageHeader = page
            default: try reader.skip(type)
            }
        }
        return (header, reader.position)
    }
}
