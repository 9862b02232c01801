import SluiceCore

/// The rows of a ROWS event as the binlog holds them, with what decoding them needs: decoded into values
/// (`decode`), or written straight into the log's event encoding (`encodeNext`).
public struct RowData: Sendable {
    var cursor: ByteReader<[UInt8]>
    let plan: [ColumnDecoding]
    public let kind: RowsEventKind
    let presentBefore: [UInt8]
    let presentAfter: [UInt8]
    let countBefore: Int
    let countAfter: Int
    /// PARTIAL_UPDATE_ROWS: after images carry JSON diffs against the before image.
    let isPartial: Bool
    private let jsonColumnsAfter: Int

    init(cursor: ByteReader<[UInt8]>, plan: [ColumnDecoding], kind: RowsEventKind, presentBefore: [UInt8], presentAfter: [UInt8],
         isPartial: Bool) {
        self.cursor = cursor
        self.plan = plan
        self.kind = kind
        self.presentBefore = presentBefore
        self.presentAfter = presentAfter
        self.isPartial = isPartial
        countBefore = presentBefore.reduce(0) { $0 + $1.nonzeroBitCount }
        countAfter = presentAfter.reduce(0) { $0 + $1.nonzeroBitCount }
        var jsonColumns = 0
        if isPartial {
            for i in plan.indices where presentAfter[i >> 3] & (1 << (i & 7)) != 0 {
                if case .json = plan[i] { jsonColumns += 1 }
            }
        }
        jsonColumnsAfter = jsonColumns
    }

    /// True once every row was read by `encodeNext`.
    public var isAtEnd: Bool { cursor.isAtEnd }

    /// Every row, decoded into values.
    public func decode() throws -> [RowImages] {
        var cursor = self.cursor
        var rows: [RowImages] = []
        while !cursor.isAtEnd {
            var row = RowImages()
            switch kind {
            case .insert:
                row.after = try BinlogEventDecoder.decodeImage(&cursor, plan, present: presentAfter, presentCount: countAfter)
            case .delete:
                row.before = try BinlogEventDecoder.decodeImage(&cursor, plan, present: presentBefore, presentCount: countBefore)
            case .update:
                let before = try BinlogEventDecoder.decodeImage(&cursor, plan, present: presentBefore, presentCount: countBefore)
                row.before = before
                if isPartial {
                    var partial: [Int: JSONPartialUpdate] = [:]
                    row.after = try BinlogEventDecoder.decodePartialAfterImage(
                        &cursor, plan, present: presentAfter, presentCount: countAfter, jsonColumns: jsonColumnsAfter,
                        before: before, partial: &partial)
                    if !partial.isEmpty { row.unappliedJSONUpdates = partial }
                } else {
                    row.after = try BinlogEventDecoder.decodeImage(&cursor, plan, present: presentAfter, presentCount: countAfter)
                }
            }
            rows.append(row)
        }
        return rows
    }

    /// Writes the next row's images into the row `events` has open (begun with the images this kind of event has:
    /// before for update and delete, after for insert and update). Not for partial updates.
    public mutating func encodeNext(into events: inout EncodedChanges) throws {
        precondition(!isPartial, "partial JSON updates need the before image's values")
        if kind != .insert { try encodeImage(present: presentBefore, presentCount: countBefore, into: &events) }
        if kind != .delete { try encodeImage(present: presentAfter, presentCount: countAfter, into: &events) }
    }

    /// One row image, as `BinlogEventDecoder.decodeImage` reads it, written column by column.
    private mutating func encodeImage(present: [UInt8], presentCount: Int, into events: inout EncodedChanges) throws {
        let nullBytes = (presentCount + 7) / 8
        try cursor.need(nullBytes)
        let nullStart = cursor.offset
        cursor.offset += nullBytes
        events.beginImage()
        var n = 0
        for i in plan.indices {
            guard present[i >> 3] & (1 << (i & 7)) != 0 else {
                events.writeValue(.unchanged)
                continue
            }
            if cursor.bytes[nullStart + (n >> 3)] & (1 << (n & 7)) != 0 {
                events.writeNull()
            } else {
                try ColumnValueDecoder.encode(plan[i], &cursor, into: &events)
            }
            n += 1
        }
    }
}
