import Foundation
import SluiceTestSupport
import Testing

/// Runs the Python checker (`Readers/staging_check.py`: duckdb and deltalake) on what the sinks wrote.
enum StagingChecker {
    /// Runs the checker with a request object; returns its JSON answer.
    static func run(_ request: [String: Any]) throws -> [String: Any] {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let requestPath = directory + "/request.json"
        try JSONSerialization.data(withJSONObject: request).write(to: URL(fileURLWithPath: requestPath))
        return try Python.jsonObject(.stagingCheck, [requestPath])
    }
}

extension StagingChecker {
    /// Writes `workload`'s final state and ops to `directory/expected.json` (the checker's `expected`); returns its path.
    static func writeExpected(_ workload: StagingWorkload, in directory: String) throws -> String {
        let path = directory + "/expected.json"
        try JSONSerialization.data(withJSONObject: workload.expectedJSON).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Applies every file staged in `folder` with duckdb (each twice, older ones again `replayBack` files later) and
    /// expects the offsets dense, one per change of `workload`, and the merged table equal to `expected`; returns
    /// the checker's answer for further checks.
    @discardableResult
    static func expectStageMerges(
        _ workload: StagingWorkload, folder: String, testStage: String, expected: String, deletes: String = "hard",
        replayBack: [Int], replayEvery: Int = 1, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [String: Any] {
        let answer = try run([
            "mode": "duckdb", "folder": folder, "test_stage": testStage, "expected": expected, "deletes": deletes,
            "columns": workloadColumns, "replay_back": replayBack, "replay_every": replayEvery,
        ])
        #expect(answer["problem_count"] as? Int == 0, "mismatches: \(answer["problems"] ?? "")", sourceLocation: sourceLocation)
        #expect(answer["offsets_dense"] as? Bool == true, sourceLocation: sourceLocation)
        #expect(answer["offset_count"] as? Int == workload.events.count, sourceLocation: sourceLocation)
        return answer
    }

    /// Expects the Delta tables in `folder` to hold every change of `workload` once, at its offset and in order, and
    /// `current` to equal `expected`; returns the checker's answer for further checks.
    @discardableResult
    static func expectDeltaTablesHold(
        _ workload: StagingWorkload, folder: String, expected: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [String: Any] {
        let answer = try run(["mode": "delta", "folder": folder, "expected": expected, "columns": workloadColumns])
        #expect(answer["changes_rows"] as? Int == workload.events.count, sourceLocation: sourceLocation)
        #expect(answer["duplicates"] as? Int == 0, sourceLocation: sourceLocation)
        #expect(answer["ops_match"] as? Bool == true, sourceLocation: sourceLocation)
        #expect(answer["problem_count"] as? Int == 0, "mismatches: \(answer["problems"] ?? "")", sourceLocation: sourceLocation)
        return answer
    }
}
