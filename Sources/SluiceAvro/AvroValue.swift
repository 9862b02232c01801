/// One Avro datum. Unions are transparent: a union holds its branch's value directly, and the writer picks the
/// branch whose type matches (`.null` for the null branch).
public indirect enum AvroValue: Sendable, Hashable {
    case null
    case boolean(Bool)
    case int(Int32)
    case long(Int64)
    case float(Float)
    case double(Double)
    case bytes([UInt8])
    case string(String)
    case fixed([UInt8])
    /// An enum symbol's index.
    case enumeration(Int)
    /// Field values in the record schema's field order.
    case record([AvroValue])
    case array([AvroValue])
    /// A map with string keys, in order.
    case map([AvroMapEntry])

    /// The integer of `.int` or `.long`.
    public var integer: Int64? {
        switch self {
        case .int(let v): return Int64(v)
        case .long(let v): return v
        default: return nil
        }
    }

    /// The text of `.string`.
    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The bytes of `.bytes` or `.fixed`.
    public var byteArray: [UInt8]? {
        switch self {
        case .bytes(let b), .fixed(let b): return b
        default: return nil
        }
    }

    /// The fields of `.record`.
    public var fields: [AvroValue]? {
        if case .record(let f) = self { return f }
        return nil
    }

    /// The items of `.array`.
    public var items: [AvroValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// One entry of an Avro map.
public struct AvroMapEntry: Sendable, Hashable {
    public var key: String
    public var value: AvroValue

    public init(_ key: String, _ value: AvroValue) {
        self.key = key
        self.value = value
    }
}

extension AvroValue {
    /// The value of a record field by name, given the record's schema.
    public func field(_ name: String, in schema: AvroRecord) -> AvroValue? {
        guard case .record(let values) = self, let index = schema.fieldIndex(name), index < values.count else {
            return nil
        }
        return values[index]
    }
}
