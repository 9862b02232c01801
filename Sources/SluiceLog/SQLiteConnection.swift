import CSQLite

/// One SQLite connection and the statements prepared on it.
///
/// Not thread-safe: one thread uses a connection at a time (the log's writer thread, or a reader that checked it
/// out of the pool), which is why connections are opened with `SQLITE_OPEN_NOMUTEX`. This file owns the C handles;
/// every unsafe pointer operation of the log lives here.
final class SQLiteConnection {
    let path: String
    private var handle: OpaquePointer?
    private var statements: [SQLiteStatement] = []

    /// Opens (and, when `create` is set, creates) the database at `path`.
    init(path: String, create: Bool) throws {
        _ = sqliteMemoryStatisticsDisabled
        self.path = path
        var flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
        if create {
            flags |= SQLITE_OPEN_CREATE
        }
        var opened: OpaquePointer?
        let status = sqlite3_open_v2(path, &opened, flags, nil)
        guard status == SQLITE_OK, let opened else {
            let sqliteMessage =
                opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            sqlite3_close_v2(opened)
            throw LogError(
                code: .cannotOpen,
                message: "cannot open log at \(path): check that the directory exists and is writable",
                sqliteMessage: sqliteMessage,
                sqliteCode: status
            )
        }
        sqlite3_extended_result_codes(opened, 1)
        handle = opened
    }

    deinit {
        close()
    }

