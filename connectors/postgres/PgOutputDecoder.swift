import SluiceCore

/// A PostgreSQL log sequence number.
public struct LSN: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }

    /// Parses `16/B374D848`.
    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16) else {
            return nil
        }
        value = high << 32 | low
    }

    public static let zero = LSN(0)

    /// `16/B374D848`, as PostgreSQL prints it.
    public var description: String {
        String(value >> 32, radix: 16, uppercase: true) + "/" + String(value & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    public static func < (lhs: LSN, rhs: LSN) -> Bool { lhs.value < rhs.value }
}

/// A message of the streaming replication sub-protocol (inside CopyData).
enum ReplicationMessage: Sendable, Equatable {
    /// `w`: WAL data carrying one pgoutput message.
    case xlogData(walStart: LSN, walEnd: LSN, sendTime: Int64, payload: ArraySlice<UInt8>)
    /// `k`: the server's keepalive.
    case keepalive(walEnd: LSN, sendTime: Int64, replyRequested: Bool)

    /// Parses one CopyData payload.
    static func parse(_ bytes: ArraySlice<UInt8>) throws -> ReplicationMessage {
        try PgOutputError.reading(bytes) { reader in try parse(&reader) }
    }

    private static func parse(_ reader: inout ByteReader<ArraySlice<UInt8>>) throws -> ReplicationMessage {
        switch try reader.u8() {
        case UInt8(ascii: "w"):
            let start = try reader.u64BE(), end = try reader.u64BE(), time = try reader.int64BE()
            return .xlogData(walStart: LSN(start), walEnd: LSN(end), sendTime: time, payload: reader.rest())
        case UInt8(ascii: "k"):
            let end = try reader.u64BE(), time = try reader.int64BE(), reply = try reader.u8()
            return .keepalive(walEnd: LSN(end), sendTime: time, replyRequested: reply != 0)
        case let other:
            throw PgOutputError("unknown replication message type \(Character(Unicode.Scalar(other)))")
        }
    }

    /// A standby status update (`r`): written/flushed/applied positions and the client's clock.
    static func statusUpdate(written: LSN, flushed: LSN, applied: LSN, nowMicros: Int64, replyRequested: Bool)
        -> [UInt8]
    {
        var out: [UInt8] = [UInt8(ascii: "r")]
        out.reserveCapacity(34)
        for value in [written.value, flushed.value, applied.value, UInt64(bitPattern: nowMicros)] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        out.append(replyRequested ? 1 : 0)
        return out
    }
}

/// Splits a raw byte stream of CopyData frames (`d`, Int32 length, payload) into replication messages.
///
/// libpq hands the source whole CopyData messages; this framing is how recorded streams are stored and
/// replayed in tests, which feed it bytes split at arbitrary points.
struct CopyDataFrameDecoder {
    private var buffer: [UInt8] = []
    private var consumed = 0

    /// Adds bytes; returns the payloads of every frame now complete.
    mutating func feed(_ bytes: some Collection<UInt8>) throws -> [[UInt8]] {
        buffer.append(contentsOf: bytes)
        var frames: [[UInt8]] = []
        while buffer.count - consumed >= 5 {
            guard buffer[consumed] == UInt8(ascii: "d") else {
                throw PgOutputError("expected a CopyData frame, got byte \(buffer[consumed])")
            }
            var length = 0
            for i in 1...4 { length = length << 8 | Int(buffer[consumed + i]) }
            guard length >= 4 else { throw PgOutputError("CopyData frame with length \(length)") }
            guard buffer.count - consumed >= 1 + length else { break }
            frames.append(Array(buffer[(consumed + 5)..<(consumed + 1 + length)]))
            consumed += 1 + length
        }
        if consumed > 0 && consumed == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            consumed = 0
        } else if consumed > 65536 {
            buffer.removeFirst(consumed)
            consumed = 0
        }
        return frames
    }

    /// Frames one payload (the inverse of `feed`), for recordings.
    static func frame(_ payload: [UInt8]) -> [UInt8] {
        let length = UInt32(payload.count + 4)
        return [UInt8(ascii: "d"), UInt8(length >> 24), UInt8(truncatingIfNeeded: length >> 16),
                UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)] + payload
    }
}

/// One column of a tuple as pgoutput sends it; text values point into the message bytes (no copy).
enum TupleValue: Sendable, Equatable {
    case null
    /// An unchanged TOASTed value the server did not send.
    case unchanged
    case text(ArraySlice<UInt8>)
    case binary(ArraySlice<UInt8>)
}

