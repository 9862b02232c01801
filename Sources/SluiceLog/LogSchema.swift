/// The tables of a SQLite log file and the connection settings every connection uses.
///
/// Records are stored in chunks: one `chunks` row per stream per append (a large append is split so that a chunk
/// holds at most `maxRecordsPerChunk` records and about `maxChunkBytes` bytes), whose `data` column holds the
/// records encoded compactly (`ChunkFormat`) and whose `checksum` is a CRC-32C over them (`ChunkChecksum`). Offsets
/// are implicit within a chunk: dense as appended, with gaps only where compaction removed records.
///
/// - Reads by offset find the first chunk whose `last_offset` reaches the offset through `chunks_by_offset`, then
///   read chunks in offset order; only the chunks a read returns records from are fetched and verified.
/// - Seeks by time or source position go through `seek_time` / `seek_position`: the running maximum of the source
///   time and position over the stream up to and including the chunk. Running maxima never decrease along the
///   offsets, so an index lookup finds the first chunk that can hold a record at or after the target even when
///   source times go backwards; the chunk's own bounds (`min_source_time`, `max_source_time`, `max_position`) then
///   say whether to decode it or move on (after compaction or retention a chunk may no longer hold the maximum).
/// - Retention removes whole chunks below its boundary. Age retention's boundary is always a chunk's first record
///   (records of one append share their append time); size retention rewrites the one chunk its boundary falls in,
///   so it keeps the same records as a per-record log would. Compaction rewrites the chunks that lost records.
///
/// `chunks` is a rowid table (large rows belong in rowid tables; a `WITHOUT ROWID` b-tree would copy them into its
/// interior pages) with its `data` column last, so scans of the other columns never read a chunk's records.
enum LogSchema {
    /// Stored in `PRAGMA user_version`. Version 1 (development builds only) stored one row per record; this Sluice
    /// opens version 2 files only.
    static let version: Int64 = 2
    /// Stored in `PRAGMA application_id` ("SLCE") so other tools can tell a Sluice log from other SQLite files.
    static let applicationID: Int64 = 0x534C_4345
    /// The most records one chunk holds; bounds the work of a read that starts inside a chunk.
    static let maxRecordsPerChunk: Int64 = 1_024
    /// A chunk takes no further record once it holds about this many encoded bytes (a larger record gets a chunk
    /// of its own).
    static let maxChunkBytes = 1 << 20

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
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,
            stream_id INTEGER NOT NULL,
            base_offset INTEGER NOT NULL,
            last_offset INTEGER NOT NULL,
            record_count INTEGER NOT NULL,
            appended_at INTEGER NOT NULL,
            checksum INTEGER NOT NULL,
            payload_bytes INTEGER NOT NULL,
            min_source_time INTEGER NOT NULL,
            max_source_time INTEGER NOT NULL,
            max_position BLOB,
            seek_time INTEGER NOT NULL,
            seek_position BLOB,
            data BLOB NOT NULL
        );
        CREATE UNIQUE INDEX chunks_by_offset ON chunks (stream_id, last_offset);
        CREATE INDEX chunks_by_time ON chunks (stream_id, seek_time, last_offset);
        CREATE INDEX chunks_by_position ON chunks (stream_id, seek_position, last_offset);
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
