// SluiceObjectStore: where file sinks publish their files, behind one interface (put, put-if-absent, list, get,
// delete) that a local folder implements today and object storage (S3) can implement next.
import Foundation
import SluiceCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a file sink publishes its files, and how a file becomes visible there.
///
/// A file is written whole at a temporary path first (by `writeTemporary` or by a file writer such as Parquet's),
/// then published under its name in one step: readers see no file or the whole file. The operations are the ones an
/// object store offers too (put, put-if-absent, list, get, delete), so no caller renames, links or appends itself.
public protocol ObjectStore: Sendable {
    /// Whether a file written at a temporary path by another writer (Parquet) must be fsynced before `publish`.
    var syncsTemporaryFiles: Bool { get }

    /// Creates a folder and its parents (where folders exist).
    func makeFolder(_ path: String) throws

    /// The names in a folder (empty when it does not exist).
    func list(_ folder: String) -> [String]

    /// Whether a file or folder is at `path`.
    func exists(_ path: String) -> Bool

    /// The whole file, or nil when it does not exist.
    func read(_ path: String) throws -> [UInt8]?

    /// The hidden temporary path a file to be published as `path` is written at.
    func temporaryPath(for path: String) -> String

    /// Writes `bytes` as a new file at the temporary path `temporary` (replacing it).
    func writeTemporary(_ bytes: [UInt8], at temporary: String) throws

    /// Publishes the whole file at `temporary` as `path`, replacing a file of that name, durably.
    func publish(_ temporary: String, as path: String) throws

    /// Publishes the file at `temporary` as `path` only if that name is free. Returns false, publishing nothing and
    /// removing the temporary file, when `path` exists: the put-if-absent that makes a Delta commit atomic.
    func publishIfAbsent(_ temporary: String, as path: String) throws -> Bool

    /// Removes a file; one that does not exist is no error.
    func remove(_ path: String)
}

extension ObjectStore {
    /// Writes `bytes` at the temporary path of `path` and publishes it: readers see the old file or the whole new one.
    public func replace(_ path: String, with bytes: [UInt8]) throws {
        let temporary = temporaryPath(for: path)
        try writeTemporary(bytes, at: temporary)
        try publish(temporary, as: path)
    }
}

/// Files in a local directory with the durability the file sinks rely on (when `sync`): data is fsynced before
/// it is named, names are fsynced in their directory, and a commit file is created only if its name is free.
public struct LocalObjectStore: ObjectStore {
    /// Whether files and directories are fsynced (off only for tests).
    public let sync: Bool

    /// A store that fsyncs what it writes when `sync`.
    public init(sync: Bool) {
        self.sync = sync
    }

    public var syncsTemporaryFiles: Bool { sync }

    /// Creates the folder and missing parents; when `sync`, fsyncs each parent whose entries changed, so the new
    /// folders survive a power loss along with the files later published into them.
    public func makeFolder(_ path: String) throws {
        let manager = FileManager.default
        var missing: [String] = []
        var current = path
        while !current.isEmpty, current != "/", !manager.fileExists(atPath: current) {
            missing.append(current)
            current = (current as NSString).deletingLastPathComponent
        }
        guard !missing.isEmpty else { return }
        do {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw SluiceError(
                .sink, "cannot create the directory \(path)", hint: "check the path and its permissions",
                underlying: error)
        }
        for created in missing {
            try syncDirectory(of: created)
        }
    }

    public func list(_ folder: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    }

    public func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    public func read(_ path: String) throws -> [UInt8]? {
        guard exists(path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SluiceError(.sink, "cannot read \(path)", hint: "check the file's permissions")
        }
        return [UInt8](data)
    }

    public func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".tmp").path
    }

    public func writeTemporary(_ bytes: [UInt8], at temporary: String) throws {
        try write(bytes, to: temporary, flags: O_TRUNC, opening: "cannot create")
    }

    /// Renames the file and fsyncs the directory so the new name survives a power loss.
    public func publish(_ temporary: String, as path: String) throws {
        #if canImport(Glibc)
            let result = Glibc.rename(temporary, path)
        #else
            let result = Darwin.rename(temporary, path)
        #endif
        guard result == 0 else {
            throw failure("cannot rename \(temporary) to \(path)", hint: "check the directory's permissions")
        }
        try syncDirectory(of: path)
    }

    /// Hard-links the file to `path` (which fails if the name exists), then removes the temporary name.
    public func publishIfAbsent(_ temporary: String, as path: String) throws -> Bool {
        if link(temporary, path) != 0 {
            if errno == EEXIST {
                unlink(temporary)
                return false
            }
            throw failure("cannot create \(path)", hint: "the file system must support hard links")
        }
        unlink(temporary)
        try syncDirectory(of: path)
        return true
    }

    public func remove(_ path: String) {
        unlink(path)
    }

    // MARK: Local files only

    /// Appends bytes (whole lines, ending in a newline) to a file and fsyncs it. An object store has no append: a
    /// ledger kept there would be written as one object per entry.
    public func append(_ bytes: [UInt8], to path: String) throws {
        try write(bytes, to: path, flags: O_APPEND, opening: "cannot open")
    }

    /// Cuts a file to `length` bytes (to drop a torn last line).
    public func truncate(_ path: String, to length: Int64) throws {
        #if canImport(Glibc)
            let result = Glibc.truncate(path, off_t(length))
        #else
            let result = Darwin.truncate(path, off_t(length))
        #endif
        guard result == 0 else { throw failure("cannot truncate \(path)", hint: "check the file's permissions") }
    }

    private func write(_ bytes: [UInt8], to path: String, flags: Int32, opening: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | flags | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("\(opening) \(path)", hint: "check the directory's permissions") }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                #if canImport(Glibc)
                    Glibc.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                #else
                    Darwin.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                #endif
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw failure("writing \(path) failed", hint: "check free disk space") }
            written += count
        }
        if sync && fsync(descriptor) != 0 { throw failure("fsync of \(path) failed", hint: "check the disk") }
    }

    private func syncDirectory(of path: String) throws {
        guard sync else { return }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let descriptor = open(directory, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw failure("cannot open the directory \(directory)", hint: "check its permissions")
        }
        defer { close(descriptor) }
        if fsync(descriptor) != 0 {
            throw failure("fsync of the directory \(directory) failed", hint: "check the disk")
        }
    }

    private func failure(_ message: String, hint: String) -> SluiceError {
        SluiceError(.sink, message + ": " + String(cString: strerror(errno)), hint: hint)
    }
}
