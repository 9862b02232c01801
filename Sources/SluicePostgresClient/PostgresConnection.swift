// SluicePostgresClient: the one libpq wrapper. The postgres source (queries, snapshots, the
// replication stream) and the Iceberg SQL catalog on PostgreSQL both connect through it.
import CLibPQ
import Foundation
import SluiceCore

/// One libpq connection (`PGconn`): the only place in Sluice that touches libpq pointers.
///
/// A connection is used by one thread at a time (the source's blocking executor, the replication
/// reader thread, or a caller holding the catalog's lock).
/// @unchecked Sendable: libpq connections may move between threads as long as only one uses them
/// at a time, which every owner above guarantees; the class has no other mutable state.
public final class PostgresConnection: @unchecked Sendable {
    /// How to reach the server; the password never appears in logs or errors.
    public struct Endpoint: Sendable {
        /// A libpq URL or conninfo string (may hold a password: never log it).
        public var conninfo: String
        /// A password given separately (overrides one inside `conninfo`).
        public var password: String?
        public var sslMode: String?
        public var applicationName: String = "sluice"
        /// Extra session settings (`-c name=value` pairs).
        public var settings: [(String, String)] = []

        public init(conninfo: String, password: String? = nil, sslMode: String? = nil,
                    applicationName: String = "sluice", settings: [(String, String)] = []) {
            self.conninfo = conninfo
            self.password = password
            self.sslMode = sslMode
            self.applicationName = applicationName
            self.settings = settings
        }

        /// The session settings every Sluice connection uses, so that text values parse exactly.
        public static let exactTextSettings: [(String, String)] = [
            ("TimeZone", "UTC"), ("DateStyle", "ISO, YMD"), ("IntervalStyle", "iso_8601"),
            ("extra_float_digits", "3"), ("bytea_output", "hex"), ("lc_monetary", "C"),
        ]
    }

    private let handle: OpaquePointer
    /// `host:port/db` for messages (no user, no password).
    public let displayName: String

    /// Opens a connection; `replication` asks for a `replication=database` (walsender) session.
    public init(_ endpoint: Endpoint, replication: Bool) throws {
        var keywords = ["dbname", "application_name"]
        var values = [endpoint.conninfo, endpoint.applicationName]
        if replication {
            keywords.append("replication"); values.append("database")
        }
        if let password = endpoint.password {
            keywords.append("password"); values.append(password)
        }
        if let sslMode = endpoint.sslMode {
            keywords.append("sslmode"); values.append(sslMode)
        }
        let settings = Endpoint.exactTextSettings + endpoint.settings
        let options = settings.map { "-c \($0.0)=\($0.1.replacingOccurrences(of: " ", with: "\\ "))" }
        keywords.append("options"); values.append(options.joined(separator: " "))
        keywords.append("connect_timeout"); values.append("15")

        let cKeywords = keywords.map { strdup($0) }
        let cValues = values.map { strdup($0) }
        defer {
            cKeywords.forEach { free($0) }
            cValues.forEach { free($0) }
        }
        var keywordPointers: [UnsafePointer<CChar>?] = cKeywords.map { UnsafePointer($0) } + [nil]
        var valuePointers: [UnsafePointer<CChar>?] = cValues.map { UnsafePointer($0) } + [nil]
        guard let conn = PQconnectdbParams(&keywordPointers, &valuePointers, 1) else {
            throw SluiceError(.connection, "could not allocate a PostgreSQL connection", isTransient: true)
        }
        if PQstatus(conn) != CONNECTION_OK {
            let message = Self.trimmed(PQerrorMessage(conn))
            PQfinish(conn)
            let authFailed = message.contains("password authentication failed") || message.contains("no password")
            throw SluiceError(
                authFailed ? .sourceSetup : .connection,
                "could not connect to PostgreSQL\(replication ? " (replication connection)" : "")",
                location: "url",
                hint: authFailed
                    ? "Check the user and the `password` setting (or the password in `url`)"
                    : "Check that the server is running and reachable at the `url` host and port",
                isTransient: !authFailed,
                underlying: PostgresServerMessage(text: message)
            )
        }
        handle = conn
        let host = String(cString: PQhost(conn))
        let port = String(cString: PQport(conn))
        let db = String(cString: PQdb(conn))
        displayName = "\(host):\(port)/\(db)"
    }

