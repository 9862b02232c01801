import Foundation

/// File locations in table metadata are URIs (`file:///warehouse/ns/t/data/x.parquet`); Sluice writes to local
/// (or mounted) file systems and maps them to paths here.
enum LocalFiles {
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
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IcebergError(.io, "cannot read \(path)", hint: "check that the file exists and is readable")
        }
        return Array(data)
    }

    /// Writes a new file durably: a temporary file, fsync, then rename into place.
    static func writeAtomically(_ bytes: [UInt8], to location: String) throws {
        let path = path(location)
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = path + ".tmp-\(UUID().uuidString.prefix(8))"
        try writeSynced(bytes, path: temporary)
        guard rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw IcebergError(.io, "cannot rename \(temporary) to \(path): \(message)")
        }
    }

    /// Writes and fsyncs a file (replacing it).
    static func writeSynced(_ bytes: [UInt8], path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw IcebergError(
                .io, "cannot create \(path): \(String(cString: strerror(errno)))",
                hint: "check the warehouse path and its permissions")
        }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
            guard n > 0 else {
                throw IcebergError(
                    .io, "writing \(path) failed: \(String(cString: strerror(errno)))",
                    hint: "check free disk space")
            }
            written += n
        }
        guard fsync(descriptor) == 0 else {
            throw IcebergError(.io, "fsync of \(path) failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Publishes `bytes` at `location` only if nothing is there yet (link of a synced temporary file):
    /// false when another writer got there first.
    static func createExclusively(_ bytes: [UInt8], at location: String) throws -> Bool {
        let path = path(location)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let temporary = path + ".tmp-\(UUID().uuidString.prefix(8))"
        try writeSynced(bytes, path: temporary)
        defer { unlink(temporary) }
        if link(temporary, path) == 0 {
            syncDirectory(of: path)
            return true
        }
        if errno == EEXIST { return false }
        throw IcebergError(.io, "cannot publish \(path): \(String(cString: strerror(errno)))")
    }

    static func syncDirectory(of path: String) {
        let descriptor = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }

    static func exists(_ location: String) -> Bool { FileManager.default.fileExists(atPath: path(location)) }
}
