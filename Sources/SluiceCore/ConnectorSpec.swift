/// The one declaration of a connector's configuration: validation, `sluice connectors describe`,
/// the connector's README and error messages all come from it.
public struct ConnectorSpec: Sendable {
    public enum Role: String, Sendable { case source, sink }

    /// The name used as `type:` in pipeline files (`postgres`, `parquet`, …).
    public var name: String
    public var role: Role
    /// One line saying what the connector does.
    public var summary: String
    public var fields: [FieldSpec]

    public init(name: String, role: Role, summary: String, fields: [FieldSpec]) {
        self.name = name
        self.role = role
        self.summary = summary
        self.fields = fields
    }

    /// The field with that name.
    public func field(_ name: String) -> FieldSpec? { fields.first { $0.name == name } }
}

/// The type of a configuration field.
public indirect enum FieldType: Sendable, Hashable, CustomStringConvertible {
    case string
    case int
    case double
    case bool
    /// A duration such as `500ms`, `10s`, `5m`, `1h`, `7d` (or a number of seconds).
    case duration
    /// A size such as `512KiB`, `128MB`, `1GiB` (or a number of bytes).
    case size
    /// One of the listed strings.
    case oneOf([String])
    case list(FieldType)
    /// A map of string keys to values of one type.
    case map(FieldType)
    /// A nested object with its own fields.
    case object([FieldSpec])

    public var description: String {
        switch self {
        case .string: return "string"
        case .int: return "integer"
        case .double: return "number"
        case .bool: return "boolean"
        case .duration: return "duration"
        case .size: return "size"
        case .oneOf(let options): return "one of " + options.joined(separator: "|")
        case .list(let element): return "list of \(element)"
        case .map(let element): return "map of \(element)"
        case .object: return "object"
        }
    }
}

/// One configuration field of a connector.
public struct FieldSpec: Sendable, Hashable {
    public var name: String
    public var type: FieldType
    public var required: Bool
    /// The value used when the field is absent (nil: absent stays absent).
    public var defaultValue: ConfigValue?
    /// Secrets are never logged or printed; `describe` shows them as secret.
    public var secret: Bool
    public var description: String
    /// An example value, as it would be written in YAML.
    public var example: String?

    public init(
        _ name: String, _ type: FieldType, required: Bool = false, default defaultValue: ConfigValue? = nil,
        secret: Bool = false, description: String, example: String? = nil
    ) {
        self.name = name
        self.type = type
        self.required = required
        self.defaultValue = defaultValue
        self.secret = secret
        self.description = description
        self.example = example
    }
}

/// A configuration value after validation: typed, with defaults applied.
public indirect enum ConfigValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    /// Seconds.
    case duration(Double)
    /// Bytes.
    case size(Int64)
    case list([ConfigValue])
    case map([String: ConfigValue])

    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return String(b)
        case .duration(let s): return "\(s)s"
        case .size(let b): return "\(b)B"
        case .list(let l): return "[" + l.map(\.description).joined(separator: ", ") + "]"
        case .map(let m): return "{" + m.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        }
    }
}

/// A connector's validated configuration, with typed accessors. Keys are the spec's field names.
public struct ConnectorConfig: Sendable, Hashable {
    /// The connector's name in the pipeline (`sources.<name>`), used in logs and state keys.
    public var instanceName: String
    public var values: [String: ConfigValue]

    public init(instanceName: String, values: [String: ConfigValue]) {
        self.instanceName = instanceName
        self.values = values
    }

    public func string(_ key: String) -> String? {
        if case .string(let s)? = values[key] { return s }
        return nil
    }

    public func int(_ key: String) -> Int? {
        switch values[key] {
        case .int(let i)?: return i
        case .size(let s)?: return Int(s)
        default: return nil
        }
    }

    public func double(_ key: String) -> Double? {
        switch values[key] {
        case .double(let d)?: return d
        case .int(let i)?: return Double(i)
        case .duration(let d)?: return d
        default: return nil
        }
    }

    public func bool(_ key: String) -> Bool? {
        if case .bool(let b)? = values[key] { return b }
        return nil
    }

    /// A duration in seconds.
    public func duration(_ key: String) -> Double? {
        if case .duration(let d)? = values[key] { return d }
        return nil
    }

    /// A size in bytes.
    public func size(_ key: String) -> Int64? {
        if case .size(let s)? = values[key] { return s }
        return nil
    }

    public func strings(_ key: String) -> [String]? {
        guard case .list(let items)? = values[key] else { return nil }
        return items.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
    }

