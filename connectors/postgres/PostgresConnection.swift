import CLibPQ
import Foundation
import SluiceCore

/// One libpq connection (`PGconn`): the only place in the connector that touches libpq pointers.
///
/// A connection is used by one thread at a time (the source's task, or the replication reader thread);
/// it is `@unchecked Sendable` so that it can be handed from one to the other.
final class PostgresConnection: @unchecked Sendable {
    /// How to reach the server; the password never appears in logs or errors.
    struct Endpoint: Sendable {
        /// A libpq URL or conninfo string (may hold a password: never log it).
        var conninfo: String
        /// A password given separately (overrides one inside `conninfo`).
        var password: String?
        var sslMode: String?
        var applicationName: String = "sluice"
        /// Extra session settings (`-c name=value` pairs).
        var settings: [(String, String)] = []

        /// The session settings every Sluice connection uses, so that text values parse exactly.
        static let exactTextSettings: [(String, String)] = [
            ("TimeZone", "UTC"), ("DateStyle", "ISO, YMD"), ("IntervalStyle", "iso_8601"),
            ("extra_float_digits", "3"), ("bytea_output", "hex"), ("lc_monetary", "C"),
        ]
    }

    private let handle: OpaquePointer
    /// `host:port/db` for messages (no user, no password).
    let displayName: String

    /// Opens a connection; `replication` asks for a `replication=database` (walsender) session.
    init(_ endpoint: Endpoint, replication: Bool) throws {
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
    var serverVersion: Int { Int(PQserverVersion(handle)) }

    /// The connection's socket, for polling.
    var socket: Int32 { PQsocket(handle) }

    /// True while the connection is usable.
    var isOK: Bool { PQstatus(handle) == CONNECTION_OK }

    /// The last error libpq reported on this connection (server text; never contains the password).
    var lastError: String { Self.trimmed(PQerrorMessage(handle)) }

    // MARK: Queries

    /// Runs one or more SQL statements with the simple-query protocol (works on replication connections).
    @discardableResult
    func execute(_ sql: String, context: @autoclosure () -> String = "") throws -> QueryResult {
        let result = PQexec(handle, sql)
        return try check(result, context: context())
    }

    /// Runs one statement with text parameters (not on replication connections).
    @discardableResult
    func execute(_ sql: String, parameters: [String?], context: @autoclosure () -> String = "") throws -> QueryResult {
        try send(sql, parameters: parameters, context: context())
        return try receive(context: context())
    }

    /// Sends one statement with text parameters without waiting for it; `receive` then returns its result,
    /// so that the server can run it while the caller works on something else.
    func send(_ sql: String, parameters: [String?], context: @autoclosure () -> String = "") throws {
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

    /// Waits for the result of the statement `send` sent.
    func receive(context: @autoclosure () -> String = "") throws -> QueryResult {
        let result = PQgetResult(handle)
        while let extra = PQgetResult(handle) { PQclear(extra) }
        return try check(result, context: context())
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
    func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Quotes a literal for the simple-query protocol (`'it''s'`); standard_conforming_strings is on.
    func quoteLiteral(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    // MARK: CopyBoth (replication stream)

    /// What `readCopyData` found.
    enum CopyDataRead {
        case message([UInt8])
        /// Nothing buffered yet: wait for the socket to become readable.
        case wouldBlock
        /// The server ended the copy.
        case ended
    }

    /// Reads buffered input from the socket without blocking; false when the connection broke.
    func consumeInput() -> Bool { PQconsumeInput(handle) == 1 }

    /// Takes one CopyData message that libpq has already received, without blocking.
    func readCopyData() throws -> CopyDataRead {
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
            while let result = PQgetResult(handle) {
                if PQresultStatus(result) == PGRES_FATAL_ERROR {
                    message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
                }
                PQclear(result)
            }
            if let message {
                throw SluiceError(.connection, "the replication stream ended with an error", isTransient: true,
                                  underlying: PostgresServerMessage(text: message))
            }
            return .ended
        default:
            throw SluiceError(.connection, "reading the replication stream failed", isTransient: true,
                              underlying: PostgresServerMessage(text: lastError))
        }
    }

    /// Sends one CopyData message and flushes it.
    func writeCopyData(_ bytes: [UInt8]) throws {
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
final class QueryResult: @unchecked Sendable {
    private let result: OpaquePointer

    fileprivate init(_ result: OpaquePointer) {
        self.result = result
    }

    deinit {
        PQclear(result)
    }

    var rowCount: Int { Int(PQntuples(result)) }
    var columnCount: Int { Int(PQnfields(result)) }

    func columnName(_ column: Int) -> String { String(cString: PQfname(result, Int32(column))) }

    /// The type OID of a result column.
    func columnType(_ column: Int) -> UInt32 { UInt32(PQftype(result, Int32(column))) }

    func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(result, Int32(row), Int32(column)) == 1 }

    /// A value as text, nil for SQL NULL.
    func string(_ row: Int, _ column: Int) -> String? {
        if isNull(row, column) { return nil }
        return String(cString: PQgetvalue(result, Int32(row), Int32(column)))
    }

    /// Calls `body` with the value's text bytes (nil for SQL NULL), valid only inside the call.
    func withBytes<T>(_ row: Int, _ column: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> T) rethrows -> T {
        if isNull(row, column) { return try body(nil) }
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        let pointer = PQgetvalue(result, Int32(row), Int32(column))!
        return try pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            try body(UnsafeBufferPointer(start: $0, count: length))
        }
    }
}

/// A server or libpq message, kept apart so that errors can carry it as their cause.
struct PostgresServerMessage: Error, Sendable, CustomStringConvertible {
    var text: String
    var description: String { text }
}

/// A statement the server rejected.
struct PostgresQueryError: Error, Sendable, CustomStringConvertible {
    /// SQLSTATE, e.g. `42501` for insufficient privilege.
    var sqlState: String
    var message: String
    var context: String
    /// True when the connection itself broke (worth retrying).
    var connectionLost: Bool

    var description: String {
        context.isEmpty ? "\(message) [\(sqlState)]" : "\(context): \(message) [\(sqlState)]"
    }

    /// As a `SluiceError` with a hint.
    func asSluiceError(hint: String? = nil) -> SluiceError {
        SluiceError(connectionLost ? .connection : .sourceSetup, "PostgreSQL refused a statement",
                    location: context.isEmpty ? nil : context, hint: hint, isTransient: connectionLost,
                    underlying: self)
    }
}
