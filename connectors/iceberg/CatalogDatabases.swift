import Foundation
import SluicePostgresClient
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

/// A PostgreSQL database holding a SQL catalog, reached through the one libpq wrapper; used under a lock.
final class PostgresCatalogDatabase: CatalogDatabase, @unchecked Sendable {
    // @unchecked Sendable: the connection is only touched while `lock` is held.
    private let connection: PostgresConnection
    private let lock = NSLock()

    init(conninfo: String) throws {
        do {
            connection = try PostgresConnection(.init(conninfo: conninfo, applicationName: "sluice-iceberg-catalog"),
                                                replication: false)
        } catch {
            throw IcebergError(
                .io, "cannot connect to the PostgreSQL catalog: \(error)",
                hint: "check catalog_uri (postgresql://user@host:port/db)")
        }
    }

    func placeholder(_ index: Int) -> String { "$\(index)" }

    func execute(_ sql: String, _ parameters: [String?]) throws -> (rows: [[String?]], changes: Int) {
        lock.lock()
        defer { lock.unlock() }
        connection.reconnectIfBroken()
        do {
            let result = try connection.execute(sql, parameters: parameters)
            return (result.allRows, result.affectedRowCount)
        } catch let error as PostgresQueryError {
            throw IcebergError(.io, "PostgreSQL catalog: \(error.message) [\(error.sqlState)]")
        } catch {
            throw IcebergError(.io, "PostgreSQL catalog: \(error)")
        }
    }
}
