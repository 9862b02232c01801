import CMariaDB
import Foundation
import SluiceCore

/// One connection to a MySQL/MariaDB server through MariaDB Connector/C: connect, authenticate, TLS,
/// text queries, and the raw packets of a binlog dump. It owns the `MYSQL` handle: all unsafe pointer work
/// of the connector is here.
///
/// Not thread-safe: one task (or the binlog reader thread) uses it at a time; `interrupt()` may be called
/// from elsewhere to unblock a read.
// @unchecked: safe as described above — one owner at a time (a task, or a `BlockingExecutor` thread that owns it), and
// `interrupt()` only shuts the socket down, which the kernel makes safe from any thread.
final class MySQLConnection: @unchecked Sendable {
    /// Where and how to connect.
    struct Endpoint: Sendable {
        enum TLSMode: String, Sendable { case disable, prefer, require, verifyCA = "verify_ca", verifyIdentity = "verify_identity" }
        var host: String
        var port: Int
        var user: String
        var password: String?
        var database: String?
        var tls: TLSMode = .prefer
        var caFile: String?
        var connectTimeoutSeconds: Int = 10
        /// 0: none. Set above the heartbeat period for replication connections.
        var readTimeoutSeconds: Int = 0

        var description: String { "\(user)@\(host):\(port)" }
    }

    private var handle: UnsafeMutablePointer<MYSQL>?
    let endpoint: Endpoint
    private(set) var serverVersion: String = ""

