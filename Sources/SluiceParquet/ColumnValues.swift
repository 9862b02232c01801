import Foundation

/// One batch of values for one column, stored column-wise in typed buffers: only non-null values are kept, in a
/// buffer of the column's physical type, plus definition (and, for lists, repetition) levels.
///
/// Append one value per row (`append(_:)`, `appendNull()`), or for a list column one `beginList()` …
/// element appends … `endList()` per row. Appends check the value against the column type and throw a
/// `ParquetError` naming the column and row when it does not fit.
public struct ColumnValues: Sendable {
    /// The column these values belong to.
    public let column: ParquetColumn
    /// Rows appended so far.
    public private(set) var rowCount = 0

    let layout: LeafLayout
    /// The definition level of a present (non-null) leaf value; 0 for a required scalar column.
    let maxDefinitionLevel: UInt8
    /// One per leaf slot (row, or list element / empty or null list); empty when `maxDefinitionLevel` is 0.
    var definitionLevels: [UInt8] = []
    /// One per leaf slot of a list column: 0 starts a row, 1 continues its list.
    var repetitionLevels: [UInt8] = []
    var booleans: [Bool] = []
    var int32s: [Int32] = []
    var int64s: [Int64] = []
    var floats: [Float] = []
    var doubles: [Double] = []
    /// Concatenated BYTE_ARRAY or FIXED_LEN_BYTE_ARRAY values.
    var bytes: [UInt8] = []
    /// End offset in `bytes` of each BYTE_ARRAY value.
    var byteEnds: [Int] = []

    private let storage: IntegerStorage
    private var openListElementCount: Int?

    /// Where integers appended through `append(_: Int64)` go, with the accepted range.
    private enum IntegerStorage {
        case int32(ClosedRange<Int64>)
        case int64(ClosedRange<Int64>)
        case fixedBigEndian(length: Int)
        case none
    }

    /// Empty buffers for `column`, with room for `capacity` rows.
    public init(column: ParquetColumn, reservingCapacity capacity: Int = 0) {
        self.column = column
        self.layout = LeafLayout(column.type)
        if let element = column.listElement {
            maxDefinitionLevel = (column.isNullable ? 1 : 0) + 1 + (element.isNullable ? 1 : 0)
        } else {
            maxDefinitionLevel = column.isNullable ? 1 : 0
        }
        switch column.type {
        case .int8: storage = .int32(Int64(Int8.min)...Int64(Int8.max))
        case .int16: storage = .int32(Int64(Int16.min)...Int64(Int16.max))
        case .int32, .date: storage = .int32(Int64(Int32.min)...Int64(Int32.max))
        case .uint8: storage = .int32(0...Int64(UInt8.max))
        case .uint16: storage = .int32(0...Int64(UInt16.max))
        case .uint32: storage = .int32(0...Int64(UInt32.max))
        case .int64, .time, .timestamp: storage = .int64(Int64.min...Int64.max)
        case .uint64: storage = .int64(0...Int64.max)
        case .decimal(let precision, _):
            if precision <= 18 {
                let limit = DecimalLiteral.powerOfTen(precision) - 1
                storage = precision <= 9 ? .int32(-limit...limit) : .int64(-limit...limit)
            } else {
                storage = .fixedBigEndian(length: LeafLayout.decimalByteLength(precision: precision))
            }
        default: storage = .none
        }
        guard capacity > 0 else { return }
        if maxDefinitionLevel > 0 {
            definitionLevels.reserveCapacity(capacity)
        }
        switch layout.physicalType {
        case .boolean: booleans.reserveCapacity(capacity)
        case .int32: int32s.reserveCapacity(capacity)
        case .int64: int64s.reserveCapacity(capacity)
        case .float: floats.reserveCapacity(capacity)
        case .double: doubles.reserveCapacity(capacity)
        case .byteArray: byteEnds.reserveCapacity(capacity)
        case .fixedLenByteArray, .int96: break
        }
    }

    /// Removes all values, keeping the buffers' capacity, so the buffer can be reused for the next batch.
    public mutating func removeAll() {
        rowCount = 0
        openListElementCount = nil
        definitionLevels.removeAll(keepingCapacity: true)
        repetitionLevels.removeAll(keepingCapacity: true)
        booleans.removeAll(keepingCapacity: true)
        int32s.removeAll(keepingCapacity: true)
        int64s.removeAll(keepingCapacity: true)
        floats.removeAll(keepingCapacity: true)
        doubles.removeAll(keepingCapacity: true)
        bytes.removeAll(keepingCapacity: true)
        byteEnds.removeAll(keepingCapacity: true)
    }

