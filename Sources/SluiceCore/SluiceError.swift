/// An error that knows whether the same operation may succeed when retried (a dropped connection, a full disk), so
/// the runtime can tell what to retry from what to report at once without knowing each library's errors.
public protocol RetryableError: Error {
    var isTransient: Bool { get }
}

/// An error a user can act on: what failed, where (config key, table, source position), and what to do.
///
/// Never put row values or secrets in `message`.
public struct SluiceError: RetryableError, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The pipeline file or a connector's settings are wrong (exit code 2).
        case invalidConfiguration = "invalid configuration"
        /// The source database is set up wrongly or refused us (privileges, wal_level, …).
        case sourceSetup = "source setup"
        /// A connection dropped or timed out: worth retrying.
        case connection
        /// Data that could not be decoded (a bad row, an unknown type, a damaged event).
        case decoding
        /// The core log failed.
        case log
        /// A sink failed to write or commit.
        case sink
        /// Something that should not happen.
        case `internal`
    }

    public var code: Code
    public var message: String
    /// Where it happened: a config key path and line, a table and source position.
    public var location: String?
    /// What the user should do about it.
    public var hint: String?
    /// Transient errors are retried with backoff by the runtime.
    public var isTransient: Bool
    public var underlying: (any Error)?

    public init(
        _ code: Code, _ message: String, location: String? = nil, hint: String? = nil, isTransient: Bool = false,
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.location = location
        self.hint = hint
        self.isTransient = isTransient
        self.underlying = underlying
    }

    public var description: String {
        var text = message
        if let location { text += " (at \(location))" }
        if let underlying { text += ": \(underlying)" }
        if let hint { text += ". \(hint)" }
        return text
    }
}
