import CSQLite
import Foundation
import SluiceCore
@testable import SluiceLog
import Testing

/// The chunked storage: records of one append share a row, split at `LogSchema.maxRecordsPerChunk` records or
/// about `LogSchema.maxChunkBytes`; compaction leaves gaps inside chunks; reads and seeks cross chunk edges.
@Suite struct ChunkStorageTests {
    @Test func checksumIsCRC32C() {
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { ChunkChecksum.crc32c($0, hardware: false) } == 0xE306_9283)
        if ChunkChecksum.hardwareAvailable {
            #expect(check.withUnsafeBytes { ChunkChecksum.crc32c($0, hardware: true) } == 0xE306_9283)
        }
        // Every length and alignment of the tail, hardware against tables.
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 7) }
        for start in 0..<9 {
            for end in stride(from: start, through: bytes.count, by: 7) {
                bytes[start..<end].withUnsafeBytes { slice in
                    #expect(
                        ChunkChecksum.crc32c(slice, hardware: false)
                            == ChunkChecksum.crc32c(slice, hardware: ChunkChecksum.hardwareAvailable))
                }
            }
        }
    }

    @Test func largeAppendsSplitIntoChunksThatReadsCross() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        let count = 2 * Int(LogSchema.maxRecordsPerChunk) + 452
        let drafts = (0..<count).map { draft("r\($0)", timestamp: Int64($0), position: UInt64($0)) }
        #expect(try await log.append(AppendBatch(records: [("s", drafts)])) == ["s": 0..<Int64(count)])
        let big = (0..<3).map {
            LogRecordDraft(
                key: nil, payload: Array(repeating: UInt8($0), count: 700_000), position: nil, timestampMicros: 0)
        }
        try await log.append(AppendBatch(records: [("big", big)]))
        try await log.close()
        #expect(try chunkOffsets(directory.logPath, stream: "s") == [0...1023, 1024...2047, 2048...2499])
        #expect(try chunkOffsets(directory.logPath, stream: "big") == [0...0, 1...1, 2...2])

        let reopened = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        let texts = drafts.map { String(decoding: $0.payload, as: UTF8.self) }
        #expect(try await reopened.readAll("s", pageSize: 333).map(\.text) == texts)
        #expect(try await reopened.read(stream: "s", from: 1000, limit: 100).map(\.offset) == Array(1000..<1100))
        #expect(try await reopened.read(stream: "s", from: 2047, limit: 3).map(\.offset) == [2047, 2048, 2049])
        #expect(try await reopened.read(stream: "s", from: 2499, limit: 3).map(\.offset) == [2499])
        #expect(try await reopened.read(stream: "big", from: 1, limit: 5).map(\.payload) == big[1...].map(\.payload))
        for target: Int64 in [0, 1023, 1024, 1025, 2048, 2499] {
            #expect(try await reopened.offset(stream: "s", atOrAfterTimestamp: target) == target)
            let position = SourcePosition(sortKey: SourcePosition.sortKey(UInt64(target)), text: "")
            #expect(try await reopened.offset(stream: "s", atOrAfterPosition: position) == target)
        }
        #expect(try await reopened.offset(stream: "s", atOrAfterTimestamp: 2500) == 2500)
        try await reopened.close()
    }

    /// Compaction, then age and size retention, against a model of the stored records.
    @Test func compactionGapsAndRetentionMatchAPerRecordModel() async throws {
        let directory = try TemporaryDirectory()
        let clock = ManualClock()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off, wallClockMicros: clock.function)
        var model: [(offset: Int64, draft: LogRecordDraft, appendedAt: Int64)] = []
        var random: UInt64 = 0x1234_5678
        func next(_ bound: UInt64) -> UInt64 {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (random >> 33) % bound
        }
        for size in [600, 1, 1_500, 37, 600] {
            var drafts: [LogRecordDraft] = []
            for index in 0..<size {
                let offset = model.count + index
                drafts.append(
                    draft(
                        "v\(offset)", key: offset % 5 == 0 ? nil : "k\(next(40))",
                        // Source times wander back and forth; a third of the records have no position.
                        timestamp: Int64(offset) * 10 - Int64(next(400)),
                        position: next(3) == 0 ? nil : UInt64(offset) * 10 + next(10)
                    ))
            }
            try await log.append(AppendBatch(records: [("s", drafts)]))
            model += drafts.enumerated().map { (Int64(model.count + $0), $1, clock.now) }
            clock.advance(seconds: 10)
        }
        let nextOffset = Int64(model.count)

        func check(_ stage: String) async throws {
            let records = try await log.readAll("s", pageSize: 97)
            #expect(records.map(\.offset) == model.map(\.offset), "\(stage): offsets")
            #expect(records.map(\.payload) == model.map(\.draft.payload), "\(stage): payloads")
            #expect(records.map(\.appendedAtMicros) == model.map(\.appendedAt), "\(stage): append times")
            let info = try #require(try await log.stream("s"))
            #expect(
                info
                    == StreamInfo(
                        name: "s", firstOffset: model.first?.offset ?? nextOffset, nextOffset: nextOffset,
                        count: Int64(model.count), bytes: Int64(model.reduce(0) { $0 + $1.draft.payload.count })),
                "\(stage): stream info")
            for start in [0, 1, 599, 600, 601, 1_000, 2_101, 2_700] as [Int64] {
                let page = try await log.read(stream: "s", from: start, limit: 5).map(\.offset)
                let expected = Array(model.map(\.offset).filter { $0 >= start }.prefix(5))
                #expect(page == expected, "\(stage): read from \(start)")
            }
            for target in stride(from: Int64(-500), through: nextOffset * 10 + 500, by: 97) {
                let expected = model.first { $0.draft.timestampMicros >= target }?.offset ?? nextOffset
                let found = try await log.offset(stream: "s", atOrAfterTimestamp: target)
                #expect(found == expected, "\(stage): time \(target)")
                let position = SourcePosition(sortKey: SourcePosition.sortKey(UInt64(max(target, 0))), text: "")
                let expectedByPosition =
                    model.first { $0.draft.position.map { $0 >= position } ?? false }?.offset ?? nextOffset
                #expect(
                    try await log.offset(stream: "s", atOrAfterPosition: position) == expectedByPosition,
                    "\(stage): position \(target)")
            }
        }
        try await check("appended")

        var newest: [[UInt8]: Int64] = [:]
        for record in model {
            if let key = record.draft.key {
                newest[key] = record.offset
            }
        }
        let compacted = model.filter { record in
            guard let key = record.draft.key else { return true }
            return newest[key] == record.offset
        }
        #expect(
            try await log.applyRetention(RetentionPolicy(compactByKey: true), streams: ["s"])
                == Int64(model.count - compacted.count))
        model = compacted
        try await check("compacted")
        #expect(try await log.applyRetention(RetentionPolicy(compactByKey: true), streams: ["s"]) == 0)

        // Age: the first three appends are older than 25 s.
        let cutoff = clock.now - 25_000_000
        let young = model.filter { $0.appendedAt >= cutoff }
        #expect(
            try await log.applyRetention(RetentionPolicy(maxAgeSeconds: 25), streams: ["s"])
                == Int64(model.count - young.count))
        model = young
        try await check("aged")

        // Size: keep the newest 1,000 payload bytes, cutting inside a chunk.
        var kept: Int64 = 0
        let keptCount = model.reversed().prefix { record in
            kept += Int64(record.draft.payload.count)
            return kept <= 1_000
        }.count
        #expect(
            try await log.applyRetention(RetentionPolicy(maxBytes: 1_000), streams: ["s"])
                == Int64(model.count - keptCount))
        model = Array(model.suffix(keptCount))
        try await check("trimmed")
        try await log.close()
    }

    /// Chunks of a page or more are stored compressed when that makes them smaller, others as they are; both read
    /// back the same, also after a rewrite (compaction).
    @Test func chunksAreStoredCompressedWhenThatIsSmaller() async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        let repetitive = (0..<600).map {
            draft("order \($0) of customer \($0 % 7): shipped", key: "k\($0 % 300)", timestamp: Int64($0),
                  position: UInt64($0))
        }
        var generator = SystemRandomNumberGenerator()
        let noise = LogRecordDraft(
            key: nil, payload: (0..<20_000).map { _ in UInt8.random(in: 0...255, using: &generator) }, position: nil,
            timestampMicros: 0)
        try await log.append(
            AppendBatch(records: [("repetitive", repetitive), ("small", [draft("one")]), ("noise", [noise])]))
        #expect(try chunkEncodings(directory.logPath, stream: "repetitive") == [ChunkFormat.zstd])
        #expect(try chunkEncodings(directory.logPath, stream: "small") == [ChunkFormat.raw])
        #expect(try chunkEncodings(directory.logPath, stream: "noise") == [ChunkFormat.raw])
        let texts = repetitive.map { String(decoding: $0.payload, as: UTF8.self) }
        #expect(try await log.readAll("repetitive").map(\.text) == texts)
        #expect(try await log.read(stream: "noise", from: 0, limit: 1).map(\.payload) == [noise.payload])
        #expect(try await log.offset(stream: "repetitive", atOrAfterTimestamp: 450) == 450)

        // Compaction keeps the newest record per key: the rewritten chunk is compressed again.
        #expect(try await log.applyRetention(RetentionPolicy(compactByKey: true), streams: ["repetitive"]) == 300)
        #expect(try chunkEncodings(directory.logPath, stream: "repetitive") == [ChunkFormat.zstd])
        #expect(try await log.readAll("repetitive").map(\.text) == Array(texts.suffix(300)))
        try await log.close()
    }

    /// A log whose chunks do not add up to its streams (a chunk row deleted, a next offset bumped) is refused at open:
    /// readers would otherwise skip the gap silently. Retention and compaction keep the books straight.
    @Test(arguments: [
        "DELETE FROM chunks WHERE base_offset = 3",
        "UPDATE streams SET next_offset = next_offset + 5 WHERE name = 's'",
        "UPDATE streams SET record_count = record_count - 1 WHERE name = 's'",
    ])
    func logThatDoesNotAddUpIsRefused(tampering: String) async throws {
        let directory = try TemporaryDirectory()
        let log = try SQLiteChangeLog(path: directory.logPath, syncPolicy: .off)
        for range in [0..<3, 3..<5, 5..<7] {
            try await log.append(AppendBatch(records: [("s", range.map { draft("v\($0)") })]))
        }
        try await log.append(AppendBatch(records: [("c", (0..<20).map { draft(String(repeating: "x", count: 50), key: "k\($0 % 4)") })]))
        try await log.applyRetention(RetentionPolicy(compactByKey: true), streams: ["c"])
        try await log.append(AppendBatch(records: [("r", (0..<10).map { draft(String(repeating: "\($0)", count: 100)) })]))
        #expect(try await log.applyRetention(RetentionPolicy(maxBytes: 350), streams: ["r"]) == 7)
        try await log.close()
        try await SQLiteChangeLog(path: directory.logPath, syncPolicy: .off).close()  // retention kept it consistent

        var database: OpaquePointer?
        sqlite3_open(directory.logPath, &database)
        #expect(sqlite3_exec(database, tampering, nil, nil, nil) == SQLITE_OK)
        sqlite3_close(database)
        let error = #expect(throws: LogError.self) { try SQLiteChangeLog(path: directory.logPath) }
        #expect(error?.code == .inconsistent)
        #expect(error?.description.contains("stream 's'") == true, "\(String(describing: error))")
    }

    @Test func filesOfTheRecordPerRowSchemaAreRefused() throws {
        let directory = try TemporaryDirectory()
        var database: OpaquePointer?
        sqlite3_open(directory.logPath, &database)
        sqlite3_exec(
            database, "CREATE TABLE records (x); PRAGMA user_version = 1; PRAGMA application_id = 1397506885;", nil,
            nil, nil)
        sqlite3_close(database)
        let error = #expect(throws: LogError.self) { try SQLiteChangeLog(path: directory.logPath) }
        #expect(error?.code == .incompatibleFile)
        #expect(error?.description.contains("schema version 1") == true)
        #expect(error?.description.contains("reads only version 2") == true)
    }

    /// The encoding (first byte of `data`) of each chunk of `stream`, in order, read directly from the file.
    private func chunkEncodings(_ path: String, stream: String) throws -> [UInt8] {
        var database: OpaquePointer?
        guard sqlite3_open(path, &database) == SQLITE_OK else { throw CancellationError() }
        defer { sqlite3_close(database) }
        var select: OpaquePointer?
        let sql = """
            SELECT substr(data, 1, 1) FROM chunks WHERE stream_id = (SELECT id FROM streams WHERE name = ?1)
            ORDER BY last_offset
            """
        guard sqlite3_prepare_v2(database, sql, -1, &select, nil) == SQLITE_OK else { throw CancellationError() }
        defer { sqlite3_finalize(select) }
        sqlite3_bind_text(select, 1, stream, -1, sluice_sqlite_transient())
        var encodings: [UInt8] = []
        while sqlite3_step(select) == SQLITE_ROW {
            encodings.append(sqlite3_column_blob(select, 0).load(as: UInt8.self))
        }
        return encodings
    }

    /// The offset range of each chunk of `stream`, in order, read directly from the file.
    private func chunkOffsets(_ path: String, stream: String) throws -> [ClosedRange<Int64>] {
        var database: OpaquePointer?
        guard sqlite3_open(path, &database) == SQLITE_OK else { throw CancellationError() }
        defer { sqlite3_close(database) }
        var select: OpaquePointer?
        let sql = """
            SELECT base_offset, last_offset FROM chunks WHERE stream_id = (SELECT id FROM streams WHERE name = ?1)
            ORDER BY last_offset
            """
        guard sqlite3_prepare_v2(database, sql, -1, &select, nil) == SQLITE_OK else { throw CancellationError() }
        defer { sqlite3_finalize(select) }
        sqlite3_bind_text(select, 1, stream, -1, sluice_sqlite_transient())
        var ranges: [ClosedRange<Int64>] = []
        while sqlite3_step(select) == SQLITE_ROW {
            ranges.append(sqlite3_column_int64(select, 0)...sqlite3_column_int64(select, 1))
        }
        return ranges
    }
}