    /// Whether a list was begun and not yet ended.
    var hasOpenList: Bool { openListElementCount != nil }

    // MARK: Nulls and lists

    /// Appends a null: a null row for a scalar column, a null list outside `beginList()`, a null element inside.
    public mutating func appendNull() throws(ParquetError) {
        if let elementCount = openListElementCount {
            guard column.listElement?.isNullable == true else {
                throw invalid("the list's elements are required (not nullable) but a null element was appended")
            }
            repetitionLevels.append(elementCount == 0 ? 0 : 1)
            definitionLevels.append(maxDefinitionLevel - 1)
            openListElementCount = elementCount + 1
            return
        }
        guard column.isNullable else {
            throw invalid("the column is required (not nullable) but a null was appended; make it nullable")
        }
        if column.isList {
            repetitionLevels.append(0)
        }
        definitionLevels.append(0)
        rowCount += 1
    }

    /// Starts the list of the next row of a list column; append its elements, then call `endList()`.
    public mutating func beginList() throws(ParquetError) {
        guard column.isList else {
            throw invalid("beginList() was called on a scalar column")
        }
        guard openListElementCount == nil else {
            throw invalid("beginList() was called twice without endList()")
        }
        openListElementCount = 0
    }

    /// Ends the list begun by `beginList()`; a list without elements is written as an empty list.
    public mutating func endList() throws(ParquetError) {
        guard let elementCount = openListElementCount else {
            throw invalid("endList() was called without beginList()")
        }
        if elementCount == 0 {
            repetitionLevels.append(0)
            definitionLevels.append(column.isNullable ? 1 : 0)
        }
        openListElementCount = nil
        rowCount += 1
    }

    // MARK: Typed appends

    /// Appends a BOOLEAN value.
    public mutating func append(_ value: Bool) throws(ParquetError) {
        guard layout.physicalType == .boolean else { throw mismatch("a Bool") }
        try recordPresentValue()
        booleans.append(value)
    }

    /// Appends an integer to an integer, DATE (days), TIME/TIMESTAMP (microseconds) or DECIMAL (unscaled value)
    /// column; the value must fit the column's type.
    public mutating func append(_ value: Int64) throws(ParquetError) {
        switch storage {
        case .int32(let range):
            guard range.contains(value) else { throw outOfRange(value) }
            try recordPresentValue()
            int32s.append(Int32(truncatingIfNeeded: value))
        case .int64(let range):
            guard range.contains(value) else { throw outOfRange(value) }
            try recordPresentValue()
            int64s.append(value)
        case .fixedBigEndian(let length):
            try recordPresentValue()
            var bigEndian = value.bigEndian
            let signByte: UInt8 = value < 0 ? 0xFF : 0
            bytes.append(contentsOf: repeatElement(signByte, count: length - 8))
            withUnsafeBytes(of: &bigEndian) { bytes.append(contentsOf: $0) }
        case .none:
            throw mismatch("an integer")
        }
    }

    /// Appends an integer; see `append(_: Int64)`.
    public mutating func append(_ value: Int) throws(ParquetError) {
        try append(Int64(value))
    }

    /// Appends an unsigned integer; UINT64 columns accept the full range.
    public mutating func append(_ value: UInt64) throws(ParquetError) {
        if column.type == .uint64 {
            try recordPresentValue()
            int64s.append(Int64(bitPattern: value))
        } else if value <= UInt64(Int64.max) {
            try append(Int64(value))
        } else {
            throw invalid("the unsigned value does not fit the column type \(column.type)")
        }
    }

    /// Appends a DOUBLE value (or a FLOAT value, rounded to single precision).
    public mutating func append(_ value: Double) throws(ParquetError) {
        switch layout.physicalType {
        case .double:
            try recordPresentValue()
            doubles.append(value)
        case .float:
            try recordPresentValue()
            floats.append(Float(value))
        default:
            throw mismatch("a Double")
        }
    }

    /// Appends a FLOAT (or DOUBLE) value.
    public mutating func append(_ value: Float) throws(ParquetError) {
        if layout.physicalType == .double {
            try append(Double(value))
            return
        }
        guard layout.physicalType == .float else { throw mismatch("a Float") }
        try recordPresentValue()
        floats.append(value)
    }

