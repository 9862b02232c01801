import CZlib

/// CRC-32 with zlib's polynomial (the checksum of gzip, zlib and MySQL binlog events).
public enum CRC32 {
    /// Continues `crc` (0 to start) over `bytes`.
    @inlinable
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return crc }
        return UInt32(CZlib.crc32(uLong(crc), base.assumingMemoryBound(to: Bytef.self), uInt(bytes.count)))
    }
}

/// CRC-32C (Castagnoli, the checksum of Kafka record batches and of the log's chunks).
///
/// Uses the CPU's CRC-32C instruction when there is one (SSE 4.2, ARMv8 CRC), else slicing-by-8 tables.
public enum CRC32C {
    /// The plain CRC-32C of `bytes` ("123456789" gives 0xE3069283).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, hardware: Bool = hardwareAvailable) -> UInt32 {
        ~(hardware ? sluice_crc32c_hardware_update(0xFFFF_FFFF, bytes.baseAddress, bytes.count)
            : softwareUpdate(0xFFFF_FFFF, bytes))
    }

    /// True when this CPU computes CRC-32C in hardware.
    public static let hardwareAvailable = sluice_crc32c_hardware_available() != 0

    /// Continues a running CRC over `bytes`: start with 0xFFFFFFFF and invert the result to finish.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard !bytes.isEmpty else { return crc }
        return hardwareAvailable
            ? sluice_crc32c_hardware_update(crc, bytes.baseAddress, bytes.count) : softwareUpdate(crc, bytes)
    }

    /// Slicing-by-8: eight table lookups per 8 input bytes.
    static func softwareUpdate(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard var pointer = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return crc }
        var remaining = bytes.count
        var crc = crc
        crc32cTable.withUnsafeBufferPointer { table in
            while remaining >= 8 {
                let low =
                    crc
                    ^ (UInt32(pointer[0]) | UInt32(pointer[1]) << 8 | UInt32(pointer[2]) << 16
                        | UInt32(pointer[3]) << 24)
                let high =
                    UInt32(pointer[4]) | UInt32(pointer[5]) << 8 | UInt32(pointer[6]) << 16 | UInt32(pointer[7]) << 24
                crc =
                    table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
                pointer += 8
                remaining -= 8
            }
            while remaining > 0 {
                crc = table[Int((crc ^ UInt32(pointer[0])) & 0xFF)] ^ (crc >> 8)
                pointer += 1
                remaining -= 1
            }
        }
        return crc
    }
}

/// Eight 256-entry tables for the reflected CRC-32C polynomial 0x82F63B78; table 0 is the byte-at-a-time table.
private let crc32cTable: [UInt32] = {
    var table = [UInt32](repeating: 0, count: 8 * 256)
    for byte in 0..<256 {
        var crc = UInt32(byte)
        for _ in 0..<8 {
            crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
        }
        table[byte] = crc
    }
    for slice in 1..<8 {
        for byte in 0..<256 {
            let previous = table[(slice - 1) * 256 + byte]
            table[slice * 256 + byte] = table[Int(previous & 0xFF)] ^ (previous >> 8)
        }
    }
    return table
}()
