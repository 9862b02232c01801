/// CRC-32C (Castagnoli, the checksum of Kafka record batches) over one stored record.
///
/// The checksum covers every field the log returns for the record: its offset, source timestamp, append time,
/// key, payload and source position. Variable-length fields are preceded by a presence flag and their length,
/// so moving bytes from one field to the next changes the checksum.
struct RecordChecksum {
    private var state: UInt32 = 0xFFFF_FFFF

    /// The checksum of one record, as stored in the `checksum` column.
    static func of(
        offset: Int64, sourceTime: Int64, appendedAt: Int64, key: [UInt8]?, payload: [UInt8],
        positionKey: [UInt8]?, positionText: String?
    ) -> UInt32 {
        var checksum = RecordChecksum()
        checksum.update(offset)
        checksum.update(sourceTime)
        checksum.update(appendedAt)
        checksum.update(field: key)
        checksum.update(field: payload)
        checksum.update(field: positionKey)
        checksum.update(text: positionText)
        return ~checksum.state
    }

    /// Mixes in a length-prefixed field; `-1` stands for an absent (nil) field.
    private mutating func update(field: [UInt8]?) {
        guard let field else {
            update(-1)
            return
        }
        update(Int64(field.count))
        field.withUnsafeBufferPointer { update(bytes: $0) }
    }

    /// Mixes in length-prefixed UTF-8 text; `-1` stands for absent (nil) text.
    private mutating func update(text: String?) {
        guard var text else {
            update(-1)
            return
        }
        update(Int64(text.utf8.count))
        text.withUTF8 { update(bytes: $0) }
    }

    /// Mixes in an integer as 8 little-endian bytes.
    private mutating func update(_ value: Int64) {
        let bits = UInt64(bitPattern: value)
        crc32cTable.withUnsafeBufferPointer { table in
            state = RecordChecksum.update(state, low: UInt32(truncatingIfNeeded: bits), high: UInt32(bits >> 32), table)
        }
    }

    /// One slicing-by-8 step: the CRC after 8 bytes given as two little-endian words.
    @inline(__always)
    private static func update(_ crc: UInt32, low: UInt32, high: UInt32, _ table: UnsafeBufferPointer<UInt32>) -> UInt32
    {
        let low = crc ^ low
        return table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
            ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
            ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
            ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
    }

    /// Slicing-by-8: eight table lookups per 8 input bytes.
    private mutating func update(bytes: UnsafeBufferPointer<UInt8>) {
        guard var pointer = bytes.baseAddress else { return }
        var remaining = bytes.count
        var crc = state
        crc32cTable.withUnsafeBufferPointer { table in
            while remaining >= 8 {
                let low =
                    UInt32(pointer[0]) | UInt32(pointer[1]) << 8 | UInt32(pointer[2]) << 16
                    | UInt32(pointer[3]) << 24
                let high =
                    UInt32(pointer[4]) | UInt32(pointer[5]) << 8 | UInt32(pointer[6]) << 16
                    | UInt32(pointer[7]) << 24
                crc = RecordChecksum.update(crc, low: low, high: high, table)
                pointer += 8
                remaining -= 8
            }
            while remaining > 0 {
                crc = table[Int((crc ^ UInt32(pointer[0])) & 0xFF)] ^ (crc >> 8)
                pointer += 1
                remaining -= 1
            }
        }
        state = crc
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
