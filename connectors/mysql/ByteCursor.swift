/// A malformed or truncated piece of a binlog event; the decoder adds where it happened.
struct BinlogFormatError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// A bounds-checked reader over a byte array: little-endian integers (the binlog's default),
/// big-endian ones (temporal and decimal column encodings) and length-encoded integers.
///
/// Reads never allocate except when they return a new array or string.
struct ByteCursor {
    let bytes: [UInt8]
    var offset: Int
    var end: Int

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.offset = start
        self.end = end ?? bytes.count
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset >= end }

    @inline(__always)
    func need(_ count: Int) throws {
        if count < 0 || count > end - offset {
            throw BinlogFormatError("needs \(count) bytes at offset \(offset) but only \(max(0, end - offset)) remain")
        }
    }

    @inline(__always)
    mutating func skip(_ count: Int) throws {
        try need(count)
        offset += count
    }

    @inline(__always)
    mutating func u8() throws -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    @inline(__always)
    mutating func u16() throws -> UInt16 { UInt16(truncatingIfNeeded: try le(2)) }
    @inline(__always)
    mutating func u24() throws -> UInt32 { UInt32(truncatingIfNeeded: try le(3)) }
    @inline(__always)
    mutating func u32() throws -> UInt32 { UInt32(truncatingIfNeeded: try le(4)) }
    @inline(__always)
    mutating func u64() throws -> UInt64 { try le(8) }

    /// An unsigned little-endian integer of `count` (≤ 8) bytes.
    @inline(__always)
    mutating func le(_ count: Int) throws -> UInt64 {
        try need(count)
        var value: UInt64 = 0
        var i = count - 1
        while i >= 0 {
            value = value << 8 | UInt64(bytes[offset + i])
            i -= 1
        }
        offset += count
        return value
    }

    /// An unsigned big-endian integer of `count` (≤ 8) bytes.
    @inline(__always)
    mutating func be(_ count: Int) throws -> UInt64 {
        try need(count)
        var value: UInt64 = 0
        for i in 0..<count { value = value << 8 | UInt64(bytes[offset + i]) }
        offset += count
        return value
    }

    /// A MySQL length-encoded integer (1, 3, 4 or 9 bytes).
    mutating func lenenc() throws -> UInt64 {
        let first = try u8()
        switch first {
        case 0..<251: return UInt64(first)
        case 0xFC: return try le(2)
        case 0xFD: return try le(3)
        case 0xFE: return try le(8)
        default: throw BinlogFormatError("invalid length-encoded integer prefix 0x\(String(first, radix: 16))")
        }
    }

    /// A length-encoded integer used as a count or length, bounded by the bytes left.
    mutating func lenencCount() throws -> Int {
        let value = try lenenc()
        guard value <= UInt64(Int32.max) else { throw BinlogFormatError("implausible length or count \(value)") }
        return Int(value)
    }

    mutating func array(_ count: Int) throws -> [UInt8] {
        try need(count)
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func rest() -> [UInt8] {
        defer { offset = end }
        return offset < end ? Array(bytes[offset..<end]) : []
    }

    /// `count` bytes as UTF-8 text (invalid sequences become U+FFFD).
    mutating func utf8(_ count: Int) throws -> String {
        try need(count)
        defer { offset += count }
        return String(decoding: bytes[offset..<offset + count], as: UTF8.self)
    }

    /// A length-encoded string.
    mutating func lenencString() throws -> String {
        try utf8(try lenencCount())
    }

    /// Bytes up to (not including) a 0 terminator or the end; consumes the terminator.
    mutating func zeroTerminated() -> String {
        var stop = offset
        while stop < end && bytes[stop] != 0 { stop += 1 }
        let text = String(decoding: bytes[offset..<stop], as: UTF8.self)
        offset = min(end, stop + 1)
        return text
    }
}
