import SluiceCore
import SluiceSQLite

/// One SQLite connection of the state store: the SluiceSQLite connection with the state store's errors and the
/// statement API the state sink and its readers use.
///
/// A connection is not thread-safe: the sink owns one writer connection, each reader connection is owned
/// by one of `StateStore`'s read threads.
final class StateDatabase {
    private let connection: SQLiteConnection
    var path: String { connection.path }

    /// Opens (creating when `create`) the database file and applies the connection settings.
    init(path: String, create: Bool, readOnly: Bool = false) throws {
        let mode: SQLiteConnection.OpenMode = readOnly ? .readOnly : create ? .readWriteCreate : .readWrite
        connection = try SQLiteConnection(path: path, mode: mode, makeError: Self.error(for:))
        try execute("PRAGMA busy_timeout = 10000;")
    }

    func close() { connection.close() }

    /// Runs SQL without results (several statements allowed).
    func execute(_ sql: String) throws {
        try connection.execute(sql, while: "running SQL")
    }

    func prepare(_ sql: String) throws -> StateStatement {
        StateStatement(try connection.prepare(sql))
    }

    /// The state store's error for a failed SQLite call.
    private static func error(for failure: SQLiteFailure) -> SluiceError {
        switch failure.kind {
        case .open:
            SluiceError(
                .sink, "cannot open the state store \(failure.path): \(failure.message)",
                hint: "check the path in the state sink's settings and that its directory is writable")
        case .closed:
            SluiceError(.internal, "the state store \(failure.path) is closed")
        case .prepare:
            SluiceError(.internal, "state store \(failure.path): cannot prepare a statement: \(failure.message)")
        case .bind:
            SluiceError(.internal, "state store \(failure.path): \(failure.activity) failed: \(failure.message)")
        case .execute, .step:
            SluiceError(.sink, "state store \(failure.path): \(failure.message)", isTransient: failure.isBusy)
        }
    }
}

/// A prepared statement of the state store; bind parameters by 1-based index, step, read columns by 0-based index.
///
/// Binding does not throw: a failed bind (a parameter index the SQL lacks) is kept and thrown by the next `step`
/// or `run`, so the statement never runs with a parameter missing.
final class StateStatement {
    private let statement: SQLiteStatement
    private var bindFailure: (any Error)?

    fileprivate init(_ statement: SQLiteStatement) {
        self.statement = statement
    }

    /// Resets the statement and sets its parameters back to NULL.
    func reset() {
        statement.reset()
        statement.clearBindings()
        bindFailure = nil
    }

    func bind(_ value: Int64, at index: Int32) {
        recordingFailure { try statement.bind(value, at: index) }
    }

    func bind(_ text: String, at index: Int32) {
        recordingFailure { try statement.bind(text, at: index) }
    }

    func bind(_ bytes: [UInt8]?, at index: Int32) {
        recordingFailure { try statement.bind(bytes, at: index) }
    }

    private func recordingFailure(_ bind: () throws -> Void) {
        do {
            try bind()
        } catch {
            bindFailure = bindFailure ?? error
        }
    }

    /// Advances; true while a row is available.
    func step() throws -> Bool {
        if let bindFailure {
            self.bindFailure = nil
            throw bindFailure
        }
        return try statement.step()
    }

    /// Steps to completion and resets.
    func run() throws {
        defer { reset() }
        while try step() {}
    }

    func int64(at column: Int32) -> Int64 { statement.int64(at: column) }

    func isNull(at column: Int32) -> Bool { statement.isNull(at: column) }

    func blob(at column: Int32) -> [UInt8] { statement.blob(at: column) ?? [] }

    func text(at column: Int32) -> String { statement.text(at: column) ?? "" }
}
