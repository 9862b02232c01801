/// An Avro schema, with the attributes Iceberg adds (`field-id`, `element-id`, `logicalType: map`).
public indirect enum AvroSchema: Sendable, Hashable {
    case null
    case boolean
    case int
    case long
    case float
    case double
    case bytes
    case string
    /// A primitive with a logical type (`date`, `timestamp-micros`, `uuid`, `decimal`, …) and its extra
    /// attributes (`precision`, `scale`, `adjust-to-utc`, …). The binary form is the base type's.
    case logical(base: AvroSchema, logicalType: String, attributes: [AvroAttribute])
    case fixed(AvroFixed)
    case enumeration(AvroEnum)
    case record(AvroRecord)
    case array(AvroArray)
    /// A map with string keys.
    case map(values: AvroSchema)
    case union([AvroSchema])

    /// `["null", schema]`: the way Avro writes an optional value.
    public static func optional(_ schema: AvroSchema) -> AvroSchema { .union([.null, schema]) }

    /// The schema without its logical annotation.
    public var base: AvroSchema {
        if case .logical(let base, _, _) = self { return base.base }
        return self
    }

    /// The non-null branch of an optional (`["null", X]` or `[X, "null"]`), or nil.
    public var optionalBranch: AvroSchema? {
        guard case .union(let branches) = self, branches.count == 2 else { return nil }
        if branches[0] == .null { return branches[1] }
        if branches[1] == .null { return branches[0] }
        return nil
    }
}

/// A key and JSON value attached to a schema (logical-type parameters and other properties).
public struct AvroAttribute: Sendable, Hashable {
    public var key: String
    public var value: AvroJSON

    public init(_ key: String, _ value: AvroJSON) {
        self.key = key
        self.value = value
    }
}

/// A fixed-size byte string type.
public struct AvroFixed: Sendable, Hashable {
    public var name: String
    public var size: Int
    /// A logical type on the fixed (`decimal`, `uuid`), with its attributes.
    public var logicalType: String?
    public var attributes: [AvroAttribute]

    public init(name: String, size: Int, logicalType: String? = nil, attributes: [AvroAttribute] = []) {
        self.name = name
        self.size = size
        self.logicalType = logicalType
        self.attributes = attributes
    }
}

/// An enum type: a value is one of the symbols, written as its index.
public struct AvroEnum: Sendable, Hashable {
    public var name: String
    public var symbols: [String]

    public init(name: String, symbols: [String]) {
        self.name = name
        self.symbols = symbols
    }
}

/// An array type. Iceberg sets `element-id`; maps with non-string keys are arrays of key/value records with
/// `logicalType: "map"`.
public struct AvroArray: Sendable, Hashable {
    public var items: AvroSchema
    public var elementId: Int?
    public var logicalType: String?

    public init(items: AvroSchema, elementId: Int? = nil, logicalType: String? = nil) {
        self.items = items
        self.elementId = elementId
        self.logicalType = logicalType
    }
}

/// A record type: named, with ordered fields.
public struct AvroRecord: Sendable, Hashable {
    public var name: String
    public var namespace: String?
    public var doc: String?
    public var fields: [AvroField]

    public init(name: String, namespace: String? = nil, doc: String? = nil, fields: [AvroField]) {
        self.name = name
        self.namespace = namespace
        self.doc = doc
        self.fields = fields
    }

    /// The index of a field by name.
    public func fieldIndex(_ name: String) -> Int? { fields.firstIndex { $0.name == name } }
}

/// A record field, with Iceberg's `field-id` when it has one.
public struct AvroField: Sendable, Hashable {
    public var name: String
    public var type: AvroSchema
    public var fieldId: Int?
    public var doc: String?
    /// The default value as JSON (`.null` for optional fields that default to null); nil: no default.
    public var defaultValue: AvroJSON?

    public init(name: String, type: AvroSchema, fieldId: Int? = nil, doc: String? = nil, defaultValue: AvroJSON? = nil)
    {
        self.name = name
        self.type = type
        self.fieldId = fieldId
        self.doc = doc
        self.defaultValue = defaultValue
    }

    /// An optional field (`["null", type]`, default null), as Iceberg writes optional fields.
    public static func optional(
        _ name: String, _ type: AvroSchema, fieldId: Int? = nil, doc: String? = nil
    ) -> AvroField {
        AvroField(name: name, type: .optional(type), fieldId: fieldId, doc: doc, defaultValue: .null)
    }
}

// MARK: - JSON form

extension AvroSchema {
    /// The schema's JSON form (what `avro.schema` holds).
    public var json: AvroJSON {
        switch self {
        case .null: return .string("null")
        case .boolean: return .string("boolean")
        case .int: return .string("int")
        case .long: return .string("long")
        case .float: return .string("float")
        case .double: return .string("double")
        case .bytes: return .string("bytes")
        case .string: return .string("string")
        case .logical(let base, let logicalType, let attributes):
            var pairs: [(String, AvroJSON)] = [("type", base.json), ("logicalType", .string(logicalType))]
            pairs += attributes.map { ($0.key, $0.value) }
            return .object(pairs)
        case .fixed(let fixed):
            var pairs: [(String, AvroJSON)] = [
                ("type", .string("fixed")), ("name", .string(fixed.name)), ("size", .int(Int64(fixed.size))),
            ]
            if let logicalType = fixed.logicalType { pairs.append(("logicalType", .string(logicalType))) }
            pairs += fixed.attributes.map { ($0.key, $0.value) }
            return .object(pairs)
        case .enumeration(let enumeration):
            return .object([
                ("type", .string("enum")), ("name", .string(enumeration.name)),
                ("symbols", .array(enumeration.symbols.map { .string($0) })),
            ])
        case .record(let record):
            var pairs: [(String, AvroJSON)] = [("type", .string("record")), ("name", .string(record.name))]
            if let namespace = record.namespace { pairs.append(("namespace", .string(namespace))) }
            if let doc = record.doc { pairs.append(("doc", .string(doc))) }
            pairs.append(("fields", .array(record.fields.map(\.json))))
            return .object(pairs)
        case .array(let array):
            var pairs: [(String, AvroJSON)] = [("type", .string("array"))]
            if let logicalType = array.logicalType { pairs.append(("logicalType", .string(logicalType))) }
            pairs.append(("items", array.items.json))
            if let elementId = array.elementId { pairs.append(("element-id", .int(Int64(elementId)))) }
            return .object(pairs)
        case .map(let values):
            return .object([("type", .string("map")), ("values", values.json)])
        case .union(let branches):
            return .array(branches.map(\.json))
        }
    }

