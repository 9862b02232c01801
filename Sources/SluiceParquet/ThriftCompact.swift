/// Thrift compact-protocol wire types (the low nibble of a field header or a list header).
enum ThriftCompactType: UInt8 {
    case stop = 0
    case booleanTrue = 1
    case booleanFalse = 2
    case byte = 3
    case i16 = 4
    case i32 = 5
    case i64 = 6
    case double = 7
    case binary = 8
    case list = 9
    case set = 10
    case map = 11
    case structure = 12
}

/// Encodes Thrift structures in the compact protocol, as Parquet footers and page headers use it.
///
/// Callers write fields in increasing id order inside `writeStruct`; field ids are delta-encoded against the
/// previous field of the same struct.
struct ThriftCompactWriter {
    private(set) var bytes: [UInt8] = []
    private var lastFieldId: Int16 = 0
    private var lastFieldIdStack: [Int16] = []

    init() {
        bytes.reserveCapacity(256)
    }

    mutating func writeStruct(fieldId: Int16, _ body: (inout ThriftCompactWriter) -> Void) {
        writeFieldHeader(fieldId: fieldId, type: .structure)
        writeStructBody(body)
    }

    /// Writes a struct's fields and stop byte without a field header (top-level structs, list elements).
    mutating func writeStructBody(_ body: (inout ThriftCompactWriter) -> Void) {
        lastFieldIdStack.append(lastFieldId)
        lastFieldId = 0
        body(&self)
        bytes.append(ThriftCompactType.stop.rawValue)
        lastFieldId = lastFieldIdStack.removeLast()
    }

    mutating func writeBool(fieldId: Int16, _ value: Bool) {
        writeFieldHeader(fieldId: fieldId, type: value ? .booleanTrue : .booleanFalse)
    }

    mutating func writeI8(fieldId: Int16, _ value: Int8) {
        writeFieldHeader(fieldId: fieldId, type: .byte)
        bytes.append(UInt8(bitPattern: value))
    }

    mutating func writeI16(fieldId: Int16, _ value: Int16) {
        writeFieldHeader(fieldId: fieldId, type: .i16)
        writeVarint(zigzag(Int64(value)))
    }

    mutating func writeI32(fieldId: Int16, _ value: Int32) {
        writeFieldHeader(fieldId: fieldId, type: .i32)
        writeVarint(zigzag(Int64(value)))
    }

    mutating func writeI64(fieldId: Int16, _ value: Int64) {
        writeFieldHeader(fieldId: fieldId, type: .i64)
        writeVarint(zigzag(value))
    }

    mutating func writeBinary(fieldId: Int16, _ value: [UInt8]) {
        writeFieldHeader(fieldId: fieldId, type: .binary)
        writeBinaryValue(value)
    }

    mutating func writeString(fieldId: Int16, _ value: String) {
        writeBinary(fieldId: fieldId, Array(value.utf8))
    }

    mutating func writeList<Element>(
        fieldId: Int16, elementType: ThriftCompactType, _ elements: [Element],
        _ writeElement: (inout ThriftCompactWriter, Element) -> Void
    ) {
        writeFieldHeader(fieldId: fieldId, type: .list)
        if elements.count < 15 {
            bytes.append(UInt8(elements.count) << 4 | elementType.rawValue)
        } else {
            bytes.append(0xF0 | elementType.rawValue)
            writeVarint(UInt64(elements.count))
        }
        for element in elements {
            writeElement(&self, element)
        }
    }

    mutating func writeI32Element(_ value: Int32) {
        writeVarint(zigzag(Int64(value)))
    }

    mutating func writeBinaryValue(_ value: [UInt8]) {
        writeVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    private mutating func writeFieldHeader(fieldId: Int16, type: ThriftCompactType) {
        let delta = Int(fieldId) - Int(lastFieldId)
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            writeVarint(zigzag(Int64(fieldId)))
        }
        lastFieldId = fieldId
    }

    private mutating func writeVarint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    private func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }
}

/// Decodes Thrift compact-protocol structures from bytes, skipping fields it does not know.
struct ThriftCompactReader {
    private let bytes: [UInt8]
    private(set) var position: Int
    private var lastFieldId: Int16 = 0
    private var lastFieldIdStack: [Int16] = []
    private var pendingBoolValue: Bool?

