// SluiceSQLite: the one Swift wrapper around the SQLite C library (connections, prepared statements, binds, steps,
// columns and errors that say what was being done); the log, the MCP state store and the Iceberg SQL catalog use it.
import CSQLite

/// One SQLite connection and the statements prepared on it. Owns the C handles.
///
/// Not thread-safe: one thread uses a connection at a time (callers that share one across threads serialize it
/// themselves), which is why connections are opened with `SQLITE_OPEN_NOMUTEX`.
///
/// Failures are reported as `SQLiteFailure` values and turned into the caller's own error type by the
/// `makeError` function given when opening, so each user keeps its error vocabulary (and its advice).
public final class SQLiteConnection {
    /// How to open the database file.
    public enum OpenMode: Sendable {
        /// Read and write an existing file.
        case readWrite
        /// Read and write, creating the file when it does not exist.
        case readWriteCreate
        /// Read only.
        case readOnly
    }

    /// The database file.
    public let path: String
    @usableFromInline var handle: OpaquePointer?
    private var statements: [SQLiteStatement] = []
    @usableFromInline let makeError: (SQLiteFailure) -> any Error

    /// Opens the database at `path`; failures (this one and every later one) are passed through `makeError`.
    public init(path: String, mode: OpenMode, makeError: @escaping (SQLiteFailure) -> any Error) throws {
        _ = sqliteMemoryStatisticsDisabled
        self.path = path
        self.makeError = makeError
        var flags = SQLITE_OPEN_NOMUTEX
        switch mode {
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .readWriteCreate: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        }
        var opened: OpaquePointer?
        let status = sqlite3_open_v2(path, &opened, flags, nil)
        guard status == SQLITE_OK, let opened else {
            let message =
                opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            sqlite3_close_v2(opened)
            throw makeError(
                SQLiteFailure(kind: .open, status: status, message: message, activity: "opening", path: path))
        }
        sqlite3_extended_result_codes(opened, 1)
        handle = opened
    }

    deinit {
        close()
    }

    /// Finalizes every prepared statement and closes the connection; later calls fail with a `.closed` failure.
    public func close() {
        for statement in statements {
            statement.finalize()
        }
        statements.removeAll()
        if let handle {
            sqlite3_close_v2(handle)
        }
        handle = nil
    }

    /// Runs one or more SQL statements that return no rows of interest (pragmas, DDL, transaction control).
    public func execute(_ sql: String, while activity: @autoclosure () -> String) throws {
        let handle = try openHandle()
        let status = sqlite3_exec(handle, sql, nil, nil, nil)
        guard status == SQLITE_OK else {
            throw error(kind: .execute, status: status, while: activity(), sql: sql)
        }
    }

    /// Makes statements wait up to `milliseconds` for another connection's lock instead of failing at once.
    public func setBusyTimeout(milliseconds: Int32) throws {
        let handle = try openHandle()
        let status = sqlite3_busy_timeout(handle, milliseconds)
        guard status == SQLITE_OK else {
            throw error(kind: .execute, status: status, while: "setting the busy timeout", sql: nil)
        }
    }

    /// Prepares a statement that lives as long as the connection (reused with `reset` after each use).
    public func prepare(_ sql: String) throws -> SQLiteStatement {
        let statement = try makeStatement(sql, flags: UInt32(SQLITE_PREPARE_PERSISTENT))
        statements.append(statement)
        return statement
    }

    /// Prepares a statement for one use, runs `body` with it and finalizes it (for SQL that varies per call).
    public func withStatement<Result>(_ sql: String, _ body: (SQLiteStatement) throws -> Result) throws -> Result {
        let statement = try makeStatement(sql, flags: 0)
        defer { statement.finalize() }
        return try body(statement)
    }

