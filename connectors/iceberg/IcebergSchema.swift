import SluiceAvro
import SluiceCore

/// An Iceberg primitive or list type (the types Sluice writes; structs and maps are not produced by sources).
public indirect enum IcebergType: Sendable, Hashable, CustomStringConvertible {
    case boolean, int, long, float, double, date, time, timestamp, timestamptz, string, uuid, binary
    case decimal(precision: Int, scale: Int)
    case fixed(length: Int)
    case list(elementId: Int, element: IcebergType, elementRequired: Bool)

    /// The type's name in table metadata JSON (`decimal(12,2)`, `fixed[16]`; lists are objects).
    public var description: String {
        switch self {
        case .boolean: return "boolean"
        case .int: return "int"
        case .long: return "long"
        case .float: return "float"
        case .double: return "double"
        case .date: return "date"
        case .time: return "time"
        case .timestamp: return "timestamp"
        case .timestamptz: return "timestamptz"
        case .string: return "string"
        case .uuid: return "uuid"
        case .binary: return "binary"
        case .decimal(let p, let s): return "decimal(\(p),\(s))"
        case .fixed(let length): return "fixed[\(length)]"
        case .list(_, let element, _): return "list<\(element)>"
        }
    }

    var json: AvroJSON {
        if case .list(let elementId, let element, let elementRequired) = self {
            return .object([
                ("type", .string("list")), ("element-id", .int(Int64(elementId))), ("element", element.json),
                ("element-required", .bool(elementRequired)),
            ])
        }
        return .string(description)
    }

    init(json: AvroJSON) throws {
        if let name = json.stringValue {
            switch name {
            case "boolean": self = .boolean
            case "int": self = .int
            case "long": self = .long
            case "float": self = .float
            case "double": self = .double
            case "date": self = .date
            case "time": self = .time
            case "timestamp": self = .timestamp
            case "timestamptz": self = .timestamptz
            case "string": self = .string
            case "uuid": self = .uuid
            case "binary": self = .binary
            default:
                let digits = name.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
                if name.hasPrefix("decimal("), digits.count == 2 {
                    self = .decimal(precision: digits[0], scale: digits[1])
                } else if name.hasPrefix("fixed["), digits.count == 1 {
                    self = .fixed(length: digits[0])
                } else {
                    throw IcebergError(
                        .unsupported, "the table uses the Iceberg type '\(name)', which Sluice cannot write")
                }
            }
            return
        }
        guard json["type"]?.stringValue == "list", let elementId = json["element-id"]?.intValue,
            let element = json["element"]
        else {
            throw IcebergError(.unsupported, "the table uses the Iceberg type \(json.text), which Sluice cannot write")
        }
        self = .list(
            elementId: Int(elementId), element: try IcebergType(json: element),
            elementRequired: json["element-required"] == .bool(true))
    }

    /// Whether values of `self` can be promoted to `wider` by Iceberg's allowed type promotions.
    func canWiden(to wider: IcebergType) -> Bool {
        switch (self, wider) {
        case (.int, .long), (.float, .double): return true
        case (.decimal(let p1, let s1), .decimal(let p2, let s2)): return s1 == s2 && p2 >= p1
        default: return self == wider
        }
    }
}

/// One field of an Iceberg schema.
public struct IcebergField: Sendable, Hashable {
    public var id: Int
    public var name: String
    public var required: Bool
    public var type: IcebergType
    public var doc: String?

    public init(id: Int, name: String, required: Bool, type: IcebergType, doc: String? = nil) {
        self.id = id
        self.name = name
        self.required = required
        self.type = type
        self.doc = doc
    }

    var json: AvroJSON {
        var pairs: [(String, AvroJSON)] = [
            ("id", .int(Int64(id))), ("name", .string(name)), ("required", .bool(required)), ("type", type.json),
        ]
        if let doc { pairs.append(("doc", .string(doc))) }
        return .object(pairs)
    }
}

