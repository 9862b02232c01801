import Foundation

#if _endian(big)
#error("SluiceParquet writes PLAIN values by copying memory and needs a little-endian host")
#endif

/// Encodes the non-null values of one column chunk, page by page: dictionary indices while the dictionary stays
/// under its size limit, PLAIN afterwards; tracks the chunk's min/max statistics.
protocol ColumnValueEncoder {
    /// Adds the non-null values `range` of `batch` to the current page.
    mutating func add(_ batch: ColumnValues, values range: Range<Int>)
    /// Bytes the current page's values will take once encoded (an estimate).
    var estimatedPageBytes: Int { get }
    /// Bytes the dictionary page will take (before compression); 0 without a dictionary.
    var dictionaryPageBytes: Int { get }
    /// Whether the dictionary outgrew its limit; the caller then ends the page and calls `fallBackToPlain()`.
    var isDictionaryFull: Bool { get }
    /// Encodes the rest of the chunk with PLAIN; the dictionary so far stays valid for pages already written.
    mutating func fallBackToPlain()
    /// Appends the current page's encoded values to `output`, clears the page, and returns the encoding used.
    mutating func encodePage(into output: inout [UInt8]) -> ParquetFormat.Encoding
    /// Appends the PLAIN dictionary page body and returns the entry count; nil when no page used the dictionary.
    func encodeDictionaryPage(into output: inout [UInt8]) -> Int?
    /// Min and max of the chunk's values (PLAIN-encoded), nil when there are none that order.
    func minMaxStatistics() -> ParquetFormat.Statistics?
    /// Forgets the chunk (dictionary, statistics) to start the next one.
    mutating func startNextChunk()
}

/// Options an encoder needs from the writer.
struct ValueEncoderOptions {
    var dictionaryEnabled: Bool
    var dictionaryPageSizeLimit: Int
    /// BYTE_ARRAY min/max longer than this are truncated (min to a prefix, max to a larger short value).
    var statisticsTruncationLength: Int
}

func makeValueEncoder(for layout: LeafLayout, options: ValueEncoderOptions) -> any ColumnValueEncoder {
    switch (layout.physicalType, layout.statisticsOrder) {
    case (.boolean, _):
        return BooleanEncoder()
    case (.int32, .unsigned):
        return FixedWidthEncoder(kind: .unsigned32, options: options)
    case (.int32, _):
        return FixedWidthEncoder(kind: .signed32, options: options)
    case (.int64, .unsigned):
        return FixedWidthEncoder(kind: .unsigned64, options: options)
    case (.int64, _), (.int96, _):
        return FixedWidthEncoder(kind: .signed64, options: options)
    case (.float, _):
        return FixedWidthEncoder(kind: .float, options: options)
    case (.double, _):
        return FixedWidthEncoder(kind: .double, options: options)
    case (.byteArray, _), (.fixedLenByteArray, _):
        return ByteArrayEncoder(layout: layout, options: options)
    }
}

// MARK: - Fixed-width values

/// A fixed-width physical value (INT32, INT64, FLOAT, DOUBLE) as stored in `ColumnValues`.
protocol FixedWidthPhysicalValue: BitwiseCopyable {
    /// The value's bits: its dictionary identity (so that -0.0 and 0.0 or NaN payloads stay distinct).
    var identityBits: UInt64 { get }
}

extension Int32: FixedWidthPhysicalValue {
    var identityBits: UInt64 { UInt64(UInt32(bitPattern: self)) }
}

extension Int64: FixedWidthPhysicalValue {
    var identityBits: UInt64 { UInt64(bitPattern: self) }
}

extension Float: FixedWidthPhysicalValue {
    var identityBits: UInt64 { UInt64(bitPattern) }
}

extension Double: FixedWidthPhysicalValue {
    var identityBits: UInt64 { bitPattern }
}

/// The physical type and statistics order of a fixed-width column; values are handled as their identity bits.
enum FixedWidthKind {
    case signed32, unsigned32, signed64, unsigned64, float, double

    var byteWidth: Int {
        switch self {
        case .signed32, .unsigned32, .float: 4
        case .signed64, .unsigned64, .double: 8
        }
    }

