import Foundation
import SluiceConnectorKit
import SluiceCore
import SluiceParquetSink
import SluiceTestSupport
import Testing

/// The Parquet sink keeps the connector contract (`SinkConformance`), with its files read back by pyarrow: what it
/// reported durable survives a crash, a replay never skips, and since it resumes after its last published file,
/// nothing is published twice.
@Suite struct ParquetSinkConformanceTests {
    @Test(arguments: ["changelog", "append"])
    func keepsTheSinkContract(layout: String) async throws {
        let folder = try SinkFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // Small files, so that the run publishes several and the crash leaves one open.
        let settings: [String: ConfigValue] = ["layout": .string(layout), "max_file_rows": .int(120)]
        let conformance = SinkConformance(
            open: { try SinkFixtures.sink(path: folder.path, settings) },
            storedOffsets: { _ in
                let files = SinkFixtures.publishedFiles(in: folder)
                return try ParquetReaders.read(files).flatMap { file in
                    // Both layouts name files by the offsets they hold; the changelog layout also has `_offset`.
                    if layout == "changelog" {
                        return (file.pyarrowValues["_offset"] ?? []).compactMap { ($0 as? String).flatMap { Int64($0) } }
                    }
                    return (file.pyarrowValues["id"] ?? []).compactMap { ($0 as? String).flatMap { Int64($0) } }
                }
            })
        try await conformance.run()
    }
}
