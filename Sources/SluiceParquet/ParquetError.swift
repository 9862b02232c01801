/// An error from writing or inspecting a Parquet file: what failed, on which column or file, and what to do.
public struct ParquetError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable {
        /// The schema cannot be written (bad decimal precision, empty name, duplicate column, nested list …).
        case invalidSchema
        /// A value does not fit its column (wrong physical kind, out of range, null in a required column …).
        case invalidValue
        /// A batch does not match the schema (column count, row counts).
        case batchMismatch
        /// A compression library reported an error.
        case compressionFailed
        /// Reading or writing the file failed.
        case io
        /// A footer or page header could not be decoded.
        case corruptMetadata
        /// The writer was used after `close()` or after an earlier write failed.
        case writerClosed
    }

    /// The kind of failure.
    public var code: Code
    /// What failed and what to do about it; never contains row values.
    public var message: String
    /// The column involved, if any.
    public var column: String?
    /// The row involved (zero-based within the batch), if any.
    public var row: Int?
    /// The operating-system error number for `.io` failures.
    public var errno: Int32?

    public init(code: Code, message: String, column: String? = nil, row: Int? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.column = column
        self.row = row
        self.errno = errno
    }

    public var description: String {
        var text = "parquet \(code.rawValue)"
        if let column {
            text += " (column \"\(column)\""
            if let row {
                text += ", row \(row)"
            }
            text += ")"
        }
        text += ": \(message)"
        if let errno {
            text += " [errno \(errno)]"
        }
        return text
    }
}
