import Foundation
import SluiceTestSupport

/// A deterministic mixed workload for a real PostgreSQL or MariaDB table, as SQL scripts, with the changes it must
/// produce: transactions of several statements that touch the same key more than once (insert, updates, delete,
/// re-insert), deletes, re-inserts of deleted keys, NULLs, decimals, timestamps (with offsets, before 1970), dates,
/// json, unicode text, large text that PostgreSQL stores out of line (so updates that leave it alone send it as an
/// unchanged TOAST value), and rolled-back transactions that must leave no trace.
struct RealSourceWorkload {
    enum Dialect: String { case postgres, mysql }

    static let columns = [
        "id", "name", "amount", "exact", "price", "qty", "version", "active", "created", "local_ts", "day", "doc", "note",
    ]
    static let jsonColumns = ["doc"]

    let dialect: Dialect
    let table = "items"
    /// CREATE TABLE and the initial rows (in PostgreSQL read by the initial snapshot).
    private(set) var setup = ""
    /// Scripts run one after the other, while pipelines are started and killed.
    private(set) var phases: [String] = []
    /// Every change the workload makes, in commit order: [op, id].
    private(set) var expectedChanges: [[String]] = []

    private var random: SeededGenerator
    private var live = Set<Int>()

    init(dialect: Dialect, seed: UInt64, keys: Int = 40, initialRows: Int = 25, transactions: [Int] = [160, 260]) {
        self.dialect = dialect
        random = SeededGenerator(seed: seed)
        var script = sessionPrelude + createTable + "\n"
        // Initial rows: a PostgreSQL snapshot reads them in key order (op r); MariaDB streams them (op c).
        let initial = (1...keys).shuffled(using: &random).prefix(initialRows).sorted()
        for key in initial {
            script += insert(key) + ";\n"
            live.insert(key)
        }
        let initialOp = dialect == .postgres ? "r" : "c"
        expectedChanges = initial.map { [initialOp, String($0)] }
        setup = script
        for (index, count) in transactions.enumerated() {
            var phase = sessionPrelude
            for _ in 0..<count {
                phase += transaction(keys: keys)
                // The first phase is written slowly, so that runs killed meanwhile are killed mid-stream.
                if index == 0 { phase += dialect == .postgres ? "SELECT pg_sleep(0.025);\n" : "DO SLEEP(0.025);\n" }
            }
            phases.append(phase)
        }
    }

    // MARK: SQL

    private var sessionPrelude: String {
        switch dialect {
        case .postgres: return "SET TimeZone = 'UTC';\n"
        case .mysql: return "SET time_zone = '+00:00';\nSET NAMES utf8mb4;\n"
        }
    }

    private var createTable: String {
        switch dialect {
        case .postgres:
            return """
                CREATE TABLE items (id bigint PRIMARY KEY, name text, amount numeric(12,2), exact numeric,
                    price double precision, qty integer, version integer NOT NULL, active boolean, created timestamptz,
                    local_ts timestamp, day date, doc jsonb, note text);
                ALTER TABLE items ALTER COLUMN note SET STORAGE EXTERNAL;
                """
        case .mysql:
            return """
                CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(200), amount DECIMAL(12,2), exact DECIMAL(30,10),
                    price DOUBLE, qty INT, version INT NOT NULL, active BOOLEAN, created TIMESTAMP(6) NULL DEFAULT NULL,
                    local_ts DATETIME(6) NULL, day DATE, doc JSON, note LONGTEXT) DEFAULT CHARSET = utf8mb4;
                """
        }
    }

