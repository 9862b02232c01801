import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceDevConnectors
import SluiceTestSupport
import Testing

/// The jsonl sink keeps the connector contract (`SinkConformance`): durable offsets survive a crash, a replay never
/// skips, and since it resumes from its own files, nothing is written twice.
@Suite struct JSONLSinkConformanceTests {
    @Test func keepsTheSinkContract() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("jsonl-conf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = ConnectorConfig(instanceName: "files", values: ["path": .string(folder.path), "fsync": .bool(true)])
        let conformance = SinkConformance(
            open: { try JSONLSink(context: SinkContext(pipeline: "conformance", config: config,
                                                       logger: Logger(label: "test"))) },
            storedOffsets: { stream in
                let path = folder.appendingPathComponent("\(stream).jsonl").path
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
                return try text.split(separator: "\n").map { line in
                    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    guard let offset = (object?["offset"] as? NSNumber)?.int64Value else {
                        throw SinkConformance.Violation(description: "a jsonl line without an offset: \(line.prefix(80))")
                    }
                    return offset
                }
            })
        try await conformance.run()
    }
}

/// A table named `../../escaped` lands inside the jsonl sink's folder.
@Test func jsonlSinkKeepsHostileNamesInItsFolder() async throws {
    let folder = try HostileNames.sinkFolder()
    defer { HostileNames.remove(folder) }
    let config = ConnectorConfig(instanceName: "files", values: ["path": .string(folder.path)])
    let sink = try JSONLSink(context: SinkContext(pipeline: "p", config: config, logger: Logger(label: "test")))
    _ = try await sink.write(HostileNames.batch())
    _ = try await sink.flush()
    #expect(HostileNames.escaped(from: folder) == [])
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).count == 1)
}

