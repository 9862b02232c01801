import CSQLite
import Foundation
import SluiceCore

/// One SQLite connection of the state store, with the few statement helpers the state sink and its readers need.
///
/// All unsafe pointer work of the state store stays in this file. A connection is not thread-safe: the sink owns
/// one writer connection, readers take connections from `StateReaderPool`.
final class StateDatabase {
    private var handle: OpaquePointer?
    let path: String

    /// Opens (creating when `create`) the database file and applies the connection settings.
    init(path: String, create: Bool, readOnly: Bool = false) throws {
        self.path = path
        var flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        flags |= SQLITE_OPEN_NOMUTEX
        var db: OpaquePointer?
        let status = sqlite3_open_v2(path, &db, flags, nil)
        guard status == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw SluiceError(
                .sink, "cannot open the state store \(path): \(message)",
                hint: "check the path in the state sink's settings and that its directory is writable")
        }
        handle = db
        try execute("PRAGMA busy_timeout = 10000;")
    }

    deinit { close() }

    func close() {
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Runs SQL without results (several statements allowed).
    func execute(_ sql: String) throws {
        guard let handle else { throw closedError }
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        if status != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "code \(status)"
            sqlite3_free(message)
            throw SluiceError(.sink, "state store \(path): \(text)", isTransient: status == SQLITE_BUSY)
        }
    }

    func prepare(_ sql: String) throws -> StateStatement {
        guard let handle else { throw closedError }
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else {
            throw SluiceError(
                .internal,
                "state store \(path): cannot prepare a statement: "
                    + String(cString: sqlite3_errmsg(handle)))
        }
        return StateStatement(statement, database: self)
    }

    func errorMessage() -> String {
        handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed"
    }

    private var closedError: SluiceError {
        SluiceError(.internal, "the state store \(path) is closed")
    }
}

/// A prepared statement; bind parameters by 1-based index, step, read columns by 0-based index.
final class StateStatement {
    private let statement: OpaquePointer
    private unowned let database: StateDatabase

    fileprivate init(_ statement: OpaquePointer, database: StateDatabase) {
        self.statement = statement
        self.database = database
    }

    deinit { sqlite3_finalize(statement) }

    func reset() {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    func bind(_ value: Int64, at index: Int32) {
        sqlite3_bind_int64(statement, index, value)
    }

    func bind(_ text: String, at index: Int32) {
        sqlite3_bind_text(statement, index, text, -1, sluice_sqlite_transient())
    }

    func bind(_ bytes: [UInt8]?, at index: Int32) {
        guard let bytes else {
            sqlite3_bind_null(statement, index)
            return
        }
        bytes.withUnsafeBytes { buffer in
            // A zero-length blob still needs a non-null pointer, or SQLite stores NULL.
            let pointer = buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
            sqlite3_bind_blob(statement, index, pointer, Int32(buffer.count), sluice_sqlite_transient())
        }
    }

    /// Advances; true while a row is available.
    func step() throws -> Bool {
        let status = sqlite3_step(statement)
        switch status {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            throw SluiceError(
                .sink, "state store \(database.path): \(database.errorMessage())",
                isTransient: status == SQLITE_BUSY || status == SQLITE_LOCKED)
        }
    }

    /// Steps to completion and resets.
    func run() throws {
        defer { reset() }
        while try step() {}
    }

    func int64(at column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func isNull(at column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func blob(at column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    func text(at column: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement, column) else { return "" }
        return String(cString: pointer)
    }
}
