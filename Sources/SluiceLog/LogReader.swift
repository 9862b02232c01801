import Foundation
import SluiceCore
import SluiceSQLite

/// One read connection and its prepared statements.
final class LogReader {
    private let connection: SQLiteConnection
    private let begin: SQLiteStatement
    private let commit: SQLiteStatement
    private let selectChunksFrom: SQLiteStatement
    private let selectStream: SQLiteStatement
    private let selectStreams: SQLiteStatement
    private let selectSeekChunkByTime: SQLiteStatement
    private let selectSeekChunkByPosition: SQLiteStatement
    private let selectChunkBoundsFrom: SQLiteStatement
    private let selectChunkEndingAt: SQLiteStatement
    private let selectState: SQLiteStatement
    private let selectStatesFrom: SQLiteStatement
    private let selectConsumerOffset: SQLiteStatement

    init(path: String) throws {
        connection = try SQLiteConnection(path: path, create: false)
        try connection.execute(LogSchema.connectionSettings + LogSchema.readerSettings, while: "configuring a reader")
        begin = try connection.prepare("BEGIN")
        commit = try connection.prepare("COMMIT")
        selectChunksFrom = try connection.prepare(
            """
            SELECT base_offset, last_offset, record_count, appended_at, checksum, data FROM chunks
            WHERE stream_id = (SELECT id FROM streams WHERE name = ?1) AND last_offset >= ?2
            ORDER BY last_offset
            """
        )
        selectStream = try connection.prepare(
            "SELECT id, first_offset, next_offset, record_count, payload_bytes, name FROM streams WHERE name = ?1"
        )
        selectStreams = try connection.prepare(
            "SELECT id, first_offset, next_offset, record_count, payload_bytes, name FROM streams ORDER BY name"
        )
        selectSeekChunkByTime = try connection.prepare(
            """
            SELECT last_offset FROM chunks WHERE stream_id = ?1 AND seek_time >= ?2
            ORDER BY seek_time, last_offset LIMIT 1
            """
        )
        selectSeekChunkByPosition = try connection.prepare(
            """
            SELECT last_offset FROM chunks WHERE stream_id = ?1 AND seek_position >= ?2
            ORDER BY seek_position, last_offset LIMIT 1
            """
        )
        selectChunkBoundsFrom = try connection.prepare(
            """
            SELECT base_offset, last_offset, min_source_time, max_source_time, max_position FROM chunks
            WHERE stream_id = ?1 AND last_offset >= ?2 ORDER BY last_offset
            """
        )
        selectChunkEndingAt = try connection.prepare(
            """
            SELECT base_offset, last_offset, record_count, appended_at, checksum, data FROM chunks
            WHERE stream_id = ?1 AND last_offset = ?2
            """
        )
        selectState = try connection.prepare("SELECT value FROM connector_state WHERE key = ?1")
        selectStatesFrom = try connection.prepare(
            "SELECT key, value FROM connector_state WHERE key >= ?1 ORDER BY key"
        )
        selectConsumerOffset = try connection.prepare(
            "SELECT next_offset FROM consumer_offsets WHERE consumer = ?1 AND stream = ?2"
        )
    }

    func close() {
        connection.close()
    }

    private var selectDataVersion: SQLiteStatement?

    /// SQLite's `data_version` of this connection: it changes when another connection commits to the file.
    func dataVersion() throws -> Int64 {
        let statement = try selectDataVersion ?? connection.prepare("PRAGMA data_version")
        selectDataVersion = statement
        defer { statement.reset() }
        guard try statement.step() else { return 0 }
        return statement.int64(at: 0)
    }

    /// Ends a read transaction a failed read left open.
    func endTransaction() {
        if connection.isInTransaction {
            try? commit.run(while: "ending a read transaction")
        }
    }

    // MARK: Records

    /// The stored chunks holding `offset` and on, copied out of SQLite, until they hold at least `limit` records
    /// from `offset` on (or the stream ends); decoding is left to the caller, off this connection's thread.
    ///
    /// One statement, so one snapshot: a read never sees part of a commit. A chunk is fetched only when the read
    /// may still need records from it, so a damaged chunk fails only the reads that could return records from it.
    func chunks(stream: String, from offset: Int64, limit: Int) throws -> StoredChunks {
        let select = selectChunksFrom
        try select.bind(stream, at: 1)
        try select.bind(offset, at: 2)
        defer { select.reset() }
        var chunks: [StoredChunk] = []
        var wanted = Int64(limit)
        while wanted > 0 {
            guard try select.step() else { return StoredChunks(chunks: chunks, reachedEnd: true) }
            let header = ChunkHeader(select, from: 0)
            chunks.append(StoredChunk(header: header, data: select.blob(at: 5) ?? []))
            // At most this many of its records are at or after `offset` (exactly this many when offsets are dense).
            wanted -= header.baseOffset >= offset
                ? header.recordCount : min(header.recordCount, header.lastOffset - offset + 1)
        }
        return StoredChunks(chunks: chunks, reachedEnd: false)
    }

    // MARK: Seeking

    func offset(stream name: String, atOrAfterTimestamp micros: Int64) throws -> Int64 {
        try seek(stream: name, seekChunk: selectSeekChunkByTime) { statement in
            try statement.bind(micros, at: 2)
        } chunkBounds: { bounds in
            if bounds.int64(at: 3) < micros {
                return .skip
            }
            return bounds.int64(at: 2) >= micros ? .firstRecord : .decode
        } isTarget: { record in
            record.sourceTime >= micros
        }
    }