    deinit {
        PQfinish(handle)
    }

    /// The server version as an integer, e.g. 150018.
    public var serverVersion: Int { Int(PQserverVersion(handle)) }

    /// The connection's socket, for polling.
    public var socket: Int32 { PQsocket(handle) }

    /// True while the connection is usable.
    public var isOK: Bool { PQstatus(handle) == CONNECTION_OK }

    /// Reconnects with the same parameters when the connection broke; true when it is usable again.
    @discardableResult
    public func reconnectIfBroken() -> Bool {
        if !isOK { PQreset(handle) }
        return isOK
    }

    /// The last error libpq reported on this connection (server text; never contains the password).
    public var lastError: String { Self.trimmed(PQerrorMessage(handle)) }

    // MARK: Queries

    /// When set, a query whose server sends nothing for this long fails with a transient error (the connection
    /// stalled) instead of blocking; per call, `execute(_:parameters:context:timeout:)` may choose another limit.
    public var responseTimeout: Duration?

    /// Runs one or more SQL statements with the simple-query protocol (works on replication connections).
    @discardableResult
    public func execute(_ sql: String, context: @autoclosure () -> String = "") throws -> QueryResult {
        guard let responseTimeout else { return try check(PQexec(handle, sql), context: context()) }
        guard PQsendQuery(handle, sql) == 1 else {
            throw SluiceError(.connection, "sending a PostgreSQL query failed\(context().isEmpty ? "" : " (\(context()))")",
                              isTransient: true, underlying: PostgresServerMessage(text: lastError))
        }
        var last: OpaquePointer?
        while true {  // several statements: the last result counts (the failing one, if any), as with PQexec
            try awaitResult(timeout: responseTimeout, context: context())
            guard let next = PQgetResult(handle) else { break }
            if let last { PQclear(last) }
            last = next
        }
        return try check(last, context: context())
    }

    /// Runs one statement with text parameters (not on replication connections). With a `timeout`, a server that
    /// sends no answer for that long (a stalled network) fails the call with a transient error instead of blocking.
    @discardableResult
    public func execute(_ sql: String, parameters: [String?], context: @autoclosure () -> String = "",
                        timeout: Duration? = nil) throws -> QueryResult {
        try send(sql, parameters: parameters, context: context())
        return try receive(context: context(), timeout: timeout ?? responseTimeout)
    }

    /// Sends one statement with text parameters without waiting for it; `receive` then returns its result,
    /// so that the server can run it while the caller works on something else.
    public func send(_ sql: String, parameters: [String?], context: @autoclosure () -> String = "") throws {
        let cParams = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { cParams.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = cParams.map { $0.map { UnsafePointer($0) } }
        let sent = pointers.withUnsafeBufferPointer { buffer in
            PQsendQueryParams(handle, sql, Int32(parameters.count), nil, buffer.baseAddress, nil, nil, 0)
        }
        guard sent == 1 else {
            let context = context()
            throw SluiceError(.connection, "sending a PostgreSQL query failed\(context.isEmpty ? "" : " (\(context))")",
                              isTransient: true, underlying: PostgresServerMessage(text: lastError))
        }
    }

    /// Waits for the result of the statement `send` sent; with a `timeout`, at most that long between two messages.
    public func receive(context: @autoclosure () -> String = "", timeout: Duration? = nil) throws -> QueryResult {
        if let timeout { try awaitResult(timeout: timeout, context: context()) }
        let result = PQgetResult(handle)
        while let extra = PQgetResult(handle) { PQclear(extra) }
        return try check(result, context: context())
    }

    /// Reads input until a result is complete, waiting at most `timeout` for each piece of it.
    private func awaitResult(timeout: Duration, context: String) throws {
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000
            + timeout.components.attoseconds / 1_000_000_000_000_000)
        while PQisBusy(handle) != 0 {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else {
                throw SluiceError(.connection, "PostgreSQL sent no answer for \(timeout)"
                                      + "\(context.isEmpty ? "" : " (\(context))"): the connection stalled",
                                  isTransient: true)
            }
            guard PQconsumeInput(handle) == 1 else {
                throw SluiceError(.connection, "PostgreSQL query failed\(context.isEmpty ? "" : " (\(context))")",
                                  isTransient: true, underlying: PostgresServerMessage(text: lastError))
            }
        }
    }

