import CLibPQ
import Foundation
import SluiceSQLite

/// The SQLite file of a SQL catalog; used under a lock (one statement at a time).
final class SQLiteCatalogDatabase: CatalogDatabase, @unchecked Sendable {
    // @unchecked Sendable: the connection is only touched while `lock` is held.
    private let connection: SQLiteConnection
    private let lock = NSLock()
    var path: String { connection.path }

    init(path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        connection = try SQLiteConnection(path: path, mode: .readWriteCreate, makeError: Self.error(for:))
        try connection.setBusyTimeout(milliseconds: 10_000)
    }

    func placeholder(_ index: Int) -> String { "?" }

    func execute(_ sql: String, _ parameters: [String?]) throws -> (rows: [[String?]], changes: Int) {
        lock.lock()
        defer { lock.unlock() }
        let rows = try connection.withStatement(sql) { statement in
            for (index, parameter) in parameters.enumerated() {
                try statement.bind(parameter, at: Int32(index + 1))
            }
            var rows: [[String?]] = []
            while try statement.step() {
                rows.append((0..<statement.columnCount).map { statement.text(at: $0) })
            }
            return rows
        }
        return (rows, Int(connection.changedRowCount))
    }

    /// The catalog's error for a failed SQLite call.
    private static func error(for failure: SQLiteFailure) -> IcebergError {
        switch failure.kind {
        case .open:
            IcebergError(
                .io, "cannot open the SQLite catalog \(failure.path): \(failure.message)",
                hint: "check the catalog_uri path and its permissions")
        case .step:
            IcebergError(
                .io, "SQLite catalog \(failure.path): \(failure.message)",
                hint: "another process may hold the catalog locked; retry")
        case .closed, .prepare, .execute, .bind:
            IcebergError(.io, "SQLite catalog \(failure.path): \(failure.activity) failed: \(failure.message)")
        }
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