    /// Appends text to a STRING, JSON or bytes column, or a decimal literal to a DECIMAL column
    /// (see `append(decimal:)`).
    public mutating func append(_ value: String) throws(ParquetError) {
        if case .decimal = column.type {
            try append(decimal: value)
            return
        }
        guard layout.physicalType == .byteArray else { throw mismatch("a String") }
        try recordPresentValue()
        var text = value
        text.withUTF8 { bytes.append(contentsOf: $0) }
        byteEnds.append(bytes.count)
    }

    /// Appends raw bytes to a bytes, STRING or JSON column (the caller guarantees UTF-8 for text), or 16 bytes
    /// to a UUID column.
    public mutating func append(bytes value: UnsafeRawBufferPointer) throws(ParquetError) {
        switch layout.physicalType {
        case .byteArray:
            try recordPresentValue()
            bytes.append(contentsOf: value)
            byteEnds.append(bytes.count)
        case .fixedLenByteArray where column.type == .uuid:
            guard value.count == 16 else {
                throw invalid("a UUID must be 16 bytes, got \(value.count)")
            }
            try recordPresentValue()
            bytes.append(contentsOf: value)
        default:
            throw mismatch("bytes")
        }
    }

    /// Appends raw bytes; see `append(bytes: UnsafeRawBufferPointer)`.
    public mutating func append(bytes value: some Collection<UInt8>) throws(ParquetError) {
        let result = value.withContiguousStorageIfAvailable { buffer in
            Result { () throws(ParquetError) in try append(bytes: UnsafeRawBufferPointer(buffer)) }
        }
        try (result ?? Array(value).withUnsafeBytes { buffer in
            Result { () throws(ParquetError) in try append(bytes: buffer) }
        }).get()
    }

    /// Appends a UUID to a UUID column.
    public mutating func append(uuid value: UUID) throws(ParquetError) {
        let raw = value.uuid
        try withUnsafeBytes(of: raw) { buffer in
            Result { () throws(ParquetError) in try append(bytes: buffer) }
        }.get()
    }

    /// Appends a decimal literal (`-123.45`, `7`, `1.5e3` is not accepted) to a DECIMAL column. The literal may
    /// have fewer fractional digits than the scale; extra fractional digits must be zeros.
    public mutating func append(decimal literal: String) throws(ParquetError) {
        guard case .decimal(_, let scale) = column.type else { throw mismatch("a decimal") }
        guard let parsed = DecimalLiteral(literal, scale: scale) else {
            throw invalid(
                "the text is not a decimal literal with at most \(scale) fractional digits; "
                    + "round it to the column's scale or widen the column")
        }
        try append(parsed)
    }

    /// Appends a decimal already scaled to the column's scale.
    mutating func append(_ decimal: DecimalLiteral) throws(ParquetError) {
        guard case .decimal(let precision, _) = column.type else { throw mismatch("a decimal") }
        guard decimal.digits.count <= precision else {
            throw invalid("the decimal has more than \(precision) digits; widen the column's precision")
        }
        switch storage {
        case .int32, .int64:
            try append(decimal.int64Value)
        case .fixedBigEndian(let length):
            try recordPresentValue()
            decimal.appendBigEndianTwosComplement(length: length, to: &bytes)
        case .none:
            throw mismatch("a decimal")
        }
    }

    /// Appends a DECIMAL value given as its big-endian two's-complement unscaled integer of any length; it is
    /// sign-extended or narrowed to the column's width (narrowing must not change the value).
    public mutating func append(decimalUnscaledBigEndian value: [UInt8]) throws(ParquetError) {
        guard case .decimal = column.type, !value.isEmpty else { throw mismatch("decimal bytes") }
        let negative = value[0] & 0x80 != 0
        let signByte: UInt8 = negative ? 0xFF : 0
        // Drop redundant sign bytes, keeping one sign bit.
        var start = 0
        while start < value.count - 1, value[start] == signByte, (value[start + 1] & 0x80 != 0) == negative {
            start += 1
        }
        let significant = value[start...]
        switch storage {
        case .int32, .int64:
            guard significant.count <= 8 else { throw outOfRangeDecimal() }
            var unscaled: Int64 = negative ? -1 : 0
            for byte in significant {
                unscaled = unscaled << 8 | Int64(byte)
            }
            try append(unscaled)
        case .fixedBigEndian(let length):
            guard significant.count <= length else { throw outOfRangeDecimal() }
            try recordPresentValue()
            bytes.append(contentsOf: repeatElement(signByte, count: length - significant.count))
            bytes.append(contentsOf: significant)
        case .none:
            throw mismatch("decimal bytes")
        }
    }

