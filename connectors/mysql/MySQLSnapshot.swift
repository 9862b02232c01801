import Foundation
import Logging
import SluiceCore
import SluiceConnectorKit

/// Snapshot progress, stored with every snapshot batch (state key `snapshot`).
///
/// The snapshot reads every captured table in a consistent-snapshot transaction whose binlog position
/// (`file`/`position`) streaming then starts from. A snapshot interrupted by a crash continues under a *new*
/// consistent snapshot: each table keeps *segments*, key ranges with the binlog position their rows were read
/// at. Streamed changes to keys of a segment from before its position are already in the snapshot rows and are
/// dropped (`MySQLSnapshotFilter`), so nothing is applied twice out of order.
struct MySQLSnapshotState: Codable, Sendable, Equatable {
    static let key = "snapshot"

    struct Segment: Codable, Sendable, Hashable {
        /// Keys strictly above this (integer primary keys), or the whole table when nil.
        var afterKey: [Int64]?
        var file: String
        var position: UInt64
    }

    struct TableProgress: Codable, Sendable, Equatable {
        var database: String
        var name: String
        var done = false
        /// Primary-key values of the last row emitted, as the server's text (hex of the bytes).
        var lastKey: [String?]?
        var rowsDone: Int64 = 0
        var segments: [Segment]
        /// The table is read again from its start: a `t` event (snapshot) first clears its earlier rows downstream.
        var resetPending: Bool? = nil
    }

    /// The position streaming starts from (the first consistent snapshot's).
    var file: String
    var position: UInt64
    /// The MariaDB GTID state at that position (`BINLOG_GTID_POS`), or the MySQL `gtid_executed`.
    var gtid: String?
    var done = false
    /// Snapshot rows emitted so far, over all runs: the sequence in the events' sort keys.
    var emitted: UInt64 = 0
    var tables: [TableProgress]

    /// A snapshot of `tables` at `point`; `replacing` a lost position, each table's rows are cleared downstream first
    /// (rows deleted while the position was lost must not survive).
    static func fresh(tables: [TableID], at point: SnapshotPoint, replacing: Bool = false) -> MySQLSnapshotState {
        MySQLSnapshotState(file: point.file, position: point.position, gtid: point.gtid, tables: tables.map {
            TableProgress(database: $0.database, name: $0.name,
                          segments: [Segment(afterKey: nil, file: point.file, position: point.position)],
                          resetPending: replacing ? true : nil)
        })
    }

    /// Prepares to continue under a new consistent snapshot taken at `point`: a table stopped mid-way with an
    /// integer key continues after its last key in a new segment; any other unfinished table is read again
    /// from its start, after a `t` event that clears its earlier snapshot rows downstream (a row deleted between the
    /// two snapshots would otherwise survive).
    mutating func restart(at point: SnapshotPoint, tables current: [TableID]) {
        for index in tables.indices where !tables[index].done {
            if let lastKey = tables[index].lastKey, let ints = Self.integers(lastKey) {
                tables[index].segments.append(Segment(afterKey: ints, file: point.file, position: point.position))
            } else {
                if tables[index].rowsDone > 0 || tables[index].lastKey != nil { tables[index].resetPending = true }
                tables[index].lastKey = nil
                tables[index].rowsDone = 0
                tables[index].segments = [Segment(afterKey: nil, file: point.file, position: point.position)]
            }
        }
        for table in current where !tables.contains(where: { $0.database == table.database && $0.name == table.name }) {
            tables.append(TableProgress(database: table.database, name: table.name,
                                        segments: [Segment(afterKey: nil, file: point.file, position: point.position)]))
        }
    }

    /// Integer keys from the stored hex text (nil when a key column is not an integer that fits Int64).
    static func integers(_ hexTexts: [String?]) -> [Int64]? {
        var out: [Int64] = []
        for hex in hexTexts {
            guard let hex, let bytes = HexBytes.decode(hex), let value = Int64(String(decoding: bytes, as: UTF8.self)) else {
                return nil
            }
            out.append(value)
        }
        return out
    }