    public func object(_ key: String) -> ConnectorConfig? {
        guard case .map(let m)? = values[key] else { return nil }
        return ConnectorConfig(instanceName: instanceName, values: m)
    }
}

/// A Swift type that a configuration field's value reads as (`ConnectorConfig.value(_:of:)`).
public protocol ConfigFieldValue {
    /// The value, when `configValue` has this type (nil when it has another).
    init?(configValue: ConfigValue)
}

extension String: ConfigFieldValue {
    public init?(configValue: ConfigValue) {
        guard case .string(let s) = configValue else { return nil }
        self = s
    }
}

extension Bool: ConfigFieldValue {
    public init?(configValue: ConfigValue) {
        guard case .bool(let b) = configValue else { return nil }
        self = b
    }
}

extension Int: ConfigFieldValue {
    /// An integer, or a size in bytes.
    public init?(configValue: ConfigValue) {
        guard let value = Int64(configValue: configValue) else { return nil }
        self = Int(value)
    }
}

extension Int64: ConfigFieldValue {
    /// A size in bytes, or an integer.
    public init?(configValue: ConfigValue) {
        switch configValue {
        case .size(let s): self = s
        case .int(let i): self = Int64(i)
        default: return nil
        }
    }
}

extension Double: ConfigFieldValue {
    /// A number, or a duration in seconds.
    public init?(configValue: ConfigValue) {
        switch configValue {
        case .double(let d), .duration(let d): self = d
        case .int(let i): self = Double(i)
        default: return nil
        }
    }
}

extension Array: ConfigFieldValue where Element: ConfigFieldValue {
    /// A list whose every element has the element type.
    public init?(configValue: ConfigValue) {
        guard case .list(let items) = configValue else { return nil }
        var elements: [Element] = []
        elements.reserveCapacity(items.count)
        for item in items {
            guard let element = Element(configValue: item) else { return nil }
            elements.append(element)
        }
        self = elements
    }
}

extension ConnectorConfig {
    /// Where `key` of this connector stands in a pipeline file: `sources.NAME.key` or `sinks.NAME.key`.
    public func location(of key: String, in spec: ConnectorSpec) -> String {
        "\(spec.role == .source ? "sources" : "sinks").\(instanceName).\(key)"
    }

    /// The value of `key`, else the default that `spec` declares for it; nil when there is neither.
    ///
    /// Throws when the value is not a `T` (naming the key's place in the pipeline file), or when `spec` does not
    /// declare `key` at all (a connector reading a field it never declared).
    public func value<T: ConfigFieldValue>(_ key: String, of spec: ConnectorSpec, as type: T.Type = T.self) throws
        -> T?
    {
        guard let field = spec.field(key) else {
            throw SluiceError(.invalidConfiguration, "the \(spec.name) connector reads `\(key)`, which its spec "
                + "does not declare", location: location(of: key, in: spec),
                hint: "Declare the field in the connector's ConnectorSpec")
        }
        guard let value = values[key] ?? field.defaultValue else { return nil }
        guard let typed = T(configValue: value) else {
            throw SluiceError(.invalidConfiguration, "`\(key)` must be a \(field.type)",
                              location: location(of: key, in: spec), hint: "Write a \(field.type) for \(key)")
        }
        return typed
    }

    /// The value of a field that is required or has a default in `spec`; throws naming the key when it is absent.
    public func required<T: ConfigFieldValue>(_ key: String, of spec: ConnectorSpec, as type: T.Type = T.self) throws
        -> T
    {
        guard let value = try value(key, of: spec, as: T.self) else {
            throw SluiceError(.invalidConfiguration, "the \(spec.name) \(spec.role.rawValue) needs `\(key)`",
                              location: location(of: key, in: spec),
                              hint: "Set \(key) (\(spec.field(key)?.type.description ?? "a value"))")
        }
        return value
    }
}

extension ConnectorConfig {
    /// A `.oneOf` field read as an enum (its value or the spec's default); throws naming the key for a value the
    /// enum does not have.
    public func choice<T: RawRepresentable>(_ key: String, of spec: ConnectorSpec, as type: T.Type = T.self) throws
        -> T where T.RawValue == String
    {
        let text: String = try required(key, of: spec)
        guard let value = T(rawValue: text) else {
            throw SluiceError(.invalidConfiguration, "unknown \(key) '\(text)'", location: location(of: key, in: spec),
                              hint: "Use \(spec.field(key)?.type.description ?? "a known value")")
        }
        return value
    }
}