/// A column of a Relation message.
struct RelationColumn: Sendable, Hashable {
    var isKey: Bool
    var name: String
    var typeOID: UInt32
    var typeModifier: Int32
}

/// A Relation message: the shape of a table as the publication sends it.
struct RelationMessage: Sendable, Hashable {
    var oid: UInt32
    var namespace: String
    var name: String
    /// `d` default, `n` nothing, `f` full, `i` index.
    var replicaIdentity: UInt8
    var columns: [RelationColumn]
}

/// One decoded pgoutput message.
enum PgOutputMessage: Sendable, Equatable {
    case begin(finalLSN: LSN, commitTime: Int64, xid: UInt32)
    case commit(flags: UInt8, commitLSN: LSN, endLSN: LSN, commitTime: Int64)
    case origin(lsn: LSN, name: String)
    case relation(RelationMessage, xid: UInt32?)
    case type(oid: UInt32, namespace: String, name: String, xid: UInt32?)
    case insert(relation: UInt32, new: [TupleValue], xid: UInt32?)
    /// `oldKind` is `K` (key columns only), `O` (whole old row, REPLICA IDENTITY FULL) or 0 (not sent).
    case update(relation: UInt32, oldKind: UInt8, old: [TupleValue]?, new: [TupleValue], xid: UInt32?)
    case delete(relation: UInt32, oldKind: UInt8, old: [TupleValue], xid: UInt32?)
    case truncate(relations: [UInt32], options: UInt8, xid: UInt32?)
    case message(transactional: Bool, lsn: LSN, prefix: String, content: ArraySlice<UInt8>, xid: UInt32?)
    case streamStart(xid: UInt32, firstSegment: Bool)
    case streamStop
    case streamCommit(xid: UInt32, flags: UInt8, commitLSN: LSN, endLSN: LSN, commitTime: Int64)
    case streamAbort(xid: UInt32, subXid: UInt32)
}

/// Decodes pgoutput messages (protocol 1–3). A value type: it only remembers whether it is inside a
/// streamed-transaction block, where messages carry their transaction id.
struct PgOutputDecoder: Sendable {
    /// True between Stream Start and Stream Stop.
    private(set) var inStreamBlock = false

    init(inStreamBlock: Bool = false) {
        self.inStreamBlock = inStreamBlock
    }

    mutating func decode(_ bytes: ArraySlice<UInt8>) throws -> PgOutputMessage {
        try PgOutputError.reading(bytes) { reader in try decode(&reader) }
    }

