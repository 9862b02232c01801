import Foundation
import SluiceCore
import SluiceLog

/// Opens the core log a pipeline is configured with.
public enum LogFactory {
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
