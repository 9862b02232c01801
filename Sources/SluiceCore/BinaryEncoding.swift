// SluiceCore: the change model (values, schemas, events, positions), its binary and JSON encodings, errors, and
// the concurrency primitives (`BlockingExecutor`, `ThreadExecutor`, `BoundedChannel`) every other target builds on.

import Foundation

/// Appends the log's compact binary encoding to a byte buffer: LEB128 varints, zig-zag signed integers,
/// length-prefixed strings and bytes.
///
/// A value type over its own growable buffer (copied on write), so that the per-byte path of encoding is a
/// capacity check and a store.
public struct BinaryWriter: Sendable {
    private var storage: ByteStorage

    public init(capacity: Int = 256) {
        storage = ByteStorage(capacity: capacity)
    }

    /// The bytes written so far (a copy).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Number of bytes written so far.
    public var count: Int { storage.count }

    /// Calls `body` with the bytes written so far, valid only inside the call.
    public func withUnsafeBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }

    /// Room for `n` more bytes; returns where they go. The caller then advances `storage.count`.
    @inline(__always)
    private mutating func reserve(_ n: Int) -> UnsafeMutablePointer<UInt8> {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        if storage.count + n > storage.capacity { storage.grow(toAtLeast: storage.count + n) }
        return storage.base + storage.count
    }

    public mutating func writeByte(_ b: UInt8) {
        reserve(1).pointee = b
        storage.count += 1
    }

    /// Empties the buffer, keeping its capacity (for a writer reused from value to value).
    public mutating func removeAll() {
        _ = reserve(0)
        storage.count = 0
    }

    public mutating func writeVarUInt(_ value: UInt64) {
        var out = reserve(10)
        var v = value
        while v >= 0x80 {
            out.pointee = UInt8(truncatingIfNeeded: v) | 0x80
            out += 1
            v >>= 7
        }
        out.pointee = UInt8(v)
        storage.count = out + 1 - storage.base
    }

    public mutating func writeVarInt(_ value: Int64) {
        writeVarUInt(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    public mutating func writeFixed64(_ value: UInt64) {
        UnsafeMutableRawPointer(reserve(8)).storeBytes(of: value.littleEndian, as: UInt64.self)
        storage.count += 8
    }

    public mutating func writeFixed64BigEndian(_ value: UInt64) {
        UnsafeMutableRawPointer(reserve(8)).storeBytes(of: value.bigEndian, as: UInt64.self)
        storage.count += 8
    }

    /// Appends bytes as they are (no length prefix).
    public mutating func writeRaw(_ data: UnsafeBufferPointer<UInt8>) {
        guard let source = data.baseAddress, !data.isEmpty else { return }
        reserve(data.count).update(from: source, count: data.count)
        storage.count += data.count
    }

    /// Appends bytes as they are (no length prefix).
    public mutating func writeRaw(_ data: [UInt8]) {
        data.withUnsafeBufferPointer { writeRaw($0) }
    }

    /// Appends a copy of bytes written before.
    public mutating func repeatBytes(_ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= storage.count, "range outside the bytes written")
        let out = reserve(range.count)
        out.update(from: storage.base + range.lowerBound, count: range.count)
        storage.count += range.count
    }

    /// Drops everything written after the first `count` bytes.
    public mutating func truncate(to count: Int) {
        precondition(count >= 0 && count <= storage.count, "cannot truncate to \(count) of \(storage.count) bytes")
        _ = reserve(0)
        storage.count = count
    }

    public mutating func writeBytes(_ data: [UInt8]) {
        writeVarUInt(UInt64(data.count))
        writeRaw(data)
    }

    public mutating func writeString(_ s: String) {
        let written: Void? = s.utf8.withContiguousStorageIfAvailable { utf8 in
            writeVarUInt(UInt64(utf8.count))
            writeRaw(utf8)
        }
        if written == nil {
            var s = s
            s.withUTF8 { utf8 in
                writeVarUInt(UInt64(utf8.count))
                writeRaw(utf8)
            }
        }
    }
}

