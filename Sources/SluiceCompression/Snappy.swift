import CSnappy

/// Snappy raw blocks (not the framing format).
public enum Snappy {
    /// Appends the compressed form of `input` to `output`.
    public static func compress(_ input: [UInt8], appendingTo output: inout [UInt8]) throws(CompressionError) {
        try withBytes(of: input) { (source) throws(CompressionError) in
            try output.append(capacity: snappy_max_compressed_length(source.count)) {
                (destination) throws(CompressionError) -> Int in
                var length = destination.count
                let status = snappy_compress(
                    source.baseAddress?.assumingMemoryBound(to: CChar.self), source.count,
                    destination.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
                guard status == SNAPPY_OK else {
                    throw CompressionError(.snappy, "compressing failed (status \(status.rawValue))")
                }
                return length
            }
        }
    }

    /// Decompresses a block whose content is exactly `exactSize` bytes (as the container says); fails otherwise.
    public static func decompress(_ input: UnsafeRawBufferPointer, exactSize: Int) throws(CompressionError)
        -> [UInt8]
    {
        let size = try uncompressedLength(input)
        guard size == exactSize else { throw .wrongSize(.snappy, produced: size, expected: exactSize) }
        return try decompress(input, size: size)
    }

    /// Decompresses a block of at most `limit` bytes of content.
    public static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws(CompressionError) -> [UInt8] {
        let size = try uncompressedLength(input)
        guard size <= limit else { throw .tooLarge(.snappy, limit: limit) }
        return try decompress(input, size: size)
    }

    private static func uncompressedLength(_ input: UnsafeRawBufferPointer) throws(CompressionError) -> Int {
        var size = 0
        guard
            snappy_uncompressed_length(input.baseAddress?.assumingMemoryBound(to: CChar.self), input.count, &size)
                == SNAPPY_OK
        else {
            throw CompressionError(.snappy, "decompressing: the block does not start with a valid length")
        }
        return size
    }

    private static func decompress(_ input: UnsafeRawBufferPointer, size: Int) throws(CompressionError) -> [UInt8] {
        var output: [UInt8] = []
        try output.append(capacity: size) { (buffer) throws(CompressionError) -> Int in
            var length = buffer.count
            let status = snappy_uncompress(
                input.baseAddress?.assumingMemoryBound(to: CChar.self), input.count,
                buffer.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
            guard status == SNAPPY_OK else {
                throw CompressionError(.snappy, "decompressing failed (status \(status.rawValue)); the block is damaged")
            }
            guard length == size else { throw .wrongSize(.snappy, produced: length, expected: size) }
            return length
        }
        return output
    }
}
