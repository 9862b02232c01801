import Foundation
import Logging
import SluiceCore

extension MySQLSource {
    /// The configuration this connector declares (validation, `sluice connectors describe` and the README
    /// come from it).
    public static let spec = ConnectorSpec(
        name: "mysql", role: .source,
        summary: "MySQL/MariaDB binlog replication (ROW format), every event decoded in Swift",
        fields: [
            FieldSpec("url", .string,
                      description: "mysql://USER[:PASSWORD]@HOST[:PORT]/ (a password inside is never logged; prefer "
                          + "`password`); or use host/port/user", example: "mysql://sluice@db.internal:3306/"),
            FieldSpec("host", .string, description: "server host (overrides the URL's)", example: "db.internal"),
            FieldSpec("port", .int, description: "server port (default 3306)", example: "3306"),
            FieldSpec("user", .string, description: "capture user (needs REPLICATION SLAVE, REPLICATION CLIENT / "
                          + "BINLOG MONITOR and SELECT)", example: "sluice"),
            FieldSpec("password", .string, secret: true, description: "password of the capture user",
                      example: "${MYSQL_PASSWORD}"),
            FieldSpec("server_id", .int,
                      description: "replica server id, unique among the server's replicas; default: derived from "
                          + "the pipeline and source names (100000-4294967295)", example: "184054"),
            FieldSpec("tables", .list(.string), description: "tables to capture (database.table)",
                      example: "[shop.orders, shop.customers]"),
            FieldSpec("include", .list(.string), description: "patterns (database.table, * and ?) of tables to capture",
                      example: "[\"shop.*\"]"),
            FieldSpec("exclude", .list(.string), description: "patterns of tables never captured",
                      example: "[\"shop.tmp_*\"]"),
            FieldSpec("start_position", .string, default: .string("latest"),
                      description: "where to start without stored state: latest (the server's current position), "
                          + "earliest (the oldest binlog kept) or FILE:POS", example: "binlog.000003:4"),
            FieldSpec("gtid", .string,
                      description: "start from a GTID position instead (MariaDB: domain-server-seq,…; MySQL: a "
                          + "GTID set uuid:1-100,…), without stored state", example: "0-1-1234"),
            FieldSpec("heartbeat_interval", .duration, default: .duration(5),
                      description: "server heartbeat period while the binlog is idle (the read timeout is 3×)"),
            FieldSpec("snapshot_mode", .oneOf(["never", "initial", "initial_only", "when_needed"]), default: .string("never"),
                      description: "never: stream changes only; initial: read the tables in a consistent snapshot, "
                          + "then stream from its binlog position; initial_only: snapshot and stop; when_needed: as "
                          + "initial, and take a new snapshot when the stored binlog position was purged"),
            FieldSpec("snapshot_chunk_size", .int, default: .int(10000),
                      description: "rows read per primary-key chunk during the snapshot"),
            FieldSpec("tls", .oneOf(["disable", "prefer", "require", "verify_ca", "verify_identity"]),
                      default: .string("prefer"), description: "TLS to the server"),
            FieldSpec("tls_ca", .string, description: "CA certificate file for verify_ca/verify_identity",
                      example: "/etc/ssl/mysql-ca.pem"),
            FieldSpec("verify_checksums", .bool, default: .bool(true),
                      description: "verify the CRC32 of every event when the server sends checksums"),
            FieldSpec("emit_transaction_markers", .bool, default: .bool(false),
                      description: "write BEGIN/END markers to the _transactions stream"),
            FieldSpec("max_batch_events", .int, default: .int(5000),
                      description: "most events per batch handed to the log"),
        ])
}

/// The validated configuration of one MySQL source, with defaults applied.
struct MySQLSourceSettings: Sendable {
    enum SnapshotMode: String, Sendable { case never, initial, initialOnly = "initial_only", whenNeeded = "when_needed" }

    var endpoint: MySQLConnection.Endpoint
    var serverID: UInt32
    var tables: [String]
    var include: [String]
    var exclude: [String]
    var startPosition: String
    var gtid: String?
    var heartbeatSeconds: Double
    var snapshotMode: SnapshotMode
    var snapshotChunkSize: Int
    var verifyChecksums: Bool
    var transactionMarkers: Bool
    var maxBatchEvents: Int

