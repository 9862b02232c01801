import CZlib

/// Raw DEFLATE (RFC 1951, no zlib or gzip wrapper), as Avro's `deflate` codec requires.
public enum RawDeflate {
    /// Compresses `input` at `level` (zlib's 0–9, -1 for its default).
    public static func compress(_ input: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        var stream = z_stream()
        guard czlib_deflate_init2(&stream, level, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK else {
            throw AvroError(.compression, "deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 16)
        var input = input
        let status: Int32 = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw AvroError(.compression, "deflate failed with status \(status)") }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }

    /// Decompresses raw DEFLATE data.
    public static func decompress(_ input: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw AvroError(.compression, "inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: max(64 * 1024, input.count * 4))
        var input = input
        try input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            while true {
                let (status, produced): (Int32, Int) = chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, target.count - Int(stream.avail_out))
                }
                output.append(contentsOf: chunk[..<produced])
                if status == Z_STREAM_END { return }
                guard status == Z_OK else {
                    throw AvroError(.compression, "inflate failed with status \(status); the block is damaged")
                }
                if produced == 0 && stream.avail_in == 0 {
                    throw AvroError(.compression, "deflate data ends before its last block; the file is truncated")
                }
            }
        }
        return output
    }
}
