import Foundation
import SluiceCore

#if canImport(Glibc)
import Glibc
#endif

/// The one-runner-per-pipeline lock: `sluice run` and `sluice serve` hold it while they run a pipeline, so that a
/// second runner of the same pipeline is refused at once instead of fighting the first over the source's slot or
/// binlog stream and the sinks' files. Readers (`mcp`, `status`, `log read`, `audit`, `snapshot`) never take it.
///
/// An `flock` on `<log path>.runner.lock`: the kernel releases it when the process ends, however it ends (SIGKILL
/// too), so a crashed runner never leaves a stale lock. The file holds the holder's pid, for the error message.
public final class RunnerLock: Sendable {
    private let descriptor: Int32
    public let path: String

    /// Takes the lock of the pipeline whose log is `settings`; throws naming the running holder when it is taken.
    public static func acquire(_ settings: LogSettings, pipeline: String) throws -> RunnerLock {
        let path = settings.path + ".runner.lock"
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw SluiceError(.log, "cannot open the runner lock \(path): \(String(cString: strerror(errno)))",
                              location: "log.path", hint: "check that the log's folder is writable")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw SluiceError(
                .invalidConfiguration,
                "pipeline '\(pipeline)' is already running\(holder.map { $0.isEmpty ? "" : " (pid \($0))" } ?? "")",
                location: path,
                hint: "stop that runner first; `sluice mcp`, `sluice status` and `sluice log read` work beside it")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
        return RunnerLock(descriptor: descriptor, path: path)
    }

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }  // releases the flock
}
