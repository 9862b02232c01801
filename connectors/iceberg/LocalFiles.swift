import Foundation
import SluiceCore
import SluiceObjectStore

/// File locations in table metadata are URIs (`file:///warehouse/ns/t/data/x.parquet`); Sluice writes them to local
/// (or mounted) file systems through the object store, and maps them to paths here.
enum LocalFiles {
    /// The warehouse's files: fsynced before they are named, names fsynced in their folder.
    static let store = LocalObjectStore(sync: true)

    /// The local path of a location (`file:///a/b`, `file:/a/b` or a plain path).
    static func path(_ location: String) -> String {
        if location.hasPrefix("file://") { return String(location.dropFirst("file://".count)) }
        if location.hasPrefix("file:") { return String(location.dropFirst("file:".count)) }
        return location
    }

    /// The URI of a local path (absolute).
    static func uri(_ path: String) -> String {
        if path.contains("://") { return path }
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return "file://" + (absolute as NSString).standardizingPath
    }

    static func read(_ location: String) throws -> [UInt8] {
        let path = path(location)
        guard let bytes = try storeCall({ try store.read(path) }) else {
            throw IcebergError(.io, "cannot read \(path)", hint: "check that the file exists and is readable")
        }
        return bytes
    }

    /// Writes a file durably, replacing one of that name: readers see the old file or the whole new one.
    static func writeAtomically(_ bytes: [UInt8], to location: String) throws {
        let path = path(location)
        let temporary = try writeTemporary(bytes, for: path)
        do {
            try storeCall { try store.publish(temporary, as: path) }
        } catch {
            store.remove(temporary)
            throw error
        }
    }

    /// Publishes `bytes` at `location` only if nothing is there yet: false when another writer got there first.
    static func createExclusively(_ bytes: [UInt8], at location: String) throws -> Bool {
        let path = path(location)
        let temporary = try writeTemporary(bytes, for: path)
        return try storeCall { try store.publishIfAbsent(temporary, as: path) }
    }

    static func exists(_ location: String) -> Bool { store.exists(path(location)) }

    /// Writes the bytes at a temporary name of this writer's own (two writers racing for one metadata version
    /// never share one), in the folder of `path`, created when missing.
    private static func writeTemporary(_ bytes: [UInt8], for path: String) throws -> String {
        let temporary = path + ".tmp-\(UUID().uuidString.prefix(8))"
        try storeCall {
            try store.makeFolder((path as NSString).deletingLastPathComponent)
            try store.writeTemporary(bytes, at: temporary)
        }
        return temporary
    }

    /// Runs a store call, reporting its failure as an Iceberg I/O error.
    private static func storeCall<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SluiceError {
            throw IcebergError(.io, error.message, hint: error.hint ?? "check the warehouse path and its permissions")
        }
    }
}