    /// Reads `config`; absent fields take the defaults `MySQLSource.spec` declares.
    init(_ config: ConnectorConfig, pipeline: String) throws {
        let spec = MySQLSource.spec
        func value<T: ConfigFieldValue>(_ key: String) throws -> T? { try config.value(key, of: spec) }
        func setting<T: ConfigFieldValue>(_ key: String) throws -> T { try config.required(key, of: spec) }
        let location = "sources.\(config.instanceName)"
        var host = "127.0.0.1", port = 3306, user = "", password: String?
        if let url: String = try value("url") {
            guard let components = URLComponents(string: url), ["mysql", "mariadb"].contains(components.scheme ?? "") else {
                throw SluiceError(.invalidConfiguration, "the mysql source's url is not a mysql:// URL",
                                  location: "\(location).url", hint: "use mysql://USER@HOST:PORT/")
            }
            host = components.host ?? host
            port = components.port ?? port
            user = components.user.map { $0.removingPercentEncoding ?? $0 } ?? user
            password = components.password.map { $0.removingPercentEncoding ?? $0 }
        }
        host = try value("host") ?? host
        port = try value("port") ?? port
        user = try value("user") ?? user
        password = try value("password") ?? password
        guard !user.isEmpty else {
            throw SluiceError(.invalidConfiguration, "the mysql source needs a user", location: "\(location).user",
                              hint: "set user: or url: mysql://USER@HOST:PORT/")
        }
        let tls: MySQLConnection.Endpoint.TLSMode = try config.choice("tls", of: spec)
        heartbeatSeconds = max(0.1, try setting("heartbeat_interval"))
        endpoint = MySQLConnection.Endpoint(host: host, port: port, user: user, password: password, tls: tls,
                                            caFile: try value("tls_ca"),
                                            readTimeoutSeconds: 0)
        if let id: Int = try value("server_id") {
            guard id > 0, id <= Int(UInt32.max) else {
                throw SluiceError(.invalidConfiguration, "server_id \(id) is out of range", location: "\(location).server_id",
                                  hint: "use a number from 1 to 4294967295 that no other replica of the server uses")
            }
            serverID = UInt32(id)
        } else {
            var hash: UInt32 = 2_166_136_261
            for byte in "\(pipeline).\(config.instanceName)".utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
            serverID = 100_000 + hash % (UInt32.max - 100_000)
        }
        tables = try value("tables") ?? []
        include = try value("include") ?? []
        exclude = try value("exclude") ?? []
        startPosition = try setting("start_position")
        gtid = try value("gtid")
        snapshotMode = try config.choice("snapshot_mode", of: spec)
        snapshotChunkSize = max(1, try setting("snapshot_chunk_size"))
        verifyChecksums = try setting("verify_checksums")
        transactionMarkers = try setting("emit_transaction_markers")
        maxBatchEvents = max(1, try setting("max_batch_events"))
    }

    /// True when `database.table` passes the table list and include/exclude patterns.
    func captures(database: String, table: String) -> Bool {
        let name = "\(database).\(table)"
        if ["mysql", "information_schema", "performance_schema", "sys"].contains(database) { return false }
        if exclude.contains(where: { Self.matches(pattern: $0, name) }) { return false }
        if tables.isEmpty && include.isEmpty { return true }
        return tables.contains(name) || include.contains(where: { Self.matches(pattern: $0, name) })
    }

    /// Checks at start that the configured tables exist: a listed table that does not is an error (a typo would
    /// otherwise capture nothing, silently); include patterns that match no table yet get a warning.
    func checkTables(_ connection: MySQLConnection, logger: Logger) throws {
        guard !tables.isEmpty || !include.isEmpty else { return }
        let existing = Set(try MySQLSnapshotReader.capturedTables(connection, settings: self).map {
            "\($0.database).\($0.name)"
        })
        let missing = tables.filter { !existing.contains($0) }
        if !missing.isEmpty {
            throw SluiceError(
                .sourceSetup,
                "tables lists \(missing.joined(separator: ", ")), which \(missing.count == 1 ? "does" : "do") not exist on "
                    + endpoint.description + " (or \(missing.count == 1 ? "is" : "are") excluded)",
                location: "tables",
                hint: "write database.table as the server has it (names are case-sensitive on Linux), or create the "
                    + "table before starting; use include patterns for tables that come later")
        }
        if tables.isEmpty && existing.isEmpty {
            logger.warning("no table on the server matches include \(include) yet; tables created later that match are captured")
        }
    }

    /// Glob match with `*` and `?`.
    static func matches(pattern: String, _ text: String) -> Bool {
        Glob.matches(pattern, text)
    }
}