    // MARK: Levels

    @inline(__always)
    private mutating func recordPresentValue() throws(ParquetError) {
        if let elementCount = openListElementCount {
            repetitionLevels.append(elementCount == 0 ? 0 : 1)
            definitionLevels.append(maxDefinitionLevel)
            openListElementCount = elementCount + 1
            return
        }
        if column.isList {
            throw invalid("a value was appended to a list column outside beginList()/endList()")
        }
        if maxDefinitionLevel > 0 {
            definitionLevels.append(maxDefinitionLevel)
        }
        rowCount += 1
    }

    // MARK: Errors

    private func invalid(_ message: String) -> ParquetError {
        ParquetError(code: .invalidValue, message: message, column: column.name, row: rowCount)
    }

    private func mismatch(_ kind: String) -> ParquetError {
        invalid("\(kind) cannot be written to a column of type \(column.type); convert the value first")
    }

    private func outOfRange(_ value: Int64) -> ParquetError {
        invalid("the integer is out of range for the column type \(column.type); widen the column")
    }

    private func outOfRangeDecimal() -> ParquetError {
        invalid("the unscaled decimal exceeds the column's precision; widen the column's precision")
    }
}

/// A parsed decimal literal scaled to a column's scale: sign and unscaled decimal digits.
struct DecimalLiteral {
    var isNegative: Bool
    /// The unscaled value's decimal digits, most significant first, without leading zeros.
    var digits: [UInt8]

    /// Parses `-123.45`, `+7`, `.5`; nil when the text is not a plain decimal literal or has non-zero digits
    /// beyond `scale`.
    init?(_ text: String, scale: Int) {
        var utf8 = Substring(text).utf8[...]
        var isNegative = false
        if let first = utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            isNegative = first == UInt8(ascii: "-")
            utf8 = utf8.dropFirst()
        }
        var digits: [UInt8] = []
        var fractionDigitCount = 0
        var seenPoint = false
        for byte in utf8 {
            if byte == UInt8(ascii: ".") {
                guard !seenPoint else { return nil }
                seenPoint = true
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits.append(byte - UInt8(ascii: "0"))
                fractionDigitCount += seenPoint ? 1 : 0
            } else {
                return nil
            }
        }
        guard !digits.isEmpty else { return nil }
        self.init(isNegative: isNegative, digits: digits, fractionDigitCount: fractionDigitCount, scale: scale)
    }

    /// The value `±digits × 10^-fractionDigitCount` rescaled to `scale`; nil when that drops non-zero digits.
    init?(isNegative: Bool, digits: [UInt8], fractionDigitCount: Int, scale: Int) {
        var scaled = digits
        var fraction = fractionDigitCount
        while fraction > scale {
            guard scaled.popLast() ?? 0 == 0 else { return nil }
            fraction -= 1
        }
        scaled.append(contentsOf: repeatElement(0, count: scale - fraction))
        self.digits = Array(scaled.drop(while: { $0 == 0 }))
        self.isNegative = isNegative && !self.digits.isEmpty
    }

    static func powerOfTen(_ exponent: Int) -> Int64 {
        var result: Int64 = 1
        for _ in 0..<exponent {
            result *= 10
        }
        return result
    }

    /// The unscaled value; only valid when it has at most 18 digits.
    var int64Value: Int64 {
        var value: Int64 = 0
        for digit in digits {
            value = value * 10 + Int64(digit)
        }
        return isNegative ? -value : value
    }

    /// Appends the unscaled value as a `length`-byte big-endian two's-complement integer.
    func appendBigEndianTwosComplement(length: Int, to output: inout [UInt8]) {
        // Magnitude as little-endian base-256 digits, built by multiply-and-add.
        var magnitude = [UInt8](repeating: 0, count: length)
        for digit in digits {
            var carry = UInt32(digit)
            for index in 0..<length {
                let product = UInt32(magnitude[index]) * 10 + carry
                magnitude[index] = UInt8(truncatingIfNeeded: product)
                carry = product >> 8
            }
        }
        if isNegative {
            var carry: UInt16 = 1
            for index in 0..<length {
                let sum = UInt16(~magnitude[index]) + carry
                magnitude[index] = UInt8(truncatingIfNeeded: sum)
                carry = sum >> 8
            }
        }
        output.append(contentsOf: magnitude.reversed())
    }
}