    func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }
    static func decode(_ bytes: [UInt8]) throws -> MySQLSnapshotState {
        try JSONDecoder().decode(MySQLSnapshotState.self, from: Data(bytes))
    }
}

/// A consistent snapshot's binlog position.
struct SnapshotPoint: Sendable {
    var file: String
    var position: UInt64
    var gtid: String?
}

/// Drops streamed changes that a later snapshot segment already reflects (see `MySQLSnapshotState`).
struct MySQLSnapshotFilter: Sendable {
    struct Segment: Sendable {
        var afterKey: [Int64]?
        var sortKey: [UInt8]
    }
    private var segments: [TableID: [Segment]] = [:]
    /// Events at or after this position are never dropped.
    let maxSortKey: [UInt8]

    init?(_ state: MySQLSnapshotState) {
        let start = Self.sortKey(file: state.file, position: state.position)
        var maxKey = start
        for table in state.tables {
            let list = table.segments.map { Segment(afterKey: $0.afterKey, sortKey: Self.sortKey(file: $0.file, position: $0.position)) }
            guard list.contains(where: { start.lexicographicallyPrecedes($0.sortKey) }) else { continue }
            segments[TableID(database: table.database, schema: table.database, name: table.name)] = list
            for segment in list where maxKey.lexicographicallyPrecedes(segment.sortKey) { maxKey = segment.sortKey }
        }
        if segments.isEmpty { return nil }
        maxSortKey = maxKey
    }

    static func sortKey(file: String, position: UInt64) -> [UInt8] {
        SourcePosition.sortKey(file.split(separator: ".").last.flatMap { UInt64($0) } ?? 0, position, 0)
    }

    /// True when the event at `sortKey` on `table` is older than the snapshot segment holding its key.
    func shouldDrop(table: TableID, sortKey: [UInt8], key: [Int64]?) -> Bool {
        guard sortKey.lexicographicallyPrecedes(maxSortKey), let list = segments[table] else { return false }
        var covering: Segment?
        for segment in list {
            if let after = segment.afterKey {
                guard let key, after.lexicographicallyPrecedes(key) else { continue }
            }
            covering = segment
        }
        guard let covering else { return false }
        return sortKey.lexicographicallyPrecedes(covering.sortKey)
    }

    /// The integer key of a row image (nil when the table has none or a key value is not an integer).
    static func key(of row: Row, primaryKey: [String]) -> [Int64]? {
        guard !primaryKey.isEmpty else { return nil }
        var out: [Int64] = []
        for column in primaryKey {
            guard case .int(let value)? = row[column] else { return nil }
            out.append(value)
        }
        return out
    }
}

/// One captured table as the snapshot reads it: columns with their decoding plans, select expressions, key.
struct SnapshotTablePlan {
    var table: TableID
    var schema: TableSchema
    var plans: [ColumnDecoding]
    var selectList: String
    var keyIndexes: [Int]
    /// How each key column is written back as an SQL literal.
    var keyLiteralKinds: [LiteralKind]

    enum LiteralKind { case number, text, binary }

    /// The values of one row as the server returned it (text protocol), decoded exactly.
    func values(of row: [[UInt8]?], location: String) throws -> [Value] {
        var values: [Value] = []
        values.reserveCapacity(plans.count)
        for (c, plan) in plans.enumerated() {
            guard let bytes = row[c] else {
                values.append(.null)
                continue
            }
            do {
                values.append(try SnapshotValues.parse(bytes, plan))
            } catch {
                throw SluiceError(.decoding, "column \(schema.columns[c].name) of \(table) could not be read: \(error)",
                                  location: location)
            }
        }
        return values
    }
}

/// Reads the captured tables in a consistent-snapshot transaction, in primary-key chunks (keyset pagination;
/// tables without a primary key in one pass), emitting op `r` events with the progress in the batch state.
struct MySQLSnapshotReader {
    let settings: MySQLSourceSettings
    let context: SourceContext
    let logger: Logger
    let server: ServerSettings

