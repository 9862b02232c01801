import Foundation
import SluiceConnectorKit
import SluiceCore
import SluiceObjectStore
import SluiceRuntime
import SluiceStaging
import SluiceTestSupport
import Testing

@testable import SluiceDatabricks
@testable import SluiceSnowflake

/// Feeds a workload's records to a sink from `start` in batches of random sizes; every few batches the previous
/// batch is delivered again and the sink is flushed (as the runtime does when a stream goes idle).
func feed(
    _ sink: any SinkConnector, _ workload: StagingWorkload, from start: Int, seed: UInt64
) async throws {
    var random = SeededGenerator(seed: seed)
    var position = start
    var previous: Range<Int>?
    let count = workload.events.count
    while position < count {
        let size = Int(random.next(below: 250)) + 1
        let range = position..<min(position + size, count)
        _ = try await sink.write(workload.batch(range))
        if let previous, random.next(below: 3) == 0 {
            _ = try await sink.write(workload.batch(previous))  // delivered twice
        }
        if random.next(below: 4) == 0 { _ = try await sink.flush() }
        previous = range
        position = range.upperBound
    }
    _ = try await sink.flush()
}

let workloadColumns = StagingWorkload.schema.columns.map(\.name)

@Suite(.serialized) struct SnowflakeStageTests {
    func stageConfig(_ path: String, deletes: String, rows: Int = 120) -> [String: ConfigValue] {
        [
            "path": .string(path), "deletes": .string(deletes), "max_file_rows": .int(rows),
            "max_file_age": .duration(3600), "fsync": .bool(false), "compression": .string("snappy"),
        ]
    }

    @Test(arguments: ["hard", "soft"])
    func duckdbMergeOfEveryStagedFileEqualsTheSource(deletes: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workload = StagingWorkload(count: 2500, keys: 120, seed: 7)
        let sink = try SnowflakeStageSink(context: sinkContext(stageConfig(directory + "/stage", deletes: deletes)))
        #expect(try await sink.resumeOffsets(streams: [StagingWorkload.stream]) == [StagingWorkload.stream: 0])
        try await feed(sink, workload, from: 0, seed: 3)
        let durable = try await sink.flush()
        #expect(durable[StagingWorkload.stream] == Int64(workload.events.count))
        try await sink.close()

        let answer = try StagingChecker.expectStageMerges(
            workload, folder: directory + "/stage/shop.orders", testStage: directory + "/duck",
            expected: try StagingChecker.writeExpected(workload, in: directory), deletes: deletes, replayBack: [1, 3],
            replayEvery: 2)
        #expect(answer["staging_left"] as? Int == 0)
        #expect((answer["files"] as? Int ?? 0) > 10)
        #expect((answer["replays"] as? Int ?? 0) > 5)
        #expect(answer["rows"] as? Int == workload.finalState.count)
    }

    @Test func snowflakeStatementsHaveTheLoadingTraps() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workload = StagingWorkload(count: 50, keys: 10, seed: 1)
        let sink = try SnowflakeStageSink(context: sinkContext(stageConfig(directory, deletes: "hard")))
        _ = try await sink.write(workload.batch(0..<50))
        _ = try await sink.flush()
        let setup = try String(contentsOfFile: directory + "/shop.orders/setup.snowflake.sql", encoding: .utf8)
        let apply = try String(contentsOfFile: directory + "/shop.orders/apply.snowflake.sql", encoding: .utf8)
        #expect(setup.contains("USE_LOGICAL_TYPE = TRUE"))
        #expect(setup.contains("BINARY_AS_TEXT = FALSE"))
        #expect(setup.contains("\"amount\" NUMBER(12,2)"))
        #expect(setup.contains("\"payload\" VARIANT"))
        #expect(setup.contains("\"updated_at\" TIMESTAMP_TZ(6)"))
        #expect(setup.contains("\"blob\" BINARY"))
        #expect(setup.contains("\"ref\" VARCHAR(36)"))
        #expect(setup.contains("PUT 'file://"))
        #expect(apply.contains("COPY INTO \"SLUICE\".\"shop\".\"orders__sluice_staging\""))
        #expect(apply.contains("MATCH_BY_COLUMN_NAME = CASE_SENSITIVE"))
        #expect(apply.contains("QUALIFY ROW_NUMBER() OVER (PARTITION BY p.\"id\" ORDER BY p.\"_position\" DESC"))
        #expect(apply.contains("PARSE_JSON(s.\"payload\")"))
        #expect(apply.contains("ARRAY_CONTAINS('note'::VARIANT"))
        #expect(!apply.contains("TRUNCATE"), "TRUNCATE TABLE would reset COPY INTO's load history")
        #expect(apply.contains("DELETE FROM \"SLUICE\".\"shop\".\"orders__sluice_staging\""))
    }

    @Test func aReplayedBatchIsNotStagedTwiceAndARestartResumesAfterTheLedger() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workload = StagingWorkload(count: 300, keys: 30, seed: 2)
        var sink = try SnowflakeStageSink(context: sinkContext(stageConfig(directory, deletes: "hard", rows: 50)))
        _ = try await sink.write(workload.batch(0..<200))
        _ = try await sink.write(workload.batch(0..<200))
        #expect(try await sink.flush()[StagingWorkload.stream] == 200)
        sink = try SnowflakeStageSink(context: sinkContext(stageConfig(directory, deletes: "hard", rows: 50)))
        #expect(try await sink.resumeOffsets(streams: [StagingWorkload.stream]) == [StagingWorkload.stream: 200])
        _ = try await sink.write(workload.batch(150..<300))
        #expect(try await sink.flush()[StagingWorkload.stream] == 300)
        let ledger = try String(contentsOfFile: directory + "/shop.orders/_ledger.jsonl", encoding: .utf8)
        let entries = ledger.split(separator: "\n").map {
            try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        var next = 0
        for entry in entries {
            #expect(entry["first_offset"] as? Int == next)
            next = (entry["last_offset"] as! Int) + 1
            let file = entry["file"] as! String
            #expect(FileManager.default.fileExists(atPath: directory + "/shop.orders/" + file))
        }
        #expect(next == 300)
    }
}