/// The buffer of a `BinaryWriter`.
// @unchecked: a `BinaryWriter` copies its storage before writing when the storage is shared (copy on write), so
// a storage reachable from two threads is only ever read.
private final class ByteStorage: @unchecked Sendable {
    var base: UnsafeMutablePointer<UInt8>
    var count = 0
    var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    func copy() -> ByteStorage {
        let copy = ByteStorage(capacity: capacity)
        copy.base.update(from: base, count: count)
        copy.count = count
        return copy
    }

    func grow(toAtLeast needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.update(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }
}

/// Binary data that could not be decoded.
public struct DecodingFailure: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The log's binary encoding of values and change events (format version 1).
///
/// Layout of an event: version byte, op byte, flags byte, schema version, connector, table id,
/// position (sort key and text), optional transaction id and order, commit time, then the images.
/// Each value is a tag byte and its payload. Decoders reject versions they do not know.
public enum EventCoding {
    /// The format version written by this build.
    public static let formatVersion: UInt8 = 1

    private enum Tag: UInt8 {
        case null = 0, unchanged, boolFalse, boolTrue, int, double, decimal, decimalSpecial, string, bytes, date
        case time, timeTZ, timestamp, timestampTZ, interval, uuid, json, array
    }

    private enum Flag {
        static let before: UInt8 = 1
        static let after: UInt8 = 2
        static let snapshot: UInt8 = 4
        static let transaction: UInt8 = 8
        static let order: UInt8 = 16
    }

    /// Encodes an event.
    public static func encode(_ event: ChangeEvent) -> [UInt8] {
        var w = BinaryWriter(capacity: 256)
        encode(event, to: &w)
        return w.bytes
    }

    /// Appends an event's encoding to `w` (a writer reused for many events saves growing a new buffer for each).
    public static func encode(_ event: ChangeEvent, to w: inout BinaryWriter) {
        writeStart(op: event.op, hasBefore: event.before != nil, hasAfter: event.after != nil, isSnapshot: event.isSnapshot,
                   transactionID: event.transactionID, orderInTransaction: event.orderInTransaction,
                   schemaVersion: event.schemaVersion, to: &w)
        w.writeString(event.connector)
        w.writeString(event.table.database)
        w.writeString(event.table.schema)
        w.writeString(event.table.name)
        w.writeBytes(event.position.sortKey)
        w.writeString(event.position.text)
        writeEnd(transactionID: event.transactionID, orderInTransaction: event.orderInTransaction,
                 commitTimeMicros: event.commitTimeMicros, to: &w)
        if let before = event.before { writeRow(before, to: &w) }
        if let after = event.after { writeRow(after, to: &w) }
    }

    /// The fields before the connector name: version, op, flags, schema version.
    static func writeStart(op: ChangeOperation, hasBefore: Bool, hasAfter: Bool, isSnapshot: Bool, transactionID: String?,
                           orderInTransaction: Int?, schemaVersion: Int, to w: inout BinaryWriter) {
        w.writeByte(formatVersion)
        w.writeByte(op.rawValue.utf8.first!)
        var flags: UInt8 = 0
        if hasBefore { flags |= Flag.before }
        if hasAfter { flags |= Flag.after }
        if isSnapshot { flags |= Flag.snapshot }
        if transactionID != nil { flags |= Flag.transaction }
        if orderInTransaction != nil { flags |= Flag.order }
        w.writeByte(flags)
        // Ints are written by their bit pattern so that every value round-trips and decoding never traps.
        w.writeVarUInt(UInt64(UInt(bitPattern: schemaVersion)))
    }

    /// The fields after the position: transaction id, order, commit time (the row images follow).
    static func writeEnd(transactionID: String?, orderInTransaction: Int?, commitTimeMicros: Int64, to w: inout BinaryWriter) {
        if let tx = transactionID { w.writeString(tx) }
        if let order = orderInTransaction { w.writeVarUInt(UInt64(UInt(bitPattern: order))) }
        w.writeVarInt(commitTimeMicros)
    }

