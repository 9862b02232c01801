/// Change events already in the log's binary encoding (`EventCoding`), written by a source as it decodes.
///
/// The hot path of the database sources: a row change goes from the decoder's values straight into this buffer,
/// without a `ChangeEvent`, its row images and their copies. Any other event is added with `append(_:primaryKey:)`,
/// which encodes it exactly as `EventCoding.encode` does. Records keep the order they were added in; the payloads,
/// keys and position sort keys of all records share one byte buffer.
public struct EncodedChanges: Sendable {
    /// One encoded event: where its parts lie in `bytes`.
    public struct Record: Sendable {
        public var op: ChangeOperation
        /// Index of the event's table in `tables`.
        public var table: Int
        /// The event's encoding (`EventCoding.decode` reads it).
        public var payload: Range<Int>
        /// The primary key (`EventCoding.encodeKey`), when the table has one and the event carries it.
        public var key: Range<Int>?
        /// The position's sort key.
        public var sortKey: Range<Int>
        public var positionText: String
        public var commitTimeMicros: Int64
    }

    /// Payloads, keys and sort keys of every record (a copy).
    public var bytes: [UInt8] { writer.bytes }
    /// Number of bytes of every record.
    public var byteCount: Int { writer.count }
    public private(set) var records: [Record] = []
    /// The tables records refer to, each once.
    public private(set) var tables: [TableID] = []
    private var writer = BinaryWriter(capacity: 0)
    /// The row being written value by value (`isOpen`).
    private var row = OpenRow()

    public init() {}

    public var isEmpty: Bool { records.isEmpty }
    public var count: Int { records.count }

