import Foundation
import SluiceConnectorKit
import SluiceCore

/// A table whose names try to leave a sink's folder, and the check that nothing landed outside it.
public enum HostileNames {
    public static let table = TableID(database: "..", schema: "..", name: "../../escaped")
    /// `<pipeline>.<schema>.<table>` of `table` in pipeline `p`.
    public static let stream = "p.\(table.schema).\(table.name)"

    /// One insert into `table`, as the batch of `stream` with offset 0.
    public static func batch() -> SinkBatch {
        let schema = TableSchema(table: table, version: 1, columns: [
            ColumnSchema(name: "id", sourceType: "bigint", kind: .int, nullable: false)], primaryKey: ["id"])
        let event = ChangeEvent(
            op: .insert, connector: "test", table: table, schemaVersion: 1, before: nil,
            after: Row(columns: ["id"], values: [.int(1)]),
            position: SourcePosition(sortKey: SourcePosition.sortKey(1), text: "0/1"), commitTimeMicros: 0)
        return SinkBatch(stream: stream, table: table, records: [SinkRecord(offset: 0, event: event, appendedAtMicros: 0)],
                         schemas: [1: schema])
    }

    /// A sink folder three levels below a fresh root (`root/a/b/sink`), so that `../..` stays inside the root.
    public static func sinkFolder() throws -> URL {
        let root = try TestEnvironment.temporaryFolder("sluice-hostile")
        let folder = root.appendingPathComponent("a/b/sink")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// What the sink wrote outside `folder` (made by `sinkFolder`): paths under the root other than the folder.
    public static func escaped(from folder: URL) -> [String] {
        let b = folder.deletingLastPathComponent(), a = b.deletingLastPathComponent(), root = a.deletingLastPathComponent()
        var outside: [String] = []
        for (directory, expected) in [(root, "a"), (a, "b"), (b, "sink")] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            outside += names.filter { $0 != expected }.map { directory.appendingPathComponent($0).path }
        }
        return outside
    }

    /// Removes the root made by `sinkFolder`.
    public static func remove(_ folder: URL) {
        try? FileManager.default.removeItem(at: folder.deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent())
    }
}
