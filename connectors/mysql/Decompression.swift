import SluiceCompression

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
        let dataStart = start + 1 + lengthBytes
        do {
            return try bytes.withUnsafeBytes { buffer throws(CompressionError) in
                try Inflater.decompress(
                    UnsafeRawBufferPointer(rebasing: buffer[dataStart..<end]), format: .zlib, exactSize: length)
            }
        } catch {
            throw BinlogFormatError("compressed block of \(length) bytes: \(error)")
        }
    }

    /// The most bytes a TRANSACTION_PAYLOAD event may decompress to.
    static let maxTransactionPayloadBytes = 1 << 32

    /// Decompresses a zstd frame of a TRANSACTION_PAYLOAD event (of `expectedSize` bytes when the event says).
    static func zstd(_ bytes: [UInt8], from start: Int, to end: Int, expectedSize: Int?) throws -> [UInt8] {
        if let expectedSize, expectedSize > maxTransactionPayloadBytes {
            throw BinlogFormatError("transaction payload claims \(expectedSize) bytes uncompressed")
        }
        do {
            return try bytes.withUnsafeBytes { buffer throws(CompressionError) in
                let frame = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
                if let expectedSize {
                    return try Zstd.decompress(frame, exactSize: expectedSize)
                }
                return try Zstd.decompress(frame, limit: maxTransactionPayloadBytes)
            }
        } catch {
            throw BinlogFormatError("transaction payload: \(error)")
        }
    }

    /// CRC32 (zlib polynomial) of `bytes[start..<end]`, optionally with the byte at `clearBitAt` having bit 0
    /// cleared (a format description written while its file was in use).
    static func crc32(_ bytes: [UInt8], from start: Int, to end: Int, clearingInUseFlagAt flagIndex: Int? = nil) -> UInt32 {
        bytes.withUnsafeBytes { buffer in
            guard let flagIndex, flagIndex >= start, flagIndex < end else {
                return CRC32.update(0, UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
            }
            var crc = CRC32.update(0, UnsafeRawBufferPointer(rebasing: buffer[start..<flagIndex]))
            let flag = bytes[flagIndex] & 0xFE
            crc = withUnsafeBytes(of: flag) { CRC32.update(crc, $0) }
            return CRC32.update(crc, UnsafeRawBufferPointer(rebasing: buffer[(flagIndex + 1)..<end]))
        }
    }
}