@Suite(.serialized) struct DeltaSinkTests {
    func deltaConfig(_ path: String, rows: Int = 150, currentRows: Int = 40) -> [String: ConfigValue] {
        [
            "path": .string(path), "max_file_rows": .int(rows), "max_file_age": .duration(3600),
            "fsync": .bool(false), "current_file_rows": .int(currentRows),
        ]
    }

    @Test func deltaTablesHoldEveryChangeAndTheCurrentState() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workload = StagingWorkload(count: 2000, keys: 100, seed: 11)
        let sink = try DeltaSink(context: sinkContext(deltaConfig(directory)))
        #expect(try await sink.resumeOffsets(streams: [StagingWorkload.stream]) == [StagingWorkload.stream: 0])
        try await feed(sink, workload, from: 0, seed: 5)
        #expect(try await sink.flush()[StagingWorkload.stream] == Int64(workload.events.count))
        try await sink.close()

        let expectedPath = try StagingChecker.writeExpected(workload, in: directory)
        let answer = try StagingChecker.expectDeltaTablesHold(
            workload, folder: directory + "/shop.orders", expected: expectedPath)
        #expect(answer["current_rows"] as? Int == workload.finalState.count)
        #expect(answer["changes_schema"] as? String == "timestamp[us, tz=UTC]")

        // A restart resumes after the last commit and a replayed range is skipped by the txn versions.
        let restarted = try DeltaSink(context: sinkContext(deltaConfig(directory)))
        #expect(
            try await restarted.resumeOffsets(streams: [StagingWorkload.stream])
                == [StagingWorkload.stream: Int64(workload.events.count)])
        _ = try await restarted.write(workload.batch(1500..<2000))
        _ = try await restarted.flush()
        let again = try StagingChecker.run([
            "mode": "delta", "folder": directory + "/shop.orders", "expected": expectedPath,
            "columns": workloadColumns,
        ])
        #expect(again["changes_version"] as? Int == answer["changes_version"] as? Int)
        #expect(again["changes_rows"] as? Int == workload.events.count)

        let sql = try String(contentsOfFile: directory + "/shop.orders/apply.databricks.sql", encoding: .utf8)
        #expect(sql.contains("COPY INTO `shop`.`orders__sluice_staging`"))
        #expect(sql.contains("MERGE INTO `shop`.`orders` AS t"))
        #expect(sql.contains("QUALIFY ROW_NUMBER() OVER (PARTITION BY p.`id` ORDER BY p.`_position` DESC"))
    }

    @Test func aCommitForAnExistingVersionIsRefused() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var first = try DeltaTable(location: directory, store: LocalObjectStore(sync: false))
        var second = try DeltaTable(location: directory, store: LocalObjectStore(sync: false))
        let schema = DeltaTableSchema.changes(StagingWorkload.schema)
        #expect(try first.commit(actions: [], schema: schema, appID: "a", txnVersion: 1, operation: "WRITE", name: "x"))
        #expect(
            !(try second.commit(actions: [], schema: schema, appID: "b", txnVersion: 1, operation: "WRITE", name: "x")))
        let reread = try DeltaTable(location: directory, store: LocalObjectStore(sync: false))
        #expect(reread.version == 0)
        #expect(reread.transactionVersion("a") == 1)
        #expect(reread.transactionVersion("b") == nil)
    }
}
