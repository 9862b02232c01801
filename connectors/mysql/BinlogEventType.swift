/// The type code of a binlog event (byte 4 of the event header), MySQL's and MariaDB's.
public struct BinlogEventType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let startV3 = Self(rawValue: 1)
    public static let query = Self(rawValue: 2)
    public static let stop = Self(rawValue: 3)
    public static let rotate = Self(rawValue: 4)
    public static let intvar = Self(rawValue: 5)
    public static let rand = Self(rawValue: 13)
    public static let userVar = Self(rawValue: 14)
    public static let formatDescription = Self(rawValue: 15)
    public static let xid = Self(rawValue: 16)
    public static let tableMap = Self(rawValue: 19)
    public static let incident = Self(rawValue: 26)
    public static let heartbeat = Self(rawValue: 27)
    public static let ignorable = Self(rawValue: 28)
    public static let rowsQuery = Self(rawValue: 29)
    public static let writeRowsV1 = Self(rawValue: 23)
    public static let updateRowsV1 = Self(rawValue: 24)
    public static let deleteRowsV1 = Self(rawValue: 25)
    public static let writeRowsV2 = Self(rawValue: 30)
    public static let updateRowsV2 = Self(rawValue: 31)
    public static let deleteRowsV2 = Self(rawValue: 32)
    public static let gtid = Self(rawValue: 33)
    public static let anonymousGTID = Self(rawValue: 34)
    public static let previousGTIDs = Self(rawValue: 35)
    public static let transactionContext = Self(rawValue: 36)
    public static let viewChange = Self(rawValue: 37)
    public static let xaPrepare = Self(rawValue: 38)
    public static let partialUpdateRows = Self(rawValue: 39)
    public static let transactionPayload = Self(rawValue: 40)
    public static let heartbeatV2 = Self(rawValue: 41)
    public static let gtidTagged = Self(rawValue: 42)
    public static let annotateRows = Self(rawValue: 160)
    public static let binlogCheckpoint = Self(rawValue: 161)
    public static let mariaGTID = Self(rawValue: 162)
    public static let mariaGTIDList = Self(rawValue: 163)
    public static let startEncryption = Self(rawValue: 164)
    public static let queryCompressed = Self(rawValue: 165)
    public static let writeRowsCompressedV1 = Self(rawValue: 166)
    public static let updateRowsCompressedV1 = Self(rawValue: 167)
    public static let deleteRowsCompressedV1 = Self(rawValue: 168)
    public static let writeRowsCompressed = Self(rawValue: 169)
    public static let updateRowsCompressed = Self(rawValue: 170)
    public static let deleteRowsCompressed = Self(rawValue: 171)

    /// The server's own name for the type (as in `mariadb-binlog` output and the MySQL docs).
    public var description: String {
        switch rawValue {
        case 1: return "START_EVENT_V3"
        case 2: return "QUERY_EVENT"
        case 3: return "STOP_EVENT"
        case 4: return "ROTATE_EVENT"
        case 5: return "INTVAR_EVENT"
        case 6: return "LOAD_EVENT"
        case 7: return "SLAVE_EVENT"
        case 8: return "CREATE_FILE_EVENT"
        case 9: return "APPEND_BLOCK_EVENT"
        case 10: return "EXEC_LOAD_EVENT"
        case 11: return "DELETE_FILE_EVENT"
        case 12: return "NEW_LOAD_EVENT"
        case 13: return "RAND_EVENT"
        case 14: return "USER_VAR_EVENT"
        case 15: return "FORMAT_DESCRIPTION_EVENT"
        case 16: return "XID_EVENT"
        case 17: return "BEGIN_LOAD_QUERY_EVENT"
        case 18: return "EXECUTE_LOAD_QUERY_EVENT"
        case 19: return "TABLE_MAP_EVENT"
        case 20: return "PRE_GA_WRITE_ROWS_EVENT"
        case 21: return "PRE_GA_UPDATE_ROWS_EVENT"
        case 22: return "PRE_GA_DELETE_ROWS_EVENT"
        case 23: return "WRITE_ROWS_EVENT_V1"
        case 24: return "UPDATE_ROWS_EVENT_V1"
        case 25: return "DELETE_ROWS_EVENT_V1"
        case 26: return "INCIDENT_EVENT"
        case 27: return "HEARTBEAT_LOG_EVENT"
        case 28: return "IGNORABLE_LOG_EVENT"
        case 29: return "ROWS_QUERY_LOG_EVENT"
        case 30: return "WRITE_ROWS_EVENT"
        case 31: return "UPDATE_ROWS_EVENT"
        case 32: return "DELETE_ROWS_EVENT"
        case 33: return "GTID_LOG_EVENT"
        case 34: return "ANONYMOUS_GTID_LOG_EVENT"
        case 35: return "PREVIOUS_GTIDS_LOG_EVENT"
        case 36: return "TRANSACTION_CONTEXT_EVENT"
        case 37: return "VIEW_CHANGE_EVENT"
        case 38: return "XA_PREPARE_LOG_EVENT"
        case 39: return "PARTIAL_UPDATE_ROWS_EVENT"
        case 40: return "TRANSACTION_PAYLOAD_EVENT"
        case 41: return "HEARTBEAT_LOG_EVENT_V2"
        case 42: return "GTID_TAGGED_LOG_EVENT"
        case 160: return "ANNOTATE_ROWS_EVENT"
        case 161: return "BINLOG_CHECKPOINT_EVENT"
        case 162: return "GTID_EVENT"
        case 163: return "GTID_LIST_EVENT"
        case 164: return "START_ENCRYPTION_EVENT"
        case 165: return "QUERY_COMPRESSED_EVENT"
        case 166: return "WRITE_ROWS_COMPRESSED_EVENT_V1"
        case 167: return "UPDATE_ROWS_COMPRESSED_EVENT_V1"
        case 168: return "DELETE_ROWS_COMPRESSED_EVENT_V1"
        case 169: return "WRITE_ROWS_COMPRESSED_EVENT"
        case 170: return "UPDATE_ROWS_COMPRESSED_EVENT"
        case 171: return "DELETE_ROWS_COMPRESSED_EVENT"
        default: return "UNKNOWN_EVENT(\(rawValue))"
        }
    }

    /// What a rows event does, or nil for other events.
    var rowsKind: RowsEventKind? {
        switch rawValue {
        case 23, 30, 166, 169: return .insert
        case 24, 31, 39, 167, 170: return .update
        case 25, 32, 168, 171: return .delete
        default: return nil
        }
    }

    /// Rows events v2 (MySQL 5.6+) carry an extra-data block after the post-header.
    var hasRowsExtraData: Bool { (30...32).contains(rawValue) || rawValue == 39 || (169...171).contains(rawValue) }
    /// MariaDB's zlib-compressed events.
    var isMariaCompressed: Bool { (165...171).contains(rawValue) }
}

/// Whether a rows event inserts, updates or deletes.
public enum RowsEventKind: Sendable, Hashable {
    case insert, update, delete
}

/// The 19-byte header every v4 binlog event starts with.
public struct BinlogEventHeader: Sendable, Hashable {
    /// Seconds since the epoch when the statement began (0 for artificial events).
    public var timestamp: UInt32
    public var type: BinlogEventType
    public var serverID: UInt32
    /// The whole event's length, header and checksum included.
    public var eventSize: UInt32
    /// Position of the next event in its binlog file (0 for artificial events and events inside a
    /// TRANSACTION_PAYLOAD).
    public var nextPosition: UInt32
    public var flags: UInt16

    /// LOG_EVENT_BINLOG_IN_USE_F: set in a format description event of a file still being written.
    public static let binlogInUseFlag: UInt16 = 0x0001
    /// LOG_EVENT_ARTIFICIAL_F: the event was made up by the server (e.g. the first rotate).
    public static let artificialFlag: UInt16 = 0x0020
    /// LOG_EVENT_IGNORABLE_F: a reader that does not know the event may skip it.
    public static let ignorableFlag: UInt16 = 0x0080

    public static let size = 19
}
