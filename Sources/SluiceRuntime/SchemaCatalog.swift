import Foundation
import SluiceCore
import SluiceLog
import Synchronization

/// Every table-schema version of a pipeline, as stored in the `_schemas` stream.
///
/// Loaded from the log at start; the appender adds versions as sources emit them, always in the same
/// commit as (and before) the first event that uses them.
public final class SchemaCatalog: Sendable {
    private let versions = Mutex<[TableID: [Int: TableSchema]]>([:])

    public init() {}

    /// Reads every schema version from the log's `_schemas` stream.
    public static func load(from log: any ChangeLog) async throws -> SchemaCatalog {
        let catalog = SchemaCatalog()
        var offset: Int64 = 0
        while true {
            let records = try await log.read(stream: SystemStream.schemas, from: offset, limit: 1000)
            guard let last = records.last else { break }
            for record in records { catalog.add(try decode(record.payload)) }
            offset = last.offset + 1
        }
        return catalog
    }

    /// The JSON payload stored in `_schemas` for a schema version.
    public static func encode(_ schema: TableSchema) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(schema)) ?? Data())
    }

    public static func decode(_ payload: [UInt8]) throws -> TableSchema {
        try JSONDecoder().decode(TableSchema.self, from: Data(payload))
    }

    public func add(_ schema: TableSchema) {
        versions.withLock { $0[schema.table, default: [:]][schema.version] = schema }
    }

    public func schema(_ table: TableID, version: Int) -> TableSchema? {
        versions.withLock { $0[table]?[version] }
    }

    /// All versions of a table.
    public func schemas(_ table: TableID) -> [Int: TableSchema] {
        versions.withLock { $0[table] ?? [:] }
    }

    /// The newest version of a table.
    public func latest(_ table: TableID) -> TableSchema? {
        versions.withLock { $0[table]?.max { $0.key < $1.key }?.value }
    }

    /// Every table with at least one version.
    public var tables: [TableID] {
        versions.withLock { Array($0.keys).sorted() }
    }
}