    /// The query that prints the source table, one JSON object per line, normalised: decimals as text, timestamps
    /// as UTC microseconds since 1970 (timestamp without zone: its wall clock as if UTC), dates as days since 1970,
    /// json as its text.
    var fetchQuery: String {
        switch dialect {
        case .postgres:
            return """
                SELECT json_build_object('id', id, 'name', name, 'amount', amount::text, 'exact', exact::text,
                    'price', price, 'qty', qty, 'version', version, 'active', active,
                    'created', (extract(epoch FROM created) * 1000000)::bigint,
                    'local_ts', (extract(epoch FROM local_ts) * 1000000)::bigint,
                    'day', day - date '1970-01-01', 'doc', doc::text, 'note', note) FROM items ORDER BY id;
                """
        case .mysql:
            return """
                SET time_zone = '+00:00';
                SELECT JSON_OBJECT('id', id, 'name', name, 'amount', CAST(amount AS CHAR), 'exact', CAST(exact AS CHAR),
                    'price', price, 'qty', qty, 'version', version, 'active', active,
                    'created', TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', created),
                    'local_ts', TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', local_ts),
                    'day', DATEDIFF(day, '1970-01-01'), 'doc', CAST(doc AS CHAR), 'note', note) FROM items ORDER BY id;
                """
        }
    }

    private mutating func transaction(keys: Int) -> String {
        let rollback = random.next(below: 20) == 0
        let savedLive = live
        var changes: [[String]] = []
        var sql = dialect == .postgres ? "BEGIN;\n" : "START TRANSACTION;\n"
        var lastKey: Int? = nil
        let statements = 1 + Int(random.next(below: 7))
        for _ in 0..<statements {
            let key: Int
            if let last = lastKey, random.next(below: 2) == 0 { key = last } else { key = 1 + Int(random.next(below: UInt64(keys))) }
            lastKey = key
            if live.contains(key) {
                let roll = random.next(below: 100)
                let free = (1...keys).filter { !live.contains($0) }
                if roll < 8, !free.isEmpty {
                    // The key itself changes: a delete of the old key and the update of the new one.
                    let newKey = free[Int(random.next(below: UInt64(free.count)))]
                    sql += update(key, newKey: newKey) + ";\n"
                    live.remove(key)
                    live.insert(newKey)
                    changes.append(["d", String(key)])
                    changes.append(["u", String(newKey)])
                    lastKey = newKey
                } else if roll < 70 {
                    sql += update(key) + ";\n"
                    changes.append(["u", String(key)])
                } else {
                    sql += "DELETE FROM items WHERE id = \(key);\n"
                    live.remove(key)
                    changes.append(["d", String(key)])
                }
            } else {
                sql += insert(key) + ";\n"
                live.insert(key)
                changes.append(["c", String(key)])
            }
        }
        if rollback {
            live = savedLive
            return sql + "ROLLBACK;\n"
        }
        expectedChanges += changes
        return sql + "COMMIT;\n"
    }

    private mutating func insert(_ key: Int) -> String {
        let values = Self.columns.dropFirst().map { column -> String in
            column == "version" ? "1" : value(for: column)
        }
        return "INSERT INTO items (\(Self.columns.joined(separator: ", "))) VALUES (\(key), \(values.joined(separator: ", ")))"
    }

    private mutating func update(_ key: Int, newKey: Int? = nil) -> String {
        var assignments = ["version = version + 1"]  // always a real change (MariaDB logs no row for a no-op update)
        if let newKey {
            assignments.append("id = \(newKey)")
            // PostgreSQL sends an unchanged TOASTed value as "unchanged" even when the key moves, and the sinks
            // cannot take it from the old key's row (a known limit): set it.
            assignments.append("note = 'moved from \(key)'")
        }
        for column in Self.columns.dropFirst()
        where column != "version" && !(newKey != nil && column == "note") && random.next(below: 100) < 35 {
            assignments.append("\(column) = \(value(for: column))")
        }
        return "UPDATE items SET \(assignments.joined(separator: ", ")) WHERE id = \(key)"
    }