    /// Whether the value takes part in min/max (NaN does not).
    func isOrdered(_ bits: UInt64) -> Bool {
        switch self {
        case .float: !Float(bitPattern: UInt32(truncatingIfNeeded: bits)).isNaN
        case .double: !Double(bitPattern: bits).isNaN
        default: true
        }
    }

    func precedes(_ lhs: UInt64, _ rhs: UInt64) -> Bool {
        switch self {
        case .signed32: Int32(truncatingIfNeeded: lhs) < Int32(truncatingIfNeeded: rhs)
        case .unsigned32, .unsigned64: lhs < rhs
        case .signed64: Int64(bitPattern: lhs) < Int64(bitPattern: rhs)
        case .float:
            Float(bitPattern: UInt32(truncatingIfNeeded: lhs)) < Float(bitPattern: UInt32(truncatingIfNeeded: rhs))
        case .double: Double(bitPattern: lhs) < Double(bitPattern: rhs)
        }
    }

    /// The PLAIN encoding of a min/max; parquet-format writes a zero minimum as -0.0 and a zero maximum as +0.0.
    func statisticsBytes(_ bits: UInt64, isMaximum: Bool) -> [UInt8] {
        var value = bits
        switch self {
        case .float where Float(bitPattern: UInt32(truncatingIfNeeded: bits)) == 0:
            value = UInt64((isMaximum ? Float(0) : -Float(0)).bitPattern)
        case .double where Double(bitPattern: bits) == 0:
            value = (isMaximum ? Double(0) : -Double(0)).bitPattern
        default:
            break
        }
        return withUnsafeBytes(of: value.littleEndian) { Array($0.prefix(byteWidth)) }
    }
}

/// INT32, INT64, FLOAT and DOUBLE values. Not generic on purpose: the writer holds encoders as existentials,
/// and generic witnesses would run unspecialized; the typed loops below are specialized per call site.
struct FixedWidthEncoder: ColumnValueEncoder {
    private let options: ValueEncoderOptions
    private let kind: FixedWidthKind
    private var page: DictionaryPage
    /// Dictionary entries as identity bits.
    private var dictionary: [UInt64] = []
    private var minimum: UInt64?
    private var maximum: UInt64?

    init(kind: FixedWidthKind, options: ValueEncoderOptions) {
        self.options = options
        self.kind = kind
        page = DictionaryPage(usesDictionary: options.dictionaryEnabled)
    }

    var estimatedPageBytes: Int { page.estimatedBytes(dictionaryCount: dictionary.count) }

    var dictionaryPageBytes: Int { dictionary.count * kind.byteWidth }

    var isDictionaryFull: Bool {
        page.isDictionaryFull(dictionaryPageBytes: dictionaryPageBytes, limit: options.dictionaryPageSizeLimit)
    }

    mutating func fallBackToPlain() { page.fallBackToPlain() }

    mutating func add(_ batch: ColumnValues, values range: Range<Int>) {
        guard !range.isEmpty else { return }
        switch kind {
        case .signed32, .unsigned32: add(batch.int32s, range)
        case .signed64, .unsigned64: add(batch.int64s, range)
        case .float: add(batch.floats, range)
        case .double: add(batch.doubles, range)
        }
    }

