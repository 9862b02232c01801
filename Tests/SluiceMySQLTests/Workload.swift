import Foundation
import SluiceCore
import Synchronization
import SluiceTestSupport
import Testing
@testable import SluiceMySQL

/// Random writes to `t(id int primary key, v int, s varchar(40))` on its own thread until stopped: inserts
/// start at v = 1, every update adds 1 to v, deletes remove the row; some transactions hold several changes.
/// The checker can then tell a missing or doubled event from the versions.
final class Workload: @unchecked Sendable {
    let connection: MySQLConnection
    let database: String
    private let stopFlag = Atomic<Bool>(false)
    private let committed = Atomic<Int>(0)
    /// Changes committed so far (read while the writer runs).
    var changes: Int { committed.load(ordering: .sequentiallyConsistent) }
    private var thread: BackgroundThread?
    private var failure: (any Error)?
    let pause: Double

    init(url: String? = nil, database: String, pause: Double = 0.0005) throws {
        connection = try LiveServer.connect(url: url)
        try connection.execute("USE \(database)")
        self.database = database
        self.pause = pause
    }

    /// Creates the table with `rows` rows (ids 1…rows, v = 1).
    static func createTable(_ connection: MySQLConnection, rows: Int) throws {
        try connection.execute("CREATE TABLE t (id int primary key, v int not null, s varchar(40))")
        var id = 1
        while id <= rows {
            let last = min(rows, id + 999)
            try connection.execute("INSERT INTO t VALUES " + (id...last).map { "(\($0), 1, 'row \($0)')" }.joined(separator: ","))
            id = last + 1
        }
    }

    func start() {
        thread = BackgroundThread { [self] in loop() }
    }

    /// A new database `database` with the table of `rows` rows, and a workload already writing to it.
    static func startedOnNewTable(database: String, rows: Int) throws -> (db: MySQLConnection, workload: Workload) {
        let db = try LiveServer.database(database)
        try createTable(db, rows: rows)
        let workload = try Workload(database: database)
        workload.start()
        return (db, workload)
    }

    /// Waits until the writer has committed more than `count` changes (at most `timeout` seconds); true if so.
    func waitForChanges(moreThan count: Int, timeout: TimeInterval = 30) async throws -> Bool {
        try await waitUntil(timeout: timeout, interval: .milliseconds(10)) { changes > count }
    }

    /// Stops the writes and waits for the thread; rethrows what the writer hit (a server restart is retried).
    func stop() throws {
        stopFlag.store(true, ordering: .sequentiallyConsistent)
        thread?.join()
        if let failure { throw failure }
    }

    private func loop() {
        var rng = SystemRandomNumberGenerator()
        var ids = Set((try? connection.query("SELECT id FROM t"))?.compactMap { $0[0].flatMap { Int($0) } } ?? [])
        var next = (ids.max() ?? 0) + 1_000_000
        var current = connection
        while !stopFlag.load(ordering: .relaxed) {
            let statements = Int.random(in: 1...4, using: &rng)
            var sql: [String] = []
            var touched = Set<Int>()
            var newIDs = ids
            for _ in 0..<statements {
                let choice = Int.random(in: 0..<10, using: &rng)
                if choice < 3 || newIDs.isEmpty {
                    sql.append("INSERT INTO t VALUES (\(next), 1, 'new \(next)')")
                    newIDs.insert(next)
                    touched.insert(next)
                    next += 1
                } else if choice < 9 {
                    let id = newIDs.randomElement(using: &rng)!
                    sql.append("UPDATE t SET v = v + 1, s = 'upd \(Int.random(in: 0...999, using: &rng))' WHERE id = \(id)")
                } else {
                    let id = newIDs.randomElement(using: &rng)!
                    if touched.contains(id) { continue }
                    sql.append("DELETE FROM t WHERE id = \(id)")
                    newIDs.remove(id)
                }
            }
            do {
                if sql.count > 1 {
                    try current.execute("BEGIN")
                    for statement in sql { try current.execute(statement) }
                    try current.execute("COMMIT")
                } else if let statement = sql.first {
                    try current.execute(statement)
                }
                ids = newIDs
                committed.add(sql.count, ordering: .sequentiallyConsistent)
            } catch {
                // The server is restarting: reconnect (the transaction did not commit; the ids are re-read).
                var reconnected: MySQLConnection?
                for _ in 0..<300 where !stopFlag.load(ordering: .relaxed) {
                    usleep(100_000)
                    if let c = try? LiveServer.connect(url: url), (try? c.execute("USE \(database)")) != nil {
                        reconnected = c
                        break
                    }
                }
                guard let reconnected else {
                    if !stopFlag.load(ordering: .relaxed) { failure = error }
                    return
                }
                current = reconnected
                ids = Set((try? current.query("SELECT id FROM t"))?.compactMap { $0[0].flatMap { Int($0) } } ?? [])
            }
            if pause > 0 { usleep(UInt32(pause * 1_000_000)) }  // the write rate, not a wait
        }
    }

