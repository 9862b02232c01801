/// The tables of a SQLite log file and the connection settings every connection uses.
///
/// Records are stored one row each, clustered by `(stream_id, record_offset)`, so reads by offset are a range
/// scan of the primary key. Seeking by time or source position goes through `seek_index`, a sparse index with one
/// row per stream per commit (at most `seekIndexInterval` records each) holding the running maximum of the source
/// time and position up to that row's last record. Running maxima never decrease, so the first seek row at or after
/// a target is found by an index lookup even when source times are not monotonic, and only that row's records are
/// scanned. Keeping these indexes sparse instead of indexing every record keeps appends close to raw insert speed.
enum LogSchema {
    /// Stored in `PRAGMA user_version`; a file with a larger value was written by a newer Sluice.
    static let version: Int64 = 1
    /// Stored in `PRAGMA application_id` ("SLCE") so other tools can tell a Sluice log from other SQLite files.
    static let applicationID: Int64 = 0x534C_4345
    /// The most records one `seek_index` row covers; bounds the scan after a seek lookup.
    static let seekIndexInterval: Int64 = 1024

    static let createTables = """
        CREATE TABLE streams (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            first_offset INTEGER NOT NULL DEFAULT 0,
            next_offset INTEGER NOT NULL DEFAULT 0,
            record_count INTEGER NOT NULL DEFAULT 0,
            payload_bytes INTEGER NOT NULL DEFAULT 0,
            max_source_time INTEGER,
            max_position BLOB,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE records (
            stream_id INTEGER NOT NULL,
            record_offset INTEGER NOT NULL,
            record_key BLOB,
            payload BLOB NOT NULL,
            position_key BLOB,
            position_text TEXT,
            source_time INTEGER NOT NULL,
            appended_at INTEGER NOT NULL,
            checksum INTEGER NOT NULL,
            PRIMARY KEY (stream_id, record_offset)
        ) WITHOUT ROWID;
        CREATE TABLE seek_index (
            stream_id INTEGER NOT NULL,
            first_offset INTEGER NOT NULL,
            last_offset INTEGER NOT NULL,
            max_source_time INTEGER NOT NULL,
            max_position BLOB,
            PRIMARY KEY (stream_id, first_offset)
        ) WITHOUT ROWID;
        CREATE INDEX seek_index_by_time ON seek_index (stream_id, max_source_time);
        CREATE INDEX seek_index_by_position ON seek_index (stream_id, max_position);
        CREATE TABLE consumer_offsets (
            consumer TEXT NOT NULL,
            stream TEXT NOT NULL,
            next_offset INTEGER NOT NULL,
            PRIMARY KEY (consumer, stream)
        ) WITHOUT ROWID;
        CREATE TABLE connector_state (
            key TEXT PRIMARY KEY,
            value BLOB NOT NULL
        ) WITHOUT ROWID;
        PRAGMA user_version = \(version);
        PRAGMA application_id = \(applicationID);
        """

    /// Settings for every connection: wait for locks instead of failing at once.
    static let connectionSettings = "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = OFF;"

    /// Settings for the writer connection under a sync policy (WAL itself is a property of the file).
    static func writerSettings(_ policy: SyncPolicy) -> String {
        switch policy {
        case .full:
            // fullfsync only matters on Apple platforms, where plain fsync does not flush the drive's cache.
            "PRAGMA synchronous = FULL; PRAGMA fullfsync = ON; PRAGMA checkpoint_fullfsync = ON;"
                + " PRAGMA cache_size = -32768; PRAGMA journal_size_limit = 67108864;"
        case .normal:
            "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768; PRAGMA journal_size_limit = 67108864;"
        case .off:
            "PRAGMA synchronous = OFF; PRAGMA cache_size = -32768; PRAGMA journal_size_limit = 67108864;"
        }
    }

    /// Settings for read connections: they never write.
    static let readerSettings = "PRAGMA query_only = ON; PRAGMA cache_size = -16384;"
}
