import Foundation
import SluiceCore

/// The GTID state of the binlog read so far, advanced as transactions end: MariaDB's last GTID per domain
/// (as `@@gtid_binlog_pos` prints it) or MySQL's executed GTID set (as `@@gtid_executed` prints it).
struct BinlogGTIDState {
    let isMariaDB: Bool
    /// MariaDB: the last committed GTID per domain.
    private(set) var domains: [UInt32: MariaGTID] = [:]
    /// MySQL: the GTIDs executed up to here; nil while unknown (a start at a file position without a stored
    /// set, until the next PREVIOUS_GTIDS event).
    private(set) var executed: MySQLGTIDSet?
    /// The GTID of the open transaction, added when the transaction ends.
    private var pending: Pending?

    private enum Pending {
        case maria(MariaGTID)
        case mysql(String)
    }

    init(isMariaDB: Bool) { self.isMariaDB = isMariaDB }

    /// Whether the state at the current position is known.
    var isKnown: Bool { isMariaDB ? !domains.isEmpty : executed != nil }

    /// The state as stored with the position; nil while unknown (MariaDB: while no domain is known).
    var text: String? {
        guard isMariaDB else { return executed?.description }
        guard !domains.isEmpty else { return nil }
        return domains.keys.sorted().map { domains[$0]!.text }.joined(separator: ",")
    }

    /// Sets the state from its text: `domain-server-seq,…` (MariaDB; malformed parts are skipped) or a MySQL
    /// GTID set (malformed text throws).
    mutating func reset(to text: String) throws {
        pending = nil
        guard isMariaDB else {
            executed = try MySQLGTIDSet(text)
            return
        }
        domains = [:]
        for part in text.split(separator: ",") {
            let numbers = part.trimmingCharacters(in: .whitespaces).split(separator: "-")
            guard numbers.count == 3, let domain = UInt32(numbers[0]), let server = UInt32(numbers[1]),
                  let sequence = UInt64(numbers[2]) else { continue }
            domains[domain] = MariaGTID(domain: domain, serverID: server, sequence: sequence, isStandalone: false)
        }
    }

    /// Follows one event: a GTID event opens a transaction, whose GTID counts once an XID, COMMIT/ROLLBACK,
    /// XA PREPARE or a standalone statement (DDL) ends it; PREVIOUS_GTIDS (the start of a MySQL binlog file)
    /// adds what earlier files hold.
    mutating func observe(_ event: BinlogEvent) throws {
        switch event.body {
        case .mariaGTID(let gtid):
            pending = .maria(gtid)
        case .mysqlGTID(let gtid, _):
            pending = gtid.map { .mysql($0) }
        case .previousGTIDs(let set) where !isMariaDB:
            executed = (executed ?? MySQLGTIDSet()).union(set)
        case .xid, .xaPrepare:
            try commit(event)
        case .query(let query) where query.role == .commit || query.role == .statement:
            try commit(event)
        default:
            return
        }
    }

    private mutating func commit(_ event: BinlogEvent) throws {
        defer { pending = nil }
        switch pending {
        case .maria(let gtid):
            domains[gtid.domain] = gtid
        case .mysql(let gtid):
            do {
                try executed?.insert(gtid)
            } catch {
                throw SluiceError(.decoding, "the GTID event of this transaction carries '\(gtid)', not a GTID",
                                  location: "\(event.file):\(event.position)", underlying: error)
            }
        case nil:
            return
        }
    }
}