    /// The tables the source captures, from information_schema.
    static func capturedTables(_ connection: MySQLConnection, settings: MySQLSourceSettings) throws -> [TableID] {
        let rows = try connection.query("""
            SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'
            AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
            ORDER BY TABLE_SCHEMA, TABLE_NAME
            """)
        return rows.compactMap { row in
            guard let database = row[0], let name = row[1], settings.captures(database: database, table: name) else { return nil }
            return TableID(database: database, schema: database, name: name)
        }
    }

    /// Opens a consistent-snapshot transaction on `connection` and returns the binlog position that matches it.
    ///
    /// MariaDB reports the position of the snapshot itself (`Binlog_snapshot_file/position` status, no lock);
    /// MySQL needs a short global read lock around the start of the transaction (RELOAD privilege).
    static func begin(_ connection: MySQLConnection, server: ServerSettings) throws -> SnapshotPoint {
        try connection.execute("SET SESSION time_zone = '+00:00'")
        try connection.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        if server.isMariaDB {
            try connection.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            let status = try connection.query("SHOW STATUS LIKE 'binlog_snapshot_%'")
            var file: String?, position: UInt64?
            for row in status {
                switch row[0]?.lowercased() {
                case "binlog_snapshot_file": file = row[1] ?? nil
                case "binlog_snapshot_position": position = row[1].flatMap { UInt64($0) }
                default: break
                }
            }
            guard let file, !file.isEmpty, let position else {
                throw SluiceError(.sourceSetup, "the server reports no binlog position for the consistent snapshot",
                                  hint: "enable log_bin on the server")
            }
            let gtid = (try? connection.query("SELECT BINLOG_GTID_POS(\(connection.quoted(file)), \(position))"))?
                .first?.first ?? nil
            return SnapshotPoint(file: file, position: position, gtid: gtid)
        }
        do {
            try connection.execute("FLUSH TABLES WITH READ LOCK")
        } catch let error as SluiceError {
            throw SluiceError(.sourceSetup, "the snapshot needs a brief global read lock to find its binlog position",
                              hint: "grant the capture user RELOAD (and LOCK TABLES), or use snapshot_mode: never",
                              underlying: error)
        }
        defer { try? connection.execute("UNLOCK TABLES") }
        try connection.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        let position = try server.currentPosition(connection)
        let gtid = (try? connection.query("SELECT @@global.gtid_executed"))?.first?.first ?? nil
        return SnapshotPoint(file: position.file, position: position.position, gtid: gtid?.replacingOccurrences(of: "\n", with: ""))
    }

    /// Reads every unfinished table of `state`; returns the table schemas it used.
    func run(_ state: inout MySQLSnapshotState, connection: MySQLConnection, point: SnapshotPoint,
             clearPosition: Bool) async throws -> [TableID: TableSchema] {
        var catalog = MySQLCatalog(connection: connection)
        var schemas: [TableID: TableSchema] = [:]
        let started = ContinuousClock.now
        var clearPosition = clearPosition
        for index in state.tables.indices where !state.tables[index].done {
            let progress = state.tables[index]
            let table = TableID(database: progress.database, schema: progress.database, name: progress.name)
            guard let plan = try self.plan(table, connection: connection, catalog: &catalog) else {
                state.tables[index].done = true  // dropped since: nothing to read
                continue
            }
            schemas[table] = plan.schema
            try await read(index, plan, &state, connection: connection, clearPosition: &clearPosition)
        }
        try connection.execute("COMMIT")
        let rows = state.tables.reduce(0) { $0 + $1.rowsDone }
        logger.info("snapshot finished", metadata: [
            "sluice.rows": .stringConvertible(rows),
            "sluice.seconds": .stringConvertible((ContinuousClock.now - started).components.seconds),
            "sluice.mysql.position": .string("\(state.file):\(state.position)")])
        return schemas
    }

