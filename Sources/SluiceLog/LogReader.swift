import Foundation
import SluiceCore

/// Read connections to a log file, opened on demand and kept for reuse.
///
/// WAL mode lets every read connection see the last committed state while the writer commits, so reads never wait
/// for the writer. Each read runs as one SQL statement or inside one read transaction, so it sees whole commits only.
final class ReadConnectionPool: @unchecked Sendable {
    private let path: String
    private let maxIdleConnections: Int
    // Guarded by `lock`.
    private let lock = NSLock()
    private var idleReaders: [LogReader] = []
    private var isClosed = false

    init(path: String, maxIdleConnections: Int) {
        self.path = path
        self.maxIdleConnections = maxIdleConnections
    }

    /// Runs `body` with a reader no other thread uses meanwhile.
    func withReader<Result>(_ body: (LogReader) throws -> Result) throws -> Result {
        let reader = try checkOut()
        defer { checkIn(reader) }
        return try body(reader)
    }

    /// Closes idle connections now and busy ones when their read ends; later reads fail with `LogError.closed`.
    func close() {
        lock.lock()
        isClosed = true
        let readers = idleReaders
        idleReaders.removeAll()
        lock.unlock()
        readers.forEach { $0.close() }
    }

    private func checkOut() throws -> LogReader {
        lock.lock()
        if isClosed {
            lock.unlock()
            throw LogError.closedLog
        }
        if let reader = idleReaders.popLast() {
            lock.unlock()
            return reader
        }
        lock.unlock()
        return try LogReader(path: path)
    }

    private func checkIn(_ reader: LogReader) {
        reader.endTransaction()
        lock.lock()
        if !isClosed && idleReaders.count < maxIdleConnections {
            idleReaders.append(reader)
            lock.unlock()
        } else {
            lock.unlock()
            reader.close()
        }
    }
}

/// One read connection and its prepared statements.
final class LogReader {
    private let connection: SQLiteConnection
    private let begin: SQLiteStatement
    private let commit: SQLiteStatement
    private let selectRecords: SQLiteStatement
    private let selectStream: SQLiteStatement
    private let selectStreams: SQLiteStatement
    private let selectSeekRowByTime: SQLiteStatement
    private let selectFirstOffsetByTime: SQLiteStatement
    private let selectSeekRowByPosition: SQLiteStatement
    private let selectFirstOffsetByPosition: SQLiteStatement
    private let selectState: SQLiteStatement
    private let selectStatesFrom: SQLiteStatement
    private let selectConsumerOffset: SQLiteStatement