/// An Iceberg table schema: a struct of fields with ids, and the identifier (primary-key) field ids.
public struct IcebergSchema: Sendable, Hashable {
    public var schemaId: Int
    public var fields: [IcebergField]
    public var identifierFieldIds: [Int]

    public init(schemaId: Int, fields: [IcebergField], identifierFieldIds: [Int] = []) {
        self.schemaId = schemaId
        self.fields = fields
        self.identifierFieldIds = identifierFieldIds
    }

    public func field(named name: String) -> IcebergField? { fields.first { $0.name == name } }
    public func field(id: Int) -> IcebergField? { fields.first { $0.id == id } }

    /// The highest field id used, including list element ids.
    public var highestFieldId: Int {
        var highest = 0
        for field in fields {
            highest = max(highest, field.id)
            if case .list(let elementId, _, _) = field.type { highest = max(highest, elementId) }
        }
        return highest
    }

    /// The schema's JSON form (in table metadata and in manifest headers).
    public var json: AvroJSON {
        var pairs: [(String, AvroJSON)] = [("type", .string("struct")), ("schema-id", .int(Int64(schemaId)))]
        if !identifierFieldIds.isEmpty {
            pairs.append(("identifier-field-ids", .array(identifierFieldIds.map { .int(Int64($0)) })))
        }
        pairs.append(("fields", .array(fields.map(\.json))))
        return .object(pairs)
    }

    public init(json: AvroJSON) throws {
        guard let fieldsJSON = json["fields"]?.arrayValue else {
            throw IcebergError(.corruptMetadata, "a schema in the table metadata has no 'fields'")
        }
        schemaId = Int(json["schema-id"]?.intValue ?? 0)
        identifierFieldIds = (json["identifier-field-ids"]?.arrayValue ?? []).compactMap { $0.intValue.map { Int($0) } }
        fields = try fieldsJSON.map { fieldJSON in
            guard let id = fieldJSON["id"]?.intValue, let name = fieldJSON["name"]?.stringValue,
                let type = fieldJSON["type"]
            else { throw IcebergError(.corruptMetadata, "a schema field lacks id, name or type") }
            return IcebergField(
                id: Int(id), name: name, required: fieldJSON["required"] == .bool(true),
                type: try IcebergType(json: type), doc: fieldJSON["doc"]?.stringValue)
        }
    }
}

/// How source column kinds map to Iceberg types.
public enum IcebergTypeMapping {
    /// The Iceberg type for a source column. Decimals without a precision or above 38 digits, intervals,
    /// times with zone and JSON become strings (exact text), since Iceberg has no type that holds them.
    public static func icebergType(for column: ColumnSchema, nextId: inout Int) -> IcebergType {
        if column.kind == .array {
            let element = scalarType(kind: column.elementKind ?? .string, precision: nil, scale: nil)
            let elementId = nextId
            nextId += 1
            return .list(elementId: elementId, element: element, elementRequired: false)
        }
        return scalarType(kind: column.kind, precision: column.precision, scale: column.scale)
    }

    static func scalarType(kind: ValueKind, precision: Int?, scale: Int?) -> IcebergType {
        switch kind {
        case .bool: return .boolean
        case .int: return .long
        case .double: return .double
        case .decimal:
            if let precision, precision >= 1, precision <= 38 {
                return .decimal(precision: precision, scale: min(max(scale ?? 0, 0), precision))
            }
            return .string
        // Times are text: PostgreSQL's 24:00:00 and MySQL's durations do not fit Iceberg's time of day, which
        // readers wrap silently (tables created before keep their `time` columns; see evolvedSchema).
        case .string, .json, .interval, .time, .timeTZ, .array: return .string
        case .bytes: return .binary
        case .date: return .date
        case .timestamp: return .timestamp
        case .timestampTZ: return .timestamptz
        case .uuid: return .uuid
        }
    }
}
