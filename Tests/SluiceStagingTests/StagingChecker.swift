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
