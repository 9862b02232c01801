import Foundation
import SluiceTestSupport
import SluiceCore
import SluiceParquet
import SluiceParquetSink
import SluiceRuntime
import Testing

/// File naming, rolling, schema changes, partitions, durable offsets, and resuming after a crash.
@Suite struct FileLifecycleTests {
    typealias F = SinkFixtures

    static func inserts(_ range: Range<Int64>, version: Int = 1, columns: [ColumnSchema] = F.everyKindColumns,
                        commitTimeMicros: (Int64) -> Int64 = { _ in 1_700_000_000_000_000 }) -> [ChangeEvent] {
        range.map { id in
            var row = F.everyKindRow(id: id, variant: 2)
            if columns.count > row.count { row.append(.string("v\(version)")) }
            return F.event(.insert, before: nil, after: row, version: version, position: id,
                           commitTimeMicros: commitTimeMicros(id), columns: columns)
        }
    }

    static func name(_ first: Int64, _ last: Int64, stream: String = F.stream) -> String {
        func pad(_ n: Int64) -> String { String(repeating: "0", count: 20 - String(n).count) + String(n) }
        return "\(stream)-\(pad(first))-\(pad(last)).parquet"
    }

    @Test func filesRollByRowsAndAreNamedByOffsetRange() async throws {
        let folder = try F.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sink = try F.sink(path: folder.path, ["max_file_rows": .int(10)])
        let events = Self.inserts(0..<35)
        var durable: [Int64?] = []
        for start in stride(from: 0, to: 35, by: 7) {
            let result = try await sink.write(F.batch(Array(events[start..<(start + 7)]), firstOffset: Int64(start)))
            durable.append(result[F.stream])
        }
        // Offsets become durable only as files are published: 10 after offset 9, 20 after 19, 30 after 29.
        #expect(durable == [nil, 10, 20, 20, 30])
        #expect(try await sink.flush()[F.stream] == 35)
        let names = F.publishedFiles(in: folder).map { ($0 as NSString).lastPathComponent }
        #expect(names == [Self.name(0, 9), Self.name(10, 19), Self.name(20, 29), Self.name(30, 34)])
        let files = try ParquetReaders.read(F.publishedFiles(in: folder))
        #expect(files.map(\.rowCount) == [10, 10, 10, 5])
    }

    /// An update that moves a row to a new key (4 → 5) is, in the changelog, the delete of the old key and then the
    /// row under the new key, both at the change's position and offset: a consumer applying it by key drops key 4.
    @Test func keyChangeIsADeleteOfTheOldKeyThenTheNewRow() async throws {
        let folder = try F.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sink = try F.sink(path: folder.path, ["layout": .string("changelog")])
        let old = F.everyKindRow(id: 4, variant: 2)
        var moved = old
        moved[0] = .int(5)
        let events = [F.event(.insert, before: nil, after: old, position: 1),
                      F.event(.update, before: old, after: moved, position: 2),
                      F.event(.update, before: moved, after: moved, position: 3)]
        _ = try await sink.write(F.batch(events, firstOffset: 0))
        #expect(try await sink.flush()[F.stream] == 3)
        let files = try ParquetReaders.read(F.publishedFiles(in: folder))
        let values = try #require(files.first?.pyarrowValues)
        #expect(values["_op"] as? [String] == ["c", "d", "u", "u"])
        #expect(values["id"] as? [String] == ["4", "4", "5", "5"])
        #expect(values["_offset"] as? [String] == ["0", "1", "1", "2"])
        #expect(values["_position"] as? [String] == ["0/1", "0/2", "0/2", "0/3"])
        #expect(values["name"] as? [String] == Array(repeating: "row 4", count: 4), "the delete carries the old row")
    }

    /// A table named `../../escaped` lands inside the sink's folder.
    @Test func hostileTableNamesStayInTheFolder() async throws {
        let folder = try HostileNames.sinkFolder()
        defer { HostileNames.remove(folder) }
        let sink = try F.sink(path: folder.path)
        _ = try await sink.write(HostileNames.batch())
        #expect(try await sink.flush()[HostileNames.stream] == 1)
        #expect(HostileNames.escaped(from: folder) == [])
        #expect(!F.publishedFiles(in: folder).isEmpty)
    }

    @Test func schemaChangeStartsANewFile() async throws {
        let folder = try F.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sink = try F.sink(path: folder.path)
        let widened = F.everyKindColumns + [ColumnSchema(name: "note", sourceType: "text", kind: .string)]
        let schemas = [F.schema(version: 1), F.schema(version: 2, columns: widened)]
        let events = Self.inserts(0..<5) + Self.inserts(5..<8, version: 2, columns: widened)
        _ = try await sink.write(F.batch(events, firstOffset: 0, schemas: schemas))
        #expect(try await sink.flush()[F.stream] == 8)
        let paths = F.publishedFiles(in: folder)
        #expect(paths.map { ($0 as NSString).lastPathComponent } == [Self.name(0, 4), Self.name(5, 7)])
        let files = try ParquetReaders.read(paths)
        #expect(files.map { $0.keyValueMetadata["sluice.schema_version"] } == ["1", "2"])
        #expect(files[0].pyarrowValues["note"] == nil)
        #expect(jsonEqual(files[1].pyarrowValues["note"], ["v2", "v2", "v2"]))
        #expect(jsonEqual(files[1].duckdbValues["note"], ["v2", "v2", "v2"]))
    }

