// SluiceIceberg: the `iceberg` sink and its table format: schemas, manifests, snapshots, catalogs (SQL on SQLite
// or PostgreSQL), upserts with position deletes, and table maintenance.

import Foundation
import SluiceAvro

/// A table's name in a catalog: namespace (dotted levels) and name.
public struct TableIdentifier: Sendable, Hashable, CustomStringConvertible {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public var description: String { "\(namespace).\(name)" }
}

/// Table metadata as loaded from a catalog, with where it came from (the base of the next commit).
public struct LoadedTable: Sendable {
    public var identifier: TableIdentifier
    public var metadata: TableMetadata
    public var metadataLocation: String
}

/// Where tables are registered and how a new metadata version is published atomically.
public protocol IcebergCatalog: Sendable {
    /// The table's current metadata, or nil when the catalog does not know it.
    func loadTable(_ identifier: TableIdentifier) throws -> LoadedTable?
    /// Registers a new table with its first metadata; throws `commitConflict` when it already exists.
    func createTable(_ identifier: TableIdentifier, metadata: TableMetadata) throws -> LoadedTable
    /// Publishes `metadata` as the table's next version if the table is still at `base`; throws
    /// `IcebergError.commitConflict` when another writer committed first (reload and retry).
    func commit(base: LoadedTable, metadata: TableMetadata) throws -> LoadedTable
    /// The default location of a new table.
    func defaultLocation(_ identifier: TableIdentifier) -> String
    /// The tables of a namespace.
    func listTables(namespace: String) throws -> [TableIdentifier]
}

extension IcebergCatalog {
    static func metadataBytes(_ metadata: TableMetadata) -> [UInt8] { Array(metadata.json.text.utf8) }

    static func parseMetadata(_ bytes: [UInt8], location: String) throws -> TableMetadata {
        do {
            return try TableMetadata(json: try AvroJSON.parse(bytes: bytes))
        } catch let error as IcebergError {
            throw error
        } catch {
            throw IcebergError(.corruptMetadata, "cannot parse \(location): \(error)")
        }
    }

    /// Records the previous metadata file in `metadata-log` for the next version.
    static func withMetadataLog(_ metadata: TableMetadata, base: LoadedTable) -> TableMetadata {
        var next = metadata
        next.metadataLog.append((base.metadataLocation, base.metadata.lastUpdatedMs))
        let keep = Int(next.property("write.metadata.previous-versions-max") ?? "") ?? 100
        if next.metadataLog.count > keep { next.metadataLog.removeFirst(next.metadataLog.count - keep) }
        return next
    }
}

/// A catalog kept in the file system, like Iceberg's Hadoop tables: `<warehouse>/<namespace>/<table>/metadata/
/// vN.metadata.json` plus `version-hint.text`. A commit publishes `v(N+1)` with a hard link that fails if another
/// writer published it first. Readers: pyiceberg `StaticTable.from_metadata`, Spark's `HadoopCatalog`.
public struct FileSystemCatalog: IcebergCatalog {
    public let warehouse: String

    public init(warehouse: String) {
        self.warehouse = LocalFiles.path(warehouse)
    }

    public func defaultLocation(_ identifier: TableIdentifier) -> String {
        LocalFiles.uri(
            warehouse + "/" + identifier.namespace.split(separator: ".").joined(separator: "/") + "/"
                + identifier.name)
    }

    public func listTables(namespace: String) throws -> [TableIdentifier] {
        let folder = warehouse + "/" + namespace.split(separator: ".").joined(separator: "/")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.sorted().filter { FileManager.default.fileExists(atPath: folder + "/" + $0 + "/metadata") }
            .map { TableIdentifier(namespace: namespace, name: $0) }
    }

    func metadataPath(_ location: String, version: Int) -> String {
        LocalFiles.path(location) + "/metadata/v\(version).metadata.json"
    }

