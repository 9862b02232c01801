// SluiceAvro: Avro's binary encoding, schemas and object container files (read and write), as Iceberg's
// manifests and manifest lists need them.

import SluiceCore

/// Avro's binary encoding of data: zig-zag varints, little-endian floats, length-prefixed bytes.
public struct AvroBinaryEncoder: Sendable {
    /// The encoded bytes so far.
    public var bytes: [UInt8] = []

    public init() {}

    public mutating func writeLong(_ value: Int64) {
        var zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        while zigzag >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: zigzag) | 0x80)
            zigzag >>= 7
        }
        bytes.append(UInt8(zigzag))
    }

    public mutating func writeBytes(_ value: some Collection<UInt8>) {
        writeLong(Int64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func writeString(_ value: String) {
        writeBytes(value.utf8)
    }

    /// Encodes `value` as `schema`; throws when the value does not fit.
    public mutating func write(_ value: AvroValue, as schema: AvroSchema) throws {
        switch (schema, value) {
        case (.null, .null): break
        case (.boolean, .boolean(let b)): bytes.append(b ? 1 : 0)
        case (.int, .int(let v)): writeLong(Int64(v))
        case (.int, .long(let v)) where Int64(Int32(truncatingIfNeeded: v)) == v: writeLong(v)
        case (.long, .long(let v)): writeLong(v)
        case (.long, .int(let v)): writeLong(Int64(v))
        case (.float, .float(let v)): appendLittleEndian(UInt64(v.bitPattern), count: 4)
        case (.double, .double(let v)): appendLittleEndian(v.bitPattern, count: 8)
        case (.double, .float(let v)): appendLittleEndian(Double(v).bitPattern, count: 8)
        case (.bytes, .bytes(let b)), (.bytes, .fixed(let b)): writeBytes(b)
        case (.string, .string(let s)): writeString(s)
        case (.logical(let base, _, _), _): try write(value, as: base)
        case (.fixed(let fixed), .fixed(let b)), (.fixed(let fixed), .bytes(let b)):
            guard b.count == fixed.size else {
                throw AvroError(.valueMismatch, "fixed \(fixed.name) needs \(fixed.size) bytes, got \(b.count)")
            }
            bytes.append(contentsOf: b)
        case (.enumeration(let enumeration), .enumeration(let index)):
            guard index >= 0 && index < enumeration.symbols.count else {
                throw AvroError(.valueMismatch, "enum \(enumeration.name) has no symbol \(index)")
            }
            writeLong(Int64(index))
        case (.record(let record), .record(let values)):
            guard values.count == record.fields.count else {
                throw AvroError(
                    .valueMismatch,
                    "record \(record.name) has \(record.fields.count) fields, got \(values.count) values")
            }
            for (field, fieldValue) in zip(record.fields, values) {
                do {
                    try write(fieldValue, as: field.type)
                } catch let error as AvroError where error.code == .valueMismatch && !error.message.contains(" in ") {
                    throw AvroError(.valueMismatch, "\(error.message) in \(record.name).\(field.name)")
                }
            }
        case (.array(let array), .array(let items)):
            if !items.isEmpty {
                writeLong(Int64(items.count))
                for item in items { try write(item, as: array.items) }
            }
            writeLong(0)
        case (.map(let valueSchema), .map(let entries)):
            if !entries.isEmpty {
                writeLong(Int64(entries.count))
                for entry in entries {
                    writeString(entry.key)
                    try write(entry.value, as: valueSchema)
                }
            }
            writeLong(0)
        case (.union(let branches), _):
            guard let index = branches.firstIndex(where: { Self.matches(value, $0) }) else {
                throw AvroError(.valueMismatch, "no branch of the union \(schema.json.text) takes \(value.kindName)")
            }
            writeLong(Int64(index))
            try write(value, as: branches[index])
        default:
            throw AvroError(.valueMismatch, "\(value.kindName) does not fit \(schema.json.text)")
        }
    }

    private mutating func appendLittleEndian(_ value: UInt64, count: Int) {
        for shift in 0..<count { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(shift)))) }
    }

    /// Whether a union branch takes the value.
    static func matches(_ value: AvroValue, _ schema: AvroSchema) -> Bool {
        switch (schema.base, value) {
        case (.null, .null), (.boolean, .boolean), (.int, .int), (.long, .long), (.long, .int), (.float, .float),
            (.double, .double), (.bytes, .bytes), (.string, .string), (.fixed, .fixed), (.record, .record),
            (.array, .array), (.map, .map), (.enumeration, .enumeration):
            return true
        default:
            return false
        }
    }
}