    /// Decodes an event written by `encode`.
    public static func decode(_ bytes: [UInt8]) throws -> ChangeEvent {
        var r = BinaryReader(bytes)
        let version = try r.u8()
        guard version == formatVersion else {
            throw DecodingFailure("event format version \(version) is not supported (this build reads \(formatVersion))")
        }
        let opByte = try r.u8()
        guard let op = ChangeOperation(rawValue: String(UnicodeScalar(opByte))) else {
            throw DecodingFailure("unknown operation byte \(opByte)")
        }
        let flags = try r.u8()
        let schemaVersion = Int(truncatingIfNeeded: Int64(bitPattern: try r.varUInt()))
        let connector = try r.varLengthString()
        let table = TableID(database: try r.varLengthString(), schema: try r.varLengthString(), name: try r.varLengthString())
        let position = SourcePosition(sortKey: try r.varLengthBytes(), text: try r.varLengthString())
        let tx = flags & Flag.transaction != 0 ? try r.varLengthString() : nil
        let order = flags & Flag.order != 0 ? Int(truncatingIfNeeded: Int64(bitPattern: try r.varUInt())) : nil
        let commitTime = try r.zigZagVarInt()
        let before = flags & Flag.before != 0 ? try readRow(&r) : nil
        let after = flags & Flag.after != 0 ? try readRow(&r) : nil
        guard r.isAtEnd else { throw DecodingFailure("\(r.remaining) trailing bytes after the event") }
        return ChangeEvent(
            op: op, connector: connector, table: table, schemaVersion: schemaVersion, before: before, after: after,
            position: position, transactionID: tx, orderInTransaction: order, commitTimeMicros: commitTime,
            isSnapshot: flags & Flag.snapshot != 0)
    }

    /// Encodes a primary key (a list of values) for log keys and indexes: equal keys give equal bytes.
    public static func encodeKey(_ values: [Value]) -> [UInt8] {
        var w = BinaryWriter(capacity: 16)
        writeKey(values, to: &w)
        return w.bytes
    }

    static func writeKey(_ values: [Value], to w: inout BinaryWriter) {
        w.writeVarUInt(UInt64(values.count))
        for value in values { writeValue(value, to: &w) }
    }

