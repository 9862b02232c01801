/// The RLE / bit-packing hybrid encoding (Encodings.md) used for definition and repetition levels and for
/// dictionary indices.
///
/// Runs of at least eight equal values become RLE runs; everything else is bit-packed in groups of eight.
/// Bit-packed runs before an RLE run are kept a multiple of eight long by moving the run's first values into
/// them, so only the stream's last group is padded (readers stop after the number of values the page declares).
enum RLEBitPackedHybrid {
    /// The number of bits needed to store `maximum`.
    static func bitWidth(forMaximum maximum: UInt32) -> Int {
        maximum == 0 ? 0 : 32 - maximum.leadingZeroBitCount
    }

    /// Appends the encoding of `values` (each below 2^bitWidth) to `output`.
    static func encode<Value: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeBufferPointer<Value>, bitWidth: Int, into output: inout [UInt8]
    ) {
        let count = values.count
        var literalStart = 0
        var index = 0
        while index < count {
            let value = values[index]
            var runEnd = index + 1
            while runEnd < count && values[runEnd] == value {
                runEnd += 1
            }
            if runEnd - index >= 8 {
                let pendingLiterals = index - literalStart
                let runStart = index + (8 - pendingLiterals % 8) % 8
                if runEnd - runStart >= 8 {
                    if runStart > literalStart {
                        appendBitPacked(values, literalStart..<runStart, bitWidth: bitWidth, into: &output)
                    }
                    appendRepeated(UInt64(value), count: runEnd - runStart, bitWidth: bitWidth, into: &output)
                    literalStart = runEnd
                }
            }
            index = runEnd
        }
        if literalStart < count {
            appendBitPacked(values, literalStart..<count, bitWidth: bitWidth, into: &output)
        }
    }

    /// Appends levels with the 4-byte little-endian length prefix that data pages v1 use.
    static func encodeLengthPrefixed(_ levels: [UInt8], bitWidth: Int, into output: inout [UInt8]) {
        let lengthPosition = output.count
        output.append(contentsOf: [0, 0, 0, 0])
        levels.withUnsafeBufferPointer { encode($0, bitWidth: bitWidth, into: &output) }
        let length = UInt32(output.count - lengthPosition - 4)
        output[lengthPosition] = UInt8(truncatingIfNeeded: length)
        output[lengthPosition + 1] = UInt8(truncatingIfNeeded: length >> 8)
        output[lengthPosition + 2] = UInt8(truncatingIfNeeded: length >> 16)
        output[lengthPosition + 3] = UInt8(truncatingIfNeeded: length >> 24)
    }

    private static func appendRepeated(_ value: UInt64, count: Int, bitWidth: Int, into output: inout [UInt8]) {
        appendVarint(UInt64(count) << 1, into: &output)
        var remaining = value
        for _ in 0..<(bitWidth + 7) / 8 {
            output.append(UInt8(truncatingIfNeeded: remaining))
            remaining >>= 8
        }
    }

    private static func appendBitPacked<Value: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeBufferPointer<Value>, _ range: Range<Int>, bitWidth: Int, into output: inout [UInt8]
    ) {
        let groups = (range.count + 7) / 8
        appendVarint(UInt64(groups) << 1 | 1, into: &output)
        guard bitWidth > 0 else { return }
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: groups * bitWidth))
        output.withUnsafeMutableBufferPointer { buffer in
            var outputIndex = start
            var accumulator: UInt64 = 0
            var accumulatedBits = 0
            for index in range {
                accumulator |= UInt64(values[index]) << UInt64(accumulatedBits)
                accumulatedBits += bitWidth
                while accumulatedBits >= 8 {
                    buffer[outputIndex] = UInt8(truncatingIfNeeded: accumulator)
                    outputIndex += 1
                    accumulator >>= 8
                    accumulatedBits -= 8
                }
            }
            if accumulatedBits > 0 {
                buffer[outputIndex] = UInt8(truncatingIfNeeded: accumulator)
            }
        }
    }

    private static func appendVarint(_ value: UInt64, into output: inout [UInt8]) {
        var remaining = value
        while remaining >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        output.append(UInt8(remaining))
    }
}