    private func check(_ result: OpaquePointer?, context: String) throws -> QueryResult {
        guard let result else {
            throw SluiceError(.connection, "PostgreSQL query failed\(context.isEmpty ? "" : " (\(context))")",
                              isTransient: true, underlying: PostgresServerMessage(text: lastError))
        }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COPY_BOTH, PGRES_COPY_OUT, PGRES_EMPTY_QUERY:
            return QueryResult(result)
        default:
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
                ?? Self.trimmed(PQresultErrorMessage(result))
            PQclear(result)
            throw PostgresQueryError(sqlState: sqlState ?? "", message: primary, context: context,
                                     connectionLost: PQstatus(handle) != CONNECTION_OK)
        }
    }

    /// Quotes an identifier (`"My Table"`).
    public func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Quotes a literal for the simple-query protocol (`'it''s'`); standard_conforming_strings is on.
    public func quoteLiteral(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    // MARK: CopyBoth (replication stream)

    /// What `readCopyData` found.
    public enum CopyDataRead: Sendable {
        case message([UInt8])
        /// Nothing buffered yet: wait for the socket to become readable.
        case wouldBlock
        /// The server ended the copy.
        case ended
    }

    /// Reads buffered input from the socket without blocking; false when the connection broke.
    public func consumeInput() -> Bool { PQconsumeInput(handle) == 1 }

    /// Takes one CopyData message that libpq has already received, without blocking.
    public func readCopyData() throws -> CopyDataRead {
        var buffer: UnsafeMutablePointer<CChar>?
        let length = PQgetCopyData(handle, &buffer, 1)
        if length > 0, let buffer {
            defer { PQfreemem(buffer) }
            let bytes = UnsafeRawBufferPointer(start: buffer, count: Int(length))
            return .message(Array(bytes))
        }
        switch length {
        case 0: return .wouldBlock
        case -1:
            // The copy ended: fetch the final result to learn whether it ended with an error.
            var message: String?
            var sqlState = ""
            while let result = PQgetResult(handle) {
                if PQresultStatus(result) == PGRES_FATAL_ERROR {
                    message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
                    sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
                }
                PQclear(result)
            }
            if let message {
                throw Self.streamEndedError(sqlState: sqlState, message: message)
            }
            return .ended
        default:
            throw SluiceError(.connection, "reading the replication stream failed", isTransient: true,
                              underlying: PostgresServerMessage(text: lastError))
        }
    }

    /// The error that ended a replication stream. Most are transient (the server restarts, the connection drops);
    /// a publication dropped under the slot (`42704`) or a slot the server invalidated (`55000`) never heal: the slot
    /// cannot decode the changes since, and retrying would fail forever.
    static func streamEndedError(sqlState: String, message: String) -> SluiceError {
        let cause = PostgresQueryError(sqlState: sqlState, message: message, context: "", connectionLost: false)
        switch sqlState {
        case "42704":
            return SluiceError(
                .sourceSetup, "the replication stream ended: an object the slot decodes with is missing",
                hint: "if the publication was dropped while the slot used it, the changes since cannot be decoded "
                    + "through this slot (re-creating the publication does not help): drop the slot "
                    + "(SELECT pg_drop_replication_slot('<slot>')) and run again to take a new snapshot, each table "
                    + "truncated downstream first", underlying: cause)
        case "55000" where message.contains("no longer get changes"):
            return SluiceError(
                .sourceSetup, "the replication stream ended: the server no longer serves this slot",
                hint: "a slot invalidated by max_slot_wal_keep_size has lost changes: drop it and run again to take a new "
                    + "snapshot (each table truncated downstream first); raise max_slot_wal_keep_size or keep Sluice "
                    + "running", underlying: cause)
        default:
            return SluiceError(.connection, "the replication stream ended with an error", isTransient: true,
                               underlying: cause)
        }
    }

    /// Sends one CopyData message and flushes it.
    public func writeCopyData(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                PQputCopyData(handle, $0, Int32(buffer.count))
            }
        }
        guard sent == 1, PQflush(handle) == 0 else {
            throw SluiceError(.connection, "sending a status update to PostgreSQL failed", isTransient: true,
                              underlying: PostgresServerMessage(text: lastError))
        }
    }

    private static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The rows of a query result, in text format. Owns the `PGresult`.