    /// The bytes of one part of a record.
    public func withBytes<Result>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try writer.withUnsafeBytes { try body(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[range]))) }
    }

    /// Decodes every record back into change events (for tests and tools; the runtime never needs to).
    public func decodedEvents() throws -> [ChangeEvent] {
        try writer.withUnsafeBytes { bytes in try records.map { try EventCoding.decode(Array(bytes[$0.payload])) } }
    }

    /// Adds any event, encoded as `EventCoding.encode` does, with the values of `primaryKey` (column names) as its key.
    public mutating func append(_ event: ChangeEvent, primaryKey: [String]?) {
        precondition(!row.isOpen, "endRow the open row first")
        let start = writer.count
        EventCoding.encode(event, to: &writer)
        let payload = start..<writer.count
        var key: Range<Int>?
        if let primaryKey, let values = event.key(primaryKey: primaryKey) {
            let keyStart = writer.count
            EventCoding.writeKey(values, to: &writer)
            key = keyStart..<writer.count
        }
        let sortKeyStart = writer.count
        writer.writeRaw(event.position.sortKey)
        addRecord(op: event.op, table: event.table, payload: payload, key: key, sortKey: sortKeyStart..<writer.count,
                  positionText: event.position.text, commitTimeMicros: event.commitTimeMicros)
    }

    /// Adds a copy of a record of `other`.
    public mutating func append(record index: Int, of other: EncodedChanges) {
        precondition(!row.isOpen, "endRow the open row first")
        let record = other.records[index]
        other.writer.withUnsafeBytes { bytes in
            let payloadStart = writer.count
            writer.writeRaw(UnsafeBufferPointer(rebasing: bytes[record.payload]))
            let payload = payloadStart..<writer.count
            var key: Range<Int>?
            if let range = record.key {
                let keyStart = writer.count
                writer.writeRaw(UnsafeBufferPointer(rebasing: bytes[range]))
                key = keyStart..<writer.count
            }
            let sortKeyStart = writer.count
            writer.writeRaw(UnsafeBufferPointer(rebasing: bytes[record.sortKey]))
            addRecord(op: record.op, table: other.tables[record.table], payload: payload, key: key,
                      sortKey: sortKeyStart..<writer.count, positionText: record.positionText,
                      commitTimeMicros: record.commitTimeMicros)
        }
    }

    /// Adds a row change from the decoder's values, in the order of `layout`'s columns (`.unchanged` for a value
    /// the source did not send). A `before` image with only the key columns' values is written as a key-only image.
    /// The result decodes to the same event as the `ChangeEvent` with these fields.
    public mutating func appendRow(
        _ op: ChangeOperation, layout: EncodedRowLayout, before: [Value]?, after: [Value]?, sortKey: PackedSortKey,
        positionText: String, transactionID: String? = nil, orderInTransaction: Int? = nil, commitTimeMicros: Int64,
        isSnapshot: Bool = false
    ) {
        beginRow(op, layout: layout, hasBefore: before != nil, hasAfter: after != nil, sortKey: sortKey,
                 positionText: positionText, transactionID: transactionID, orderInTransaction: orderInTransaction,
                 commitTimeMicros: commitTimeMicros, isSnapshot: isSnapshot)
        for image in [before, after] {
            guard let values = image else { continue }
            beginImage(keyOnly: values.count != layout.columnNames.count)
            values.withUnsafeBufferPointer { values in
                for value in values { writeValue(value) }
            }
        }
        endRow()
    }

    // MARK: Writing a row change value by value

    /// Starts a row change; then `beginImage` and a value for each column of each image, then `endRow`.
    public mutating func beginRow(
        _ op: ChangeOperation, layout: EncodedRowLayout, hasBefore: Bool, hasAfter: Bool, sortKey: PackedSortKey,
        positionText: String, transactionID: String? = nil, orderInTransaction: Int? = nil, commitTimeMicros: Int64,
        isSnapshot: Bool = false
    ) {
        precondition(!row.isOpen, "endRow the previous row first")
        let start = writer.count
        EventCoding.writeStart(op: op, hasBefore: hasBefore, hasAfter: hasAfter, isSnapshot: isSnapshot,
                               transactionID: transactionID, orderInTransaction: orderInTransaction,
                               schemaVersion: layout.schemaVersion, to: &writer)
        writer.writeRaw(layout.identity)
        sortKey.write(to: &writer)
        writer.writeString(positionText)
        EventCoding.writeEnd(transactionID: transactionID, orderInTransaction: orderInTransaction,
                             commitTimeMicros: commitTimeMicros, to: &writer)
        row.isOpen = true
        row.op = op
        row.layout = layout
        row.start = start
        row.images = (hasBefore ? 1 : 0) + (hasAfter ? 1 : 0)
        row.sortKey = sortKey
        row.positionText = positionText
        row.commitTimeMicros = commitTimeMicros
        row.keyRanges.removeAll(keepingCapacity: true)
        row.keyRanges.append(contentsOf: repeatElement(nil, count: layout.keyIndexes?.count ?? 0))
        row.keyFromAfter = hasAfter
        row.column = 0
        row.columnCount = 0
    }

    /// Starts the next image (before, then after) of the open row: every column's value follows, or with `keyOnly`
    /// the key columns' values in key order.
    public mutating func beginImage(keyOnly: Bool = false) {
        precondition(row.isOpen && row.images > 0 && row.column == row.columnCount, "no image expected here")
        row.images -= 1
        row.column = 0
        row.isKeyOnly = keyOnly
        // The key comes from the after image; a before image gives it only to a row without an after image, or
        // for key values the after image left out (`.unchanged`).
        row.isAfterImage = row.images == 0 && row.keyFromAfter
        row.columnCount = keyOnly ? (row.layout!.keyIndexes?.count ?? 0) : row.layout!.columnNames.count
        writer.writeVarUInt(UInt64(row.columnCount))
    }

    /// Writes the next column's value.
    public mutating func writeValue(_ value: Value) {
        let start = beginColumn()
        EventCoding.writeValue(value, to: &writer)
        endColumn(from: start, unchanged: value == .unchanged)
    }

    /// Writes the next column's value: null.
    public mutating func writeNull() {
        let start = beginColumn()
        EventCoding.writeNull(to: &writer)
        endColumn(from: start, unchanged: false)
    }

    /// Writes the next column's value: an integer.
    public mutating func writeInt(_ value: Int64) {
        let start = beginColumn()
        EventCoding.writeInt(value, to: &writer)
        endColumn(from: start, unchanged: false)
    }

    /// Writes the next column's value: text (`json`: a JSON document) from its UTF-8 bytes, exactly as
    /// `.string(String(decoding: utf8, as: UTF8.self))` would be once read back.
    public mutating func writeText(_ utf8: UnsafeBufferPointer<UInt8>, json: Bool = false) {
        let start = beginColumn()
        EventCoding.writeText(utf8, json: json, to: &writer)
        endColumn(from: start, unchanged: false)
    }

    /// Drops the open row, if any (after a failure while writing it).
    public mutating func abandonRow() {
        guard row.isOpen else { return }
        writer.truncate(to: row.start)
        row.isOpen = false
    }

    /// Writes the next column's value: a finite decimal, as `.decimal(ExactDecimal(negative:unscaledDigits:scale:))`
    /// would be. `unscaledDigits` must be ASCII digits and `scale` within `ExactDecimal.maxScale`.
    public mutating func writeDecimal(negative: Bool, unscaledDigits: UnsafeBufferPointer<UInt8>, scale: Int) {
        precondition(scale >= 0 && scale <= ExactDecimal.maxScale && !unscaledDigits.isEmpty, "not a decimal")
        let start = beginColumn()
        EventCoding.writeDecimal(negative: negative, unscaledDigits: unscaledDigits, scale: scale, to: &writer)
        endColumn(from: start, unchanged: false)
    }

    /// Ends the open row and adds it as a record.
    public mutating func endRow() {
        precondition(row.isOpen && row.images == 0 && row.column == row.columnCount, "the row's images are incomplete")
        row.isOpen = false
        let payload = row.start..<writer.count
        var key: Range<Int>?
        if !row.keyRanges.isEmpty, !row.keyRanges.contains(where: { $0 == nil }) {
            let keyStart = writer.count
            writer.writeVarUInt(UInt64(row.keyRanges.count))
            for range in row.keyRanges { writer.repeatBytes(range!) }
            key = keyStart..<writer.count
        }
        let sortKeyStart = writer.count
        row.sortKey.writeBytes(to: &writer)
        addRecord(op: row.op, table: row.layout!.table, payload: payload, key: key,
                  sortKey: sortKeyStart..<writer.count, positionText: row.positionText,
                  commitTimeMicros: row.commitTimeMicros)
    }

    @inline(__always)
    private mutating func beginColumn() -> Int {
        precondition(row.column < row.columnCount, "more values than columns")
        let index = row.isKeyOnly ? row.layout.unsafelyUnwrapped.keyIndexes![row.column] : row.column
        writer.writeRaw(row.layout.unsafelyUnwrapped.encodedName(ofColumn: index))
        return writer.count
    }

    @inline(__always)
    private mutating func endColumn(from start: Int, unchanged: Bool) {
        let column = row.column
        row.column += 1
        let keyPosition = row.isKeyOnly ? column : row.layout.unsafelyUnwrapped.keyPosition(ofColumn: column)
        guard keyPosition >= 0, !unchanged else { return }
        if row.isAfterImage || row.keyRanges[keyPosition] == nil || !row.keyFromAfter {
            row.keyRanges[keyPosition] = start..<writer.count
        }
    }

    /// The row change being written value by value.
    private struct OpenRow {
        var isOpen = false
        var op = ChangeOperation.insert
        var layout: EncodedRowLayout?
        var start = 0
        /// Images still to begin.
        var images = 0
        var sortKey = PackedSortKey(0, 0)
        var positionText = ""
        var commitTimeMicros: Int64 = 0
        /// Where each key column's encoded value lies.
        var keyRanges: [Range<Int>?] = []
        var keyFromAfter = false
        var column = 0
        var columnCount = 0
        var isKeyOnly = false
        var isAfterImage = false
    }

    private mutating func addRecord(op: ChangeOperation, table: TableID, payload: Range<Int>, key: Range<Int>?,
                                    sortKey: Range<Int>, positionText: String, commitTimeMicros: Int64) {
        let tableIndex: Int
        if let last = records.last, tables[last.table] == table {
            tableIndex = last.table
        } else if let found = tables.firstIndex(of: table) {
            tableIndex = found
        } else {
            tables.append(table)
            tableIndex = tables.count - 1
        }
        records.append(Record(op: op, table: tableIndex, payload: payload, key: key, sortKey: sortKey,
                              positionText: positionText, commitTimeMicros: commitTimeMicros))
    }
}