    /// Decodes a key written by `encodeKey`.
    public static func decodeKey(_ bytes: [UInt8]) throws -> [Value] {
        var r = BinaryReader(bytes)
        let count = try r.varLength()
        var values: [Value] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try readValue(&r)) }
        guard r.isAtEnd else { throw DecodingFailure("\(r.remaining) trailing bytes after the key") }
        return values
    }

    /// Encodes one value.
    public static func encodeValue(_ value: Value) -> [UInt8] {
        var w = BinaryWriter(capacity: 16)
        writeValue(value, to: &w)
        return w.bytes
    }

    /// Decodes one value written by `encodeValue`.
    public static func decodeValue(_ bytes: [UInt8]) throws -> Value {
        var r = BinaryReader(bytes)
        let value = try readValue(&r)
        guard r.isAtEnd else { throw DecodingFailure("\(r.remaining) trailing bytes after the value") }
        return value
    }

    static func writeRow(_ row: Row, to w: inout BinaryWriter) {
        w.writeVarUInt(UInt64(row.columns.count))
        for i in row.columns.indices {
            w.writeString(row.columns[i])
            writeValue(row.values[i], to: &w)
        }
    }

    static func readRow(_ r: inout BinaryReader) throws -> Row {
        let count = try r.varLength()
        var columns: [String] = []
        var values: [Value] = []
        columns.reserveCapacity(count)
        values.reserveCapacity(count)
        for _ in 0..<count {
            columns.append(try r.varLengthString())
            values.append(try readValue(&r))
        }
        return Row(columns: columns, values: values)
    }

    static func writeNull(to w: inout BinaryWriter) { w.writeByte(Tag.null.rawValue) }

    static func writeInt(_ value: Int64, to w: inout BinaryWriter) {
        w.writeByte(Tag.int.rawValue)
        w.writeVarInt(value)
    }

    /// A `.string` (or `.json`) value from UTF-8 bytes; invalid UTF-8 is repaired as `String(decoding:as:)` does.
    static func writeText(_ utf8: UnsafeBufferPointer<UInt8>, json: Bool, to w: inout BinaryWriter) {
        w.writeByte(json ? Tag.json.rawValue : Tag.string.rawValue)
        var ascii = true
        for byte in utf8 where byte >= 0x80 {
            ascii = false
            break
        }
        if ascii {
            w.writeVarUInt(UInt64(utf8.count))
            w.writeRaw(utf8)
        } else {
            w.writeString(String(decoding: utf8, as: UTF8.self))
        }
    }

    /// A finite `.decimal` from its parts (leading zeros are dropped, and zero is never negative, as in `ExactDecimal`).
    static func writeDecimal(negative: Bool, unscaledDigits: UnsafeBufferPointer<UInt8>, scale: Int, to w: inout BinaryWriter) {
        var digits = unscaledDigits[...]
        while digits.count > 1, digits.first == 48 { digits = digits.dropFirst() }
        let isZero = digits.count == 1 && digits.first == 48
        w.writeByte(Tag.decimal.rawValue)
        w.writeVarInt(negative && !isZero ? -Int64(scale) - 1 : Int64(scale))
        w.writeVarUInt(UInt64(digits.count))
        w.writeRaw(UnsafeBufferPointer(rebasing: digits))
    }

    public static func writeValue(_ value: Value, to w: inout BinaryWriter) {
        switch value {
        case .null: w.writeByte(Tag.null.rawValue)
        case .unchanged: w.writeByte(Tag.unchanged.rawValue)
        case .bool(let b): w.writeByte(b ? Tag.boolTrue.rawValue : Tag.boolFalse.rawValue)
        case .int(let v):
            w.writeByte(Tag.int.rawValue)
            w.writeVarInt(v)
        case .double(let v):
            w.writeByte(Tag.double.rawValue)
            w.writeFixed64(v.bitPattern)
        case .decimal(let d):
            if let special = d.special {
                w.writeByte(Tag.decimalSpecial.rawValue)
                w.writeByte(special.rawValue)
            } else {
                w.writeByte(Tag.decimal.rawValue)
                w.writeVarInt(d.isNegative ? -Int64(d.scale) - 1 : Int64(d.scale))
                w.writeString(d.unscaledDigits)
            }
        case .string(let s):
            w.writeByte(Tag.string.rawValue)
            w.writeString(s)
        case .bytes(let b):
            w.writeByte(Tag.bytes.rawValue)
            w.writeBytes(b)
        case .date(let d):
            w.writeByte(Tag.date.rawValue)
            w.writeVarInt(Int64(d))
        case .time(let t):
            if let offset = t.utcOffsetSeconds {
                w.writeByte(Tag.timeTZ.rawValue)
                w.writeVarInt(t.micros)
                w.writeVarInt(Int64(offset))
            } else {
                w.writeByte(Tag.time.rawValue)
                w.writeVarInt(t.micros)
            }
        case .timestamp(let t):
            w.writeByte(t.isUTC ? Tag.timestampTZ.rawValue : Tag.timestamp.rawValue)
            w.writeVarInt(t.micros)
        case .interval(let i):
            w.writeByte(Tag.interval.rawValue)
            w.writeVarInt(Int64(i.months))
            w.writeVarInt(Int64(i.days))
            w.writeVarInt(i.micros)
        case .uuid(let u):
            w.writeByte(Tag.uuid.rawValue)
            withUnsafeBytes(of: u.uuid) { raw in
                w.writeRaw(raw.assumingMemoryBound(to: UInt8.self))
            }
        case .json(let s):
            w.writeByte(Tag.json.rawValue)
            w.writeString(s)
        case .array(let elements):
            w.writeByte(Tag.array.rawValue)
            w.writeVarUInt(UInt64(elements.count))
            for e in elements { writeValue(e, to: &w) }
        }
    }

    /// How deeply arrays may nest in decoded data (PostgreSQL allows 6 dimensions). The bound keeps damaged
    /// input from recursing until the stack overflows.
    public static let maxNestingDepth = 64

    /// Stored timestamp micros: Int64.min, how logs before 2026-12 stored -infinity, is today's -infinity.
    @inline(__always)
    static func timestampMicros(_ stored: Int64) -> Int64 {
        stored == .min ? Timestamp.negativeInfinityMicros : stored
    }

    public static func readValue(_ r: inout BinaryReader) throws -> Value {
        try readValue(&r, depth: 0)
    }

    static func readValue(_ r: inout BinaryReader, depth: Int) throws -> Value {
        let tagByte = try r.u8()
        guard let tag = Tag(rawValue: tagByte) else { throw DecodingFailure("unknown value tag \(tagByte)") }
        switch tag {
        case .null: return .null
        case .unchanged: return .unchanged
        case .boolFalse: return .bool(false)
        case .boolTrue: return .bool(true)
        case .int: return .int(try r.zigZagVarInt())
        case .double: return .double(Double(bitPattern: try r.u64()))
        case .decimal:
            let signedScale = try r.zigZagVarInt()
            let negative = signedScale < 0
            let scale = negative ? -(signedScale + 1) : signedScale
            let digits = try r.varLengthString()
            guard let d = ExactDecimal(negative: negative, unscaledDigits: digits, scale: Int(scale)) else {
                throw DecodingFailure("invalid decimal digits or scale")
            }
            return .decimal(d)
        case .decimalSpecial:
            let raw = try r.u8()
            guard let special = ExactDecimal.Special(rawValue: raw) else {
                throw DecodingFailure("unknown decimal special \(raw)")
            }
            return .decimal(ExactDecimal(special: special))
        case .string: return .string(try r.varLengthString())
        case .bytes: return .bytes(try r.varLengthBytes())
        case .date:
            let v = try r.zigZagVarInt()
            guard let d = Int32(exactly: v) else { throw DecodingFailure("date out of range") }
            return .date(d == .min ? Value.dateNegativeInfinity : d)  // -infinity as logs before 2026-12 stored it
        case .time: return .time(TimeOfDay(micros: try r.zigZagVarInt()))
        case .timeTZ:
            let micros = try r.zigZagVarInt()
            guard let offset = Int32(exactly: try r.zigZagVarInt()) else { throw DecodingFailure("offset out of range") }
            return .time(TimeOfDay(micros: micros, utcOffsetSeconds: offset))
        case .timestamp: return .timestamp(Timestamp(micros: Self.timestampMicros(try r.zigZagVarInt()), isUTC: false))
        case .timestampTZ: return .timestamp(Timestamp(micros: Self.timestampMicros(try r.zigZagVarInt()), isUTC: true))
        case .interval:
            guard let months = Int32(exactly: try r.zigZagVarInt()), let days = Int32(exactly: try r.zigZagVarInt()) else {
                throw DecodingFailure("interval out of range")
            }
            return .interval(Interval(months: months, days: days, micros: try r.zigZagVarInt()))
        case .uuid:
            var raw = [UInt8](repeating: 0, count: 16)
            for i in 0..<16 { raw[i] = try r.u8() }
            let u = UUID(uuid: (raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
                                raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]))
            return .uuid(u)
        case .json: return .json(try r.varLengthString())
        case .array:
            guard depth < maxNestingDepth else {
                throw DecodingFailure("arrays nested deeper than \(maxNestingDepth) at byte \(r.offset)")
            }
            let count = try r.varLength()
            var elements: [Value] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(try readValue(&r, depth: depth + 1)) }
            return .array(elements)
        }
    }
}
