import SluiceCore
/// MySQL's column type codes as they appear in TABLE_MAP events (`enum_field_types`).
public enum MySQLColumnType: UInt8, Sendable {
    case decimal = 0, tiny = 1, short = 2, long = 3, float = 4, double = 5, null = 6, timestamp = 7
    case longlong = 8, int24 = 9, date = 10, time = 11, datetime = 12, year = 13, newdate = 14, varchar = 15
    case bit = 16, timestamp2 = 17, datetime2 = 18, time2 = 19, typedArray = 20
    case vector = 242, json = 245, newdecimal = 246, enumeration = 247, set = 248
    case tinyBlob = 249, mediumBlob = 250, longBlob = 251, blob = 252, varString = 253, string = 254, geometry = 255

    /// Numeric types, whose signedness the SIGNEDNESS optional metadata lists.
    var isNumeric: Bool {
        switch self {
        case .tiny, .short, .int24, .long, .longlong, .newdecimal, .float, .double: return true
        default: return false
        }
    }

    var isBlob: Bool { self == .tinyBlob || self == .mediumBlob || self == .longBlob || self == .blob }

    /// Types whose values carry a character set (CHARSET optional metadata), by real type.
    var isCharacter: Bool { self == .string || self == .varString || self == .varchar || isBlob }
}

/// One column as a TABLE_MAP event describes it, completed by optional metadata when the server sent it.
public struct BinlogColumn: Sendable, Hashable {
    /// The type code in the event (STRING for CHAR, BINARY, ENUM and SET).
    public var binlogType: UInt8
    /// The type after resolving STRING's metadata (ENUM, SET or STRING).
    public var realType: UInt8
    /// Type metadata: FLOAT/DOUBLE/BLOB/JSON/GEOMETRY pack length; VARCHAR max bytes; DECIMAL precision
    /// and scale; BIT bits; temporal fractional digits; STRING max bytes; ENUM/SET pack length.
    public var meta1: Int
    public var meta2: Int
    public var nullable: Bool
    /// From SIGNEDNESS metadata (nil: not sent).
    public var isUnsigned: Bool?
    /// Collation id from CHARSET metadata (nil: not sent; 63 is binary).
    public var collation: Int?
    public var name: String?
    public var enumValues: [String]?
    public var setValues: [String]?
    public var geometryType: Int?
    public var isVisible: Bool = true
}

/// A TABLE_MAP event: maps a table id to a table and its column types until the next map for that id.
public struct TableMap: Sendable, Hashable {
    public var tableID: UInt64
    public var database: String
    public var table: String
    public var columns: [BinlogColumn]
    /// Primary-key column indexes from SIMPLE_PRIMARY_KEY / PRIMARY_KEY_WITH_PREFIX metadata.
    public var primaryKey: [Int]?
    /// Prefix lengths of primary-key columns that index a prefix (0: whole column).
    public var primaryKeyPrefixes: [Int]?
    /// True when COLUMN_NAME metadata came with the map (binlog_row_metadata=FULL).
    public var hasColumnNames: Bool

    /// The raw TABLE_MAP body after the post-header, kept to tell a re-sent identical map from a changed one.
    public var signature: [UInt8]

    /// Parses a TABLE_MAP event body (after the common header; checksum already removed).
    static func parse(_ cursor: inout ByteReader<[UInt8]>, postHeaderLength: Int) throws -> TableMap {
        let tableID = postHeaderLength == 6 ? UInt64(try cursor.u32()) : try cursor.le(6)
        try cursor.skip(postHeaderLength == 6 ? 2 : max(2, postHeaderLength - 6))  // flags
        let signatureStart = cursor.offset
        let dbLength = Int(try cursor.u8())
        let database = try cursor.utf8(dbLength)
        try cursor.skip(1)
        let tableLength = Int(try cursor.u8())
        let table = try cursor.utf8(tableLength)
        try cursor.skip(1)
        let count = try cursor.lenencCount()
        var columns: [BinlogColumn] = []
        columns.reserveCapacity(count)
        let types = try cursor.array(count)
        let metaLength = try cursor.lenencCount()
        var meta = ByteReader(cursor.bytes, from: cursor.offset, to: cursor.offset + metaLength)
        try cursor.skip(metaLength)
        for type in types {
            var column = BinlogColumn(binlogType: type, realType: type, meta1: 0, meta2: 0, nullable: true)
            switch MySQLColumnType(rawValue: type) {
            case .float, .double, .tinyBlob, .mediumBlob, .longBlob, .blob, .geometry, .json, .vector,
                 .timestamp2, .datetime2, .time2:
                column.meta1 = Int(try meta.u8())
            case .varchar, .varString:
                column.meta1 = Int(try meta.u16())
            case .bit:
                column.meta2 = Int(try meta.u8())  // bits in the last byte
                column.meta1 = Int(try meta.u8())  // whole bytes
            case .newdecimal:
                column.meta1 = Int(try meta.u8())  // precision
                column.meta2 = Int(try meta.u8())  // scale
            case .string, .enumeration, .set:
                let byte0 = Int(try meta.u8()), byte1 = Int(try meta.u8())
                if byte0 & 0x30 != 0x30 && type == MySQLColumnType.string.rawValue {
                    // CHAR longer than 255 bytes: bits 4-5 of the length are stored inverted in byte0.
                    column.realType = UInt8(byte0 | 0x30)
                    column.meta1 = byte1 | (((byte0 & 0x30) ^ 0x30) << 4)
                } else {
                    column.realType = UInt8(byte0)
                    column.meta1 = byte1
                }
            case .decimal, .tiny, .short, .long, .null, .timestamp, .longlong, .int24, .date, .time, .datetime,
                 .year, .newdate, .typedArray:
                break
            case nil:
                throw BinlogFormatError("column \(columns.count + 1) of \(database).\(table) has unknown type \(type)")
            }
            columns.append(column)
        }
        let nullBitmap = try cursor.array((count + 7) / 8)
        for i in 0..<count { columns[i].nullable = nullBitmap[i >> 3] & (1 << (i & 7)) != 0 }
        var map = TableMap(tableID: tableID, database: database, table: table, columns: columns, primaryKey: nil,
                           primaryKeyPrefixes: nil, hasColumnNames: false, signature: [])
        try map.parseOptionalMetadata(&cursor)
        map.signature = Array(cursor.bytes[signatureStart..<cursor.offset])
        return map
    }