/// What encoding a table version's rows needs, worked out once per schema version: the encoded column names,
/// the key columns' positions, and the encoded connector and table names. Immutable.
// @unchecked: every stored property is a `let`; the raw buffers are filled in `init` and only read afterwards.
public final class EncodedRowLayout: @unchecked Sendable {
    public let table: TableID
    public let schemaVersion: Int
    public let columnNames: [String]
    /// Positions of the primary-key columns; nil when the table has no primary key.
    public let keyIndexes: [Int]?
    /// Per column: its position in the primary key or -1, and where its encoded name lies in `encodedNames`
    /// (raw memory, so that the per-value path does no reference counting).
    private let columns: UnsafeMutableBufferPointer<(keyPosition: Int, nameStart: Int, nameEnd: Int)>
    /// Column names as `BinaryWriter.writeString` writes them, back to back.
    private let encodedNames: UnsafeMutableBufferPointer<UInt8>
    /// Connector and table id as the event encoding writes them.
    let identity: [UInt8]

    public init(schema: TableSchema, connector: String) {
        table = schema.table
        schemaVersion = schema.version
        columnNames = schema.columns.map(\.name)
        let indexes = schema.primaryKey.compactMap { name in schema.columns.firstIndex { $0.name == name } }
        keyIndexes = indexes.isEmpty || indexes.count != schema.primaryKey.count ? nil : indexes
        var names = BinaryWriter(capacity: 256)
        columns = .allocate(capacity: columnNames.count)
        for (index, name) in columnNames.enumerated() {
            let start = names.bytes.count
            names.writeString(name)
            columns[index] = (keyIndexes?.firstIndex(of: index) ?? -1, start, names.bytes.count)
        }
        encodedNames = .allocate(capacity: max(1, names.bytes.count))
        _ = encodedNames.initialize(from: names.bytes)
        var identity = BinaryWriter(capacity: 64)
        identity.writeString(connector)
        identity.writeString(schema.table.database)
        identity.writeString(schema.table.schema)
        identity.writeString(schema.table.name)
        self.identity = identity.bytes
    }

    deinit {
        columns.deallocate()
        encodedNames.deallocate()
    }

    /// A column's position in the primary key, or -1.
    @inline(__always)
    func keyPosition(ofColumn index: Int) -> Int { columns[index].keyPosition }

    /// A column's name as the event encoding writes it.
    @inline(__always)
    func encodedName(ofColumn index: Int) -> UnsafeBufferPointer<UInt8> {
        let column = columns[index]
        return UnsafeBufferPointer(rebasing: encodedNames[column.nameStart..<column.nameEnd])
    }
}