    /// Finalizes every prepared statement and closes the connection; later calls fail with `LogError.closed`.
    func close() {
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
    func execute(_ sql: String, while activity: @autoclosure () -> String) throws {
        let handle = try openHandle()
        let status = sqlite3_exec(handle, sql, nil, nil, nil)
        guard status == SQLITE_OK else {
            throw error(status: status, while: activity())
        }
    }

    /// Prepares a statement that lives as long as the connection (reused with `reset` after each use).
    func prepare(_ sql: String) throws -> SQLiteStatement {
        let handle = try openHandle()
        var prepared: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        guard status == SQLITE_OK, let prepared else {
            throw error(status: status, while: "preparing a statement of the log schema")
        }
        let statement = SQLiteStatement(handle: prepared, connection: self)
        statements.append(statement)
        return statement
    }

    /// True while a transaction is open (SQLite rolls some failed transactions back on its own).
    var isInTransaction: Bool {
        guard let handle else { return false }
        return sqlite3_get_autocommit(handle) == 0
    }

    /// The rowid of the last row inserted on this connection.
    var lastInsertedRowID: Int64 {
        guard let handle else { return 0 }
        return sqlite3_last_insert_rowid(handle)
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE on this connection.
    var changedRowCount: Int64 {
        guard let handle else { return 0 }
        return sqlite3_changes64(handle)
    }

    /// Builds a `LogError` from SQLite's current error state, saying what the log was doing.
    func error(status: Int32, while activity: String) -> LogError {
        let sqliteMessage =
            handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
        let primary = status & 0xFF
        let advice: String
        switch primary {
        case SQLITE_FULL:
            advice = "free disk space on the volume holding \(path), or apply retention, then retry"
        case SQLITE_BUSY, SQLITE_LOCKED:
            advice = "another process is writing to \(path); run one Sluice process per log file"
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            advice = "\(path) is damaged or not a Sluice log; restore it from a backup"
        case SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN:
            advice = "check that \(path) and its directory are writable by this process"
        case SQLITE_IOERR:
            advice = "the disk holding \(path) reported an I/O error; check the volume and the system log"
        case SQLITE_TOOBIG:
            advice = "a record is larger than SQLite accepts (1 GB); split it before appending"
        default:
            advice = "see the SQLite message; the log at \(path) was left unchanged by this call"
        }
        return LogError(
            code: primary == SQLITE_NOTADB ? .incompatibleFile : .storageFailure,
            message: "\(activity) failed: \(advice)",
            sqliteMessage: sqliteMessage,
            sqliteCode: status
        )
    }

    private func openHandle() throws -> OpaquePointer {
        guard let handle else { throw LogError.closedLog }
        return handle
    }
}

/// Evaluated once per process before the first connection opens. SQLite counts its memory use under a process-wide
/// mutex on every allocation unless told not to; the log does not read those counts. Fails harmlessly when SQLite
/// was already initialized by other code in the process.
private let sqliteMemoryStatisticsDisabled: Void = {
    _ = sluice_sqlite_disable_memory_statistics()
}()

/// A prepared statement: bind parameters (1-based), step, read columns (0-based), reset.
///
/// Blob and text parameters bound with `withBlob`/`withText` point at the caller's memory without copying and are
/// unbound before those methods return, so SQLite never keeps a pointer past the memory's lifetime.
final class SQLiteStatement {
    private var handle: OpaquePointer?
    private unowned let connection: SQLiteConnection

    fileprivate init(handle: OpaquePointer, connection: SQLiteConnection) {
        self.handle = handle
        self.connection = connection
    }

    fileprivate func finalize() {
        sqlite3_finalize(handle)
        handle = nil
    }

    // MARK: Binding

    func bind(_ value: Int64, at index: Int32) throws {
        try check(sqlite3_bind_int64(handle, index, value), while: "binding an integer")
    }

    func bind(_ value: Int64?, at index: Int32) throws {
        if let value {
            try bind(value, at: index)
        } else {
            try check(sqlite3_bind_null(handle, index), while: "binding NULL")
        }
    }

    /// Binds a copy of `text` (for short keys and names).
    func bind(_ text: String, at index: Int32) throws {
        try check(
            sqlite3_bind_text64(
                handle, index, text, UInt64(text.utf8.count), sluice_sqlite_transient(), UInt8(SQLITE_UTF8)),
            while: "binding text"
        )
    }

    /// Binds a copy of `bytes`, or NULL when `bytes` is nil (for short values).
    func bind(_ bytes: [UInt8]?, at index: Int32) throws {
        guard let bytes else {
            try check(sqlite3_bind_null(handle, index), while: "binding NULL")
            return
        }
        try bytes.withUnsafeBytes { buffer in
            try bindBlob(buffer, at: index, destructor: sluice_sqlite_transient())
        }
    }

    /// Binds `bytes` (NULL when nil) without copying for the duration of `body`.
    func withBlob<Result>(_ bytes: [UInt8]?, at index: Int32, _ body: () throws -> Result) throws -> Result {
        guard let bytes else {
            try check(sqlite3_bind_null(handle, index), while: "binding NULL")
            return try body()
        }
        return try bytes.withUnsafeBytes { buffer in
            try bindBlob(buffer, at: index, destructor: nil)
            defer { sqlite3_bind_null(handle, index) }
            return try body()
        }
    }

    /// Binds `bytes` without copying for the duration of `body` (the caller keeps the memory alive meanwhile).
    func withBlob<Result>(_ bytes: UnsafeRawBufferPointer, at index: Int32, _ body: () throws -> Result) throws
        -> Result
    {
        try bindBlob(bytes, at: index, destructor: nil)
        defer { sqlite3_bind_null(handle, index) }
        return try body()
    }

    /// Binds `text` (NULL when nil) without copying for the duration of `body`.
    func withText<Result>(_ text: String?, at index: Int32, _ body: () throws -> Result) throws -> Result {
        guard var text else {
            try check(sqlite3_bind_null(handle, index), while: "binding NULL")
            return try body()
        }
        return try text.withUTF8 { utf8 in
            // A pointer to any byte is needed for the empty string: a NULL pointer would bind SQL NULL.
            let status = withUnsafePointer(to: 0 as UInt8) { empty in
                sqlite3_bind_text64(
                    handle, index, UnsafeRawPointer(utf8.baseAddress ?? empty).assumingMemoryBound(to: CChar.self),
                    UInt64(utf8.count), nil, UInt8(SQLITE_UTF8)
                )
            }
            try check(status, while: "binding text")
            defer { sqlite3_bind_null(handle, index) }
            return try body()
        }
    }

    private func bindBlob(
        _ buffer: UnsafeRawBufferPointer, at index: Int32, destructor: sqlite3_destructor_type?
    ) throws {
        let status: Int32
        if let baseAddress = buffer.baseAddress, !buffer.isEmpty {
            status = sqlite3_bind_blob64(handle, index, baseAddress, UInt64(buffer.count), destructor)
        } else {
            // An empty blob, not NULL: sqlite3_bind_blob with a NULL pointer would store NULL.
            status = sqlite3_bind_zeroblob(handle, index, 0)
        }
        try check(status, while: "binding a blob")
    }

    // MARK: Stepping

    /// Advances to the next row; false when the statement is done.
    func step() throws -> Bool {
        let status = sqlite3_step(handle)
        switch status {
        case SQLITE_ROW:
            return true
        case SQLITE_DONE:
            return false
        default:
            sqlite3_reset(handle)
            throw connection.error(status: status, while: "running a statement")
        }
    }

    /// Runs a statement that returns no rows, then resets it for the next use.
    func run(while activity: @autoclosure () -> String) throws {
        defer { sqlite3_reset(handle) }
        let status = sqlite3_step(handle)
        guard status == SQLITE_DONE || status == SQLITE_ROW else {
            throw connection.error(status: status, while: activity())
        }
    }

    /// Makes the statement ready to run again (bindings stay as they are).
    func reset() {
        sqlite3_reset(handle)
    }

    // MARK: Columns of the current row

    func isNull(at column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    func int64(at column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    func optionalInt64(at column: Int32) -> Int64? {
        isNull(at: column) ? nil : sqlite3_column_int64(handle, column)
    }

    /// The column's bytes (an empty array for an empty blob), or nil for NULL.
    func blob(at column: Int32) -> [UInt8]? {
        guard let pointer = sqlite3_column_blob(handle, column) else {
            return isNull(at: column) ? nil : []
        }
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(handle, column))))
    }

    /// Runs `body` with the column's bytes where SQLite holds them (no copy; empty for NULL). The bytes are valid
    /// only during `body`: the next step, reset or column access of this statement may free them.
    func withBlob<Result>(at column: Int32, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(unsafeBlob(at: column))
    }

    /// The column's bytes where SQLite holds them (no copy; empty for NULL), valid only until the next step, reset
    /// or column access of this statement. Prefer `withBlob(at:_:)`; this is for loops too hot for a closure.
    @inline(__always)
    func unsafeBlob(at column: Int32) -> UnsafeRawBufferPointer {
        let pointer = sqlite3_column_blob(handle, column)
        let count = pointer == nil ? 0 : Int(sqlite3_column_bytes(handle, column))
        return UnsafeRawBufferPointer(start: pointer, count: count)
    }

    /// The column as UTF-8 text, or nil for NULL.
    func text(at column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(handle, column) else {
            return isNull(at: column) ? nil : ""
        }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    private func check(_ status: Int32, while activity: String) throws {
        guard status == SQLITE_OK else {
            throw connection.error(status: status, while: activity)
        }
    }
}
