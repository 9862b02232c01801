// SluiceCompression: the one Swift wrapper around zstd, zlib (zlib, gzip and raw deflate) and Snappy, with the
// CRC-32 and CRC-32C checksums beside them; the log, Parquet, Avro, the Iceberg reader and the MySQL binlog use it.

/// A compression or decompression that failed: which codec, and why (never the data itself).
///
/// Decompression takes a bound on its output (`limit`, or the exact size the container promises), so damaged or
/// hostile input fails with this error instead of allocating without limit.
public struct CompressionError: Error, Sendable, CustomStringConvertible {
    /// The codec that failed.
    public enum Codec: String, Sendable {
        case zstd
        case zlib
        case gzip
        case rawDeflate = "raw deflate"
        case snappy
    }

    public var codec: Codec
    /// What failed ("decompressing: Unknown frame descriptor").
    public var reason: String

    public init(_ codec: Codec, _ reason: String) {
        self.codec = codec
        self.reason = reason
    }

    public var description: String { "\(codec.rawValue) \(reason)" }

    static func tooLarge(_ codec: Codec, limit: Int) -> CompressionError {
        CompressionError(codec, "decompressing: the content is larger than the allowed \(limit) bytes")
    }

    static func wrongSize(_ codec: Codec, produced: Int, expected: Int) -> CompressionError {
        CompressionError(codec, "decompressing: \(produced) bytes where \(expected) were expected")
    }
}

extension Array where Element == UInt8 {
    /// Appends `capacity` bytes, lets `write` fill a prefix of them and returns its count, then drops the rest
    /// (all of them when `write` throws).
    mutating func append<Failure: Error>(
        capacity: Int, _ write: (UnsafeMutableRawBufferPointer) throws(Failure) -> Int
    ) throws(Failure) {
        let start = count
        append(contentsOf: repeatElement(0, count: capacity))
        let result = withUnsafeMutableBytes { bytes in
            Result { () throws(Failure) -> Int in
                try write(UnsafeMutableRawBufferPointer(rebasing: bytes[start...]))
            }
        }
        switch result {
        case .success(let written):
            removeSubrange((start + written)...)
        case .failure(let error):
            removeSubrange(start...)
            throw error
        }
    }
}

/// `array.withUnsafeBytes(body)` keeping `body`'s error type (`withUnsafeBytes` rethrows untyped errors).
@inline(__always)
func withBytes<Value>(
    of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(CompressionError) -> Value
) throws(CompressionError) -> Value {
    try array.withUnsafeBytes { bytes in
        Result { () throws(CompressionError) -> Value in try body(bytes) }
    }.get()
}