    init(path: String) throws {
        connection = try SQLiteConnection(path: path, create: false)
        try connection.execute(LogSchema.connectionSettings + LogSchema.readerSettings, while: "configuring a reader")
        begin = try connection.prepare("BEGIN")
        commit = try connection.prepare("COMMIT")
        selectRecords = try connection.prepare(
            """
            SELECT record_offset, record_key, payload, position_key, position_text, source_time, appended_at, checksum
            FROM records
            WHERE stream_id = (SELECT id FROM streams WHERE name = ?1) AND record_offset >= ?2
            ORDER BY record_offset LIMIT ?3
            """
        )
        selectStream = try connection.prepare(
            "SELECT id, first_offset, next_offset, record_count, payload_bytes, name FROM streams WHERE name = ?1"
        )
        selectStreams = try connection.prepare(
            "SELECT id, first_offset, next_offset, record_count, payload_bytes, name FROM streams ORDER BY name"
        )
        selectSeekRowByTime = try connection.prepare(
            """
            SELECT first_offset, last_offset FROM seek_index
            WHERE stream_id = ?1 AND max_source_time >= ?2
            ORDER BY max_source_time, first_offset LIMIT 1
            """
        )
        selectFirstOffsetByTime = try connection.prepare(
            """
            SELECT record_offset FROM records
            WHERE stream_id = ?1 AND record_offset BETWEEN ?2 AND ?3 AND source_time >= ?4
            ORDER BY record_offset LIMIT 1
            """
        )
        selectSeekRowByPosition = try connection.prepare(
            """
            SELECT first_offset, last_offset FROM seek_index
            WHERE stream_id = ?1 AND max_position >= ?2
            ORDER BY max_position, first_offset LIMIT 1
            """
        )
        selectFirstOffsetByPosition = try connection.prepare(
            """
            SELECT record_offset FROM records
            WHERE stream_id = ?1 AND record_offset BETWEEN ?2 AND ?3 AND position_key >= ?4
            ORDER BY record_offset LIMIT 1
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

    /// Ends a read transaction a failed read left open.
    func endTransaction() {
        if connection.isInTransaction {
            try? commit.run(while: "ending a read transaction")
        }
    }

    // MARK: Records

    func read(stream: String, from offset: Int64, limit: Int) throws -> [LogRecord] {
        let select = selectRecords
        try select.bind(stream, at: 1)
        try select.bind(offset, at: 2)
        try select.bind(Int64(limit), at: 3)
        defer { select.reset() }
        var records: [LogRecord] = []
        records.reserveCapacity(min(limit, 4096))
        while try select.step() {
            let record = LogRecord(
                stream: stream,
                offset: select.int64(at: 0),
                key: select.blob(at: 1),
                payload: select.blob(at: 2) ?? [],
                position: select.blob(at: 3).map { SourcePosition(sortKey: $0, text: select.text(at: 4) ?? "") },
                timestampMicros: select.int64(at: 5),
                appendedAtMicros: select.int64(at: 6)
            )
            let stored = UInt32(truncatingIfNeeded: select.int64(at: 7))
            let computed = RecordChecksum.of(
                offset: record.offset, sourceTime: record.timestampMicros, appendedAt: record.appendedAtMicros,
                key: record.key, payload: record.payload, positionKey: record.position?.sortKey,
                positionText: record.position?.text
            )
            guard stored == computed else {
                throw LogError(
                    code: .checksumMismatch,
                    message: "record \(record.offset) of stream \(stream) in \(connection.path) does not match its"
                        + " checksum (stored \(stored), computed \(computed)): the file is damaged; restore it from a"
                        + " backup, or have the consumer skip the record by reading from offset \(record.offset + 1)"
                )
            }
            records.append(record)
        }
        return records
    }

    // MARK: Seeking

    func offset(stream name: String, atOrAfterTimestamp micros: Int64) throws -> Int64 {
        try seek(
            stream: name, seekRow: selectSeekRowByTime, firstOffset: selectFirstOffsetByTime
        ) { statement in
            try statement.bind(micros, at: 2)
        } bindTargetInRecords: { statement in
            try statement.bind(micros, at: 4)
        }
    }

    func offset(stream name: String, atOrAfterPosition position: SourcePosition) throws -> Int64 {
        try seek(
            stream: name, seekRow: selectSeekRowByPosition, firstOffset: selectFirstOffsetByPosition
        ) { statement in
            try statement.bind(position.sortKey, at: 2)
        } bindTargetInRecords: { statement in
            try statement.bind(position.sortKey, at: 4)
        }
    }

    /// Finds the first seek row whose running maximum reaches the target, then the first record in its range that
    /// does; when retention removed those records, the offset after the range (reading from there misses nothing).
    private func seek(
        stream name: String, seekRow: SQLiteStatement, firstOffset: SQLiteStatement,
        bindTargetInSeekIndex: (SQLiteStatement) throws -> Void,
        bindTargetInRecords: (SQLiteStatement) throws -> Void
    ) throws -> Int64 {
        try begin.run(while: "starting a read transaction")
        defer { endTransaction() }
        guard let stream = try streamInfo(statement: selectStream, name: name) else { return 0 }
        try seekRow.bind(stream.id, at: 1)
        try bindTargetInSeekIndex(seekRow)
        defer { seekRow.reset() }
        guard try seekRow.step() else { return stream.info.nextOffset }
        let rangeStart = seekRow.int64(at: 0)
        let rangeEnd = seekRow.int64(at: 1)
        try firstOffset.bind(stream.id, at: 1)
        try firstOffset.bind(rangeStart, at: 2)
        try firstOffset.bind(rangeEnd, at: 3)
        try bindTargetInRecords(firstOffset)
        defer { firstOffset.reset() }
        return try firstOffset.step() ? firstOffset.int64(at: 0) : rangeEnd + 1
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
