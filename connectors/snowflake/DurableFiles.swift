import Foundation
import SluiceCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Shared by the Snowflake-style and the Databricks-style sinks (connectors/databricks links to this file).

/// File operations with the durability the staging sinks rely on: data is fsynced before it is named, names are
/// fsynced in their directory, and a commit file is created only if its name is free.
enum DurableFiles {
    /// Creates a directory and its parents.
    static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw SluiceError(
                .sink, "cannot create the directory \(path)", hint: "check the path and its permissions",
                underlying: error)
        }
    }

    /// The names in a directory (empty when it does not exist).
    static func list(_ directory: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    }

    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    /// The size of a file in bytes, or nil when it does not exist.
    static func size(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    /// The whole file, or nil when it does not exist.
    static func read(_ path: String) throws -> [UInt8]? {
        guard exists(path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SluiceError(.sink, "cannot read \(path)", hint: "check the file's permissions")
        }
        return [UInt8](data)
    }

    /// Writes `bytes` to a new file at `path` (replacing it), fsyncing it when `sync`.
    static func write(_ bytes: [UInt8], to path: String, sync: Bool) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("cannot create \(path)", hint: "check the directory's permissions") }
        defer { close(descriptor) }
        try writeAll(bytes, to: descriptor, path: path)
        if sync && fsync(descriptor) != 0 { throw failure("fsync of \(path) failed", hint: "check the disk") }
    }

    /// Writes a file under a temporary name, fsyncs it, renames it over `path` and fsyncs the directory: readers
    /// see the old file or the whole new one.
    static func replaceAtomically(_ path: String, with bytes: [UInt8], sync: Bool) throws {
        let temporary = temporaryPath(for: path)
        try write(bytes, to: temporary, sync: sync)
        try rename(temporary, to: path, sync: sync)
    }

    /// The hidden temporary name used for `path` while it is written.
    static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".tmp").path
    }

    /// Renames a file and (when `sync`) fsyncs the target's directory so the new name survives a power loss.
    static func rename(_ source: String, to destination: String, sync: Bool) throws {
        #if canImport(Glibc)
            let result = Glibc.rename(source, destination)
        #else
            let result = Darwin.rename(source, destination)
        #endif
        guard result == 0 else {
            throw failure("cannot rename \(source) to \(destination)", hint: "check the directory's permissions")
        }
        if sync { try syncDirectory(URL(fileURLWithPath: destination).deletingLastPathComponent().path) }
    }

    /// Gives the fsynced file at `source` the name `destination` only if that name is free (hard link, then the
    /// temporary name is removed). Returns false, changing nothing, when `destination` exists: the put-if-absent
    /// that makes a Delta commit atomic.
    static func linkIfAbsent(_ source: String, to destination: String, sync: Bool) throws -> Bool {
        if link(source, destination) != 0 {
            if errno == EEXIST {
                unlink(source)
                return false
            }
            throw failure("cannot create \(destination)", hint: "the file system must support hard links")
        }
        unlink(source)
        if sync { try syncDirectory(URL(fileURLWithPath: destination).deletingLastPathComponent().path) }
        return true
    }

    static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("cannot open the directory \(path)", hint: "check its permissions") }
        defer { close(descriptor) }
        if fsync(descriptor) != 0 { throw failure("fsync of the directory \(path) failed", hint: "check the disk") }
    }

    static func remove(_ path: String) {
        unlink(path)
    }

    /// Appends a line to a file and fsyncs it (when `sync`); the line must end in a newline.
    static func append(_ bytes: [UInt8], to path: String, sync: Bool) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("cannot open \(path)", hint: "check the directory's permissions") }
        defer { close(descriptor) }
        try writeAll(bytes, to: descriptor, path: path)
        if sync && fsync(descriptor) != 0 { throw failure("fsync of \(path) failed", hint: "check the disk") }
    }

    /// Cuts a file to `length` bytes (to drop a torn last line).
    static func truncate(_ path: String, to length: Int64) throws {
        #if canImport(Glibc)
            let result = Glibc.truncate(path, off_t(length))
        #else
            let result = Darwin.truncate(path, off_t(length))
        #endif
        guard result == 0 else { throw failure("cannot truncate \(path)", hint: "check the file's permissions") }
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws {
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
    }

    private static func failure(_ message: String, hint: String) -> SluiceError {
        SluiceError(.sink, message + ": " + String(cString: strerror(errno)), hint: hint)
    }
}

/// A crash injected at a named step of a sink's commit protocol, for the recovery tests.
///
/// `SLUICE_STAGING_CRASH_AT=<step>` in the environment makes the process SIGKILL itself at that step (the
/// `count`-th time it is reached with `SLUICE_STAGING_CRASH_AFTER=<count>`, default 1). Tests in the same process
/// bind `CrashPoints.injected` (a task-local, so concurrent tests do not see it) to throw instead.
enum CrashPoints {
    struct InjectedFailure: Error, CustomStringConvertible {
        var step: String
        var description: String { "injected failure at \(step)" }
    }

    /// A step to fail at once, after passing it `countdown` times.
    final class Injection: @unchecked Sendable {
        let step: String
        private let lock = NSLock()
        private var countdown: Int
        private var fired = false

        init(step: String, countdown: Int) {
            self.step = step
            self.countdown = countdown
        }

        /// True when the step is reached for the failing time.
        func reach() -> Bool {
            lock.withLock {
                if fired { return false }
                if countdown > 0 {
                    countdown -= 1
                    return false
                }
                fired = true
                return true
            }
        }
    }

    @TaskLocal static var injected: Injection?
    private static let environmentStep = ProcessInfo.processInfo.environment["SLUICE_STAGING_CRASH_AT"]
    private static let environmentInjection = environmentStep.map {
        Injection(
            step: $0,
            countdown: max(0, (Int(ProcessInfo.processInfo.environment["SLUICE_STAGING_CRASH_AFTER"] ?? "") ?? 1) - 1))
    }

    /// Fails here when this step is the one chosen.
    static func check(_ step: String) throws {
        if let injected, injected.step == step, injected.reach() {
            throw InjectedFailure(step: step)
        }
        if let environmentInjection, environmentInjection.step == step, environmentInjection.reach() {
            kill(getpid(), SIGKILL)
        }
    }
}