extension AvroValue {
    var kindName: String {
        switch self {
        case .null: return "null"
        case .boolean: return "a boolean"
        case .int: return "an int"
        case .long: return "a long"
        case .float: return "a float"
        case .double: return "a double"
        case .bytes: return "bytes"
        case .string: return "a string"
        case .fixed: return "a fixed"
        case .enumeration: return "an enum symbol"
        case .record: return "a record"
        case .array: return "an array"
        case .map: return "a map"
        }
    }
}

/// Reads Avro's binary encoding from a byte buffer (through `SluiceCore.ByteReader`).
public struct AvroBinaryDecoder {
    private var reader: ByteReader<[UInt8]>

    public init(bytes: [UInt8], position: Int = 0, end: Int? = nil) {
        reader = ByteReader(bytes, from: position, to: end)
    }

    public var bytes: [UInt8] { reader.bytes }
    /// Where the next read starts.
    public var position: Int { reader.offset }
    public var isAtEnd: Bool { reader.isAtEnd }

    /// Runs one read; data that ends early or is malformed is corrupt data.
    @inline(__always)
    private mutating func reading<T>(_ read: (inout ByteReader<[UInt8]>) throws -> T) throws -> T {
        do {
            return try read(&reader)
        } catch let failure as DecodingFailure {
            throw AvroError(.corruptData, failure.description)
        }
    }

    public mutating func readLong() throws -> Int64 {
        try reading { try $0.zigZagVarInt() }
    }

    public mutating func readFixed(_ count: Int) throws -> [UInt8] {
        try reading { try $0.array(count) }
    }

    public mutating func readBytes() throws -> [UInt8] {
        let count = try readLong()
        guard count >= 0 && count <= Int64(reader.remaining) else {
            throw AvroError(.corruptData, "a length of \(count) at \(position) runs past the end of the data")
        }
        return try readFixed(Int(count))
    }

    private mutating func readLittleEndian(_ count: Int) throws -> UInt64 {
        try reading { try $0.le(count) }
    }

    /// Reads a block count of an array or map (a negative count is followed by the block's byte size).
    private mutating func readBlockCount() throws -> Int64 {
        var count = try readLong()
        if count < 0 {
            count = -count
            _ = try readLong()
        }
        guard count <= Int64(reader.remaining) else {
            throw AvroError(.corruptData, "a block claims \(count) items, more than the bytes left")
        }
        return count
    }

    /// Decodes one datum written with `schema`.
    public mutating func read(_ schema: AvroSchema) throws -> AvroValue {
        switch schema {
        case .null: return .null
        case .boolean:
            let b = try readFixed(1)[0]
            return .boolean(b != 0)
        case .int:
            let v = try readLong()
            guard let narrow = Int32(exactly: v) else { throw AvroError(.corruptData, "int out of range: \(v)") }
            return .int(narrow)
        case .long: return .long(try readLong())
        case .float: return .float(Float(bitPattern: UInt32(try readLittleEndian(4))))
        case .double: return .double(Double(bitPattern: try readLittleEndian(8)))
        case .bytes: return .bytes(try readBytes())
        case .string:
            let raw = try readBytes()
            return .string(String(decoding: raw, as: UTF8.self))
        case .logical(let base, _, _): return try read(base)
        case .fixed(let fixed): return .fixed(try readFixed(fixed.size))
        case .enumeration(let enumeration):
            let index = try readLong()
            guard index >= 0 && index < enumeration.symbols.count else {
                throw AvroError(.corruptData, "enum \(enumeration.name) has no symbol \(index)")
            }
            return .enumeration(Int(index))
        case .record(let record):
            var values: [AvroValue] = []
            values.reserveCapacity(record.fields.count)
            for field in record.fields { values.append(try read(field.type)) }
            return .record(values)
        case .array(let array):
            var items: [AvroValue] = []
            while true {
                let count = try readBlockCount()
                if count == 0 { break }
                for _ in 0..<count { items.append(try read(array.items)) }
            }
            return .array(items)
        case .map(let valueSchema):
            var entries: [AvroMapEntry] = []
            while true {
                let count = try readBlockCount()
                if count == 0 { break }
                for _ in 0..<count {
                    let key = String(decoding: try readBytes(), as: UTF8.self)
                    entries.append(AvroMapEntry(key, try read(valueSchema)))
                }
            }
            return .map(entries)
        case .union(let branches):
            let index = try readLong()
            guard index >= 0 && index < branches.count else {
                throw AvroError(.corruptData, "union branch \(index) does not exist (\(branches.count) branches)")
            }
            return try read(branches[Int(index)])
        }
    }
}