    func offset(stream name: String, atOrAfterPosition position: SourcePosition) throws -> Int64 {
        try position.sortKey.withUnsafeBytes { target in
            try seek(stream: name, seekChunk: selectSeekChunkByPosition) { statement in
                try statement.bind(position.sortKey, at: 2)
            } chunkBounds: { bounds in
                guard !bounds.isNull(at: 4) else { return .skip }
                return bounds.withBlob(at: 4) { compareBytes($0, target) } < 0 ? .skip : .decode
            } isTarget: { record in
                record.positionKey.map { compareBytes($0, target) >= 0 } ?? false
            }
        }
    }

    /// What a chunk's bounds say about the first record at or after a seek target.
    private enum ChunkVerdict {
        /// No record of the chunk reaches the target.
        case skip
        /// Every record does: the chunk's first record is the answer.
        case firstRecord
        /// Some record may: decode the chunk.
        case decode
    }

    /// Finds the first chunk whose running maximum (`seek_time` / `seek_position`) reaches the target: every record
    /// before it is below the target. From there, chunks whose own bounds miss the target are skipped (possible
    /// after compaction or retention) and the first one that may hold it is decoded. When no stored record reaches
    /// the target, the stream's next offset.
    private func seek(
        stream name: String, seekChunk: SQLiteStatement,
        bindTarget: (SQLiteStatement) throws -> Void,
        chunkBounds: (SQLiteStatement) -> ChunkVerdict,
        isTarget: (ChunkRecord) -> Bool
    ) throws -> Int64 {
        try begin.run(while: "starting a read transaction")
        defer { endTransaction() }
        guard let stream = try streamInfo(statement: selectStream, name: name) else { return 0 }
        try seekChunk.bind(stream.id, at: 1)
        try bindTarget(seekChunk)
        let start = try seekChunk.step() ? seekChunk.int64(at: 0) : nil
        seekChunk.reset()
        guard let start else { return stream.info.nextOffset }

        let bounds = selectChunkBoundsFrom
        try bounds.bind(stream.id, at: 1)
        try bounds.bind(start, at: 2)
        defer { bounds.reset() }
        while try bounds.step() {
            switch chunkBounds(bounds) {
            case .skip:
                continue
            case .firstRecord:
                return bounds.int64(at: 0)
            case .decode:
                if let found = try firstRecord(
                    ofChunkEndingAt: bounds.int64(at: 1), stream: stream.id, named: name, where: isTarget)
                {
                    return found
                }
            }
        }
        return stream.info.nextOffset
    }

    /// The offset of the first record in a chunk that `isTarget` accepts, or nil.
    private func firstRecord(
        ofChunkEndingAt lastOffset: Int64, stream streamID: Int64, named name: String,
        where isTarget: (ChunkRecord) -> Bool
    ) throws -> Int64? {
        let select = selectChunkEndingAt
        try select.bind(streamID, at: 1)
        try select.bind(lastOffset, at: 2)
        defer { select.reset() }
        guard try select.step() else { return nil }
        let header = ChunkHeader(select, from: 0)
        return try select.withBlob(at: 5) { data -> Int64? in
            try header.withVerifiedDecoder(of: data, stream: name, path: connection.path) { decoder in
                do {
                    while let record = try decoder.next() {
                        if isTarget(record) {
                            return record.offset
                        }
                    }
                    return nil
                } catch let error as ChunkFormatError {
                    throw header.malformed(error, stream: name, path: connection.path)
                }
            }
        }
    }

    // MARK: Streams

    func stream(_ name: String) throws -> StreamInfo? {
        try streamInfo(statement: selectStream, name: name)?.info
    }

    func streams() throws -> [StreamInfo] {
        defer { selectStreams.reset() }
        var streams: [StreamInfo] = []
        while let stream = try nextStream(from: selectStreams) {
            streams.append(stream.info)
        }
        return streams
    }

    private func streamInfo(statement: SQLiteStatement, name: String) throws -> (id: Int64, info: StreamInfo)? {
        try statement.bind(name, at: 1)
        defer { statement.reset() }
        return try nextStream(from: statement)
    }

    private func nextStream(from statement: SQLiteStatement) throws -> (id: Int64, info: StreamInfo)? {
        guard try statement.step() else { return nil }
        let info = StreamInfo(
            name: statement.text(at: 5) ?? "",
            firstOffset: statement.int64(at: 1),
            nextOffset: statement.int64(at: 2),
            count: statement.int64(at: 3),
            bytes: statement.int64(at: 4)
        )
        return (statement.int64(at: 0), info)
    }

    // MARK: State and consumer offsets

    func state(_ key: String) throws -> [UInt8]? {
        try selectState.bind(key, at: 1)
        defer { selectState.reset() }
        return try selectState.step() ? selectState.blob(at: 0) : nil
    }

    /// Keys sort by their UTF-8 bytes, so the keys with a prefix follow the prefix itself contiguously.
    func states(prefix: String) throws -> [String: [UInt8]] {
        try selectStatesFrom.bind(prefix, at: 1)
        defer { selectStatesFrom.reset() }
        var states: [String: [UInt8]] = [:]
        while try selectStatesFrom.step() {
            guard let key = selectStatesFrom.text(at: 0), key.utf8.starts(with: prefix.utf8) else { break }
            states[key] = selectStatesFrom.blob(at: 1) ?? []
        }
        return states
    }

    func consumerOffset(consumer: String, stream: String) throws -> Int64 {
        try selectConsumerOffset.bind(consumer, at: 1)
        try selectConsumerOffset.bind(stream, at: 2)
        defer { selectConsumerOffset.reset() }
        return try selectConsumerOffset.step() ? selectConsumerOffset.int64(at: 0) : 0
    }
}
