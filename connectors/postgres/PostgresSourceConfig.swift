import SluiceCore
import SluicePostgresClient

extension PostgresSource {
    /// The configuration this connector declares (validation, `sluice connectors describe` and the README
    /// come from it).
    public static let spec = ConnectorSpec(
        name: "postgres", role: .source,
        summary: "PostgreSQL logical replication (pgoutput) with a consistent initial snapshot",
        fields: [
            FieldSpec("url", .string, required: true,
                      description: "libpq URL or conninfo of the database to capture; a password inside it is "
                          + "never logged (prefer the `password` field)",
                      example: "postgresql://sluice@db.internal:5432/shop"),
            FieldSpec("password", .string, secret: true,
                      description: "password of the connecting user (overrides one in `url`)",
                      example: "${PGPASSWORD}"),
            FieldSpec("sslmode", .oneOf(["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]),
                      description: "TLS mode (libpq sslmode); default: what the URL says, else prefer"),
            FieldSpec("slot", .string,
                      description: "logical replication slot name; default sluice_<pipeline>_<source>",
                      example: "sluice_shop"),
            FieldSpec("publication", .string,
                      description: "publication name; default sluice_<pipeline>_<source>", example: "sluice_shop"),
            FieldSpec("tables", .list(.string),
                      description: "tables to capture (schema.table); with include/exclude: added to the matches",
                      example: "[public.orders, public.customers]"),
            FieldSpec("include", .list(.string),
                      description: "patterns (schema.table, * and ? wildcards) of tables to capture when creating "
                          + "the publication", example: "[\"public.*\"]"),
            FieldSpec("exclude", .list(.string),
                      description: "patterns of tables never captured", example: "[\"public.tmp_*\"]"),
            FieldSpec("create_slot", .bool, default: .bool(true),
                      description: "create the replication slot when it is missing"),
            FieldSpec("create_publication", .bool, default: .bool(true),
                      description: "create the publication when it is missing (from tables/include/exclude)"),
            FieldSpec("snapshot_mode", .oneOf(["initial", "initial_only", "never"]), default: .string("initial"),
                      description: "initial: snapshot the tables then stream; initial_only: snapshot and stop; "
                          + "never: stream changes only"),
            FieldSpec("snapshot_chunk_size", .int, default: .int(20000),
                      description: "rows read per primary-key chunk during the snapshot (initial and incremental)"),
            FieldSpec("publication_refresh_interval", .duration, default: .duration(30),
                      description: "how often tables newly matching include patterns are added to a publication "
                          + "Sluice created (then snapshotted incrementally); 0: never"),
            FieldSpec("emit_transaction_markers", .bool, default: .bool(false),
                      description: "write BEGIN/END markers to the _transactions stream"),
            FieldSpec("capture_messages", .bool, default: .bool(true),
                      description: "capture pg_logical_emit_message messages (outbox pattern) as op m events "
                          + "in schema _messages"),
            FieldSpec("heartbeat_interval", .duration, default: .duration(0),
                      description: "write a small logical message this often (0: off); not needed to keep a "
                          + "quiet slot moving, which acknowledged keepalives do", example: "1m"),
            FieldSpec("status_interval", .duration, default: .duration(10),
                      description: "how often the acknowledged position is reported to the server"),
            FieldSpec("max_batch_events", .int, default: .int(20000),
                      description: "most events per batch handed to the log"),
            FieldSpec("max_batch_delay", .duration, default: .duration(0.2),
                      description: "longest time an event waits for its batch to fill under load"),
            FieldSpec("stream_buffer_memory", .size, default: .size(64 << 20),
                      description: "memory for large in-progress transactions streamed by the server; beyond it "
                          + "they spill to temporary files until they commit"),
            FieldSpec("logical_decoding_work_mem", .string,
                      description: "server memory per transaction before it streams it to Sluice "
                          + "(session setting of the replication connection; default: the server's)",
                      example: "64MB"),
        ])
}

/// The validated configuration of one PostgreSQL source, with defaults applied.
struct PostgresSourceSettings: Sendable {
    enum SnapshotMode: String, Sendable { case initial, initialOnly = "initial_only", never }

    var endpoint: PostgresConnection.Endpoint
    var slot: String
    var publication: String
    var tables: [String]
    var include: [String]
    var exclude: [String]
    var createSlot: Bool
    var createPublication: Bool
    var snapshotMode: SnapshotMode
    var snapshotChunkSize: Int
    var publicationRefreshInterval: Double
    var transactionMarkers: Bool
    var captureMessages: Bool
    var heartbeatInterval: Double
    var statusInterval: Double
    var maxBatchEvents: Int
    var maxBatchDelay: Double
    var streamBufferMemory: Int

    /// Reads `config`; absent fields take the defaults `PostgresSource.spec` declares.
    init(_ config: ConnectorConfig, pipeline: String) throws {
        let spec = PostgresSource.spec
        func value<T: ConfigFieldValue>(_ key: String) throws -> T? { try config.value(key, of: spec) }
        func setting<T: ConfigFieldValue>(_ key: String) throws -> T { try config.required(key, of: spec) }
        guard let url: String = try value("url"), !url.isEmpty else {
            throw SluiceError(.invalidConfiguration, "the postgres source needs a `url`",
                              location: config.location(of: "url", in: spec),
                              hint: "Set url: postgresql://USER@HOST:5432/DATABASE")
        }
        var settings: [(String, String)] = []
        if let workMem: String = try value("logical_decoding_work_mem") {
            settings.append(("logical_decoding_work_mem", workMem))
        }
        endpoint = PostgresConnection.Endpoint(conninfo: url, password: try value("password"),
                                               sslMode: try value("sslmode"), settings: settings)
        let defaultName = Self.identifier("sluice_\(pipeline)_\(config.instanceName)")
        slot = try value("slot") ?? defaultName
        publication = try value("publication") ?? defaultName
        // PostgreSQL allows only these in slot names; say so here instead of passing its syntax error on.
        guard !slot.isEmpty, slot.utf8.count <= 63,
            slot.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 })
        else {
            throw SluiceError(.invalidConfiguration, "the slot name '\(slot.prefix(80))' is not a valid replication slot name",
                              location: config.location(of: "slot", in: spec),
                              hint: "use lower-case letters, digits and _ (at most 63), e.g. slot: \(defaultName)")
        }
        guard !publication.isEmpty, publication.utf8.count <= 63, !publication.utf8.contains(0) else {
            throw SluiceError(.invalidConfiguration, "the publication name must have 1 to 63 bytes",
                              location: config.location(of: "publication", in: spec),
                              hint: "e.g. publication: \(defaultName)")
        }
        tables = try value("tables") ?? []
        include = try value("include") ?? []
        exclude = try value("exclude") ?? []
        createSlot = try setting("create_slot")
        createPublication = try setting("create_publication")
        snapshotMode = try config.choice("snapshot_mode", of: spec)
        snapshotChunkSize = max(1, try setting("snapshot_chunk_size"))
        publicationRefreshInterval = try setting("publication_refresh_interval")
        transactionMarkers = try setting("emit_transaction_markers")
        captureMessages = try setting("capture_messages")
        heartbeatInterval = try setting("heartbeat_interval")
        statusInterval = try setting("status_interval")
        maxBatchEvents = max(1, try setting("max_batch_events"))
        maxBatchDelay = try setting("max_batch_delay")
        streamBufferMemory = max(1 << 20, try setting("stream_buffer_memory"))
    }

    /// A slot/publication name from free text: lower case, [a-z0-9_], at most 63 bytes.
    static func identifier(_ text: String) -> String {
        let mapped = text.lowercased().map { c -> Character in
            c.isASCII && (c.isLetter || c.isNumber) ? c : "_"
        }
        return String(String(mapped).prefix(63))
    }

    /// True when `table` (schema.name) passes the include/exclude patterns and table list.
    func captures(schema: String, name: String) -> Bool {
        let qualified = "\(schema).\(name)"
        if exclude.contains(where: { Self.matches(pattern: $0, qualified) }) { return false }
        if tables.isEmpty && include.isEmpty { return true }
        if tables.contains(where: { Self.normalizedTable($0) == qualified }) { return true }
        return include.contains(where: { Self.matches(pattern: $0, qualified) })
    }

    /// `orders` → `public.orders`.
    static func normalizedTable(_ name: String) -> String {
        name.contains(".") ? name : "public.\(name)"
    }

    /// Glob match with `*` and `?` (a pattern without a schema matches in `public`).
    static func matches(pattern: String, _ text: String) -> Bool {
        Glob.matches(normalizedTable(pattern), text)
    }
}