    private mutating func decode(_ reader: inout ByteReader<ArraySlice<UInt8>>) throws -> PgOutputMessage {
        let tag = try reader.u8()
        switch tag {
        case UInt8(ascii: "B"):
            return .begin(finalLSN: LSN(try reader.u64BE()), commitTime: try reader.int64BE(), xid: try reader.u32BE())
        case UInt8(ascii: "C"):
            return .commit(flags: try reader.u8(), commitLSN: LSN(try reader.u64BE()), endLSN: LSN(try reader.u64BE()),
                           commitTime: try reader.int64BE())
        case UInt8(ascii: "O"):
            return .origin(lsn: LSN(try reader.u64BE()), name: try reader.cString())
        case UInt8(ascii: "R"):
            let xid = try streamedXid(&reader)
            let oid = try reader.u32BE()
            let namespace = try reader.cString(), name = try reader.cString()
            let identity = try reader.u8()
            let count = Int(try reader.u16BE())
            var columns: [RelationColumn] = []
            columns.reserveCapacity(count)
            for _ in 0..<count {
                let flags = try reader.u8()
                let columnName = try reader.cString()
                let type = try reader.u32BE()
                let modifier = Int32(bitPattern: try reader.u32BE())
                columns.append(RelationColumn(isKey: flags & 1 != 0, name: columnName, typeOID: type,
                                              typeModifier: modifier))
            }
            return .relation(RelationMessage(oid: oid, namespace: namespace, name: name, replicaIdentity: identity,
                                             columns: columns), xid: xid)
        case UInt8(ascii: "Y"):
            let xid = try streamedXid(&reader)
            return .type(oid: try reader.u32BE(), namespace: try reader.cString(), name: try reader.cString(), xid: xid)
        case UInt8(ascii: "I"):
            let xid = try streamedXid(&reader)
            let relation = try reader.u32BE()
            guard try reader.u8() == UInt8(ascii: "N") else { throw PgOutputError("Insert without a new tuple") }
            return .insert(relation: relation, new: try reader.tuple(), xid: xid)
        case UInt8(ascii: "U"):
            let xid = try streamedXid(&reader)
            let relation = try reader.u32BE()
            var kind = try reader.u8()
            var oldKind: UInt8 = 0
            var old: [TupleValue]?
            if kind == UInt8(ascii: "K") || kind == UInt8(ascii: "O") {
                oldKind = kind
                old = try reader.tuple()
                kind = try reader.u8()
            }
            guard kind == UInt8(ascii: "N") else { throw PgOutputError("Update without a new tuple") }
            return .update(relation: relation, oldKind: oldKind, old: old, new: try reader.tuple(), xid: xid)
        case UInt8(ascii: "D"):
            let xid = try streamedXid(&reader)
            let relation = try reader.u32BE()
            let kind = try reader.u8()
            guard kind == UInt8(ascii: "K") || kind == UInt8(ascii: "O") else {
                throw PgOutputError("Delete without an old tuple")
            }
            return .delete(relation: relation, oldKind: kind, old: try reader.tuple(), xid: xid)
        case UInt8(ascii: "T"):
            let xid = try streamedXid(&reader)
            let count = Int(try reader.u32BE())
            let options = try reader.u8()
            var relations: [UInt32] = []
            for _ in 0..<count { relations.append(try reader.u32BE()) }
            return .truncate(relations: relations, options: options, xid: xid)
        case UInt8(ascii: "M"):
            let xid = try streamedXid(&reader)
            let flags = try reader.u8()
            let lsn = LSN(try reader.u64BE())
            let prefix = try reader.cString()
            let length = Int(try reader.u32BE())
            return .message(transactional: flags & 1 != 0, lsn: lsn, prefix: prefix, content: try reader.slice(length),
                            xid: xid)
        case UInt8(ascii: "S"):
            inStreamBlock = true
            return .streamStart(xid: try reader.u32BE(), firstSegment: try reader.u8() == 1)
        case UInt8(ascii: "E"):
            inStreamBlock = false
            return .streamStop
        case UInt8(ascii: "c"):
            return .streamCommit(xid: try reader.u32BE(), flags: try reader.u8(), commitLSN: LSN(try reader.u64BE()),
                                 endLSN: LSN(try reader.u64BE()), commitTime: try reader.int64BE())
        case UInt8(ascii: "A"):
            return .streamAbort(xid: try reader.u32BE(), subXid: try reader.u32BE())
        default:
            throw PgOutputError("unknown pgoutput message type \(Character(Unicode.Scalar(tag)))")
        }
    }

    private func streamedXid(_ reader: inout ByteReader<ArraySlice<UInt8>>) throws -> UInt32? {
        inStreamBlock ? try reader.u32BE() : nil
    }
}

/// A malformed or unexpected replication message.
struct PgOutputError: Error, Sendable, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }

    /// Runs `body` on a reader of `bytes`; a message that ends early is a `PgOutputError` too.
    @inline(__always)
    static func reading<T>(_ bytes: ArraySlice<UInt8>, _ body: (inout ByteReader<ArraySlice<UInt8>>) throws -> T)
        throws -> T
    {
        var reader = ByteReader(bytes)
        do {
            return try body(&reader)
        } catch let failure as DecodingFailure {
            throw PgOutputError("malformed message: \(failure)")
        }
    }
}

/// pgoutput's reads: big-endian integers and tuples, over a message's bytes.
extension ByteReader where Bytes == ArraySlice<UInt8> {
    @inline(__always)
    mutating func int64BE() throws -> Int64 { Int64(bitPattern: try u64BE()) }

    /// A TupleData: the column count, then each column's kind and value.
    mutating func tuple() throws -> [TupleValue] {
        let count = Int(try u16BE())
        var values: [TupleValue] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            switch try u8() {
            case UInt8(ascii: "n"): values.append(.null)
            case UInt8(ascii: "u"): values.append(.unchanged)
            case UInt8(ascii: "t"): values.append(.text(try slice(Int(try u32BE()))))
            case UInt8(ascii: "b"): values.append(.binary(try slice(Int(try u32BE()))))
            case let other: throw PgOutputError("unknown tuple column kind \(other)")
            }
        }
        return values
    }
}