    /// The newest version: the hint, then any later files a crash left the hint behind.
    func currentVersion(_ location: String) -> Int? {
        let hintPath = LocalFiles.path(location) + "/metadata/version-hint.text"
        var version = FileManager.default.contents(atPath: hintPath)
            .flatMap { Int(String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) }
        if version == nil {
            // No hint: find the highest vN.
            let files =
                (try? FileManager.default.contentsOfDirectory(atPath: LocalFiles.path(location) + "/metadata")) ?? []
            version = files.compactMap { name -> Int? in
                guard name.hasPrefix("v"), name.hasSuffix(".metadata.json") else { return nil }
                return Int(name.dropFirst().dropLast(".metadata.json".count))
            }.max()
        }
        guard var current = version else { return nil }
        while FileManager.default.fileExists(atPath: metadataPath(location, version: current + 1)) { current += 1 }
        return FileManager.default.fileExists(atPath: metadataPath(location, version: current)) ? current : nil
    }

    public func loadTable(_ identifier: TableIdentifier) throws -> LoadedTable? {
        let location = defaultLocation(identifier)
        guard let version = currentVersion(location) else { return nil }
        let path = metadataPath(location, version: version)
        let metadata = try Self.parseMetadata(try LocalFiles.read(path), location: path)
        return LoadedTable(identifier: identifier, metadata: metadata, metadataLocation: LocalFiles.uri(path))
    }

    public func createTable(_ identifier: TableIdentifier, metadata: TableMetadata) throws -> LoadedTable {
        let path = metadataPath(metadata.location, version: 1)
        guard try LocalFiles.createExclusively(Self.metadataBytes(metadata), at: path) else {
            throw IcebergError(.commitConflict, "table \(identifier) was created by another writer")
        }
        try writeHint(metadata.location, version: 1)
        return LoadedTable(identifier: identifier, metadata: metadata, metadataLocation: LocalFiles.uri(path))
    }

    public func commit(base: LoadedTable, metadata: TableMetadata) throws -> LoadedTable {
        let location = base.metadata.location
        guard
            let version = Int(
                LocalFiles.path(base.metadataLocation).split(separator: "/").last?
                    .dropFirst().prefix { $0.isNumber } ?? "")
        else { throw IcebergError(.corruptMetadata, "cannot tell the version of \(base.metadataLocation)") }
        let next = Self.withMetadataLog(metadata, base: base)
        let path = metadataPath(location, version: version + 1)
        guard try LocalFiles.createExclusively(Self.metadataBytes(next), at: path) else {
            throw IcebergError(.commitConflict, "table \(base.identifier) moved past version \(version)")
        }
        try writeHint(location, version: version + 1)
        return LoadedTable(identifier: base.identifier, metadata: next, metadataLocation: LocalFiles.uri(path))
    }

    func writeHint(_ location: String, version: Int) throws {
        try LocalFiles.writeAtomically(
            Array("\(version)".utf8), to: LocalFiles.path(location) + "/metadata/version-hint.text")
    }
}

/// A SQL database holding a JDBC-style Iceberg catalog.
protocol CatalogDatabase: Sendable {
    /// Runs a statement; returns the rows (text or nil per column) and the number of rows changed.
    func execute(_ sql: String, _ parameters: [String?]) throws -> (rows: [[String?]], changes: Int)
    /// `?` for SQLite, `$1`… for PostgreSQL.
    func placeholder(_ index: Int) -> String
}

/// A catalog compatible with pyiceberg's `SqlCatalog` and Java's `JdbcCatalog`: the tables `iceberg_tables` and
/// `iceberg_namespace_properties`, committed by a conditional UPDATE on the previous metadata location.
public struct SQLCatalog: IcebergCatalog {
    public let name: String
    public let warehouse: String
    let database: any CatalogDatabase

    /// Opens (and prepares) a catalog in a SQLite file or a PostgreSQL database (`postgres://…` or
    /// `postgresql://…` URI).
    public init(name: String, uri: String, warehouse: String) throws {
        self.name = name
        self.warehouse = LocalFiles.path(warehouse)
        if uri.hasPrefix("postgres://") || uri.hasPrefix("postgresql://") {
            database = try PostgresCatalogDatabase(conninfo: uri)
        } else {
            var path = uri
            for prefix in ["sqlite:///", "sqlite://", "sqlite:"] where path.hasPrefix(prefix) {
                path = "/" + path.dropFirst(prefix.count).drop { $0 == "/" }
                break
            }
            database = try SQLiteCatalogDatabase(path: path)
        }
        _ = try database.execute(
            """
            CREATE TABLE IF NOT EXISTS iceberg_tables (
                catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL,
                table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000),
                previous_metadata_location VARCHAR(1000), iceberg_type VARCHAR(5),
                PRIMARY KEY (catalog_name, table_namespace, table_name))
            """, [])
        _ = try database.execute(
            """
            CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
                catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL,
                property_key VARCHAR(255) NOT NULL, property_value VARCHAR(1000),
                PRIMARY KEY (catalog_name, namespace, property_key))
            """, [])
    }