    private mutating func value(for column: String) -> String {
        if column != "note" && random.next(below: 7) == 0 { return "NULL" }
        switch column {
        case "name":
            let names = ["alpha", "o''brien", "Zürich ☃", "日本語 😀", "", "semi;colon", "  spaced  ", "\"quoted\""]
            return "'" + names[Int(random.next(below: UInt64(names.count)))] + "'"
        case "amount":
            let cents = Int64(random.next(below: 2_000_000_000_000)) - 1_000_000_000_000 + 1
            let magnitude = cents.magnitude
            return (cents < 0 ? "-" : "") + "\(magnitude / 100)." + String(format: "%02d", Int(magnitude % 100))
        case "exact":
            let choices =
                dialect == .postgres
                ? ["0", "1.2300", "-0.0000001000", "98765432109876543210.5", "3.14159265358979323846264338327950288", "-42"]
                : ["0", "1.2300", "-0.0000001000", "98765432109876543210.5", "3.1415926535", "-42"]
            return choices[Int(random.next(below: UInt64(choices.count)))]
        case "price":
            let choices = ["0.1", "3.25", "-2.5e-7", "123456.789", "1e21", "-0.0", "7"]
            return choices[Int(random.next(below: UInt64(choices.count)))]
        case "qty":
            let choices: [Int64] = [0, 1, -1, 2_147_483_647, -2_147_483_647, Int64(random.next(below: 100_000))]
            return String(choices[Int(random.next(below: UInt64(choices.count)))])
        case "active":
            return random.next(below: 2) == 0 ? "TRUE" : "FALSE"
        case "created":
            // 2001…2036 (MariaDB TIMESTAMP ends in 2038), with microseconds; PostgreSQL literals carry an offset.
            let seconds = 1_000_000_000 + Int64(random.next(below: 1_100_000_000))
            let micros = Int64(random.next(below: 1_000_000))
            if dialect == .postgres {
                let offsets: [(Int64, String)] = [(0, "+00"), (19800, "+05:30"), (-25200, "-07")]
                let (offset, text) = offsets[Int(random.next(below: 3))]
                return "'" + Self.civil(seconds + offset, micros) + text + "'"
            }
            return "'" + Self.civil(seconds, micros) + "'"
        case "local_ts":
            let seconds = -2_000_000_000 + Int64(random.next(below: 6_000_000_000))  // 1906…2096
            return "'" + Self.civil(seconds, Int64(random.next(below: 1_000_000))) + "'"
        case "day":
            let days = -30_000 + Int64(random.next(below: 70_000))
            return "'" + String(Self.civil(days * 86_400, 0).prefix(10)) + "'"
        case "doc":
            let n = random.next(below: 1000)
            let docs = [
                #"{"k": \#(n), "s": "ü ☃", "a": [1, 2.5, null, true], "nested": {"x": "y", "deep": [[]]}}"#,
                #"[\#(n), "two", {"three": 3}]"#, #"{}"#, #"{"big": 12345678901234, "neg": -1, "f": false}"#,
            ]
            return "'" + docs[Int(random.next(below: UInt64(docs.count)))] + "'"
        case "note":
            switch random.next(below: 4) {
            case 0: return "NULL"
            case 1:
                // Large: stored out of line by PostgreSQL (STORAGE EXTERNAL), so later updates send it unchanged.
                return dialect == .postgres
                    ? "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 120))"
                    : "REPEAT(MD5(RAND()), 120)"
            default: return "'note \(random.next(below: 100_000))'"
            }
        default:
            return "NULL"
        }
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff` of seconds since 1970 (proleptic Gregorian).
    static func civil(_ seconds: Int64, _ micros: Int64) -> String {
        var days = seconds / 86_400
        var rest = seconds % 86_400
        if rest < 0 {
            rest += 86_400
            days -= 1
        }
        let (year, month, day) = civilDate(fromDays: days)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d.%06d", Int(year), Int(month), Int(day), Int(rest / 3600),
            Int(rest / 60 % 60), Int(rest % 60), Int(micros))
    }
}