    private mutating func parseOptionalMetadata(_ cursor: inout ByteReader<[UInt8]>) throws {
        let numeric = columns.indices.filter { MySQLColumnType(rawValue: columns[$0].binlogType)?.isNumeric == true }
        let character = columns.indices.filter { MySQLColumnType(rawValue: columns[$0].realType)?.isCharacter == true }
        let enumOrSet = columns.indices.filter {
            columns[$0].realType == MySQLColumnType.enumeration.rawValue
                || columns[$0].realType == MySQLColumnType.set.rawValue
        }
        let geometry = columns.indices.filter { columns[$0].binlogType == MySQLColumnType.geometry.rawValue }
        while cursor.remaining > 0 {
            let fieldType = try cursor.u8()
            let length = try cursor.lenencCount()
            try cursor.need(length)
            var field = ByteReader(cursor.bytes, from: cursor.offset, to: cursor.offset + length)
            cursor.offset += length
            switch fieldType {
            case 1:  // SIGNEDNESS: one bit per numeric column, most significant bit first
                for (n, index) in numeric.enumerated() where n / 8 < length {
                    columns[index].isUnsigned = field.bytes[field.offset + n / 8] & (0x80 >> (n % 8)) != 0
                }
            case 2, 10:  // DEFAULT_CHARSET / ENUM_AND_SET_DEFAULT_CHARSET
                let targets = fieldType == 2 ? character : enumOrSet
                let fallback = try field.lenencCount()
                for index in targets { columns[index].collation = fallback }
                while !field.isAtEnd {
                    let n = try field.lenencCount(), collation = try field.lenencCount()
                    if n < targets.count { columns[targets[n]].collation = collation }
                }
            case 3, 11:  // COLUMN_CHARSET / ENUM_AND_SET_COLUMN_CHARSET
                let targets = fieldType == 3 ? character : enumOrSet
                var n = 0
                while !field.isAtEnd {
                    let collation = try field.lenencCount()
                    if n < targets.count { columns[targets[n]].collation = collation }
                    n += 1
                }
            case 4:  // COLUMN_NAME
                var n = 0
                while !field.isAtEnd {
                    let name = try field.lenencString()
                    if n < columns.count { columns[n].name = name }
                    n += 1
                }
                hasColumnNames = n == columns.count
            case 5, 6:  // SET_STR_VALUE / ENUM_STR_VALUE
                let targets = columns.indices.filter {
                    columns[$0].realType == (fieldType == 5 ? MySQLColumnType.set : .enumeration).rawValue
                }
                var n = 0
                while !field.isAtEnd {
                    let valueCount = try field.lenencCount()
                    var values: [String] = []
                    values.reserveCapacity(valueCount)
                    for _ in 0..<valueCount { values.append(try field.lenencString()) }
                    if n < targets.count {
                        if fieldType == 5 { columns[targets[n]].setValues = values }
                        else { columns[targets[n]].enumValues = values }
                    }
                    n += 1
                }
            case 7:  // GEOMETRY_TYPE
                var n = 0
                while !field.isAtEnd {
                    let kind = try field.lenencCount()
                    if n < geometry.count { columns[geometry[n]].geometryType = kind }
                    n += 1
                }
            case 8:  // SIMPLE_PRIMARY_KEY
                var key: [Int] = []
                while !field.isAtEnd { key.append(try field.lenencCount()) }
                primaryKey = key.filter { $0 < columns.count }
                primaryKeyPrefixes = Array(repeating: 0, count: primaryKey!.count)
            case 9:  // PRIMARY_KEY_WITH_PREFIX
                var key: [Int] = [], prefixes: [Int] = []
                while !field.isAtEnd {
                    let index = try field.lenencCount()
                    let prefix = try field.lenencCount()
                    if index < columns.count {
                        key.append(index)
                        prefixes.append(prefix)
                    }
                }
                primaryKey = key
                primaryKeyPrefixes = prefixes
            case 12:  // COLUMN_VISIBILITY: one bit per column, most significant first
                for index in columns.indices where index / 8 < length {
                    columns[index].isVisible = field.bytes[field.offset + index / 8] & (0x80 >> (index % 8)) != 0
                }
            default:
                break  // newer metadata (e.g. VECTOR dimensions): not needed to decode values
            }
        }
    }
}