    init(bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    /// Reads a struct: calls `field` for every field header until the stop byte; `field` must consume the value
    /// (or call `skip`).
    mutating func readStruct(
        _ field: (inout ThriftCompactReader, Int16, ThriftCompactType) throws(ParquetError) -> Void
    ) throws(ParquetError) {
        lastFieldIdStack.append(lastFieldId)
        lastFieldId = 0
        while true {
            let header = try readByte()
            if header == 0 {
                break
            }
            guard let type = ThriftCompactType(rawValue: header & 0x0F) else {
                throw corrupt("unknown field type \(header & 0x0F)")
            }
            let delta = Int16(header >> 4)
            let fieldId: Int16
            if delta != 0 {
                fieldId = lastFieldId &+ delta
            } else {
                fieldId = Int16(truncatingIfNeeded: unzigzag(try readVarint()))
            }
            lastFieldId = fieldId
            if type == .booleanTrue || type == .booleanFalse {
                pendingBoolValue = type == .booleanTrue
            }
            try field(&self, fieldId, type)
            pendingBoolValue = nil
        }
        lastFieldId = lastFieldIdStack.removeLast()
    }

    mutating func readBool() throws(ParquetError) -> Bool {
        if let value = pendingBoolValue {
            pendingBoolValue = nil
            return value
        }
        return try readByte() == ThriftCompactType.booleanTrue.rawValue
    }

    mutating func readI8() throws(ParquetError) -> Int8 {
        Int8(bitPattern: try readByte())
    }

    mutating func readI16() throws(ParquetError) -> Int16 {
        Int16(truncatingIfNeeded: unzigzag(try readVarint()))
    }

    mutating func readI32() throws(ParquetError) -> Int32 {
        Int32(truncatingIfNeeded: unzigzag(try readVarint()))
    }

    mutating func readI64() throws(ParquetError) -> Int64 {
        unzigzag(try readVarint())
    }

    mutating func readBinary() throws(ParquetError) -> [UInt8] {
        let length = Int(try readVarint())
        guard length >= 0, length <= bytes.count - position else {
            throw corrupt("binary length \(length) runs past the end")
        }
        defer { position += length }
        return Array(bytes[position..<position + length])
    }

    mutating func readString() throws(ParquetError) -> String {
        String(decoding: try readBinary(), as: UTF8.self)
    }

    mutating func readList<Element>(
        _ readElement: (inout ThriftCompactReader) throws(ParquetError) -> Element
    ) throws(ParquetError) -> [Element] {
        let (count, _) = try readListHeader()
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0..<count {
            elements.append(try readElement(&self))
        }
        return elements
    }

    /// Skips the value of a field or list element of the given type.
    mutating func skip(_ type: ThriftCompactType) throws(ParquetError) {
        switch type {
        case .stop:
            return
        case .booleanTrue, .booleanFalse:
            if pendingBoolValue != nil {
                pendingBoolValue = nil
            } else {
                _ = try readByte()
            }
        case .byte:
            _ = try readByte()
        case .i16, .i32, .i64:
            _ = try readVarint()
        case .double:
            try advance(8)
        case .binary:
            let length = Int(try readVarint())
            try advance(length)
        case .list, .set:
            let (count, elementType) = try readListHeader()
            for _ in 0..<count {
                try skip(elementType)
            }
        case .map:
            let count = Int(try readVarint())
            if count > 0 {
                let types = try readByte()
                guard let keyType = ThriftCompactType(rawValue: types >> 4),
                    let valueType = ThriftCompactType(rawValue: types & 0x0F)
                else {
                    throw corrupt("unknown map element types \(types)")
                }
                for _ in 0..<count {
                    try skip(keyType)
                    try skip(valueType)
                }
            }
        case .structure:
            try readStruct { reader, _, fieldType throws(ParquetError) in try reader.skip(fieldType) }
        }
    }

    private mutating func readListHeader() throws(ParquetError) -> (Int, ThriftCompactType) {
        let header = try readByte()
        guard let elementType = ThriftCompactType(rawValue: header & 0x0F) else {
            throw corrupt("unknown list element type \(header & 0x0F)")
        }
        var count = Int(header >> 4)
        if count == 15 {
            count = Int(try readVarint())
        }
        guard count >= 0, count <= bytes.count - position else {
            throw corrupt("list of \(count) elements runs past the end")
        }
        return (count, elementType)
    }

    private mutating func readByte() throws(ParquetError) -> UInt8 {
        guard position < bytes.count else {
            throw corrupt("unexpected end of data")
        }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func advance(_ count: Int) throws(ParquetError) {
        guard count >= 0, count <= bytes.count - position else {
            throw corrupt("value of \(count) bytes runs past the end")
        }
        position += count
    }

    private mutating func readVarint() throws(ParquetError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                return result
            }
            shift += 7
            guard shift < 64 else {
                throw corrupt("varint longer than 10 bytes")
            }
        }
    }

    private func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }

    private func corrupt(_ detail: String) -> ParquetError {
        ParquetError(
            code: .corruptMetadata,
            message: "Thrift compact data is malformed at byte \(position): \(detail); the file is damaged or not "
                + "a Parquet file")
    }
}
