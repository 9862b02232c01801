/// The kind of `Value` a column holds; typed sinks map each kind to their own types.
public enum ValueKind: String, Sendable, Hashable, Codable, CaseIterable {
    case bool, int, double, decimal, string, bytes, date
    /// Time of day without zone.
    case time
    /// Time of day with a UTC offset.
    case timeTZ = "timetz"
    /// Timestamp without zone (wall-clock).
    case timestamp
    /// Timestamp adjusted to UTC.
    case timestampTZ = "timestamptz"
    case interval, uuid, json, array
}

/// Identifies a captured table: database (PostgreSQL) and schema (the database, for MySQL) and name.
public struct TableID: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var database: String
    public var schema: String
    public var name: String

    public init(database: String, schema: String, name: String) {
        self.database = database
        self.schema = schema
        self.name = name
    }

    /// `schema.name`, as users name tables in config.
    public var qualifiedName: String { "\(schema).\(name)" }
    public var description: String { qualifiedName }

    public static func < (lhs: TableID, rhs: TableID) -> Bool {
        (lhs.database, lhs.schema, lhs.name) < (rhs.database, rhs.schema, rhs.name)
    }
}

/// One column of a table schema.
public struct ColumnSchema: Sendable, Hashable, Codable {
    public var name: String
    /// The source's own type name, e.g. `numeric(12,2)`, `varchar(32)`, `mood` (an enum).
    public var sourceType: String
    public var kind: ValueKind
    /// For `array` columns: the kind of the elements.
    public var elementKind: ValueKind?
    public var nullable: Bool
    /// Decimal precision (total digits), or the length of a character/binary type, when the source declares one.
    public var precision: Int?
    /// Decimal scale, or fractional-second digits of a time type, when the source declares one.
    public var scale: Int?

    public init(
        name: String, sourceType: String, kind: ValueKind, elementKind: ValueKind? = nil, nullable: Bool = true,
        precision: Int? = nil, scale: Int? = nil
    ) {
        self.name = name
        self.sourceType = sourceType
        self.kind = kind
        self.elementKind = elementKind
        self.nullable = nullable
        self.precision = precision
        self.scale = scale
    }
}

/// One version of a table's shape. A change of shape makes a new version, written to `_schemas`
/// before the first event that uses it.
public struct TableSchema: Sendable, Hashable, Codable {
    public var table: TableID
    /// Increases by one with every change of shape, starting at 1.
    public var version: Int
    public var columns: [ColumnSchema]
    /// Names of the primary-key (or replica-identity) columns, in key order; empty when the table has none.
    public var primaryKey: [String]
    /// Where in the source this version took effect.
    public var position: SourcePosition?

    public init(table: TableID, version: Int, columns: [ColumnSchema], primaryKey: [String], position: SourcePosition? = nil) {
        self.table = table
        self.version = version
        self.columns = columns
        self.primaryKey = primaryKey
        self.position = position
    }

    /// The index of a column by name.
    public func columnIndex(_ name: String) -> Int? { columns.firstIndex { $0.name == name } }

    /// True when `other` has the same columns (names, types, nullability) and key: no new version needed.
    public func hasSameShape(as other: TableSchema) -> Bool {
        columns == other.columns && primaryKey == other.primaryKey
    }
}

extension SourcePosition: Codable {
    private enum CodingKeys: String, CodingKey { case key, text }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let hex = try container.decode(String.self, forKey: .key)
        guard let bytes = HexBytes.decode(hex) else {
            throw DecodingError.dataCorruptedError(forKey: .key, in: container, debugDescription: "not hex: \(hex)")
        }
        self.init(sortKey: bytes, text: try container.decode(String.self, forKey: .text))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(HexBytes.encode(sortKey), forKey: .key)
        try container.encode(text, forKey: .text)
    }
}

/// Lower-case hexadecimal text for byte strings.
public enum HexBytes {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
