import Foundation
import SluiceCore
import SluiceLog

/// Opens the core log a pipeline is configured with.
public enum LogFactory {
    /// Opens an existing log for commands that only read it (`log read`, `log streams`, `audit`): a mistyped path
    /// is an error, not a new empty log.
    public static func openExisting(_ settings: LogSettings) throws -> any ChangeLog {
        if settings.backend == "sqlite" && !FileManager.default.fileExists(atPath: settings.path) {
            throw SluiceError(.invalidConfiguration, "the log \(settings.path) does not exist", location: "log.path",
                              hint: "check log.path in the pipeline file, or run the pipeline first")
        }
        return try open(settings)
    }

    /// Opens (creating when missing) the pipeline's log.
    public static func open(_ settings: LogSettings) throws -> any ChangeLog {
        switch settings.backend {
        case "sqlite":
            let directory = (settings.path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            return try SQLiteChangeLog(path: settings.path, syncPolicy: settings.sync)
        default:
            throw SluiceError(.invalidConfiguration, "log backend '\(settings.backend)' is not available in this build",
                              location: "log.backend", hint: "use backend: sqlite")
        }
    }
}