    @Test func partitionsByCommitDate() async throws {
        let folder = try F.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sink = try F.sink(path: folder.path, ["partition_by_commit_date": .bool(true)])
        // 2023-11-14T22:13:20Z plus one hour per change: the date changes after offset 1.
        let events = Self.inserts(0..<4) { 1_700_000_000_000_000 + $0 * 3_600_000_000 }
        _ = try await sink.write(F.batch(events, firstOffset: 0))
        _ = try await sink.flush()
        let relative = F.publishedFiles(in: folder).map { String($0.dropFirst(folder.path.count + 1)) }
        #expect(relative == [
            "shop.everything/commit_date=2023-11-14/" + Self.name(0, 1),
            "shop.everything/commit_date=2023-11-15/" + Self.name(2, 3),
        ])
    }

    @Test func filesRollByAgeWhileTheStreamStaysBusy() async throws {
        let folder = try F.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sink = try F.sink(path: folder.path, ["max_file_age": .duration(0.2)])
        let events = Self.inserts(0..<4)
        #expect(try await sink.write(F.batch(Array(events[0..<2]), firstOffset: 0))[F.stream] == nil)
        // The sink reads the real clock (ContinuousClock): the file's age has to pass, there is no event to wait for.
        try await Task.sleep(for: .milliseconds(250))
        #expect(try await sink.write(F.batch(Array(events[2..<4]), firstOffset: 2))[F.stream] == 4)
        #expect(F.publishedFiles(in: folder).map { ($0 as NSString).lastPathComponent } == [Self.name(0, 3)])
    }

    @Test func skippedChangesAreCoveredAndDurable() async throws {
        let folder = try F.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sink = try F.sink(path: folder.path, ["layout": .string("append")])
        let row = F.everyKindRow(id: 1, variant: 2)
        let events = [
            F.event(.delete, before: [.int(1)], after: nil, position: 0),
            F.event(.insert, before: nil, after: row, position: 1),
            F.event(.delete, before: [.int(1)], after: nil, position: 2),
        ]
        // A delete with no file open is durable at once; a delete after a row extends the open file's range.
        #expect(try await sink.write(F.batch([events[0]], firstOffset: 0))[F.stream] == 1)
        #expect(try await sink.write(F.batch(Array(events[1...]), firstOffset: 1))[F.stream] == 1)
        #expect(try await sink.flush()[F.stream] == 3)
        #expect(F.publishedFiles(in: folder).map { ($0 as NSString).lastPathComponent } == [Self.name(1, 2)])
    }

    /// A sink dropped mid-file (as a crash would) leaves only a hidden temporary file; the next sink removes it,
    /// resumes after the last published file and skips records it already holds, so every offset is in exactly
    /// one published file.
    @Test func restartAfterCrashResumesAfterLastPublishedFile() async throws {
        let folder = try F.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let events = Self.inserts(0..<40)
        do {
            let crashed = try F.sink(path: folder.path, ["max_file_rows": .int(10)])
            _ = try await crashed.write(F.batch(Array(events[0..<25]), firstOffset: 0))
            #expect(F.hiddenFiles(in: folder).count == 1, "the open file is a hidden temporary file")
        }
        #expect(F.publishedFiles(in: folder).count == 2)
        let other = try F.sink(path: folder.path, pipeline: "other")
        #expect(F.hiddenFiles(in: folder).count == 1, "another pipeline's sink leaves the temporary file alone")
        _ = other

        let restarted = try F.sink(path: folder.path, ["max_file_rows": .int(10)])
        #expect(F.hiddenFiles(in: folder).isEmpty, "temporary files are removed on start")
        let resume = try await restarted.resumeOffsets(streams: [F.stream, "p.shop.unknown"])
        #expect(resume == [F.stream: 20])
        // Even when handed records it already published, it writes each offset once.
        _ = try await restarted.write(F.batch(Array(events[15..<40]), firstOffset: 15))
        #expect(try await restarted.flush()[F.stream] == 40)
        let names = F.publishedFiles(in: folder).map { ($0 as NSString).lastPathComponent }
        #expect(names == [Self.name(0, 9), Self.name(10, 19), Self.name(20, 29), Self.name(30, 39)])
        let files = try ParquetReaders.read(F.publishedFiles(in: folder))
        let offsets = files.flatMap { $0.pyarrowValues["_offset"] ?? [] }
        #expect(offsets.compactMap { $0 as? String } == (0..<40).map { String($0) })
    }

    @Test func unwritableValuesNameTableOffsetAndColumn() async throws {
        let folder = try F.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sink = try F.sink(path: folder.path)
        var row = F.everyKindRow(id: 1, variant: 2)
        row[F.everyKindColumns.firstIndex { $0.name == "price" }!] = .decimal(ExactDecimal("NaN")!)
        let error = await #expect(throws: SluiceError.self) {
            _ = try await sink.write(F.batch([F.event(.insert, before: nil, after: row, position: 0)], firstOffset: 0))
        }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("offset 0") && text.contains("shop.everything") && text.contains("price"), "\(text)")
        #expect(F.hiddenFiles(in: folder).isEmpty && F.publishedFiles(in: folder).isEmpty)
    }

    @Test func configurationErrorsNameTheKey() throws {
        #expect(throws: SluiceError.self) {
            try F.sink(path: "/tmp", ["layout": .string("append"), "include_before": .bool(true)])
        }
        #expect(throws: SluiceError.self) { try F.sink(path: "/tmp", ["max_file_rows": .int(0)]) }
    }
}
