import Foundation
import SluiceTestSupport
import SluiceCore
import SluiceParquet
import SluiceParquetSink
import SluiceRuntime
import Testing

/// Every `Value` kind, every op, unchanged values, large values, many row groups and every codec, read back with
/// pyarrow and duckdb and compared value by value (and type by type) with the events written.
@Suite struct ValueRoundTripTests {
    /// The events of the round-trip tests, offsets 0…29.
    static func events() -> [ChangeEvent] {
        typealias F = SinkFixtures
        var events: [ChangeEvent] = []
        events.append(F.event(.read, before: nil, after: F.everyKindRow(id: 1, variant: 0), position: 0))
        events.append(F.event(.insert, before: nil, after: F.everyKindRow(id: 2, variant: 1), position: 1))
        for id in Int64(3)...22 {
            events.append(F.event(.insert, before: nil, after: F.everyKindRow(id: id, variant: 2), position: id - 1))
        }
        let nameIndex = F.everyKindColumns.firstIndex { $0.name == "name" }!
        let docIndex = F.everyKindColumns.firstIndex { $0.name == "doc" }!
        let labelsIndex = F.everyKindColumns.firstIndex { $0.name == "labels" }!
        // 22: the unchanged name is filled from the full before image.
        var after = F.everyKindRow(id: 3, variant: 2)
        after[nameIndex] = .unchanged
        events.append(F.event(.update, before: F.everyKindRow(id: 3, variant: 2), after: after, position: 22))
        // 23: a key-only before image cannot fill the unchanged doc: null, named in _unchanged.
        after = F.everyKindRow(id: 4, variant: 2)
        after[docIndex] = .unchanged
        events.append(F.event(.update, before: [.int(4)], after: after, position: 23))
        // 24: unchanged in both images.
        var before = F.everyKindRow(id: 5, variant: 2)
        before[labelsIndex] = .unchanged
        after = F.everyKindRow(id: 5, variant: 0)
        after[labelsIndex] = .unchanged
        events.append(F.event(.update, before: before, after: after, position: 24))
        events.append(F.event(.delete, before: F.everyKindRow(id: 6, variant: 2), after: nil, position: 25))
        events.append(F.event(.delete, before: [.int(7)], after: nil, position: 26))
        events.append(F.event(.truncate, before: nil, after: nil, position: 27))
        events.append(F.event(.message, before: nil, after: nil, position: 28))
        events.append(F.event(.insert, before: nil, after: F.everyKindRow(id: 99, variant: 0), position: 29))
        return events
    }

    /// What a row's data columns hold: the after image (unchanged filled from the before image), or the before
    /// image for deletes.
    static func expectedImage(_ event: ChangeEvent) -> [Value] {
        let names = SinkFixtures.everyKindColumns.map(\.name)
        guard let image = event.after ?? (event.op == .delete ? event.before : nil) else {
            return Array(repeating: .null, count: names.count)
        }
        return names.map { name in
            let value = image[name] ?? .null
            if value == .unchanged {
                if let known = event.before?[name], known != .unchanged { return known }
                return .null
            }
            return value
        }
    }

    static func expectedBefore(_ event: ChangeEvent) -> [Value] {
        SinkFixtures.everyKindColumns.map { column in
            let value = event.before?[column.name] ?? .null
            return value == .unchanged ? .null : value
        }
    }

    func compare(_ file: ParquetReaders.FileContents, column: String, with expected: [Any], _ what: String) {
        for (engine, values) in [("pyarrow", file.pyarrowValues), ("duckdb", file.duckdbValues)] {
            let actual = values[column]
            #expect(actual != nil, "\(what): \(engine) has no column \(column)")
            guard let actual else { continue }
            #expect(actual.count == expected.count, "\(what): \(engine) \(column) has \(actual.count) rows")
            for (row, (got, want)) in zip(actual, expected).enumerated() where !jsonEqual(got, want) {
                Issue.record("\(what): \(engine) \(column) row \(row): \(got) instead of \(want)")
            }
        }
    }

