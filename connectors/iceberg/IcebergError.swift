/// A failure of the Iceberg sink, catalog or table maintenance: what failed and what to do.
public struct IcebergError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Another writer committed first; reload and retry.
        case commitConflict = "commit conflict"
        /// The table metadata or a manifest cannot be read.
        case corruptMetadata = "corrupt metadata"
        /// The table uses something Sluice cannot write (a type, a transform, equality deletes in a scan).
        case unsupported
        /// The table or namespace does not exist.
        case notFound = "not found"
        /// A file or catalog database failed.
        case io = "I/O"
        /// A schema change cannot be applied to the table (an incompatible type change).
        case incompatibleSchema = "incompatible schema change"
        /// The sink's configuration is wrong.
        case invalidConfiguration = "invalid configuration"
    }

    public var code: Code
    public var message: String
    public var hint: String?

    public init(_ code: Code, _ message: String, hint: String? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
    }

    public var description: String {
        "Iceberg \(code.rawValue): \(message)" + (hint.map { ". \($0)" } ?? "")
    }
}
