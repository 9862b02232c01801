import SluiceCompression

/// CRC-32C (Castagnoli, the checksum of Kafka record batches) over one stored chunk.
///
/// The checksum covers the chunk's encoded records and the header columns a reader needs to interpret them: its
/// first and last offset, record count and append time (each as 8 little-endian bytes, in that order, before the
/// records). The other columns of a chunk row (payload bytes, source time and position bounds) only guide seeks and
/// retention, and are recomputed from the records whenever a chunk is rewritten.
///
/// The CRC itself is SluiceCompression's `CRC32C` (the CPU's instruction when there is one).
enum ChunkChecksum {
    /// The checksum of one chunk, as stored in its `checksum` column.
    static func of(
        baseOffset: Int64, lastOffset: Int64, recordCount: Int64, appendedAt: Int64, records: UnsafeRawBufferPointer
    ) -> UInt32 {
        var header = (
            baseOffset.littleEndian, lastOffset.littleEndian, recordCount.littleEndian, appendedAt.littleEndian
        )
        var crc: UInt32 = 0xFFFF_FFFF
        withUnsafeBytes(of: &header) { crc = CRC32C.update(crc, $0) }
        crc = CRC32C.update(crc, records)
        return ~crc
    }

    /// The plain CRC-32C of `bytes` (for tests: "123456789" gives 0xE3069283).
    static func crc32c(_ bytes: UnsafeRawBufferPointer, hardware: Bool = hardwareAvailable) -> UInt32 {
        CRC32C.checksum(bytes, hardware: hardware)
    }

    /// True when this CPU computes CRC-32C in hardware.
    static var hardwareAvailable: Bool { CRC32C.hardwareAvailable }
}