    @Test func changelogLayoutWithBeforeImagesReadsBackExactly() async throws {
        let folder = try SinkFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sink = try SinkFixtures.sink(path: folder.path, ["include_before": .bool(true)])
        let events = Self.events()
        let first = try await sink.write(SinkFixtures.batch(Array(events[..<15]), firstOffset: 0))
        #expect(first[SinkFixtures.stream] == nil, "nothing is durable before the file is published")
        #expect(SinkFixtures.publishedFiles(in: folder).isEmpty)
        _ = try await sink.write(SinkFixtures.batch(Array(events[15...]), firstOffset: 15))
        let durable = try await sink.flush()
        #expect(durable[SinkFixtures.stream] == 30)
        try await sink.close()

        let files = SinkFixtures.publishedFiles(in: folder)
        let name = "p.shop.everything-00000000000000000000-00000000000000000029.parquet"
        #expect(files == [folder.path + "/shop.everything/" + name])
        #expect(SinkFixtures.hiddenFiles(in: folder).isEmpty)
        let file = try #require(try ParquetReaders.read(files).first)
        let rows = events.enumerated().filter { $0.element.op != .message }
        #expect(file.rowCount == rows.count)
        #expect(file.keyValueMetadata["sluice.stream"] == SinkFixtures.stream)
        #expect(file.keyValueMetadata["sluice.schema_version"] == "1")

        for (index, column) in SinkFixtures.everyKindColumns.enumerated() {
            let expected = rows.map { ExpectedRendering.render(Self.expectedImage($0.element)[index], column: column) }
            compare(file, column: column.name, with: expected, "after image")
            let before = rows.map { ExpectedRendering.render(Self.expectedBefore($0.element)[index], column: column) }
            compare(file, column: "_before_" + column.name, with: before, "before image")
        }
        compare(file, column: "_op", with: rows.map { $0.element.op.rawValue }, "metadata")
        compare(file, column: "_offset", with: rows.map { String($0.offset) }, "metadata")
        compare(file, column: "_position", with: rows.map { $0.element.position.text }, "metadata")
        compare(file, column: "_commit_ts", with: rows.map { String($0.element.commitTimeMicros) }, "metadata")
        compare(file, column: "_tx_id", with: rows.map { $0.element.transactionID ?? NSNull() as Any }, "metadata")
        let unchanged: [Any] = rows.map { row -> Any in
            switch row.offset {
            case 23: return ["doc"]
            case 24: return ["labels", "_before_labels"]
            default: return NSNull()
            }
        }
        compare(file, column: "_unchanged", with: unchanged, "unchanged")

        // Types, as each reader names them: the documented mapping.
        for (column, types) in ExpectedTypes.table {
            #expect(file.pyarrowTypes[column] == types.pyarrow, "pyarrow type of \(column)")
            #expect(file.duckdbTypes[column] == types.duckdb, "duckdb type of \(column)")
        }
        let extra = Set(file.columnNames).subtracting(ExpectedTypes.table.keys)
        let before = Set(SinkFixtures.everyKindColumns.map { "_before_" + $0.name })
        #expect(extra == before)
        for column in SinkFixtures.everyKindColumns {
            #expect(file.pyarrowTypes["_before_" + column.name] == file.pyarrowTypes[column.name])
        }
    }

    @Test func appendLayoutHoldsAfterImagesOnly() async throws {
        let folder = try SinkFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sink = try SinkFixtures.sink(path: folder.path, ["layout": .string("append")])
        let events = Self.events()
        _ = try await sink.write(SinkFixtures.batch(events, firstOffset: 0))
        #expect(try await sink.flush()[SinkFixtures.stream] == 30)
        let files = SinkFixtures.publishedFiles(in: folder)
        #expect(files.count == 1)
        let file = try #require(try ParquetReaders.read(files).first)
        let rows = events.filter { [.insert, .update, .read].contains($0.op) }
        #expect(file.rowCount == rows.count)
        #expect(Set(file.columnNames) == Set(SinkFixtures.everyKindColumns.map(\.name) + ["_unchanged"]))
        for (index, column) in SinkFixtures.everyKindColumns.enumerated() {
            compare(file, column: column.name,
                    with: rows.map { ExpectedRendering.render(Self.expectedImage($0)[index], column: column) },
                    "append")
        }
    }