    /// The table's columns (from information_schema, with the same decoding plans and schema the binlog
    /// stream builds), or nil when the table no longer exists.
    func plan(_ table: TableID, connection: MySQLConnection, catalog: inout MySQLCatalog) throws -> SnapshotTablePlan? {
        guard let info = try catalog.columns(database: table.database, table: table.name) else { return nil }
        let rows = try connection.query("""
            SELECT c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.DATETIME_PRECISION, c.CHARACTER_OCTET_LENGTH, co.ID
            FROM information_schema.COLUMNS c
            LEFT JOIN information_schema.COLLATIONS co ON co.COLLATION_NAME = c.COLLATION_NAME
            WHERE c.TABLE_SCHEMA = \(connection.quoted(table.database)) AND c.TABLE_NAME = \(connection.quoted(table.name))
            ORDER BY c.ORDINAL_POSITION
            """)
        guard rows.count == info.count else { return nil }
        var columns: [ColumnSchema] = []
        var plans: [ColumnDecoding] = []
        var selects: [String] = []
        for (column, row) in zip(info, rows) {
            let binlog = Self.binlogColumn(column, numericPrecision: row[0].flatMap { Int($0) },
                                           numericScale: row[1].flatMap { Int($0) },
                                           datetimePrecision: row[2].flatMap { Int($0) },
                                           octetLength: row[3].flatMap { Int($0) },
                                           collation: row[4].flatMap { Int($0) }, isMariaDB: server.isMariaDB)
            let plan = try ColumnDecoding(binlog, catalog: column)
            plans.append(plan)
            columns.append(ColumnSchema(name: column.name, sourceType: column.columnType, kind: plan.kind,
                                        nullable: column.nullable, precision: plan.exactDecimal?.precision,
                                        scale: plan.exactDecimal?.scale))
            let quoted = Self.identifier(column.name)
            switch plan {
            case .float: selects.append("CAST(\(quoted) AS DOUBLE)")  // the text of a FLOAT is rounded to 6 digits
            // The address bytes, printed by the same code as streamed values (ColumnValueDecoder.inet6Text).
            case .inet6: selects.append("CAST(\(quoted) AS BINARY(16))")
            case .inet4: selects.append("CAST(\(quoted) AS BINARY(4))")
            default: selects.append(quoted)
            }
        }
        let key = try catalog.primaryKey(database: table.database, table: table.name) ?? []
        let names = columns.map(\.name)
        let keyIndexes = key.compactMap { names.firstIndex(of: $0) }
        let kinds: [SnapshotTablePlan.LiteralKind] = keyIndexes.map { index in
            switch plans[index] {
            case .integer, .year, .float, .double, .newDecimal: return .number
            case .string(_, let charset, _), .blob(_, let charset): return charset == .binary ? .binary : .text
            case .bit, .geometry, .vector, .inet6, .inet4: return .binary
            case .mariaUUID: return .text  // selected as its text, which MariaDB compares as a UUID
            default: return .text
            }
        }
        let schema = TableSchema(table: table, version: 1, columns: columns, primaryKey: key)
        return SnapshotTablePlan(table: table, schema: schema, plans: plans, selectList: selects.joined(separator: ", "),
                                 keyIndexes: keyIndexes.count == key.count ? keyIndexes : [], keyLiteralKinds: kinds)
    }