    private func makeStatement(_ sql: String, flags: UInt32) throws -> SQLiteStatement {
        let handle = try openHandle()
        var prepared: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, flags, &prepared, nil)
        guard status == SQLITE_OK, let prepared else {
            throw error(kind: .prepare, status: status, while: "preparing a statement", sql: sql)
        }
        return SQLiteStatement(handle: prepared, connection: self)
    }

    /// True while a transaction is open (SQLite rolls some failed transactions back on its own).
    public var isInTransaction: Bool {
        guard let handle else { return false }
        return sqlite3_get_autocommit(handle) == 0
    }

    /// The rowid of the last row inserted on this connection.
    public var lastInsertedRowID: Int64 {
        guard let handle else { return 0 }
        return sqlite3_last_insert_rowid(handle)
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE on this connection.
    public var changedRowCount: Int64 {
        guard let handle else { return 0 }
        return sqlite3_changes64(handle)
    }

    /// The caller's error for SQLite's current error state (`status` is the failed call's result code).
    @usableFromInline
    func error(kind: SQLiteFailure.Kind, status: Int32, while activity: String, sql: String?) -> any Error {
        let message =
            handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
        return makeError(
            SQLiteFailure(kind: kind, status: status, message: message, activity: activity, path: path, sql: sql))
    }

    private func openHandle() throws -> OpaquePointer {
        guard let handle else {
            throw makeError(
                SQLiteFailure(kind: .closed, status: SQLITE_MISUSE, message: "the connection is closed",
                              activity: "using the connection", path: path))
        }
        return handle
    }
}

/// Evaluated once per process before the first connection opens. SQLite counts its memory use under a process-wide
/// mutex on every allocation unless told not to; Sluice does not read those counts. Fails harmlessly when SQLite
/// was already initialized by other code in the process.
private let sqliteMemoryStatisticsDisabled: Void = {
    _ = sluice_sqlite_disable_memory_statistics()
}()

/// What failed in a SQLite call, for the connection's `makeError` to turn into the caller's error.
public struct SQLiteFailure: Sendable, CustomStringConvertible {
    /// The kind of call that failed.
    public enum Kind: Sendable {
        case open, closed, prepare, execute, bind, step
    }

    public var kind: Kind
    /// SQLite's extended result code.
    public var status: Int32
    /// SQLite's message (`sqlite3_errmsg`); never holds bound values.
    public var message: String
    /// What the caller was doing ("appending records").
    public var activity: String
    /// The database file.
    public var path: String
    /// The SQL of the statement that failed, when there was one (bound values are not part of it).
    public var sql: String?

    public init(kind: Kind, status: Int32, message: String, activity: String, path: String, sql: String? = nil) {
        self.kind = kind
        self.status = status
        self.message = message
        self.activity = activity
        self.path = path
        self.sql = sql
    }

    /// The primary result code (the low byte of `status`).
    public var code: SQLiteResultCode { SQLiteResultCode(rawValue: status & 0xFF) }

    /// True when another connection holds a lock (retrying later may succeed).
    public var isBusy: Bool { code == .busy || code == .locked }

    public var description: String {
        var text = "\(activity) on \(path) failed: \(message) (code \(status))"
        if let sql {
            text += " in: " + (sql.count > 200 ? String(sql.prefix(200)) + "…" : sql)
        }
        return text
    }
}

/// A primary SQLite result code, so that callers can tell failures apart without importing the C library.
public struct SQLiteResultCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let busy = SQLiteResultCode(rawValue: SQLITE_BUSY)
    public static let locked = SQLiteResultCode(rawValue: SQLITE_LOCKED)
    public static let full = SQLiteResultCode(rawValue: SQLITE_FULL)
    public static let corrupt = SQLiteResultCode(rawValue: SQLITE_CORRUPT)
    public static let notADatabase = SQLiteResultCode(rawValue: SQLITE_NOTADB)
    public static let readOnly = SQLiteResultCode(rawValue: SQLITE_READONLY)
    public static let permission = SQLiteResultCode(rawValue: SQLITE_PERM)
    public static let cannotOpen = SQLiteResultCode(rawValue: SQLITE_CANTOPEN)
    public static let ioError = SQLiteResultCode(rawValue: SQLITE_IOERR)
    public static let tooBig = SQLiteResultCode(rawValue: SQLITE_TOOBIG)
    public static let misuse = SQLiteResultCode(rawValue: SQLITE_MISUSE)
}
