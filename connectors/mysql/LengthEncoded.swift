import SluiceCore

/// A malformed or truncated piece of a binlog event; the decoder adds where it happened.
struct BinlogFormatError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// The MySQL protocol's length-encoded integers and strings, read from binlog events.
extension ByteReader where Bytes == [UInt8] {
    /// A MySQL length-encoded integer (1, 3, 4 or 9 bytes).
    @inline(__always)
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

    /// A length-encoded string.
    mutating func lenencString() throws -> String {
        try utf8(try lenencCount())
    }
}