    @inline(__always)
    private mutating func add<Value: FixedWidthPhysicalValue>(_ storage: [Value], _ range: Range<Int>) {
        storage.withUnsafeBufferPointer { buffer in
            if page.usesDictionary {
                addToDictionary(buffer, range)
            } else {
                observeMinMax(buffer, range)
                page.plain.append(contentsOf: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[range])))
            }
        }
    }

    @inline(__always)
    private mutating func addToDictionary<Value: FixedWidthPhysicalValue>(
        _ buffer: UnsafeBufferPointer<Value>, _ range: Range<Int>
    ) {
        var lastKey = buffer[range.lowerBound].identityBits &+ 1
        var lastIndex: UInt32 = 0
        for position in range {
            let key = buffer[position].identityBits
            if key != lastKey {
                lastIndex = indexInserting(key)
                lastKey = key
            }
            page.indexes.append(lastIndex)
        }
    }

    @inline(__always)
    private mutating func indexInserting(_ key: UInt64) -> UInt32 {
        let found = page.table.find(key) { _ in true }
        if let index = found.index {
            return UInt32(truncatingIfNeeded: index)
        }
        let index = dictionary.count
        dictionary.append(key)
        page.table.insert(key: key, index: index, at: found.emptySlot)
        observe(key)
        return UInt32(index)
    }

    private mutating func observe(_ bits: UInt64) {
        guard kind.isOrdered(bits) else { return }
        if let currentMinimum = minimum, let currentMaximum = maximum {
            if kind.precedes(bits, currentMinimum) { minimum = bits }
            if kind.precedes(currentMaximum, bits) { maximum = bits }
        } else {
            minimum = bits
            maximum = bits
        }
    }

    private mutating func observeMinMax<Value: FixedWidthPhysicalValue>(
        _ buffer: UnsafeBufferPointer<Value>, _ range: Range<Int>
    ) {
        switch kind {
        case .signed32:
            observeMinMax(buffer, range) { Int32(truncatingIfNeeded: $0.identityBits) }
        case .signed64:
            observeMinMax(buffer, range) { Int64(bitPattern: $0.identityBits) }
        case .unsigned32, .unsigned64:
            observeMinMax(buffer, range) { $0.identityBits }
        case .float:
            observeMinMax(buffer, range) { Float(bitPattern: UInt32(truncatingIfNeeded: $0.identityBits)) }
        case .double:
            observeMinMax(buffer, range) { Double(bitPattern: $0.identityBits) }
        }
    }

    /// Scans `range` for the smallest and largest ordered values, comparing them as `Comparable` keys.
    @inline(__always)
    private mutating func observeMinMax<Value: FixedWidthPhysicalValue, Key: Comparable>(
        _ buffer: UnsafeBufferPointer<Value>, _ range: Range<Int>, key: (Value) -> Key
    ) {
        var low: Value?
        var high: Value?
        var lowKey: Key?
        var highKey: Key?
        for position in range {
            let value = buffer[position]
            guard kind.isOrdered(value.identityBits) else { continue }
            let valueKey = key(value)
            if let currentLow = lowKey, let currentHigh = highKey {
                if valueKey < currentLow { low = value; lowKey = valueKey }
                if currentHigh < valueKey { high = value; highKey = valueKey }
            } else {
                low = value
                high = value
                lowKey = valueKey
                highKey = valueKey
            }
        }
        if let low, let high {
            observe(low.identityBits)
            observe(high.identityBits)
        }
    }

    mutating func encodePage(into output: inout [UInt8]) -> ParquetFormat.Encoding {
        page.encode(into: &output, dictionaryCount: dictionary.count)
    }

    func encodeDictionaryPage(into output: inout [UInt8]) -> Int? {
        guard page.dictionaryPagesWritten else { return nil }
        if kind.byteWidth == 8 {
            dictionary.withUnsafeBytes { output.append(contentsOf: $0) }
        } else {
            output.reserveCapacity(output.count + dictionary.count * 4)
            for bits in dictionary {
                withUnsafeBytes(of: UInt32(truncatingIfNeeded: bits).littleEndian) { output.append(contentsOf: $0) }
            }
        }
        return dictionary.count
    }

    func minMaxStatistics() -> ParquetFormat.Statistics? {
        guard let minimum, let maximum else { return nil }
        return ParquetFormat.Statistics(
            maxValue: kind.statisticsBytes(maximum, isMaximum: true),
            minValue: kind.statisticsBytes(minimum, isMaximum: false))
    }

    mutating func startNextChunk() {
        page.reset(usesDictionary: options.dictionaryEnabled)
        dictionary.removeAll(keepingCapacity: true)
        minimum = nil
        maximum = nil
    }
}

// MARK: - Booleans

/// BOOLEAN values: always PLAIN (bit-packed, least significant bit first).
struct BooleanEncoder: ColumnValueEncoder {
    private var pageValues: [Bool] = []
    private var sawFalse = false
    private var sawTrue = false

    var estimatedPageBytes: Int { pageValues.count / 8 }
    var dictionaryPageBytes: Int { 0 }
    var isDictionaryFull: Bool { false }

    mutating func fallBackToPlain() {}

    mutating func add(_ batch: ColumnValues, values range: Range<Int>) {
        let values = batch.booleans[range]
        pageValues.append(contentsOf: values)
        if !sawFalse { sawFalse = values.contains(false) }
        if !sawTrue { sawTrue = values.contains(true) }
    }