    private var url: String? { connection.endpoint.url }
}

extension MySQLConnection.Endpoint {
    var url: String { "mysql://\(user):\(password ?? "")@\(host):\(port)/" }
}

/// One change of `t` as the checker sees it (from a `ChangeEvent` or a JSON line).
struct CheckedChange {
    var op: String
    var id: Int
    var beforeV: Int?
    var afterV: Int?
    var afterS: String?
    var position: String
    var isSnapshot: Bool

    init(_ event: ChangeEvent) {
        op = event.op.rawValue
        func int(_ row: Row?, _ name: String) -> Int? {
            if case .int(let v)? = row?[name] { return Int(v) }
            return nil
        }
        id = int(event.after, "id") ?? int(event.before, "id") ?? -1
        beforeV = int(event.before, "v")
        afterV = int(event.after, "v")
        if case .string(let s)? = event.after?["s"] { afterS = s }
        position = event.position.text
        isSnapshot = event.isSnapshot
    }

    init(json line: [String: Any]) {
        op = line["op"] as! String
        let before = line["before"] as? [String: Any], after = line["after"] as? [String: Any]
        id = (after?["id"] as? Int) ?? (before?["id"] as? Int) ?? -1
        beforeV = before?["v"] as? Int
        afterV = after?["v"] as? Int
        afterS = after?["s"] as? String
        let source = line["source"] as! [String: Any]
        position = source["position"] as! String
        isSnapshot = source["snapshot"] as? Bool ?? false
    }
}

enum ChangeChecker {
    /// Checks that the changes, in log order, are a gapless history of every key (versions follow each
    /// other; nothing missing, nothing doubled) and that replaying them gives the table's rows. With
    /// `incrementalReads`, a snapshot row of a key already known must carry the key's current version.
    static func check(_ changes: [CheckedChange], table rows: [[String?]], _ label: String, incrementalReads: Bool = false) {
        var state: [Int: (v: Int, s: String?)] = [:]
        var problems: [String] = []
        for change in changes {
            let known = state[change.id]
            switch change.op {
            case "r":
                if let known, !incrementalReads || known.v != change.afterV || known.s != change.afterS {
                    problems.append("\(change.position): snapshot row \(change.id) (v \(change.afterV ?? -1)) but it is known at v \(known.v)")
                }
                state[change.id] = (change.afterV ?? -1, change.afterS)
            case "c":
                if known != nil || change.afterV != 1 {
                    problems.append("\(change.position): insert of \(change.id) (v \(change.afterV ?? -1)) but it exists (v \(known?.v ?? -1))")
                }
                state[change.id] = (change.afterV ?? -1, change.afterS)
            case "u" where incrementalReads && known == nil, "d" where incrementalReads && known == nil:
                // A row from before the stream began that no snapshot has read yet.
                state[change.id] = change.op == "u" ? (change.afterV ?? -1, change.afterS) : nil
            case "u":
                if known?.v != change.beforeV || change.afterV != (change.beforeV ?? -2) + 1 {
                    problems.append("\(change.position): update of \(change.id) \(change.beforeV ?? -1)→\(change.afterV ?? -1) after v \(known?.v ?? -1)")
                }
                state[change.id] = (change.afterV ?? -1, change.afterS)
            case "d":
                if known?.v != change.beforeV { problems.append("\(change.position): delete of \(change.id) at v \(change.beforeV ?? -1) after v \(known?.v ?? -1)") }
                state[change.id] = nil
            default:
                problems.append("unexpected op \(change.op)")
            }
        }
        var expected: [Int: (v: Int, s: String?)] = [:]
        for row in rows { expected[Int(row[0]!)!] = (Int(row[1]!)!, row[2]) }
        let missing = expected.keys.filter { state[$0] == nil }.count
        let extra = state.keys.filter { expected[$0] == nil }.count
        let different = expected.keys.filter { key in state[key].map { $0.v != expected[key]!.v || $0.s != expected[key]!.s } ?? false }.count
        #expect(problems.isEmpty, "\(label): \(problems.count) history problems, first: \(problems.prefix(5))")
        #expect(missing == 0 && extra == 0 && different == 0,
                "\(label): replay vs table: \(missing) rows missing, \(extra) extra, \(different) different (table \(expected.count) rows)")
    }
}
