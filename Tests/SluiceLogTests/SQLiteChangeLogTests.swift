import CSQLite
import Foundation
import SluiceCore
import SluiceLog
import Testing

@Suite struct SQLiteChangeLogTests {
    @Test func offsetsAreDenseAcrossBatches() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        var ranges: [Range<Int64>] = []
        for size in [3, 5, 1] {
            let appended = try await log.append(
                AppendBatch(records: [("db.public.users", (0..<size).map { draft("size \(size) record \($0)") })])
            )
            ranges.append(try #require(appended["db.public.users"]))
        }
        #expect(ranges == [0..<3, 3..<8, 8..<9])
        let records = try await log.readAll("db.public.users")
        #expect(records.map(\.offset) == Array(0..<9))
        #expect(records.first?.text == "size 3 record 0")
        #expect(records.last?.text == "size 1 record 0")
        #expect(records.allSatisfy { $0.stream == "db.public.users" })
        let info = try #require(try await log.stream("db.public.users"))
        #expect(info == StreamInfo(name: "db.public.users", firstOffset: 0, nextOffset: 9, count: 9, bytes: info.bytes))
        #expect(info.bytes == Int64(records.reduce(0) { $0 + $1.payload.count }))
        try await log.close()
    }

    @Test func appendIsAtomicAcrossStreamsAndState() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        try await log.append(AppendBatch(records: [("b", [draft("b0")])]))
        let ranges = try await log.append(
            AppendBatch(
                records: [("a", [draft("a0"), draft("a1")]), ("b", [draft("b1")]), ("a", [draft("a2")])],
                state: ["source.pg.lsn": [1, 2, 3], "source.pg.snapshot": [9]]
            )
        )
        #expect(ranges == ["a": 0..<3, "b": 1..<2])
        #expect(try await log.readAll("a").map(\.text) == ["a0", "a1", "a2"])
        #expect(try await log.state("source.pg.lsn") == [1, 2, 3])
        #expect(try await log.streams().map(\.name) == ["a", "b"])

