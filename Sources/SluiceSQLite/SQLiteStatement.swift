import CSQLite

/// A prepared statement: bind parameters (1-based), step, read columns (0-based), reset.
///
/// Blob and text parameters bound with `withBlob`/`withText` point at the caller's memory without copying and are
/// unbound before those methods return, so SQLite never keeps a pointer past the memory's lifetime. The methods
/// used per row are `@inlinable`, so the callers' loops call SQLite directly.
public final class SQLiteStatement {
    @usableFromInline var handle: OpaquePointer?
    @usableFromInline unowned let connection: SQLiteConnection

    init(handle: OpaquePointer, connection: SQLiteConnection) {
        self.handle = handle
        self.connection = connection
    }

    func finalize() {
        sqlite3_finalize(handle)
        handle = nil
    }

    // MARK: Binding

    @inlinable
    public func bind(_ value: Int64, at index: Int32) throws {
        try check(sqlite3_bind_int64(handle, index, value), while: "binding an integer")
    }

    @inlinable
    public func bind(_ value: Int64?, at index: Int32) throws {
        if let value {
            try bind(value, at: index)
        } else {
            try bindNull(at: index)
        }
    }

    @inlinable
    public func bindNull(at index: Int32) throws {
        try check(sqlite3_bind_null(handle, index), while: "binding NULL")
    }

    /// Binds a copy of `text` (for short keys and names).
    @inlinable
    public func bind(_ text: String, at index: Int32) throws {
        try check(
            sqlite3_bind_text64(
                handle, index, text, UInt64(text.utf8.count), sluice_sqlite_transient(), UInt8(SQLITE_UTF8)),
            while: "binding text"
        )
    }

    /// Binds a copy of `text`, or NULL when `text` is nil.
    @inlinable
    public func bind(_ text: String?, at index: Int32) throws {
        if let text {
            try bind(text, at: index)
        } else {
            try bindNull(at: index)
        }
    }

    /// Binds a copy of `bytes`, or NULL when `bytes` is nil (for short values).
    @inlinable
    public func bind(_ bytes: [UInt8]?, at index: Int32) throws {
        guard let bytes else {
            try bindNull(at: index)
            return
        }
        try bytes.withUnsafeBytes { buffer in
            try bindBlob(buffer, at: index, destructor: sluice_sqlite_transient())
        }
    }

    /// Binds `bytes` (NULL when nil) without copying for the duration of `body`.
    @inlinable
    public func withBlob<Result>(_ bytes: [UInt8]?, at index: Int32, _ body: () throws -> Result) throws -> Result {
        guard let bytes else {
            try bindNull(at: index)
            return try body()
        }
        return try bytes.withUnsafeBytes { buffer in
            try bindBlob(buffer, at: index, destructor: nil)
            defer { sqlite3_bind_null(handle, index) }
            return try body()
        }
    }

    /// Binds `bytes` without copying for the duration of `body` (the caller keeps the memory alive meanwhile).
    @inlinable
    public func withBlob<Result>(_ bytes: UnsafeRawBufferPointer, at index: Int32, _ body: () throws -> Result)
        throws -> Result
    {
        try bindBlob(bytes, at: index, destructor: nil)
        defer { sqlite3_bind_null(handle, index) }
        return try body()
    }

    /// Binds `text` (NULL when nil) without copying for the duration of `body`.
    @inlinable
    public func withText<Result>(_ text: String?, at index: Int32, _ body: () throws -> Result) throws -> Result {
        guard var text else {
            try bindNull(at: index)
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

    @inlinable
    func bindBlob(_ buffer: UnsafeRawBufferPointer, at index: Int32, destructor: sqlite3_destructor_type?) throws {
        let status: Int32
        if let baseAddress = buffer.baseAddress, !buffer.isEmpty {
            status = sqlite3_bind_blob64(handle, index, baseAddress, UInt64(buffer.count), destructor)
        } else {
            // An empty blob, not NULL: sqlite3_bind_blob with a NULL pointer would store NULL.
            status = sqlite3_bind_zeroblob(handle, index, 0)
        }
        try check(status, while: "binding a blob")
    }

    /// Sets every parameter back to NULL.
    @inlinable
    public func clearBindings() {
        sqlite3_clear_bindings(handle)
    }

    // MARK: Stepping

    /// Advances to the next row; false when the statement is done. A failure resets the statement.
    @inlinable
    public func step() throws -> Bool {
        let status = sqlite3_step(handle)
        switch status {
        case SQLITE_ROW:
            return true
        case SQLITE_DONE:
            return false
        default:
            sqlite3_reset(handle)
            throw failure(.step, status: status, while: "running a statement")
        }
    }

    /// Runs a statement that returns no rows, then resets it for the next use.
    @inlinable
    public func run(while activity: @autoclosure () -> String) throws {
        defer { sqlite3_reset(handle) }
        let status = sqlite3_step(handle)
        guard status == SQLITE_DONE || status == SQLITE_ROW else {
            throw failure(.step, status: status, while: activity())
        }
    }

    /// Makes the statement ready to run again (bindings stay as they are).
    @inlinable
    public func reset() {
        sqlite3_reset(handle)
    }

    // MARK: Columns of the current row

    /// The number of columns of the statement's rows.
    @inlinable
    public var columnCount: Int32 {
        sqlite3_column_count(handle)
    }

    @inlinable
    public func isNull(at column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    @inlinable
    public func int64(at column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    @inlinable
    public func optionalInt64(at column: Int32) -> Int64? {
        isNull(at: column) ? nil : sqlite3_column_int64(handle, column)
    }

    /// The column's bytes (an empty array for an empty blob), or nil for NULL.
    @inlinable
    public func blob(at column: Int32) -> [UInt8]? {
        guard let pointer = sqlite3_column_blob(handle, column) else {
            return isNull(at: column) ? nil : []
        }
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(handle, column))))
    }

    /// Runs `body` with the column's bytes where SQLite holds them (no copy; empty for NULL). The bytes are valid
    /// only during `body`: the next step, reset or column access of this statement may free them.
    @inlinable
    public func withBlob<Result>(at column: Int32, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows
        -> Result
    {
        try body(unsafeBlob(at: column))
    }

    /// The column's bytes where SQLite holds them (no copy; empty for NULL), valid only until the next step, reset
    /// or column access of this statement. Prefer `withBlob(at:_:)`; this is for loops too hot for a closure.
    @inlinable @inline(__always)
    public func unsafeBlob(at column: Int32) -> UnsafeRawBufferPointer {
        let pointer = sqlite3_column_blob(handle, column)
        let count = pointer == nil ? 0 : Int(sqlite3_column_bytes(handle, column))
        return UnsafeRawBufferPointer(start: pointer, count: count)
    }

    /// The column as UTF-8 text, or nil for NULL.
    @inlinable
    public func text(at column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(handle, column) else {
            return isNull(at: column) ? nil : ""
        }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    // MARK: Errors

    @inlinable
    func check(_ status: Int32, while activity: @autoclosure () -> String) throws {
        guard status == SQLITE_OK else {
            throw failure(.bind, status: status, while: activity())
        }
    }

    /// The caller's error for a failed call of this statement, naming its SQL.
    @usableFromInline
    func failure(_ kind: SQLiteFailure.Kind, status: Int32, while activity: String) -> any Error {
        let sql = handle.flatMap { sqlite3_sql($0) }.map { String(cString: $0) }
        return connection.error(kind: kind, status: status, while: activity, sql: sql)
    }
}
