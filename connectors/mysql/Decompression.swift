import CZlib
import CZstd

/// zlib and zstd for compressed binlog events, and the CRC32 of event checksums.
enum BinlogCompression {
    /// Inflates a MariaDB compressed block: `0x80 | n`, an n-byte big-endian uncompressed length, zlib data.
    static func inflateMariaDB(_ bytes: [UInt8], from start: Int, to end: Int) throws -> [UInt8] {
        guard start < end else { throw BinlogFormatError("empty compressed block") }
        let head = bytes[start]
        guard head & 0xE0 == 0x80 else { throw BinlogFormatError("compressed block header 0x\(String(head, radix: 16)) is not 0x8n") }
        let lengthBytes = Int(head & 0x07)
        guard lengthBytes >= 1, lengthBytes <= 4, start + 1 + lengthBytes <= end else {
            throw BinlogFormatError("compressed block length field of \(lengthBytes) bytes is invalid")
        }
        var length = 0
        for i in 0..<lengthBytes { length = length << 8 | Int(bytes[start + 1 + i]) }
        guard length <= 1 << 30 else { throw BinlogFormatError("compressed block claims \(length) bytes") }
        if length == 0 { return [] }
        var output = [UInt8](repeating: 0, count: length)
        var outputLength = uLongf(length)
        let dataStart = start + 1 + lengthBytes
        let status = output.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBufferPointer { input in
                uncompress(out.baseAddress, &outputLength, input.baseAddress! + dataStart, uLong(end - dataStart))
            }
        }
        guard status == Z_OK, Int(outputLength) == length else {
            throw BinlogFormatError("zlib inflate failed (status \(status), \(outputLength) of \(length) bytes)")
        }
        return output
    }

    /// Decompresses a zstd frame of a TRANSACTION_PAYLOAD event.
    static func zstd(_ bytes: [UInt8], from start: Int, to end: Int, expectedSize: Int?) throws -> [UInt8] {
        var size = expectedSize ?? 0
        if expectedSize == nil {
            let frameSize = bytes.withUnsafeBufferPointer { ZSTD_getFrameContentSize($0.baseAddress! + start, end - start) }
            guard frameSize < UInt64(1) << 40 else {
                return try zstdStream(bytes, from: start, to: end)
            }
            size = Int(frameSize)
        }
        guard size <= 1 << 32 else { throw BinlogFormatError("transaction payload claims \(size) bytes uncompressed") }
        var output = [UInt8](repeating: 0, count: max(size, 1))
        let written = output.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBufferPointer { input in
                ZSTD_decompress(out.baseAddress, size, input.baseAddress! + start, end - start)
            }
        }
        if ZSTD_isError(written) != 0 {
            throw BinlogFormatError("zstd decompression failed: \(String(cString: ZSTD_getErrorName(written)))")
        }
        output.removeLast(output.count - written)
        return output
    }

    private static func zstdStream(_ bytes: [UInt8], from start: Int, to end: Int) throws -> [UInt8] {
        guard let stream = ZSTD_createDStream() else { throw BinlogFormatError("zstd: out of memory") }
        defer { ZSTD_freeDStream(stream) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        try bytes.withUnsafeBufferPointer { input in
            var inBuffer = ZSTD_inBuffer(src: input.baseAddress! + start, size: end - start, pos: 0)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int, Int) in
                    var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                    let status = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                    return (status, outBuffer.pos)
                }
                if ZSTD_isError(status) != 0 {
                    throw BinlogFormatError("zstd decompression failed: \(String(cString: ZSTD_getErrorName(status)))")
                }
                result.append(contentsOf: chunk[0..<produced])
                if status == 0 || (inBuffer.pos == inBuffer.size && produced < chunk.count) { break }
            }
        }
        return result
    }

    /// CRC32 (zlib polynomial) of `bytes[start..<end]`, optionally with the byte at `clearBitAt` having bit 0
    /// cleared (a format description written while its file was in use).
    static func crc32(_ bytes: [UInt8], from start: Int, to end: Int, clearingInUseFlagAt flagIndex: Int? = nil) -> UInt32 {
        bytes.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress!
            guard let flagIndex, flagIndex >= start, flagIndex < end else {
                return UInt32(CZlib.crc32(0, base + start, uInt(end - start)))
            }
            var crc = CZlib.crc32(0, base + start, uInt(flagIndex - start))
            var flag = bytes[flagIndex] & 0xFE
            crc = CZlib.crc32(crc, &flag, 1)
            crc = CZlib.crc32(crc, base + flagIndex + 1, uInt(end - flagIndex - 1))
            return UInt32(crc)
        }
    }
}