    mutating func encodePage(into output: inout [UInt8]) -> ParquetFormat.Encoding {
        var byte: UInt8 = 0
        for (position, value) in pageValues.enumerated() {
            if value {
                byte |= 1 << UInt8(position & 7)
            }
            if position & 7 == 7 {
                output.append(byte)
                byte = 0
            }
        }
        if pageValues.count & 7 != 0 {
            output.append(byte)
        }
        pageValues.removeAll(keepingCapacity: true)
        return .plain
    }

    func encodeDictionaryPage(into output: inout [UInt8]) -> Int? { nil }

    func minMaxStatistics() -> ParquetFormat.Statistics? {
        guard sawFalse || sawTrue else { return nil }
        return ParquetFormat.Statistics(maxValue: [sawTrue ? 1 : 0], minValue: [sawFalse ? 0 : 1])
    }

    mutating func startNextChunk() {
        self = Self()
    }
}

// MARK: - Byte arrays

/// BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY values.
struct ByteArrayEncoder: ColumnValueEncoder {
    private let options: ValueEncoderOptions
    /// FIXED_LEN_BYTE_ARRAY length; nil for BYTE_ARRAY (values carry a 4-byte length in PLAIN).
    private let fixedLength: Int?
    private let isBigEndianSigned: Bool
    private let isUTF8: Bool
    private var page: DictionaryPage
    private var dictionaryBytes: [UInt8] = []
    private var dictionaryEnds: [Int] = []
    private var minimum: [UInt8]?
    private var maximum: [UInt8]?

    init(layout: LeafLayout, options: ValueEncoderOptions) {
        self.options = options
        self.fixedLength = layout.physicalType == .fixedLenByteArray ? Int(layout.typeLength ?? 0) : nil
        self.isBigEndianSigned = layout.statisticsOrder == .bigEndianSigned
        self.isUTF8 = layout.isUTF8
        page = DictionaryPage(usesDictionary: options.dictionaryEnabled)
    }

    var estimatedPageBytes: Int { page.estimatedBytes(dictionaryCount: dictionaryEnds.count) }

    var dictionaryPageBytes: Int {
        dictionaryBytes.count + (fixedLength == nil ? 4 * dictionaryEnds.count : 0)
    }

    var isDictionaryFull: Bool {
        page.isDictionaryFull(dictionaryPageBytes: dictionaryPageBytes, limit: options.dictionaryPageSizeLimit)
    }

    mutating func fallBackToPlain() { page.fallBackToPlain() }

    mutating func add(_ batch: ColumnValues, values range: Range<Int>) {
        guard !range.isEmpty else { return }
        let fixedLength = fixedLength ?? 0
        batch.bytes.withUnsafeBytes { storage in
            batch.byteEnds.withUnsafeBufferPointer { ends in
                var start = fixedLength > 0
                    ? range.lowerBound * fixedLength : (range.lowerBound == 0 ? 0 : ends[range.lowerBound - 1])
                if page.usesDictionary {
                    for position in range {
                        let end = fixedLength > 0 ? start + fixedLength : ends[position]
                        page.indexes.append(indexInserting(UnsafeRawBufferPointer(rebasing: storage[start..<end])))
                        start = end
                    }
                } else {
                    for position in range {
                        let end = fixedLength > 0 ? start + fixedLength : ends[position]
                        let value = UnsafeRawBufferPointer(rebasing: storage[start..<end])
                        observe(value)
                        if fixedLength == 0 {
                            withUnsafeBytes(of: UInt32(value.count).littleEndian) { page.plain.append(contentsOf: $0) }
                        }
                        page.plain.append(contentsOf: value)
                        start = end
                    }
                }
            }
        }
    }

    private func dictionaryEntry(_ index: Int, _ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let start = index == 0 ? 0 : dictionaryEnds[index - 1]
        return UnsafeRawBufferPointer(rebasing: bytes[start..<dictionaryEnds[index]])
    }

    @inline(__always)
    private mutating func indexInserting(_ value: UnsafeRawBufferPointer) -> UInt32 {
        let hash = hashBytes(value)
        let found = dictionaryBytes.withUnsafeBytes { bytes in
            page.table.find(hash) { index in
                let existing = dictionaryEntry(index, bytes)
                return existing.count == value.count
                    && (value.isEmpty || memcmp(existing.baseAddress!, value.baseAddress!, value.count) == 0)
            }
        }
        if let index = found.index {
            return UInt32(index)
        }
        let index = dictionaryEnds.count
        dictionaryBytes.append(contentsOf: value)
        dictionaryEnds.append(dictionaryBytes.count)
        page.table.insert(key: hash, index: index, at: found.emptySlot)
        observe(value)
        return UInt32(index)
    }

