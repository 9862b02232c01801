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
