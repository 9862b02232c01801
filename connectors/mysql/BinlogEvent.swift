// SluiceMySQL: the `mysql` source for MySQL and MariaDB: binlog events decoded in Swift from the packets
// libmariadb moves, snapshots, GTIDs and incremental snapshots.

import Foundation
import SluiceCore

/// One decoded binlog event.
public struct BinlogEvent: Sendable {
    public var header: BinlogEventHeader
    /// The binlog file the event is in.
    public var file: String
    /// Where the event starts in its file (for an event inside a TRANSACTION_PAYLOAD: where the payload starts).
    public var position: UInt64
    /// For events inside a TRANSACTION_PAYLOAD: their index in it (from 0); nil otherwise.
    public var indexInPayload: Int?
    public var body: BinlogEventBody

    /// Where the next event starts (0 when not known: artificial events and events inside a payload).
    public var nextPosition: UInt64 { UInt64(header.nextPosition) }
}

/// What an event says, by type.
public enum BinlogEventBody: Sendable {
    case formatDescription(FormatDescription)
    /// The next binlog file and the position to read it from.
    case rotate(file: String, position: UInt64)
    case query(QueryEvent)
    /// Commit of a transaction (XID_EVENT).
    case xid(UInt64)
    case tableMap(TableMap)
    case rows(RowsEvent)
    /// A MySQL GTID (or anonymous GTID, then `gtid` is nil) starting a transaction.
    case mysqlGTID(gtid: String?, isAnonymous: Bool)
    /// The GTID set of earlier binlog files (MySQL).
    case previousGTIDs(MySQLGTIDSet)
    /// A MariaDB GTID starting an event group.
    case mariaGTID(MariaGTID)
    /// The MariaDB GTID state at the start of a binlog file (`domain-server-seq,…`).
    case mariaGTIDList(String)
    /// The statement behind the following rows events (MariaDB ANNOTATE_ROWS, MySQL ROWS_QUERY).
    case rowsQuery(String)
    case heartbeat(file: String, position: UInt64)
    case stop
    /// XA PREPARE of an XA transaction (its rows were logged; the commit comes as a query).
    case xaPrepare
    /// The server logged an incident: events may be missing from here on.
    case incident(code: UInt16, message: String)
    /// A known event that carries nothing for change capture (statement-based context, group
    /// replication, checkpoints …).
    case other
    /// An unknown event whose header says it may be ignored.
    case ignored
}

/// Format of a binlog file (FORMAT_DESCRIPTION_EVENT).
public struct FormatDescription: Sendable, Hashable {
    public var binlogVersion: UInt16
    public var serverVersion: String
    public var headerLength: Int
    /// Post-header length of each event type, indexed by type code − 1.
    public var postHeaderLengths: [UInt8]
    /// 0: none, 1: CRC32.
    public var checksumAlgorithm: UInt8
    public var isMariaDB: Bool { serverVersion.contains("MariaDB") }

    func postHeaderLength(_ type: BinlogEventType, default fallback: Int) -> Int {
        let index = Int(type.rawValue) - 1
        return index >= 0 && index < postHeaderLengths.count ? Int(postHeaderLengths[index]) : fallback
    }

    /// MySQL ≥ 5.6.1 and MariaDB ≥ 5.3 end the format description with a checksum algorithm byte and a checksum.
    static func isChecksumAware(serverVersion: String) -> Bool {
        let numbers = serverVersion.split(whereSeparator: { !$0.isNumber }).prefix(3).compactMap { Int($0) }
        guard numbers.count == 3 else { return false }
        if serverVersion.contains("MariaDB") { return (numbers[0], numbers[1]) >= (5, 3) }
        return (numbers[0], numbers[1], numbers[2]) >= (5, 6, 1)
    }
}

/// A QUERY_EVENT: BEGIN, COMMIT, DDL or (statement-based) DML.
public struct QueryEvent: Sendable, Hashable {
    public var threadID: UInt32
    public var errorCode: UInt16
    /// The default database of the statement.
    public var database: String
    public var sql: String

    /// What a statement does to the event group it is in.
    enum Role {
        /// BEGIN, XA START: opens a transaction.
        case begin
        /// COMMIT, ROLLBACK, XA COMMIT, XA ROLLBACK: ends it.
        case commit
        /// SAVEPOINT, ROLLBACK TO: neither.
        case savepoint
        /// A DDL (or a statement-based DML of a non-transactional engine): a group of its own, ended by itself.
        case statement
    }

    var role: Role {
        let upper = sql.trimmingCharacters(in: .whitespacesAndNewlines).prefix(40).uppercased()
        if upper == "BEGIN" || upper.hasPrefix("XA START") || upper.hasPrefix("XA BEGIN") { return .begin }
        if upper == "COMMIT" || upper == "ROLLBACK" || upper.hasPrefix("XA COMMIT") || upper.hasPrefix("XA ROLLBACK") {
            return .commit
        }
        if upper.hasPrefix("SAVEPOINT") || upper.hasPrefix("ROLLBACK TO") { return .savepoint }
        return .statement
    }
}

/// A MariaDB GTID event.
public struct MariaGTID: Sendable, Hashable {
    public var domain: UInt32
    public var serverID: UInt32
    public var sequence: UInt64
    /// FL_STANDALONE: a DDL (or other statement) without BEGIN/COMMIT.
    public var isStandalone: Bool
    /// `domain-server-sequence`.
    public var text: String { "\(domain)-\(serverID)-\(sequence)" }
}

/// A rows event: its table map and the changed rows, decoded.
public struct RowsEvent: Sendable {
    public var kind: RowsEventKind
    public var table: TableMap
    /// Values of each row image in table-map column order; a column the event did not carry is `.unchanged`.
    /// Empty when the decoder defers rows: then `rowData` holds them.
    public var rows: [RowImages]
    /// STMT_END_F: the last rows event of its statement.
    public var isStatementEnd: Bool
    /// The undecoded rows (`BinlogEventDecoder.defersRows`).
    public var rowData: RowData? = nil

    /// The rows, decoded now if the decoder deferred them.
    public func decodedRows() throws -> [RowImages] {
        try rowData?.decode() ?? rows
    }
}

/// The before and after images of one changed row.
public struct RowImages: Sendable, Hashable {
    public var before: [Value]?
    public var after: [Value]?
    /// JSON diffs of a PARTIAL_UPDATE_ROWS row that could not be applied because the before image lacks the
    /// column (binlog_row_image MINIMAL or NOBLOB); the after image holds `.unchanged` for those columns.
    public var unappliedJSONUpdates: [Int: JSONPartialUpdate]?
}
