import CLibPQ
import CSQLite
import Foundation

/// The SQLite file of a SQL catalog. Owns the `sqlite3` handle; used under a lock (one statement at a time).
final class SQLiteCatalogDatabase: CatalogDatabase, @unchecked Sendable {
    private var handle: OpaquePointer?
    private let lock = NSLock()
    let path: String

    init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard
            sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nil)
                == SQLITE_OK
        else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw IcebergError(
                .io, "cannot open the SQLite catalog \(path): \(message)",
                hint: "check the catalog_uri path and its permissions")
        }
        sqlite3_busy_timeout(handle, 10_000)
    }

    deinit { sqlite3_close(handle) }

    func placeholder(_ index: Int) -> String { "?" }

    func execute(_ sql: String, _ parameters: [String?]) throws -> (rows: [[String?]], changes: Int) {
        lock.lock()
        defer { lock.unlock() }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else {
            throw IcebergError(.io, "SQLite catalog \(path): \(String(cString: sqlite3_errmsg(handle)))")
        }
        defer { sqlite3_finalize(statement) }
        for (index, parameter) in parameters.enumerated() {
            if let parameter {
                sqlite3_bind_text(statement, Int32(index + 1), parameter, -1, sluice_sqlite_transient())
            } else {
                sqlite3_bind_null(statement, Int32(index + 1))
            }
        }
        var rows: [[String?]] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else {
                throw IcebergError(
                    .io, "SQLite catalog \(path): \(String(cString: sqlite3_errmsg(handle)))",
                    hint: "another process may hold the catalog locked; retry")
            }
            let count = sqlite3_column_count(statement)
            rows.append(
                (0..<count).map { column in
                    sqlite3_column_text(statement, column).map { String(cString: $0) }
                })
        }
        return (rows, Int(sqlite3_changes(handle)))
    }
}

/// A PostgreSQL database holding a SQL catalog. Owns the libpq connection; used under a lock.
final class PostgresCatalogDatabase: CatalogDatabase, @unchecked Sendable {
    private let connection: OpaquePointer
    private let lock = NSLock()

    init(conninfo: String) throws {
        guard let connection = PQconnectdb(conninfo) else {
            throw IcebergError(.io, "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(connection)
            throw IcebergError(
                .io, "cannot connect to the PostgreSQL catalog: \(message)",
                hint: "check catalog_uri (postgresql://user@host:port/db)")
        }
        self.connection = connection
    }

    deinit { PQfinish(connection) }

    func placeholder(_ index: Int) -> String { "$\(index)" }

    func execute(_ sql: String, _ parameters: [String?]) throws -> (rows: [[String?]], changes: Int) {
        lock.lock()
        defer { lock.unlock() }
        if PQstatus(connection) != CONNECTION_OK { PQreset(connection) }
        let copies: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        let result = copies.map { UnsafePointer($0) }.withUnsafeBufferPointer { buffer in
            PQexecParams(connection, sql, Int32(parameters.count), nil, buffer.baseAddress, nil, nil, 0)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            throw IcebergError(.io, "PostgreSQL catalog: \(message)")
        }
        var rows: [[String?]] = []
        let columns = PQnfields(result)
        for row in 0..<PQntuples(result) {
            rows.append(
                (0..<columns).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                })
        }
        let changes = Int(String(cString: PQcmdTuples(result))) ?? 0
        return (rows, changes)
    }
}