    private mutating func observe(_ value: UnsafeRawBufferPointer) {
        if let currentMinimum = minimum {
            if precedes(value, currentMinimum) { minimum = Array(value) }
            if let currentMaximum = maximum, currentMaximum.withUnsafeBytes({ precedes($0, value) }) {
                maximum = Array(value)
            }
        } else {
            minimum = Array(value)
            maximum = Array(value)
        }
    }

    private func precedes(_ lhs: UnsafeRawBufferPointer, _ rhs: [UInt8]) -> Bool {
        rhs.withUnsafeBytes { precedes(lhs, $0) }
    }

    private func precedes(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        if isBigEndianSigned, let first = lhs.first, let otherFirst = rhs.first, first != otherFirst {
            return Int8(bitPattern: first) < Int8(bitPattern: otherFirst)
        }
        let common = min(lhs.count, rhs.count)
        if common > 0 {
            let order = memcmp(lhs.baseAddress!, rhs.baseAddress!, common)
            if order != 0 {
                return order < 0
            }
        }
        return lhs.count < rhs.count
    }

    mutating func encodePage(into output: inout [UInt8]) -> ParquetFormat.Encoding {
        page.encode(into: &output, dictionaryCount: dictionaryEnds.count)
    }

    func encodeDictionaryPage(into output: inout [UInt8]) -> Int? {
        guard page.dictionaryPagesWritten else { return nil }
        output.reserveCapacity(output.count + dictionaryPageBytes)
        dictionaryBytes.withUnsafeBytes { bytes in
            for index in dictionaryEnds.indices {
                let entry = dictionaryEntry(index, bytes)
                if fixedLength == nil {
                    withUnsafeBytes(of: UInt32(entry.count).littleEndian) { output.append(contentsOf: $0) }
                }
                output.append(contentsOf: entry)
            }
        }
        return dictionaryEnds.count
    }

    func minMaxStatistics() -> ParquetFormat.Statistics? {
        guard let minimum, let maximum else { return nil }
        let limit = options.statisticsTruncationLength
        guard fixedLength == nil, minimum.count > limit || maximum.count > limit else {
            return ParquetFormat.Statistics(maxValue: maximum, minValue: minimum)
        }
        let truncatedMinimum = minimum.count > limit ? Array(minimum[..<prefixLength(minimum, limit)]) : minimum
        let truncatedMaximum = maximum.count > limit ? roundedUpPrefix(maximum, limit) : maximum
        return ParquetFormat.Statistics(
            maxValue: truncatedMaximum, minValue: truncatedMinimum,
            isMaxValueExact: truncatedMaximum.map { $0 == maximum }, isMinValueExact: truncatedMinimum == minimum)
    }

    /// The longest prefix length ≤ `limit` that does not split a UTF-8 character (for text columns).
    private func prefixLength(_ value: [UInt8], _ limit: Int) -> Int {
        var length = limit
        if isUTF8 {
            while length > 0 && value[length] & 0xC0 == 0x80 {
                length -= 1
            }
        }
        return length
    }

    /// A short value greater than every value starting with `value`'s first `limit` bytes: the prefix with its
    /// last incrementable byte incremented (an ASCII byte below 0x7F for text, so the result stays UTF-8).
    /// nil (no max statistic) when no byte can be incremented.
    private func roundedUpPrefix(_ value: [UInt8], _ limit: Int) -> [UInt8]? {
        var position = prefixLength(value, limit) - 1
        let ceiling: UInt8 = isUTF8 ? 0x7F : 0xFF
        while position >= 0 && value[position] >= ceiling {
            position -= 1
        }
        guard position >= 0 else { return nil }
        var rounded = Array(value[...position])
        rounded[position] += 1
        return rounded
    }

    mutating func startNextChunk() {
        page.reset(usesDictionary: options.dictionaryEnabled)
        dictionaryBytes.removeAll(keepingCapacity: true)
        dictionaryEnds.removeAll(keepingCapacity: true)
        minimum = nil
        maximum = nil
    }
}
