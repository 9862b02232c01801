/// A failure reading or writing Avro data: what failed and, where it helps, what to do.
public struct AvroError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A schema is malformed or uses something this implementation does not support.
        case invalidSchema = "invalid schema"
        /// A value does not fit its schema.
        case valueMismatch = "value does not match schema"
        /// The bytes are not a valid Avro container file or binary datum.
        case corruptData = "corrupt data"
        /// The file names a codec this implementation does not support.
        case unsupportedCodec = "unsupported codec"
        /// Compressing or decompressing a block failed.
        case compression
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "Avro \(code.rawValue): \(message)" }
}
