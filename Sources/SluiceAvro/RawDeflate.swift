import SluiceCompression

/// Raw DEFLATE (RFC 1951, no zlib or gzip wrapper), as Avro's `deflate` codec requires.
public enum RawDeflate {
    /// The most bytes one block may decompress to (Avro blocks are far smaller; this stops a damaged or hostile
    /// block from allocating without limit).
    public static let maxDecompressedBlockBytes = 1 << 30

    /// Compresses `input` at `level` (zlib's 0–9, -1 for its default).
    public static func compress(_ input: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        do {
            return try Deflater.compress(input, format: .raw, level: level)
        } catch {
            throw AvroError(.compression, "\(error)")
        }
    }

    /// Decompresses raw DEFLATE data of at most `limit` bytes.
    public static func decompress(_ input: [UInt8], limit: Int = maxDecompressedBlockBytes) throws -> [UInt8] {
        do {
            return try input.withUnsafeBytes { bytes throws(CompressionError) in
                try Inflater.decompress(bytes, format: .raw, limit: limit)
            }
        } catch {
            throw AvroError(.compression, "\(error); the block is damaged or the file is truncated")
        }
    }
}