    private func p(_ i: Int) -> String { database.placeholder(i) }

    public func defaultLocation(_ identifier: TableIdentifier) -> String {
        LocalFiles.uri(
            warehouse + "/" + identifier.namespace.split(separator: ".").joined(separator: "/") + "/"
                + identifier.name)
    }

    public func listTables(namespace: String) throws -> [TableIdentifier] {
        try database.execute(
            "SELECT table_name FROM iceberg_tables WHERE catalog_name = \(p(1)) AND table_namespace = \(p(2))"
                + " ORDER BY table_name", [name, namespace]
        ).rows.compactMap { $0[0] }.map { TableIdentifier(namespace: namespace, name: $0) }
    }

    func newMetadataLocation(_ location: String, version: Int) -> String {
        location + "/metadata/" + String(format: "%05d", version) + "-\(UUID().uuidString.lowercased()).metadata.json"
    }

    public func loadTable(_ identifier: TableIdentifier) throws -> LoadedTable? {
        let result = try database.execute(
            "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = \(p(1)) AND table_namespace = \(p(2))"
                + " AND table_name = \(p(3))", [name, identifier.namespace, identifier.name])
        guard let row = result.rows.first, let location = row[0] else { return nil }
        let metadata = try Self.parseMetadata(try LocalFiles.read(location), location: location)
        return LoadedTable(identifier: identifier, metadata: metadata, metadataLocation: location)
    }

    public func createTable(_ identifier: TableIdentifier, metadata: TableMetadata) throws -> LoadedTable {
        let location = newMetadataLocation(metadata.location, version: 0)
        try LocalFiles.writeAtomically(Self.metadataBytes(metadata), to: location)
        let exists = try database.execute(
            "SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = \(p(1)) AND namespace = \(p(2))",
            [name, identifier.namespace])
        if exists.rows.isEmpty {
            _ = try? database.execute(
                "INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value)"
                    + " VALUES (\(p(1)), \(p(2)), 'exists', 'true')", [name, identifier.namespace])
        }
        do {
            _ = try database.execute(
                "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location,"
                    + " previous_metadata_location, iceberg_type)"
                    + " VALUES (\(p(1)), \(p(2)), \(p(3)), \(p(4)), NULL, 'TABLE')",
                [name, identifier.namespace, identifier.name, location])
        } catch {
            unlink(LocalFiles.path(location))
            throw IcebergError(.commitConflict, "table \(identifier) was created by another writer")
        }
        return LoadedTable(identifier: identifier, metadata: metadata, metadataLocation: location)
    }

    public func commit(base: LoadedTable, metadata: TableMetadata) throws -> LoadedTable {
        let next = Self.withMetadataLog(metadata, base: base)
        let version = base.metadataLocation.split(separator: "/").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
        let location = newMetadataLocation(base.metadata.location, version: version + 1)
        try LocalFiles.writeAtomically(Self.metadataBytes(next), to: location)
        let result = try database.execute(
            "UPDATE iceberg_tables SET metadata_location = \(p(1)), previous_metadata_location = \(p(2))"
                + " WHERE catalog_name = \(p(3)) AND table_namespace = \(p(4)) AND table_name = \(p(5))"
                + " AND metadata_location = \(p(6))",
            [
                location, base.metadataLocation, name, base.identifier.namespace, base.identifier.name,
                base.metadataLocation,
            ])
        guard result.changes == 1 else {
            unlink(LocalFiles.path(location))
            throw IcebergError(.commitConflict, "table \(base.identifier) was changed by another writer")
        }
        return LoadedTable(identifier: base.identifier, metadata: next, metadataLocation: location)
    }
}