    init(_ endpoint: Endpoint) throws {
        self.endpoint = endpoint
        guard let handle = mysql_init(nil) else {
            throw SluiceError(.internal, "mysql_init failed (out of memory)")
        }
        self.handle = handle
        var connectTimeout = UInt32(endpoint.connectTimeoutSeconds)
        mysql_options(handle, MYSQL_OPT_CONNECT_TIMEOUT, &connectTimeout)
        if endpoint.readTimeoutSeconds > 0 {
            var readTimeout = UInt32(endpoint.readTimeoutSeconds)
            mysql_options(handle, MYSQL_OPT_READ_TIMEOUT, &readTimeout)
        }
        switch endpoint.tls {
        case .disable, .prefer:
            break
        case .require, .verifyCA, .verifyIdentity:
            var enforce: my_bool = 1
            mysql_options(handle, MYSQL_OPT_SSL_ENFORCE, &enforce)
            var verify: my_bool = endpoint.tls == .require ? 0 : 1
            mysql_options(handle, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify)
        }
        if let ca = endpoint.caFile { mysql_options(handle, MYSQL_OPT_SSL_CA, ca) }
        mysql_options(handle, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        guard mysql_real_connect(handle, endpoint.host, endpoint.user, endpoint.password, endpoint.database,
                                 UInt32(endpoint.port), nil, 0) != nil else {
            let error = Self.error(handle, "connecting to \(endpoint.description)")
            mysql_close(handle)
            self.handle = nil
            throw error
        }
        serverVersion = String(cString: mysql_get_server_info(handle))
    }

    deinit { close() }

    func close() {
        if let handle {
            mysql_close(handle)
            self.handle = nil
        }
    }

    /// Unblocks a read in progress on another thread (by shutting the socket down); the connection is then dead.
    func interrupt() {
        guard let handle else { return }
        let socket = mysql_get_socket(handle)
        if socket >= 0 { _ = shutdown(socket, Int32(SHUT_RDWR)) }
    }

    private func live() throws -> UnsafeMutablePointer<MYSQL> {
        guard let handle else { throw SluiceError(.connection, "the MySQL connection is closed", isTransient: true) }
        return handle
    }

    /// Runs a statement that returns no rows.
    func execute(_ sql: String) throws {
        let handle = try live()
        guard mysql_real_query(handle, sql, UInt(sql.utf8.count)) == 0 else { throw Self.error(handle, "running a statement") }
        if let result = mysql_store_result(handle) { mysql_free_result(result) }
    }

    /// Runs a query and returns its rows as raw bytes (nil for SQL NULL).
    func queryBytes(_ sql: String) throws -> (columns: [String], rows: [[[UInt8]?]]) {
        let handle = try live()
        guard mysql_real_query(handle, sql, UInt(sql.utf8.count)) == 0 else { throw Self.error(handle, "running a query") }
        guard let result = mysql_store_result(handle) else {
            if mysql_field_count(handle) == 0 { return ([], []) }
            throw Self.error(handle, "reading a query result")
        }
        defer { mysql_free_result(result) }
        let count = Int(mysql_num_fields(result))
        var columns: [String] = []
        if let fields = mysql_fetch_fields(result) {
            for i in 0..<count { columns.append(String(cString: fields[i].name)) }
        }
        var rows: [[[UInt8]?]] = []
        while let row = mysql_fetch_row(result) {
            guard let lengths = mysql_fetch_lengths(result) else { break }
            var values: [[UInt8]?] = []
            values.reserveCapacity(count)
            for i in 0..<count {
                if let field = row[i] {
                    values.append(Array(UnsafeRawBufferPointer(start: field, count: Int(lengths[i]))))
                } else {
                    values.append(nil)
                }
            }
            rows.append(values)
        }
        return (columns, rows)
    }

    /// Runs a query and returns its rows as text (nil for SQL NULL).
    func query(_ sql: String) throws -> [[String?]] {
        try queryBytes(sql).rows.map { $0.map { $0.map { String(decoding: $0, as: UTF8.self) } } }
    }

    /// Escapes a string for a quoted SQL literal on this connection.
    func quoted(_ text: String) -> String {
        var out = "'"
        for c in text.unicodeScalars {
            switch c {
            case "'": out += "''"
            case "\\": out += "\\\\"
            case "\0": out += "\\0"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "'"
    }

    /// Sends COM_BINLOG_DUMP (0x12) or COM_BINLOG_DUMP_GTID (0x1e) with its payload; packets follow.
    func sendBinlogDump(command: UInt32, payload: [UInt8]) throws {
        let handle = try live()
        let status = payload.withUnsafeBufferPointer { cmariadb_send_command(handle, command, $0.baseAddress, $0.count) }
        guard status == 0 else { throw Self.error(handle, "requesting the binlog stream") }
    }

    /// The next packet of a binlog dump: `.event` (without the 0x00 status byte), `.end` (EOF packet) —
    /// errors throw.
    func readBinlogPacket() throws -> BinlogPacket {
        let handle = try live()
        let length = mysql_net_read_packet(handle)
        if length == UInt(UInt32.max) || length == UInt.max {
            throw Self.error(handle, "reading the binlog stream", transientByDefault: true)
        }
        guard length > 0, let data = cmariadb_packet_data(handle) else {
            throw SluiceError(.connection, "empty packet in the binlog stream from \(endpoint.description)", isTransient: true)
        }
        switch data[0] {
        case 0x00:
            return .event(Array(UnsafeBufferPointer(start: data + 1, count: Int(length) - 1)))
        case 0xFE where length < 9:
            return .end
        case 0xFF:
            var code: UInt32 = 0
            var message = ""
            if length >= 3 { code = UInt32(data[1]) | UInt32(data[2]) << 8 }
            if length > 9 {
                message = String(decoding: UnsafeBufferPointer(start: data + 9, count: Int(length) - 9), as: UTF8.self)
            }
            throw Self.serverError(code: code, message: message, context: "reading the binlog stream")
        default:
            throw SluiceError(.decoding, "unexpected packet 0x\(String(data[0], radix: 16)) in the binlog stream",
                              hint: "reconnect; report it if it persists", isTransient: true)
        }
    }

    enum BinlogPacket {
        case event([UInt8])
        case end
    }

    private static func error(_ handle: UnsafeMutablePointer<MYSQL>, _ context: String,
                              transientByDefault: Bool = false) -> SluiceError {
        let code = mysql_errno(handle)
        let message = String(cString: mysql_error(handle))
        return serverError(code: code, message: message, context: context, transientByDefault: transientByDefault)
    }

    /// A server or client error with a hint about what to do (messages never contain the password).
    static func serverError(code: UInt32, message: String, context: String, transientByDefault: Bool = false) -> SluiceError {
        let text = "MySQL error \(code) while \(context): \(message)"
        switch code {
        case 1045, 1698:
            return SluiceError(.sourceSetup, text, hint: "check user and password (sources.<name>.user/password)")
        case 1227, 1142, 1044, 1370:
            return SluiceError(.sourceSetup, text,
                               hint: "grant the capture user REPLICATION SLAVE, REPLICATION CLIENT (MariaDB: BINLOG MONITOR) "
                                   + "and SELECT on the captured tables")
        case 1236:
            return SluiceError(.sourceSetup, text,
                               hint: "the binlog position is gone (purged?) or invalid: take a new snapshot "
                                   + "(snapshot_mode: initial with a fresh pipeline state) or start from an existing position")
        case 2002, 2003, 2005, 2006, 2013, 2055, 1053, 1927, 4031:
            return SluiceError(.connection, text, hint: "the server is unreachable or restarting; retrying", isTransient: true)
        default:
            return SluiceError(code >= 2000 ? .connection : .sourceSetup, text, isTransient: transientByDefault || code >= 2000)
        }
    }
}