/// @unchecked Sendable: a `PGresult` is immutable once returned, and libpq allows reading it from any thread.
public final class QueryResult: @unchecked Sendable {
    private let result: OpaquePointer

    fileprivate init(_ result: OpaquePointer) {
        self.result = result
    }

    deinit {
        PQclear(result)
    }

    public var rowCount: Int { Int(PQntuples(result)) }
    public var columnCount: Int { Int(PQnfields(result)) }

    /// The rows an INSERT, UPDATE or DELETE touched (0 for other statements).
    public var affectedRowCount: Int { Int(String(cString: PQcmdTuples(result))) ?? 0 }

    /// Every value as text (nil for SQL NULL), row by row.
    public var allRows: [[String?]] {
        (0..<rowCount).map { row in (0..<columnCount).map { string(row, $0) } }
    }

    public func columnName(_ column: Int) -> String { String(cString: PQfname(result, Int32(column))) }

    /// The type OID of a result column.
    public func columnType(_ column: Int) -> UInt32 { UInt32(PQftype(result, Int32(column))) }

    public func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(result, Int32(row), Int32(column)) == 1 }

    /// A value as text, nil for SQL NULL.
    public func string(_ row: Int, _ column: Int) -> String? {
        if isNull(row, column) { return nil }
        return String(cString: PQgetvalue(result, Int32(row), Int32(column)))
    }

    /// Calls `body` with the value's text bytes (nil for SQL NULL), valid only inside the call.
    public func withBytes<T>(_ row: Int, _ column: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> T) rethrows -> T {
        if isNull(row, column) { return try body(nil) }
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        let pointer = PQgetvalue(result, Int32(row), Int32(column))!
        return try pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            try body(UnsafeBufferPointer(start: $0, count: length))
        }
    }
}

/// A server or libpq message, kept apart so that errors can carry it as their cause.
public struct PostgresServerMessage: Error, Sendable, CustomStringConvertible {
    public var text: String
    public var description: String { text }
    public init(text: String) { self.text = text }
}

/// A statement the server rejected.
public struct PostgresQueryError: RetryableError, Sendable, CustomStringConvertible {
    /// SQLSTATE, e.g. `42501` for insufficient privilege.
    public var sqlState: String
    public var message: String
    public var context: String
    /// True when the connection itself broke (worth retrying).
    public var connectionLost: Bool

    public var isTransient: Bool { connectionLost }

    public var description: String {
        context.isEmpty ? "\(message) [\(sqlState)]" : "\(context): \(message) [\(sqlState)]"
    }

    /// As a `SluiceError` with a hint.
    public func asSluiceError(hint: String? = nil) -> SluiceError {
        SluiceError(connectionLost ? .connection : .sourceSetup, "PostgreSQL refused a statement",
                    location: context.isEmpty ? nil : context, hint: hint, isTransient: connectionLost,
                    underlying: self)
    }
}
