import Foundation
import SluiceConnectorKit
import SluiceCore
import SluiceRuntime
import SluiceStaging
import Testing

@testable import SluiceDatabricks
@testable import SluiceSnowflake

/// Crashes injected between the steps of the sinks' commit protocols: after each crash the sink is recreated (as
/// after a restart), resumes where its ledger or Delta log says, and the final results are the same as without
/// crashes.
@Suite(.serialized) struct InjectedCrashTests {
    /// Feeds the workload, crashing at `step` after passing it `countdown` times, `crashes` times in all.
    func runWithCrashes(
        step: String, crashes: Int, workload: StagingWorkload, makeSink: () throws -> any SinkConnector
    ) async throws -> Int {
        var sink = try makeSink()
        var crashed = 0
        var round: UInt64 = 0
        while true {
            round += 1
            do {
                let injection = crashed < crashes ? CrashPoints.Injection(step: step, countdown: Int(round % 3)) : nil
                try await CrashPoints.$injected.withValue(injection) {
                    let resume = try await sink.resumeOffsets(streams: [StagingWorkload.stream])
                    let start = Int(resume?[StagingWorkload.stream] ?? 0)
                    try await feed(sink, workload, from: start, seed: round)
                }
                break
            } catch let error where "\(error)".hasPrefix("injected failure at") {
                crashed += 1
                sink = try makeSink()  // the process "restarts": pending buffers are gone
            }
        }
        return crashed
    }

    @Test(arguments: ["snowflake.file-written", "snowflake.ledger-appended"])
    func snowflakeStageSurvivesACrashAtEveryStep(step: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workload = StagingWorkload(count: 1500, keys: 80, seed: 23)
        let config: [String: ConfigValue] = [
            "path": .string(directory + "/stage"), "max_file_rows": .int(90), "max_file_age": .duration(3600),
            "fsync": .bool(false),
        ]
        let crashes = try await runWithCrashes(step: step, crashes: 6, workload: workload) {
            try SnowflakeStageSink(context: sinkContext(config))
        }
        #expect(crashes == 6)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory + "/stage/shop.orders")
            .filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty || step == "snowflake.file-written", "temporary files left: \(leftovers)")
        try StagingChecker.expectStageMerges(
            workload, folder: directory + "/stage/shop.orders", testStage: directory + "/duck",
            expected: try StagingChecker.writeExpected(workload, in: directory), replayBack: [2])
    }

    @Test(arguments: [
        "delta.changes-file-written", "delta.commit-written", "delta.changes-committed",
        "delta.current-files-written",
    ])
    func deltaTablesSurviveACrashAtEveryStep(step: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workload = StagingWorkload(count: 1500, keys: 80, seed: 29)
        let config: [String: ConfigValue] = [
            "path": .string(directory), "max_file_rows": .int(110), "max_file_age": .duration(3600),
            "fsync": .bool(false), "current_file_rows": .int(30),
        ]
        let crashes = try await runWithCrashes(step: step, crashes: 6, workload: workload) {
            try DeltaSink(context: sinkContext(config))
        }
        #expect(crashes == 6)
        // Uncommitted files of the crashed attempts are gone once the sink restarted.
        let restarted = try DeltaSink(context: sinkContext(config))
        _ = try await restarted.resumeOffsets(streams: [StagingWorkload.stream])
        for table in ["changes", "current"] {
            let log = try FileManager.default.contentsOfDirectory(
                atPath: directory + "/shop.orders/\(table)/_delta_log")
            #expect(log.allSatisfy { !$0.hasSuffix(".tmp") }, "temporary commit files left in \(table)")
        }
        try StagingChecker.expectDeltaTablesHold(
            workload, folder: directory + "/shop.orders",
            expected: try StagingChecker.writeExpected(workload, in: directory))
    }
}
