/// A bounds-checked reader over bytes: the one byte cursor of Sluice (binlog events, pgoutput messages, the
/// log's event encoding, Avro data).
///
/// `offset` and `end` are indices into `bytes` (for a slice, the indices of the array it was cut from), so a
/// decoder can narrow `end` to one part of a message or look at `bytes` around `offset` directly. Every read
/// checks that its bytes lie before `end` and throws `DecodingFailure`, saying what it was reading, at which
/// offset and how many bytes were left. Reads never allocate, except those that return a new array or string.
///
/// Decoders run at millions of values a second: every read is `@inlinable`, so it is specialized and inlined
/// into the decoding module as a reader of its own would be.
public struct ByteReader<Bytes: RandomAccessCollection>: Sendable
where Bytes: Sendable, Bytes.Element == UInt8, Bytes.Index == Int {
    /// All the bytes (reads stay within `offset..<end`).
    public let bytes: Bytes
    /// Where the next read starts.
    public var offset: Int
    /// Where reading stops: one past the last byte that may be read.
    public var end: Int

    /// A reader of `bytes` from `start` (default: the first byte) to `end` (default: the end).
    @inlinable
    public init(_ bytes: Bytes, from start: Int? = nil, to end: Int? = nil) {
        self.bytes = bytes
        self.offset = start ?? bytes.startIndex
        self.end = end ?? bytes.endIndex
    }

    /// Bytes left before `end`.
    @inlinable
    public var remaining: Int { end - offset }

    @inlinable
    public var isAtEnd: Bool { offset >= end }

    /// Throws unless `count` more bytes can be read; `what` names them in the error.
    @inlinable @inline(__always)
    public func need(_ count: Int, for what: StaticString = "bytes") throws {
        if count < 0 || count > end - offset { throw truncated(count, what) }
    }

    @usableFromInline @inline(never)
    func truncated(_ count: Int, _ what: StaticString) -> DecodingFailure {
        DecodingFailure("\(what) needs \(count) bytes at offset \(offset) but only \(max(0, end - offset)) remain")
    }

    @usableFromInline @inline(never)
    func malformed(_ what: String) -> DecodingFailure {
        DecodingFailure("\(what) at offset \(offset)")
    }

    @inlinable @inline(__always)
    public mutating func skip(_ count: Int) throws {
        try need(count, for: "skipped bytes")
        offset += count
    }

    @inlinable @inline(__always)
    public mutating func u8() throws -> UInt8 {
        try need(1, for: "a byte")
        defer { offset += 1 }
        return bytes[offset]
    }

    // MARK: Little-endian

    @inlinable @inline(__always)
    public mutating func u16() throws -> UInt16 { UInt16(truncatingIfNeeded: try le(2)) }
    @inlinable @inline(__always)
    public mutating func u24() throws -> UInt32 { UInt32(truncatingIfNeeded: try le(3)) }
    @inlinable @inline(__always)
    public mutating func u32() throws -> UInt32 { UInt32(truncatingIfNeeded: try le(4)) }
    @inlinable @inline(__always)
    public mutating func u64() throws -> UInt64 { try le(8) }

    /// An unsigned little-endian integer of `count` (≤ 8) bytes.
    @inlinable @inline(__always)
    public mutating func le(_ count: Int) throws -> UInt64 {
        try need(count, for: "a little-endian integer")
        var value: UInt64 = 0
        var i = count - 1
        while i >= 0 {
            value = value << 8 | UInt64(bytes[offset + i])
            i -= 1
        }
        offset += count
        return value
    }

    // MARK: Big-endian

    @inlinable @inline(__always)
    public mutating func u16BE() throws -> UInt16 { UInt16(truncatingIfNeeded: try be(2)) }
    @inlinable @inline(__always)
    public mutating func u32BE() throws -> UInt32 { UInt32(truncatingIfNeeded: try be(4)) }
    @inlinable @inline(__always)
    public mutating func u64BE() throws -> UInt64 { try be(8) }

    /// An unsigned big-endian integer of `count` (≤ 8) bytes.
    @inlinable @inline(__always)
    public mutating func be(_ count: Int) throws -> UInt64 {
        try need(count, for: "a big-endian integer")
        var value: UInt64 = 0
        for i in 0..<count { value = value << 8 | UInt64(bytes[offset + i]) }
        offset += count
        return value
    }

    // MARK: Varints

    /// An unsigned LEB128 varint (7 bits a byte, least significant first) of at most 64 bits.
    @inlinable
    public mutating func varUInt() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw truncated(1, "a varint") }
            let b = bytes[offset]
            // The tenth byte holds bit 63 only: more bits, or an eleventh byte, would be silently dropped.
            guard shift < 63 || (shift == 63 && b <= 1) else { throw malformed("a varint longer than 64 bits") }
            offset += 1
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    /// A zig-zag encoded signed varint (0, -1, 1, -2, … as 0, 1, 2, 3, …).
    @inlinable
    public mutating func zigZagVarInt() throws -> Int64 {
        let raw = try varUInt()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A varint used as a length: throws unless that many bytes are left.
    @inlinable
    public mutating func varLength() throws -> Int {
        let n = try varUInt()
        guard n <= UInt64(max(0, end - offset)) else {
            throw malformed("a length of \(n) runs past the end (\(max(0, end - offset)) bytes left)")
        }
        return Int(n)
    }

    // MARK: Runs of bytes

    /// The next `count` bytes, without copying.
    @inlinable @inline(__always)
    public mutating func slice(_ count: Int) throws -> Bytes.SubSequence {
        try need(count)
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// The next `count` bytes as a new array.
    @inlinable
    public mutating func array(_ count: Int) throws -> [UInt8] {
        Array(try slice(count))
    }

    /// The bytes up to `end`, without copying.
    @inlinable
    public mutating func rest() -> Bytes.SubSequence {
        defer { offset = max(offset, end) }
        return bytes[offset..<max(offset, end)]
    }

    /// `count` bytes as UTF-8 text (invalid sequences become U+FFFD).
    @inlinable
    public mutating func utf8(_ count: Int) throws -> String {
        try need(count, for: "a string")
        defer { offset += count }
        return String(decoding: bytes[offset..<offset + count], as: UTF8.self)
    }

    /// UTF-8 text up to a 0 byte, which is consumed; throws when no 0 byte comes before `end`.
    @inlinable
    public mutating func cString() throws -> String {
        var stop = offset
        while stop < end && bytes[stop] != 0 { stop += 1 }
        guard stop < end else { throw malformed("a zero-terminated string without its terminator") }
        defer { offset = stop + 1 }
        return String(decoding: bytes[offset..<stop], as: UTF8.self)
    }
}

extension ByteReader {
    /// Varint-length-prefixed bytes (the log's encoding), as a new array.
    @inlinable
    public mutating func varLengthBytes() throws -> [UInt8] {
        try array(try varLength())
    }

    /// Varint-length-prefixed UTF-8 text (the log's encoding).
    @inlinable
    public mutating func varLengthString() throws -> String {
        try utf8(try varLength())
    }
}

/// The reader of the log's binary encoding (what `BinaryWriter` writes).
public typealias BinaryReader = ByteReader<[UInt8]>

extension ByteReader where Bytes == [UInt8] {
    // The names this reader had as `BinaryReader`, for callers in other modules not moved to the names above.

    public mutating func readByte() throws -> UInt8 { try u8() }
    public mutating func readVarUInt() throws -> UInt64 { try varUInt() }
    public mutating func readVarInt() throws -> Int64 { try zigZagVarInt() }
    public mutating func readBytes() throws -> [UInt8] { try varLengthBytes() }
    public mutating func readString() throws -> String { try varLengthString() }
}
