import SluiceCore

/// A failure of the core log: what failed, what to do about it, and SQLite's own words when SQLite reported it.
///
/// `description` never contains record keys, payloads or state values.
public struct LogError: RetryableError, CustomStringConvertible, Sendable {
    /// What kind of failure this is; match on it, not on the message.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String

        private init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        /// The database file could not be opened or configured.
        public static let cannotOpen = Code("cannotOpen")
        /// The file is not a Sluice log, or was written by a newer version.
        public static let incompatibleFile = Code("incompatibleFile")
        /// Stored records (a chunk: the records of one append) do not match their checksum: the file is damaged.
        public static let checksumMismatch = Code("checksumMismatch")
        /// The stored records do not add up to what the streams say (records removed or offsets changed outside
        /// Sluice): the log is refused rather than read with a gap.
        public static let inconsistent = Code("inconsistent")
        /// The log was closed; no further calls are possible.
        public static let closed = Code("closed")
        /// The caller passed a value the log cannot store (an empty stream name, a negative offset).
        public static let invalidArgument = Code("invalidArgument")
        /// SQLite failed to read or write (disk full, I/O error, database locked by another process).
        public static let storageFailure = Code("storageFailure")

        public var description: String { rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What failed and what to do about it.
    public var message: String
    /// SQLite's error text, when SQLite reported the failure.
    public var sqliteMessage: String?
    /// SQLite's extended result code, when SQLite reported the failure.
    public var sqliteCode: Int32?

    public init(code: Code, message: String, sqliteMessage: String? = nil, sqliteCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.sqliteMessage = sqliteMessage
        self.sqliteCode = sqliteCode
    }

    /// True for failures that may heal without a change to Sluice or its configuration: a full disk, an I/O error,
    /// a lock another process holds. Retrying the same write is safe: a failed write is rolled back whole.
    public var isTransient: Bool {
        guard code == .storageFailure, let sqliteCode else { return false }
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL (primary codes; extended codes keep them in the low byte).
        return [5, 6, 10, 13].contains(sqliteCode & 0xff)
    }

    public var description: String {
        var text = "SluiceLog \(code): \(message)"
        if let sqliteMessage {
            text += " (SQLite: \(sqliteMessage)"
            if let sqliteCode {
                text += ", code \(sqliteCode)"
            }
            text += ")"
        }
        return text
    }

    static let closedLog = LogError(
        code: .closed,
        message: "the log is closed; open a new SQLiteChangeLog to use it again"
    )
}
