import SluiceSQLite

/// The writer connection's statements, prepared once.
struct WriterStatements {
    let begin: SQLiteStatement
    let commit: SQLiteStatement
    let rollback: SQLiteStatement
    let savepoint: SQLiteStatement
    let release: SQLiteStatement
    let rollbackToSavepoint: SQLiteStatement
    let selectStreams: SQLiteStatement
    let insertStream: SQLiteStatement
    let updateStream: SQLiteStatement
    let insertChunk: SQLiteStatement
    let upsertState: SQLiteStatement
    let deleteState: SQLiteStatement
    let upsertConsumerOffset: SQLiteStatement
    let selectChunksOfStream: SQLiteStatement
    let selectChunk: SQLiteStatement
    let updateChunk: SQLiteStatement
    let deleteChunk: SQLiteStatement
    let selectFirstAppendedSince: SQLiteStatement
    let selectChunkSizes: SQLiteStatement
    let selectPrefixTotals: SQLiteStatement
    let deleteChunksBefore: SQLiteStatement
    let selectChunkStraddling: SQLiteStatement
    let selectFirstOffset: SQLiteStatement

    init(_ connection: SQLiteConnection) throws {
        begin = try connection.prepare("BEGIN IMMEDIATE")
        commit = try connection.prepare("COMMIT")
        rollback = try connection.prepare("ROLLBACK")
        savepoint = try connection.prepare("SAVEPOINT request")
        release = try connection.prepare("RELEASE request")
        rollbackToSavepoint = try connection.prepare("ROLLBACK TO request")
        selectStreams = try connection.prepare(
            """
            SELECT id, name, first_offset, next_offset, record_count, payload_bytes, max_source_time, max_position
            FROM streams
            """
        )
        insertStream = try connection.prepare("INSERT INTO streams (name, created_at) VALUES (?1, ?2)")
        updateStream = try connection.prepare(
            """
            UPDATE streams SET first_offset = ?2, next_offset = ?3, record_count = ?4, payload_bytes = ?5,
                max_source_time = ?6, max_position = ?7
            WHERE id = ?1
            """
        )
        insertChunk = try connection.prepare(
            """
            INSERT INTO chunks (stream_id, base_offset, last_offset, record_count, appended_at, checksum,
                payload_bytes, min_source_time, max_source_time, max_position, seek_time, seek_position, data)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
            """
        )
        upsertState = try connection.prepare(
            """
            INSERT INTO connector_state (key, value) VALUES (?1, ?2)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """
        )
        deleteState = try connection.prepare("DELETE FROM connector_state WHERE key = ?1")
        upsertConsumerOffset = try connection.prepare(
            """
            INSERT INTO consumer_offsets (consumer, stream, next_offset) VALUES (?1, ?2, ?3)
            ON CONFLICT (consumer, stream) DO UPDATE SET next_offset = excluded.next_offset
            """
        )
        selectChunksOfStream = try connection.prepare(
            """
            SELECT id, base_offset, last_offset, record_count, appended_at, checksum, data FROM chunks
            WHERE stream_id = ?1 ORDER BY last_offset
            """
        )
        selectChunk = try connection.prepare(
            "SELECT id, base_offset, last_offset, record_count, appended_at, checksum, data FROM chunks WHERE id = ?1"
        )
        updateChunk = try connection.prepare(
            """
            UPDATE chunks SET base_offset = ?2, last_offset = ?3, record_count = ?4, appended_at = ?5, checksum = ?6,
                payload_bytes = ?7, min_source_time = ?8, max_source_time = ?9, max_position = ?10, data = ?11
            WHERE id = ?1
            """
        )
        deleteChunk = try connection.prepare("DELETE FROM chunks WHERE id = ?1")
        selectFirstAppendedSince = try connection.prepare(
            """
            SELECT base_offset FROM chunks WHERE stream_id = ?1 AND appended_at >= ?2
            ORDER BY last_offset LIMIT 1
            """
        )
        selectChunkSizes = try connection.prepare(
            "SELECT id, base_offset, payload_bytes FROM chunks WHERE stream_id = ?1 ORDER BY last_offset"
        )
        selectPrefixTotals = try connection.prepare(
            """
            SELECT coalesce(sum(record_count), 0), coalesce(sum(payload_bytes), 0) FROM chunks
            WHERE stream_id = ?1 AND last_offset < ?2
            """
        )
        deleteChunksBefore = try connection.prepare("DELETE FROM chunks WHERE stream_id = ?1 AND last_offset < ?2")
        selectChunkStraddling = try connection.prepare(
            """
            SELECT id FROM chunks WHERE stream_id = ?1 AND last_offset >= ?2 AND base_offset < ?2
            ORDER BY last_offset LIMIT 1
            """
        )
        selectFirstOffset = try connection.prepare(
            "SELECT base_offset FROM chunks WHERE stream_id = ?1 ORDER BY last_offset LIMIT 1"
        )
    }
}