    /// Parses a schema from its JSON form.
    public init(json: AvroJSON) throws {
        var named: [String: AvroSchema] = [:]
        self = try Self.parse(json, named: &named)
    }

    /// Parses a schema from JSON text.
    public init(jsonText: String) throws {
        try self.init(json: try AvroJSON.parseAvro(jsonText))
    }

    private static func parse(_ json: AvroJSON, named: inout [String: AvroSchema]) throws -> AvroSchema {
        switch json {
        case .string(let name):
            switch name {
            case "null": return .null
            case "boolean": return .boolean
            case "int": return .int
            case "long": return .long
            case "float": return .float
            case "double": return .double
            case "bytes": return .bytes
            case "string": return .string
            default:
                if let schema = named[name] ?? named.first(where: { $0.key.hasSuffix("." + name) })?.value {
                    return schema
                }
                throw AvroError(.invalidSchema, "unknown type name '\(name)'")
            }
        case .array(let branches):
            return .union(try branches.map { try parse($0, named: &named) })
        case .object(let pairs):
            guard let typeJSON = json["type"] else { throw AvroError(.invalidSchema, "a schema object needs 'type'") }
            let attributes = pairs.filter {
                !["type", "logicalType", "name", "namespace", "size", "doc", "aliases"].contains($0.0)
            }.map { AvroAttribute($0.0, $0.1) }
            guard let type = typeJSON.stringValue else {
                // {"type": {...}} nests a schema.
                return try parse(typeJSON, named: &named)
            }
            let logicalType = json["logicalType"]?.stringValue
            switch type {
            case "record", "error":
                guard let name = json["name"]?.stringValue, let fieldsJSON = json["fields"]?.arrayValue else {
                    throw AvroError(.invalidSchema, "a record schema needs 'name' and 'fields'")
                }
                var fields: [AvroField] = []
                for fieldJSON in fieldsJSON {
                    guard let fieldName = fieldJSON["name"]?.stringValue, let fieldType = fieldJSON["type"] else {
                        throw AvroError(.invalidSchema, "record \(name): every field needs 'name' and 'type'")
                    }
                    fields.append(
                        AvroField(
                            name: fieldName, type: try parse(fieldType, named: &named),
                            fieldId: fieldJSON["field-id"]?.intValue.map { Int($0) },
                            doc: fieldJSON["doc"]?.stringValue, defaultValue: fieldJSON["default"]))
                }
                let record = AvroRecord(
                    name: name, namespace: json["namespace"]?.stringValue, doc: json["doc"]?.stringValue,
                    fields: fields)
                named[name] = .record(record)
                return .record(record)
            case "enum":
                guard let name = json["name"]?.stringValue, let symbols = json["symbols"]?.arrayValue else {
                    throw AvroError(.invalidSchema, "an enum schema needs 'name' and 'symbols'")
                }
                let schema = AvroSchema.enumeration(AvroEnum(name: name, symbols: symbols.compactMap(\.stringValue)))
                named[name] = schema
                return schema
            case "fixed":
                guard let name = json["name"]?.stringValue, let size = json["size"]?.intValue, size >= 0 else {
                    throw AvroError(.invalidSchema, "a fixed schema needs 'name' and 'size'")
                }
                let schema = AvroSchema.fixed(
                    AvroFixed(
                        name: name, size: Int(size), logicalType: logicalType,
                        attributes: attributes.filter { $0.key != "fields" }))
                named[name] = schema
                return schema
            case "array":
                guard let items = json["items"] else {
                    throw AvroError(.invalidSchema, "an array schema needs 'items'")
                }
                return .array(
                    AvroArray(
                        items: try parse(items, named: &named), elementId: json["element-id"]?.intValue.map { Int($0) },
                        logicalType: logicalType))
            case "map":
                guard let values = json["values"] else {
                    throw AvroError(.invalidSchema, "a map schema needs 'values'")
                }
                return .map(values: try parse(values, named: &named))
            default:
                let base = try parse(.string(type), named: &named)
                if let logicalType {
                    return .logical(base: base, logicalType: logicalType, attributes: attributes)
                }
                return base
            }
        default:
            throw AvroError(.invalidSchema, "a schema must be a string, an object or an array, not \(json.text)")
        }
    }
}

extension AvroField {
    /// The field's JSON form.
    public var json: AvroJSON {
        var pairs: [(String, AvroJSON)] = [("name", .string(name))]
        if let doc { pairs.append(("doc", .string(doc))) }
        pairs.append(("type", type.json))
        if let defaultValue { pairs.append(("default", defaultValue)) }
        if let fieldId { pairs.append(("field-id", .int(Int64(fieldId)))) }
        return .object(pairs)
    }
}
