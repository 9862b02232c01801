import SluiceSQLite

extension SQLiteConnection {
    /// Opens (and, when `create` is set, creates) the log database at `path`; its failures are `LogError`s.
    convenience init(path: String, create: Bool) throws {
        try self.init(path: path, mode: create ? .readWriteCreate : .readWrite, makeError: LogError.init(sqlite:))
    }
}

extension LogError {
    /// The log's error for a failed SQLite call, saying what the log was doing and what to do about it.
    init(sqlite failure: SQLiteFailure) {
        let path = failure.path
        switch failure.kind {
        case .closed:
            self = LogError.closedLog
            return
        case .open:
            self.init(
                code: .cannotOpen,
                message: "cannot open log at \(path): check that the directory exists and is writable",
                sqliteMessage: failure.message,
                sqliteCode: failure.status
            )
            return
        case .prepare, .execute, .bind, .step:
            break
        }
        let activity = failure.kind == .prepare ? "preparing a statement of the log schema" : failure.activity
        let advice: String
        switch failure.code {
        case .full:
            advice = "free disk space on the volume holding \(path), or apply retention, then retry"
        case .busy, .locked:
            advice = "another process is writing to \(path); run one Sluice process per log file"
        case .corrupt, .notADatabase:
            advice = "\(path) is damaged or not a Sluice log; restore it from a backup"
        case .readOnly, .permission, .cannotOpen:
            advice = "check that \(path) and its directory are writable by this process"
        case .ioError:
            advice = "the disk holding \(path) reported an I/O error; check the volume and the system log"
        case .tooBig:
            advice = "a record is larger than SQLite accepts (1 GB); split it before appending"
        default:
            advice = "see the SQLite message; the log at \(path) was left unchanged by this call"
        }
        self.init(
            code: failure.code == .notADatabase ? .incompatibleFile : .storageFailure,
            message: "\(activity) failed: \(advice)",
            sqliteMessage: failure.message,
            sqliteCode: failure.status
        )
    }
}