        try await log.append(AppendBatch(state: ["source.pg.snapshot": nil, "source.mysql.gtid": []]))
        try await log.setState("sourcex", [7])
        #expect(try await log.state("source.pg.snapshot") == nil)
        #expect(try await log.state("source.mysql.gtid") == [])
        #expect(try await log.states(prefix: "source.") == ["source.pg.lsn": [1, 2, 3], "source.mysql.gtid": []])
        #expect(try await log.states(prefix: "").count == 3)
        try await log.close()
    }

    @Test func keysPayloadsAndPositionsRoundTrip() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off, wallClockMicros: { 42 })
        let drafts = [
            LogRecordDraft(key: nil, payload: [], position: nil, timestampMicros: -5),
            LogRecordDraft(key: [], payload: [0], position: .origin, timestampMicros: 0),
            LogRecordDraft(
                key: [0, 255], payload: Array(repeating: 0xAB, count: 70_000),
                position: SourcePosition(sortKey: [1, 2], text: "binlog.000003:1234 ✓"), timestampMicros: .max
            ),
        ]
        try await log.append(AppendBatch(records: [("s", drafts)]))
        let records = try await log.readAll("s")
        #expect(
            records.map {
                LogRecordDraft(
                    key: $0.key, payload: $0.payload, position: $0.position, timestampMicros: $0.timestampMicros)
            } == drafts)
        #expect(records.map(\.position?.text) == [nil, "", "binlog.000003:1234 ✓"])
        #expect(records.allSatisfy { $0.appendedAtMicros == 42 })
        try await log.close()
    }

    @Test func readsStartAtOffsetTimeOrPosition() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        // Source times go back once (a clock step at the source); positions only grow.
        let times: [Int64] = [10, 20, 30, 25, 40, 50]
        try await log.append(
            AppendBatch(records: [
                ("s", times.enumerated().map { draft("r\($0)", timestamp: $1, position: UInt64($0 * 10)) })
            ])
        )
        // A second stream spanning several seek index rows.
        try await log.append(
            AppendBatch(records: [
                ("big", (0..<3_000).map { draft("\($0)", timestamp: Int64($0) * 2, position: UInt64($0)) })
            ])
        )

        #expect(try await log.read(stream: "s", from: 2, limit: 2).map(\.offset) == [2, 3])
        #expect(try await log.read(stream: "s", from: 6, limit: 10).isEmpty)
        #expect(try await log.read(stream: "s", from: 0, limit: 0).isEmpty)
        #expect(try await log.read(stream: "missing", from: 0, limit: 10).isEmpty)

        #expect(try await log.offset(stream: "s", atOrAfterTimestamp: 0) == 0)
        #expect(try await log.offset(stream: "s", atOrAfterTimestamp: 21) == 2)
        #expect(try await log.offset(stream: "s", atOrAfterTimestamp: 25) == 2)
        #expect(try await log.offset(stream: "s", atOrAfterTimestamp: 31) == 4)
        #expect(try await log.offset(stream: "s", atOrAfterTimestamp: 51) == 6)
        #expect(try await log.offset(stream: "missing", atOrAfterTimestamp: 0) == 0)

        func position(_ value: UInt64) -> SourcePosition {
            SourcePosition(sortKey: SourcePosition.sortKey(value), text: "")
        }
        #expect(try await log.offset(stream: "s", atOrAfterPosition: .origin) == 0)
        #expect(try await log.offset(stream: "s", atOrAfterPosition: position(20)) == 2)
        #expect(try await log.offset(stream: "s", atOrAfterPosition: position(21)) == 3)
        #expect(try await log.offset(stream: "s", atOrAfterPosition: position(51)) == 6)

        for target in [0, 1, 1023, 1024, 1025, 2047, 2999] {
            #expect(try await log.offset(stream: "big", atOrAfterTimestamp: Int64(target) * 2 - 1) == Int64(target))
            #expect(try await log.offset(stream: "big", atOrAfterPosition: position(UInt64(target))) == Int64(target))
        }
        #expect(try await log.offset(stream: "big", atOrAfterTimestamp: 6_000) == 3_000)
        try await log.close()
    }

    @Test func consumerOffsetsAreStoredPerConsumerAndStream() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        #expect(try await log.consumerOffset(consumer: "parquet", stream: "s") == 0)
        try await log.commitConsumerOffset(consumer: "parquet", stream: "s", nextOffset: 10)
        try await log.commitConsumerOffset(consumer: "parquet", stream: "t", nextOffset: 3)
        try await log.commitConsumerOffset(consumer: "iceberg", stream: "s", nextOffset: 4)
        try await log.commitConsumerOffset(consumer: "parquet", stream: "s", nextOffset: 12)
        #expect(try await log.consumerOffset(consumer: "parquet", stream: "s") == 12)
        #expect(try await log.consumerOffset(consumer: "parquet", stream: "t") == 3)
        #expect(try await log.consumerOffset(consumer: "iceberg", stream: "s") == 4)
        await #expect(throws: LogError.self) {
            try await log.commitConsumerOffset(consumer: "parquet", stream: "s", nextOffset: -1)
        }
        try await log.close()
    }

    @Test func retentionByAgeDropsOldestRecords() async throws {
        let directory = try TemporaryDirectory()
        let clock = ManualClock()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off, wallClockMicros: clock.function)
        try await log.append(AppendBatch(records: [("s", (0..<4).map { draft("old \($0)") }), ("t", [draft("t")])]))
        clock.advance(seconds: 100)
        try await log.append(AppendBatch(records: [("s", (0..<2).map { draft("new \($0)") })]))
        clock.advance(seconds: 20)

        #expect(try await log.applyRetention(RetentionPolicy(maxAgeSeconds: 200), streams: nil) == 0)
        #expect(try await log.applyRetention(RetentionPolicy(maxAgeSeconds: 50), streams: ["s"]) == 4)
        #expect(try await log.readAll("s").map(\.text) == ["new 0", "new 1"])
        #expect(try await log.stream("s") == StreamInfo(name: "s", firstOffset: 4, nextOffset: 6, count: 2, bytes: 10))
        #expect(try await log.stream("t")?.count == 1)

        #expect(try await log.applyRetention(RetentionPolicy(maxAgeSeconds: 1), streams: nil) == 3)
        #expect(try await log.stream("s") == StreamInfo(name: "s", firstOffset: 6, nextOffset: 6, count: 0, bytes: 0))
        #expect(try await log.append(AppendBatch(records: [("s", [draft("after")])])) == ["s": 6..<7])
        #expect(try await log.stream("s")?.firstOffset == 6)
        try await log.close()
    }

    @Test func retentionBySizeKeepsNewestBytes() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        try await log.append(
            AppendBatch(records: [("s", (0..<10).map { draft(String(repeating: "\($0)", count: 100)) })])
        )
        #expect(try await log.applyRetention(RetentionPolicy(maxBytes: 350), streams: ["s"]) == 7)
        #expect(
            try await log.stream("s") == StreamInfo(name: "s", firstOffset: 7, nextOffset: 10, count: 3, bytes: 300))
        #expect(try await log.readAll("s").map(\.offset) == [7, 8, 9])
        #expect(try await log.offset(stream: "s", atOrAfterTimestamp: 0) == 7)
        #expect(try await log.applyRetention(RetentionPolicy(maxBytes: 300), streams: ["s"]) == 0)
        try await log.close()
    }

    @Test func compactionKeepsNewestRecordPerKey() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        let keys: [String?] = ["k1", "k2", "k1", nil, "k2", "k1", "k3"]
        try await log.append(AppendBatch(records: [("s", keys.enumerated().map { draft("v\($0)", key: $1) })]))
        #expect(try await log.applyRetention(RetentionPolicy(compactByKey: true), streams: ["s"]) == 3)
        #expect(try await log.readAll("s").map(\.offset) == [3, 4, 5, 6])
        #expect(try await log.stream("s") == StreamInfo(name: "s", firstOffset: 3, nextOffset: 7, count: 4, bytes: 8))
        #expect(try await log.append(AppendBatch(records: [("s", [draft("v7", key: "k1")])])) == ["s": 7..<8])
        try await log.close()
    }

    /// After compaction a chunk holds fewer records than its offset range: a read still returns `limit` records
    /// when the stream has them, fetching on past chunks it expected to be enough.
    @Test func readsAfterCompactionFillTheirLimit() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        // Three chunks of 10 records; the keys repeat, so compaction leaves gaps inside each chunk.
        for chunk in 0..<3 {
            try await log.append(AppendBatch(records: [("s", (0..<10).map { index in
                draft("v\(chunk * 10 + index)", key: index % 2 == 0 ? "even\(chunk)-\(index)" : "odd\(index % 3)")
            })]))
        }
        try await log.applyRetention(RetentionPolicy(compactByKey: true), streams: ["s"])
        let kept = try await log.readAll("s").map(\.offset)
        #expect(kept.count < 30 && kept.contains(29))
        for from in Int64(0)..<30 {
            for limit in [1, 4, 7, 20] {
                let expected = Array(kept.filter { $0 >= from }.prefix(limit))
                #expect(try await log.read(stream: "s", from: from, limit: limit).map(\.offset) == expected,
                        "from \(from), limit \(limit)")
            }
        }
        try await log.close()
    }

    @Test func damagedChunkFailsItsChecksum() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        // Three appends, three chunks: offsets 0...2, 3...4 and 5...6.
        for range in [0..<3, 3..<5, 5..<7] {
            try await log.append(
                AppendBatch(records: [
                    ("db.public.orders", range.map { draft("order \($0)", timestamp: Int64($0) * 10) })
                ]))
        }
        try await log.close()

        // Behind the log's back, as a damaged disk block would: flip the payload of offset 3 inside the second
        // chunk's records, and the append time (a column the checksum covers) of the third chunk.
        var database: OpaquePointer?
        #expect(sqlite3_open(directory.logPath, &database) == SQLITE_OK)
        defer { sqlite3_close(database) }
        var select: OpaquePointer?
        let selectData = "SELECT data FROM chunks WHERE base_offset = 3"
        #expect(sqlite3_prepare_v2(database, selectData, -1, &select, nil) == SQLITE_OK)
        #expect(sqlite3_step(select) == SQLITE_ROW)
        var data = [UInt8](
            UnsafeRawBufferPointer(start: sqlite3_column_blob(select, 0), count: Int(sqlite3_column_bytes(select, 0))))
        sqlite3_finalize(select)
        let original = Array("order 3".utf8)
        let at = try #require(
            data.indices.first { data[$0...].starts(with: original) }, "the chunk holds the payload as appended")
        data[at + 6] = UInt8(ascii: "X")
        var update: OpaquePointer?
        let replace = "UPDATE chunks SET data = ?1 WHERE base_offset = 3"
        #expect(sqlite3_prepare_v2(database, replace, -1, &update, nil) == SQLITE_OK)
        data.withUnsafeBytes { _ = sqlite3_bind_blob(update, 1, $0.baseAddress, Int32($0.count), nil) }
        #expect(sqlite3_step(update) == SQLITE_DONE)
        sqlite3_finalize(update)
        #expect(sqlite3_changes(database) == 1)
        let touch = "UPDATE chunks SET appended_at = appended_at + 1 WHERE base_offset = 5"
        #expect(sqlite3_exec(database, touch, nil, nil, nil) == SQLITE_OK)
        #expect(sqlite3_changes(database) == 1)

        let reopened = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        // Reads that stop before the damaged chunk do not touch it.
        #expect(try await reopened.read(stream: "db.public.orders", from: 0, limit: 3).map(\.text).count == 3)
        for start: Int64 in [0, 3, 4] {
            let error = await #expect(throws: LogError.self) {
                try await reopened.read(stream: "db.public.orders", from: start, limit: 10)
            }
            #expect(error?.code == .checksumMismatch)
            #expect(error?.description.contains("records 3...4 of stream db.public.orders") == true)
            #expect(error?.description.contains("reading from offset 5") == true)
            #expect(error?.description.contains("order X") == false)
        }
        let touched = await #expect(throws: LogError.self) {
            try await reopened.read(stream: "db.public.orders", from: 5, limit: 10)
        }
        #expect(touched?.code == .checksumMismatch)
        #expect(touched?.description.contains("records 5...6 of stream db.public.orders") == true)
        // Seeks that need a damaged chunk's records fail too; retention refuses to rewrite damaged chunks.
        #expect(try await reopened.offset(stream: "db.public.orders", atOrAfterTimestamp: 15) == 2)
        let seek = await #expect(throws: LogError.self) {
            try await reopened.offset(stream: "db.public.orders", atOrAfterTimestamp: 35)
        }
        #expect(seek?.code == .checksumMismatch)
        let compaction = await #expect(throws: LogError.self) {
            try await reopened.applyRetention(RetentionPolicy(compactByKey: true), streams: ["db.public.orders"])
        }
        #expect(compaction?.code == .checksumMismatch)
        #expect(try await reopened.stream("db.public.orders")?.count == 7)
        try await reopened.close()
    }

    @Test func concurrentAppendsGetDenseDisjointOffsets() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .normal)
        let appenders = 32
        let appendsEach = 20
        let results = try await withThrowingTaskGroup(of: [(String, Range<Int64>, String)].self) { group in
            for appender in 0..<appenders {
                group.addTask {
                    var ranges: [(String, Range<Int64>, String)] = []
                    for sequence in 0..<appendsEach {
                        let tag = "\(appender)/\(sequence)"
                        let sizes = ["x": 1 + (appender + sequence) % 7, "y": 1 + sequence % 3]
                        let batch = AppendBatch(
                            records: sizes.sorted { $0.key < $1.key }.map { stream, size in
                                (stream, (0..<size).map { _ in draft(tag) })
                            },
                            state: ["appender.\(appender)": Array(tag.utf8)]
                        )
                        for (stream, range) in try await log.append(batch) {
                            ranges.append((stream, range, tag))
                        }
                    }
                    return ranges
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        for stream in ["x", "y"] {
            let ranges = results.filter { $0.0 == stream }.sorted { $0.1.lowerBound < $1.1.lowerBound }
            #expect(ranges.count == appenders * appendsEach)
            #expect(ranges.first?.1.lowerBound == 0)
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.1.upperBound == $1.1.lowerBound })
            let records = try await log.readAll(stream)
            #expect(records.map(\.offset) == Array(0..<(ranges.last?.1.upperBound ?? 0)))
            for (_, range, tag) in ranges {
                #expect(records[Int(range.lowerBound)..<Int(range.upperBound)].allSatisfy { $0.text == tag })
            }
        }
        #expect(try await log.states(prefix: "appender.").count == appenders)
        try await log.close()
    }

    @Test func readerConcurrentWithWriterSeesWholeBatches() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        let batchSize = 50
        let batches = 200
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for batch in 0..<batches {
                    try await log.append(
                        AppendBatch(records: [("s", (0..<batchSize).map { draft("\(batch):\($0)") })])
                    )
                }
            }
            group.addTask {
                var observed = 0
                while observed < batches * batchSize {
                    let records = try await log.read(stream: "s", from: 0, limit: .max)
                    let info = try await log.stream("s")
                    #expect(records.count % batchSize == 0)
                    #expect(records.last.map { $0.text.hasSuffix(":\(batchSize - 1)") } ?? true)
                    #expect(Int64(records.count) <= info?.nextOffset ?? 0)
                    observed = records.count
                    await Task.yield()
                }
            }
            try await group.waitForAll()
        }
        try await log.close()
    }

    @Test func reopenKeepsRecordsStateAndOffsets() async throws {
        let directory = try TemporaryDirectory()
        do {
            let log = try SQLiteChangeLog(path: directory.logPath)
            try await log.append(AppendBatch(records: [("s", [draft("a"), draft("b")])], state: ["k": [1]]))
            try await log.commitConsumerOffset(consumer: "c", stream: "s", nextOffset: 1)
            try await log.close()
            try await log.close()
            #expect(!FileManager.default.fileExists(atPath: directory.logPath + "-wal"), "close checkpoints the WAL")
            await #expect(throws: LogError.self) { try await log.append(AppendBatch(records: [("s", [draft("c")])])) }
            let error = await #expect(throws: LogError.self) { try await log.read(stream: "s", from: 0, limit: 1) }
            #expect(error?.code == .closed)
        }
        let log = try SQLiteChangeLog(path: directory.logPath)
        #expect(try await log.readAll("s").map(\.text) == ["a", "b"])
        #expect(try await log.state("k") == [1])
        #expect(try await log.consumerOffset(consumer: "c", stream: "s") == 1)
        #expect(try await log.append(AppendBatch(records: [("s", [draft("c")])])) == ["s": 2..<3])
        try await log.close()
    }

    @Test func openFailuresSayWhatToDo() async throws {
        let directory = try TemporaryDirectory()
        let missing = directory.url.appendingPathComponent("no/such/dir/log.db").path
        let cannotOpen = #expect(throws: LogError.self) { try SQLiteChangeLog(path: missing) }
        #expect(cannotOpen?.code == .cannotOpen)
        #expect(cannotOpen?.description.contains(missing) == true)
        #expect(cannotOpen?.description.contains("check that the directory exists and is writable") == true)

        let foreign = directory.url.appendingPathComponent("other.db").path
        var database: OpaquePointer?
        sqlite3_open(foreign, &database)
        sqlite3_exec(database, "CREATE TABLE t (x)", nil, nil, nil)
        sqlite3_close(database)
        let notALog = #expect(throws: LogError.self) { try SQLiteChangeLog(path: foreign) }
        #expect(notALog?.code == .incompatibleFile)

        let text = directory.url.appendingPathComponent("text.db")
        try Data(String(repeating: "not a database ", count: 100).utf8).write(to: text)
        let garbage = #expect(throws: LogError.self) { try SQLiteChangeLog(path: text.path) }
        #expect(garbage?.code == .incompatibleFile)

        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        let emptyName = await #expect(throws: LogError.self) {
            try await log.append(AppendBatch(records: [("", [draft("x")])]))
        }
        #expect(emptyName?.code == .invalidArgument)
        try await log.close()
    }
}