/// Where a source resumes: stored in the batch state, atomically with the events it covers.
struct MySQLResumeState: Codable, Sendable, Equatable {
    /// The binlog file and position to reconnect at: the first event of the transaction the last emitted event
    /// belongs to, or the position after the last completed transaction.
    var file: String
    var position: UInt64
    /// Sort key (hex) of the last emitted event: on resume, events up to it are skipped.
    var lastKey: String?
    /// The GTID of the last transaction the stream began, captured or not (informational; MariaDB `domain-server-seq`).
    var gtid: String?
    /// True once an initial snapshot has completed.
    var snapshotDone: Bool?
    /// The GTID state at `file`/`position`: MariaDB `domain-server-seq,…` (as `@@gtid_binlog_pos`), MySQL the
    /// executed GTID set (as `@@gtid_executed`; nil while not known). Either form is a valid `gtid` option.
    var gtidState: String?

    static let key = "position"

    func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }
    static func decode(_ bytes: [UInt8]) throws -> MySQLResumeState {
        try JSONDecoder().decode(MySQLResumeState.self, from: Data(bytes))
    }
}

/// Server settings read (and checked) at start.
struct ServerSettings: Sendable {
    var version: String
    var isMariaDB: Bool
    var checksum: String
    var rowMetadata: String

    static func check(_ connection: MySQLConnection, logger: Logger) throws -> ServerSettings {
        let version = connection.serverVersion
        let isMariaDB = version.contains("MariaDB")
        func variable(_ name: String) -> String? {
            (try? connection.query("SELECT @@global.\(name)"))?.first?.first ?? nil
        }
        guard variable("log_bin") == "1" else {
            throw SluiceError(.sourceSetup, "binary logging is off on \(connection.endpoint.description)",
                              hint: "start the server with log_bin (e.g. --log-bin=binlog) and a server_id")
        }
        let format = variable("binlog_format") ?? ""
        guard format.uppercased() == "ROW" else {
            throw SluiceError(.sourceSetup, "binlog_format is \(format), change capture needs ROW",
                              hint: "set binlog_format=ROW in the server configuration (SET GLOBAL binlog_format=ROW "
                                  + "affects new sessions only)")
        }
        let image = variable("binlog_row_image") ?? "FULL"
        guard image.uppercased() == "FULL" else {
            throw SluiceError(.sourceSetup, "binlog_row_image is \(image), change capture needs FULL row images",
                              hint: "set binlog_row_image=FULL in the server configuration")
        }
        let metadata = variable("binlog_row_metadata") ?? "MINIMAL"
        if metadata.uppercased() != "FULL" {
            logger.warning("""
                binlog_row_metadata is \(metadata): column names and keys come from information_schema at start plus \
                tracked DDL; set binlog_row_metadata=FULL so that old binlog decodes with the schema of its time
                """)
        }
        do {
            _ = try connection.query(Self.binlogStatusStatement(serverVersion: connection.serverVersion))
        } catch let error as SluiceError {
            throw SluiceError(.sourceSetup, "the capture user cannot read the binlog position", hint: error.hint
                                ?? "grant REPLICATION CLIENT (MariaDB: BINLOG MONITOR) and REPLICATION SLAVE",
                              underlying: error)
        }
        return ServerSettings(version: version, isMariaDB: isMariaDB, checksum: variable("binlog_checksum") ?? "NONE",
                              rowMetadata: metadata)
    }

    func currentPosition(_ connection: MySQLConnection) throws -> (file: String, position: UInt64) {
        let statement = Self.binlogStatusStatement(serverVersion: connection.serverVersion)
        guard let row = try connection.query(statement).first, let file = row[0], let text = row[1],
              let position = UInt64(text) else {
            throw SluiceError(.sourceSetup, "\(statement) returned nothing", hint: "enable log_bin on the server")
        }
        return (file, position)
    }

    /// The statement that shows the current binlog file and position: MySQL 8.2 renamed `SHOW MASTER STATUS` to
    /// `SHOW BINARY LOG STATUS` and 8.4 removed the old name; MariaDB keeps it.
    static func binlogStatusStatement(serverVersion: String) -> String {
        let numbers = serverVersion.split(separator: ".").prefix(2).compactMap { Int($0.prefix(while: \.isNumber)) }
        guard !serverVersion.contains("MariaDB"), numbers.count == 2, (numbers[0], numbers[1]) >= (8, 2) else {
            return "SHOW MASTER STATUS"
        }
        return "SHOW BINARY LOG STATUS"
    }
}