    private func read(_ index: Int, _ plan: SnapshotTablePlan, _ state: inout MySQLSnapshotState,
                      connection: MySQLConnection, clearPosition: inout Bool) async throws {
        let table = plan.table
        let qualified = Self.identifier(table.database) + "." + Self.identifier(table.name)
        // The schema: reuse the stored version when the shape is the same, else write a new one.
        var schema = plan.schema
        var pendingSchemas: [TableSchema] = []
        if let current = try await context.latestSchema(table) {
            if current.hasSameShape(as: schema) { schema = current } else {
                schema.version = current.version + 1
                pendingSchemas.append(schema)
            }
        } else {
            pendingSchemas.append(schema)
        }
        let estimate = max(Int64((try? connection.query("""
            SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(connection.quoted(table.database))
            AND TABLE_NAME = \(connection.quoted(table.name))
            """))?.first?.first.flatMap { $0 } ?? "0") ?? 0, 1)
        let names = schema.columns.map(\.name)
        let keyed = !plan.keyIndexes.isEmpty
        let keyNames = plan.keyIndexes.map { Self.identifier(names[$0]) }
        let chunkSize = keyed ? settings.snapshotChunkSize : Int.max
        let fileIndex = state.file.split(separator: ".").last.flatMap { UInt64($0) } ?? 0
        let basePosition = state.position &- 1
        let positionText = "\(state.file):\(state.position)"
        let snapshotTime = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let tableStarted = ContinuousClock.now
        var lastReport = ContinuousClock.now
        let rowsAtStart = state.tables[index].rowsDone
        while true {
            try Task.checkCancellation()
            var sql = "SELECT \(plan.selectList) FROM \(qualified)"
            if keyed {
                if let lastKey = state.tables[index].lastKey {
                    sql += " WHERE " + Self.after(keyNames, lastKey, kinds: plan.keyLiteralKinds, connection: connection)
                }
                sql += " ORDER BY " + keyNames.joined(separator: ", ") + " LIMIT \(chunkSize)"
            }
            // A table without a primary key is read in one pass (streamed from the server in pieces below).
            let result = try connection.queryBytes(sql)
            let rowCount = result.rows.count
            var offset = 0
            repeat {
                let end = min(rowCount, offset + settings.snapshotChunkSize)
                var events: [ChangeEvent] = []
                events.reserveCapacity(end - offset + 1)
                if state.tables[index].resetPending == true {
                    events.append(ChangeEvent(
                        op: .truncate, connector: "mysql", table: table, schemaVersion: schema.version, before: nil,
                        after: nil,
                        position: SourcePosition(sortKey: SourcePosition.sortKey(fileIndex, basePosition, state.emitted),
                                                 text: positionText),
                        commitTimeMicros: snapshotTime, isSnapshot: true))
                    state.emitted += 1
                    state.tables[index].resetPending = nil
                }
                for r in offset..<end {
                    let values = try plan.values(of: result.rows[r], location: "snapshot of \(table)")
                    events.append(ChangeEvent(
                        op: .read, connector: "mysql", table: table, schemaVersion: schema.version, before: nil,
                        after: Row(columns: names, values: values),
                        position: SourcePosition(sortKey: SourcePosition.sortKey(fileIndex, basePosition, state.emitted),
                                                 text: positionText),
                        commitTimeMicros: snapshotTime, isSnapshot: true))
                    state.emitted += 1
                }
                state.tables[index].rowsDone += Int64(end - offset)
                let finished = end == rowCount && (!keyed || rowCount < chunkSize)
                if keyed && end > 0 {
                    state.tables[index].lastKey = plan.keyIndexes.map { result.rows[end - 1][$0].map(HexBytes.encode) }
                }
                if finished { state.tables[index].done = true }
                var stored = state
                // Without a key, progress inside the table cannot be resumed: store only completion.
                if !keyed && !finished { stored.tables[index].rowsDone = rowsAtStart }
                var batchState: [String: [UInt8]?] = [MySQLSnapshotState.key: stored.encoded()]
                if clearPosition {
                    batchState[MySQLResumeState.key] = .some(nil)  // a purged position being replaced
                    clearPosition = false
                }
                try await context.emit(SourceBatch(schemas: pendingSchemas, events: events, state: batchState))
                pendingSchemas = []
                let now = ContinuousClock.now
                if finished || now - lastReport > .seconds(2) {
                    lastReport = now
                    context.reportProgress(SnapshotProgress(
                        table: table, rowsDone: state.tables[index].rowsDone, rowsEstimated: estimate,
                        rowsThisRun: state.tables[index].rowsDone - rowsAtStart, elapsed: now - tableStarted))
                }
                offset = end
            } while offset < rowCount
            if state.tables[index].done { break }
        }
    }

