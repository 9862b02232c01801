/// A position in a source's change stream (a PostgreSQL LSN, a MySQL binlog file and offset, …).
///
/// Positions from one source compare by `sortKey`, an order-preserving byte string that each connector
/// builds from its native position (big-endian integers, so that byte order is position order).
/// `text` is the human-readable form shown in JSON (`"0/16B3748"`, `"binlog.000003:1234"`).
public struct SourcePosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Order-preserving encoding of the position: compare two positions of one source bytewise.
    public var sortKey: [UInt8]
    /// The position as users read it.
    public var text: String

    public init(sortKey: [UInt8], text: String) {
        self.sortKey = sortKey
        self.text = text
    }

    /// The position before every other position.
    public static let origin = SourcePosition(sortKey: [], text: "")

    public var description: String { text }

    public static func < (lhs: SourcePosition, rhs: SourcePosition) -> Bool {
        lhs.sortKey.lexicographicallyPrecedes(rhs.sortKey)
    }

    public static func == (lhs: SourcePosition, rhs: SourcePosition) -> Bool {
        lhs.sortKey == rhs.sortKey
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(sortKey)
    }
}

extension SourcePosition {
    /// Builds a sort key from unsigned integers, each written big-endian in 8 bytes.
    public static func sortKey(_ parts: UInt64...) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(parts.count * 8)
        for part in parts {
            for shift in stride(from: 56, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: part >> UInt64(shift)))
            }
        }
        return bytes
    }
}

/// A sort key of two or three 64-bit parts (the form the database connectors build), kept inline: the same
/// bytes as `SourcePosition.sortKey(a, b[, c])` without allocating them.
public struct PackedSortKey: Sendable, Hashable, Comparable {
    public var a: UInt64
    public var b: UInt64
    public var c: UInt64
    /// 2 or 3.
    public let partCount: Int

    public init(_ a: UInt64, _ b: UInt64) {
        (self.a, self.b, self.c, partCount) = (a, b, 0, 2)
    }

    public init(_ a: UInt64, _ b: UInt64, _ c: UInt64) {
        (self.a, self.b, self.c, partCount) = (a, b, c, 3)
    }

    /// Reads a key of 16 or 24 bytes; nil for any other length.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count == 16 || bytes.count == 24 else { return nil }
        func part(_ n: Int) -> UInt64 { bytes[n * 8..<n * 8 + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        (a, b, c, partCount) = (part(0), part(1), bytes.count == 24 ? part(2) : 0, bytes.count / 8)
    }

    /// The key's bytes (big-endian parts).
    public var bytes: [UInt8] {
        var writer = BinaryWriter(capacity: 24)
        writeBytes(to: &writer)
        return writer.bytes
    }

    /// Positions compare bytewise, which for keys of one length is comparing the parts in order.
    public static func < (lhs: PackedSortKey, rhs: PackedSortKey) -> Bool {
        (lhs.a, lhs.b, lhs.c, lhs.partCount) < (rhs.a, rhs.b, rhs.c, rhs.partCount)
    }

    /// Writes the bytes without a length prefix.
    func writeBytes(to writer: inout BinaryWriter) {
        writer.writeFixed64BigEndian(a)
        writer.writeFixed64BigEndian(b)
        if partCount == 3 { writer.writeFixed64BigEndian(c) }
    }

    /// Writes the bytes with a length prefix (as `BinaryWriter.writeBytes` does).
    func write(to writer: inout BinaryWriter) {
        writer.writeByte(UInt8(partCount * 8))
        writeBytes(to: &writer)
    }
}