    @Test(arguments: ["zstd", "snappy", "gzip", "none"])
    func largeValuesManyRowGroupsEachCodec(codec: String) async throws {
        let folder = try SinkFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sink = try SinkFixtures.sink(
            path: folder.path, ["compression": .string(codec), "row_group_rows": .int(256)])
        let nameIndex = SinkFixtures.everyKindColumns.firstIndex { $0.name == "name" }!
        let rawIndex = SinkFixtures.everyKindColumns.firstIndex { $0.name == "raw" }!
        var events: [ChangeEvent] = []
        var generator = SystemRandomNumberGenerator()
        for id in Int64(0)..<3000 {
            var row = SinkFixtures.everyKindRow(id: id, variant: id % 97 == 0 ? 0 : id % 89 == 0 ? 1 : 2)
            if id % 500 == 7 {
                row[nameIndex] = .string(String(repeating: "large ✓ \(id) ", count: 30_000))
                row[rawIndex] = .bytes((0..<200_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
            }
            events.append(SinkFixtures.event(.insert, before: nil, after: row, position: id))
        }
        for start in stride(from: 0, to: events.count, by: 700) {
            let slice = Array(events[start..<min(start + 700, events.count)])
            _ = try await sink.write(SinkFixtures.batch(slice, firstOffset: Int64(start)))
        }
        #expect(try await sink.flush()[SinkFixtures.stream] == 3000)
        let files = SinkFixtures.publishedFiles(in: folder)
        #expect(files.count == 1)
        let file = try #require(try ParquetReaders.read(files).first)
        let codecName = ["zstd": "ZSTD", "snappy": "SNAPPY", "gzip": "GZIP", "none": "UNCOMPRESSED"][codec]!
        #expect(file.compressions == [codecName])
        #expect(file.rowGroupCount == 12, "3000 rows in row groups of 256")
        for (index, column) in SinkFixtures.everyKindColumns.enumerated() {
            compare(file, column: column.name,
                    with: events.map { ExpectedRendering.render($0.after!.values[index], column: column) }, codec)
        }
        compare(file, column: "_offset", with: (0..<3000).map { String($0) }, codec)
        // pyarrow reads the statistics: each row group's _offset range, and null counts.
        for (group, statistics) in file.rowGroupStatistics.enumerated() {
            let offsets = statistics["_offset"] ?? [:]
            #expect(offsets["min"] as? String == String(group * 256), "row group \(group) _offset min")
            #expect(offsets["max"] as? String == String(min(group * 256 + 255, 2999)), "row group \(group) _offset max")
            #expect(offsets["null_count"] as? Int == 0)
            let flags = events[(group * 256)..<min(group * 256 + 256, 3000)]
            let nulls = flags.filter { $0.after!["flag"] == .null }.count
            #expect(statistics["flag"]?["null_count"] as? Int == nulls, "row group \(group) flag null count")
        }
    }
}

/// The types pyarrow and duckdb give each column of the every-kind table (the README's mapping table).
enum ExpectedTypes {
    static let table: [String: (pyarrow: String, duckdb: String)] = [
        "id": ("int64", "BIGINT"),
        "tiny": ("int8", "TINYINT"),
        "small": ("int16", "SMALLINT"),
        "medium": ("int32", "INTEGER"),
        "unsigned_small": ("uint16", "USMALLINT"),
        "unsigned_big": ("uint64", "UBIGINT"),
        "flag": ("bool", "BOOLEAN"),
        "single": ("float", "FLOAT"),
        "ratio": ("double", "DOUBLE"),
        "price": ("decimal128(9, 2)", "DECIMAL(9,2)"),
        "total": ("decimal128(18, 4)", "DECIMAL(18,4)"),
        "wide": ("decimal128(38, 10)", "DECIMAL(38,10)"),
        "free": ("string", "VARCHAR"),
        "name": ("string", "VARCHAR"),
        "raw": ("binary", "BLOB"),
        "day": ("date32[day]", "DATE"),
        "clock": ("string", "VARCHAR"),
        "clock_tz": ("string", "VARCHAR"),
        "local": ("timestamp[us]", "TIMESTAMP"),
        "at": ("timestamp[us, tz=UTC]", "TIMESTAMP WITH TIME ZONE"),
        "span": ("string", "VARCHAR"),
        "uid": ("string", "VARCHAR"),
        "doc": ("extension<arrow.json>", "JSON"),
        "numbers": ("list<element: int32>", "INTEGER[]"),
        "labels": ("list<element: string>", "VARCHAR[]"),
        "_op": ("string", "VARCHAR"),
        "_position": ("string", "VARCHAR"),
        "_commit_ts": ("timestamp[us, tz=UTC]", "TIMESTAMP WITH TIME ZONE"),
        "_tx_id": ("string", "VARCHAR"),
        "_offset": ("int64", "BIGINT"),
        "_unchanged": ("list<element: string not null>", "VARCHAR[]"),
    ]
}