    /// `(a, b) > (x, y)` written as `a > x OR (a = x AND b > y)`, which every version turns into index ranges.
    static func after(_ keys: [String], _ hexValues: [String?], kinds: [SnapshotTablePlan.LiteralKind],
                      connection: MySQLConnection) -> String {
        func literal(_ i: Int) -> String {
            guard let hex = hexValues[i], let bytes = HexBytes.decode(hex) else { return "NULL" }
            switch kinds[i] {
            case .number: return String(decoding: bytes, as: UTF8.self)
            case .binary: return "X'\(hex)'"
            case .text: return connection.quoted(String(decoding: bytes, as: UTF8.self))
            }
        }
        var terms: [String] = []
        for i in keys.indices {
            var parts = (0..<i).map { "\(keys[$0]) = \(literal($0))" }
            parts.append("\(keys[i]) > \(literal(i))")
            terms.append("(" + parts.joined(separator: " AND ") + ")")
        }
        return "(" + terms.joined(separator: " OR ") + ")"
    }

    static func identifier(_ name: String) -> String { "`" + name.replacingOccurrences(of: "`", with: "``") + "`" }

    /// A binlog column description from information_schema, so that snapshot rows get the same decoding plan
    /// (and so the same value kinds and schema) as the binlog stream.
    static func binlogColumn(_ info: ColumnCatalogInfo, numericPrecision: Int?, numericScale: Int?, datetimePrecision: Int?,
                             octetLength: Int?, collation: Int?, isMariaDB: Bool) -> BinlogColumn {
        var type: MySQLColumnType
        var meta1 = 0, meta2 = 0
        switch info.dataType {
        case "tinyint": type = .tiny
        case "smallint": type = .short
        case "mediumint": type = .int24
        case "int", "integer": type = .long
        case "bigint": type = .longlong
        case "float": type = .float; meta1 = 4
        case "double", "real": type = .double; meta1 = 8
        case "decimal", "numeric": type = .newdecimal; meta1 = numericPrecision ?? 10; meta2 = numericScale ?? 0
        case "date": type = .date
        case "time": type = .time2; meta1 = datetimePrecision ?? 0
        case "datetime": type = .datetime2; meta1 = datetimePrecision ?? 0
        case "timestamp": type = .timestamp2; meta1 = datetimePrecision ?? 0
        case "year": type = .year
        case "bit": type = .bit; meta1 = (numericPrecision ?? 1) / 8; meta2 = (numericPrecision ?? 1) % 8
        case "enum": type = .enumeration; meta1 = (info.enumValues?.count ?? 0) > 255 ? 2 : 1
        case "set": type = .set; meta1 = ((info.setValues?.count ?? 0) + 7) / 8
        case "char", "binary", "uuid", "inet6", "inet4": type = .string; meta1 = octetLength ?? (info.dataType == "inet4" ? 4 : 16)
        case "varchar", "varbinary": type = .varchar; meta1 = octetLength ?? 65535
        case "tinytext", "tinyblob": type = .blob; meta1 = 1
        case "text", "blob": type = .blob; meta1 = 2
        case "mediumtext", "mediumblob": type = .blob; meta1 = 3
        case "longtext", "longblob": type = .blob; meta1 = 4
        case "json": type = isMariaDB ? .blob : .json; meta1 = 4
        case "vector": type = .vector; meta1 = 4
        case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
             "geometrycollection", "geomcollection":
            type = .geometry; meta1 = 4
        default: type = .blob; meta1 = 4
        }
        if info.dataType == "uuid" || info.dataType == "inet6" { meta1 = 16 }
        if info.dataType == "inet4" { meta1 = 4 }
        var column = BinlogColumn(binlogType: type.rawValue, realType: type.rawValue, meta1: meta1, meta2: meta2,
                                  nullable: info.nullable)
        if type.isNumeric { column.isUnsigned = info.isUnsigned }
        if type.isCharacter {
            column.collation = collation ?? (MySQLCatalog.isBinaryType(info.dataType) ? 63 : nil)
        }
        column.name = info.name
        column.enumValues = info.enumValues
        column.setValues = info.setValues
        return column
    }

}
