import SluiceCore

/// Decodes binlog events from bytes: a value-type state machine fed either a binlog file's bytes (in pieces
/// split anywhere) or, for replication, one network packet per event.
///
/// It keeps what decoding needs across events: the format description (post-header lengths, checksum
/// algorithm), the table maps and the current file and position.
public struct BinlogEventDecoder: Sendable {
    /// How events arrive.
    public enum Framing: Sendable {
        /// A binlog file: the 4-byte magic `\xfebin`, then events back to back.
        case file
        /// The replication stream: one event per packet (after the 0x00 status byte).
        case network
    }

    public let framing: Framing
    /// The binlog file being read (from the rotate events in a stream).
    public private(set) var file: String
    /// Where the next event starts in the file.
    public private(set) var position: UInt64
    public private(set) var format: FormatDescription?
    /// Verify CRC32 checksums when the binlog carries them.
    public var verifyChecksums: Bool
    /// Leave the rows of ROWS events undecoded (`RowsEvent.rowData`), for a consumer that decodes them straight
    /// into its output (`RowsEvent.encodeRows`). PARTIAL_UPDATE_ROWS events are always decoded.
    public var defersRows = false
    /// Catalog information by `database.table`, used where table maps lack optional metadata.
    public private(set) var catalog: [String: [ColumnCatalogInfo]] = [:]

    private var checksumAlgorithm: UInt8
    private var tables: [UInt64: CachedTable] = [:]
    private var catalogGeneration = 0
    private var buffer: [UInt8] = []
    private var bufferOffset = 0
    private var sawMagic = false
    private var pending: [BinlogEvent] = []
    private var pendingIndex = 0

    struct CachedTable: Sendable {
        var map: TableMap
        var plan: [ColumnDecoding]
        var generation: Int
        var catalogMatched: Bool
    }

    /// - Parameters:
    ///   - file: the binlog file name (for a stream: until the first rotate event names it).
    ///   - checksum: the checksum algorithm the stream uses before its format description arrives (for a
    ///     replication stream: the `@master_binlog_checksum` the client set; 1 = CRC32, 0 = none).
    public init(framing: Framing, file: String = "", position: UInt64 = 4, checksum: UInt8 = 0, verifyChecksums: Bool = true) {
        self.framing = framing
        self.file = file
        self.position = framing == .file ? 0 : position
        self.checksumAlgorithm = checksum
        self.verifyChecksums = verifyChecksums
    }

    /// Sets what the catalog knows about a table's columns (used for the next table map of that table).
    public mutating func setCatalog(_ columns: [ColumnCatalogInfo]?, database: String, table: String) {
        catalog["\(database).\(table)"] = columns
        catalogGeneration += 1
    }

    /// The table map in effect for a table id.
    public func tableMap(_ id: UInt64) -> TableMap? { tables[id]?.map }

    // MARK: File framing

    /// Appends bytes of a binlog file (any split).
    public mutating func feed<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if bufferOffset > 0 && bufferOffset >= buffer.count / 2 {
            buffer.removeFirst(bufferOffset)
            bufferOffset = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Bytes fed but not yet decoded (a partial event at the end of the input).
    public var bufferedByteCount: Int { buffer.count - bufferOffset }

    /// The next complete event of the fed file bytes, or nil when more bytes are needed.
    public mutating func nextEvent() throws -> BinlogEvent? {
        if let event = takePending() { return event }
        if !sawMagic {
            guard buffer.count - bufferOffset >= 4 else { return nil }
            guard buffer[bufferOffset..<bufferOffset + 4].elementsEqual([0xFE, 0x62, 0x69, 0x6E]) else {
                throw SluiceError(.decoding, "\(file.isEmpty ? "the input" : file) is not a binlog file (no \\xfebin magic)",
                                  location: location(0, nil), hint: "pass a MySQL/MariaDB binary log file")
            }
            bufferOffset += 4
            position = 4
            sawMagic = true
        }
        let available = buffer.count - bufferOffset
        guard available >= BinlogEventHeader.size else { return nil }
        let size = Int(buffer[bufferOffset + 9]) | Int(buffer[bufferOffset + 10]) << 8
            | Int(buffer[bufferOffset + 11]) << 16 | Int(buffer[bufferOffset + 12]) << 24
        guard size >= BinlogEventHeader.size else {
            throw SluiceError(.decoding, "event length \(size) is shorter than an event header",
                              location: location(position, BinlogEventType(rawValue: buffer[bufferOffset + 4])),
                              hint: "the binlog file is damaged")
        }
        guard available >= size else { return nil }
        let start = bufferOffset
        bufferOffset += size
        let eventPosition = position
        position += UInt64(size)
        try decodeEvent(buffer, from: start, to: start + size, at: eventPosition, payloadIndex: nil)
        return takePending()
    }

    /// Call at the end of the input: throws when a partial event remains.
    public func finish() throws {
        let left = buffer.count - bufferOffset
        guard left > 0 || !sawMagic else { return }
        var detail = "\(left) bytes"
        if left >= BinlogEventHeader.size {
            let type = BinlogEventType(rawValue: buffer[bufferOffset + 4])
            let size = Int(buffer[bufferOffset + 9]) | Int(buffer[bufferOffset + 10]) << 8
                | Int(buffer[bufferOffset + 11]) << 16 | Int(buffer[bufferOffset + 12]) << 24
            detail = "a \(type) of \(size) bytes, but only \(left) bytes"
            throw SluiceError(.decoding, "the binlog ends inside an event: \(detail) remain", location: location(position, type),
                              hint: "the file is truncated (copied while being written?); read it again once complete")
        }
        throw SluiceError(.decoding, "the binlog ends inside an event header: \(detail) remain",
                          location: location(position, nil), hint: "the file is truncated")
    }

    // MARK: Network framing

    /// Decodes one event packet of a replication stream (without the leading 0x00 status byte).
    /// Returns the events it holds (several for a TRANSACTION_PAYLOAD).
    public mutating func decode(packet: [UInt8], from start: Int = 0) throws -> [BinlogEvent] {
        pending.removeAll(keepingCapacity: true)
        pendingIndex = 0
        guard packet.count - start >= BinlogEventHeader.size else {
            throw SluiceError(.decoding, "replication packet of \(packet.count - start) bytes is shorter than an event header",
                              location: location(position, nil), hint: "the connection is damaged; reconnect")
        }
        let next = UInt64(packet[start + 13]) | UInt64(packet[start + 14]) << 8 | UInt64(packet[start + 15]) << 16
            | UInt64(packet[start + 16]) << 24
        let size = UInt64(packet.count - start)
        let eventPosition = next >= size ? next - size : position
        try decodeEvent(packet, from: start, to: packet.count, at: eventPosition, payloadIndex: nil)
        if next != 0 { position = next }
        let events = pending
        pending.removeAll(keepingCapacity: true)
        return events
    }

    // MARK: Events

    private mutating func takePending() -> BinlogEvent? {
        guard pendingIndex < pending.count else {
            if !pending.isEmpty {
                pending.removeAll(keepingCapacity: true)
                pendingIndex = 0
            }
            return nil
        }
        defer { pendingIndex += 1 }
        return pending[pendingIndex]
    }

    private func location(_ position: UInt64, _ type: BinlogEventType?, table: String? = nil) -> String {
        var text = "\(file.isEmpty ? "binlog" : file):\(position)"
        if let type { text += " (\(type))" }
        if let table { text += ", table \(table)" }
        return text
    }

    private mutating func decodeEvent(_ bytes: [UInt8], from start: Int, to end: Int, at eventPosition: UInt64,
                                      payloadIndex: Int?) throws {
        var cursor = ByteReader(bytes, from: start, to: end)
        let header = BinlogEventHeader(
            timestamp: try cursor.u32(), type: BinlogEventType(rawValue: try cursor.u8()), serverID: try cursor.u32(),
            eventSize: try cursor.u32(), nextPosition: try cursor.u32(), flags: try cursor.u16())
        var tableName: String?
        do {
            guard Int(header.eventSize) == end - start else {
                throw BinlogFormatError("the header says \(header.eventSize) bytes but the event has \(end - start)")
            }
            var bodyEnd = end
            var checksumAware = false
            if payloadIndex == nil {
                var algorithm = checksumAlgorithm
                if header.type == .formatDescription {
                    (checksumAware, algorithm) = Self.formatDescriptionChecksum(bytes, from: start, to: end)
                }
                if algorithm == 1 || checksumAware {
                    // A checksum-aware format description always has room for the CRC, even when it is off.
                    guard end - start >= BinlogEventHeader.size + 4 else { throw BinlogFormatError("no room for the CRC32") }
                    bodyEnd = end - 4
                }
                if algorithm == 1 && verifyChecksums {
                    let stored = UInt32(bytes[bodyEnd]) | UInt32(bytes[bodyEnd + 1]) << 8
                        | UInt32(bytes[bodyEnd + 2]) << 16 | UInt32(bytes[bodyEnd + 3]) << 24
                    var computed = BinlogCompression.crc32(bytes, from: start, to: bodyEnd)
                    if computed != stored && header.type == .formatDescription
                        && header.flags & BinlogEventHeader.binlogInUseFlag != 0 {
                        // Written with the in-use flag clear, set in the file while the server had it open.
                        computed = BinlogCompression.crc32(bytes, from: start, to: bodyEnd, clearingInUseFlagAt: start + 17)
                    }
                    guard computed == stored else {
                        throw BinlogFormatError("CRC32 mismatch: the event says 0x\(String(stored, radix: 16)), "
                                                + "its bytes give 0x\(String(computed, radix: 16))")
                    }
                }
            }
            cursor.end = bodyEnd
            guard let body = try decodeBody(header, &cursor, tableName: &tableName) else { return }
            let event = BinlogEvent(header: header, file: file, position: eventPosition, indexInPayload: payloadIndex,
                                    body: body)
            pending.append(event)
            if case .rotate(let next, let nextPosition) = body, framing == .network {
                file = next
                position = nextPosition
            }
        } catch let error as SluiceError {
            throw error
        } catch {
            throw SluiceError(.decoding, "cannot decode \(header.type): \(error)",
                              location: location(eventPosition, header.type, table: tableName),
                              hint: "the binlog may be damaged or written by an unsupported server version; "
                                  + "start from a later position or report the event")
        }
    }

    /// Whether a format description event comes from a checksum-aware server, and the checksum algorithm it
    /// declares (0 for none).
    static func formatDescriptionChecksum(_ bytes: [UInt8], from start: Int, to end: Int) -> (Bool, UInt8) {
        let versionStart = start + BinlogEventHeader.size + 2
        guard versionStart + 50 <= end else { return (false, 0) }
        let versionBytes = bytes[versionStart..<versionStart + 50].prefix { $0 != 0 }
        let version = String(decoding: versionBytes, as: UTF8.self)
        guard FormatDescription.isChecksumAware(serverVersion: version), end - versionStart >= 50 + 5 + 5 else {
            return (false, 0)
        }
        let algorithm = bytes[end - 5]
        return (true, algorithm == 255 ? 0 : algorithm)
    }

    private mutating func decodeBody(_ header: BinlogEventHeader, _ cursor: inout ByteReader<[UInt8]>,
                                     tableName: inout String?) throws -> BinlogEventBody? {
        let type = header.type
        func postHeader(_ fallback: Int) -> Int { format?.postHeaderLength(type, default: fallback) ?? fallback }
        switch type {
        case .formatDescription:
            let description = try Self.parseFormatDescription(&cursor)
            format = description
            checksumAlgorithm = description.checksumAlgorithm
            return .formatDescription(description)
        case .rotate:
            let positionInNext = postHeader(8) >= 8 ? try cursor.u64() : 4
            try cursor.skip(max(0, postHeader(8) - 8))
            return .rotate(file: String(decoding: cursor.rest(), as: UTF8.self), position: positionInNext)
        case .query, .queryCompressed:
            return .query(try parseQuery(&cursor, postHeaderLength: postHeader(13), compressed: type == .queryCompressed))
        case .xid:
            try cursor.skip(postHeader(0))
            return .xid(try cursor.u64())
        case .tableMap:
            let map = try TableMap.parse(&cursor, postHeaderLength: postHeader(8))
            tableName = "\(map.database).\(map.table)"
            installTableMap(map)
            return .tableMap(map)
        case .gtid, .anonymousGTID:
            let flags = try cursor.u8()
            _ = flags
            let sid = try cursor.array(16)
            let gno = try cursor.u64()
            if type == .anonymousGTID { return .mysqlGTID(gtid: nil, isAnonymous: true) }
            return .mysqlGTID(gtid: "\(Self.uuidText(sid)):\(gno)", isAnonymous: false)
        case .gtidTagged:
            return .mysqlGTID(gtid: try Self.parseTaggedGTID(&cursor), isAnonymous: false)
        case .previousGTIDs:
            return .previousGTIDs(try MySQLGTIDSet(decoding: &cursor))
        case .mariaGTID:
            let sequence = try cursor.u64()
            let domain = try cursor.u32()
            let flags = try cursor.u8()
            return .mariaGTID(MariaGTID(domain: domain, serverID: header.serverID, sequence: sequence,
                                        isStandalone: flags & 1 != 0))
        case .mariaGTIDList:
            let count = Int(try cursor.u32() & 0x0FFF_FFFF)
            var parts: [String] = []
            for _ in 0..<count {
                let domain = try cursor.u32(), server = try cursor.u32(), sequence = try cursor.u64()
                parts.append("\(domain)-\(server)-\(sequence)")
            }
            return .mariaGTIDList(parts.joined(separator: ","))
        case .annotateRows:
            return .rowsQuery(String(decoding: cursor.rest(), as: UTF8.self))
        case .rowsQuery:
            try cursor.skip(1)  // length byte (ignored: the text runs to the end)
            return .rowsQuery(String(decoding: cursor.rest(), as: UTF8.self))
        case .heartbeat:
            return .heartbeat(file: String(decoding: cursor.rest(), as: UTF8.self), position: UInt64(header.nextPosition))
        case .heartbeatV2:
            var name = "", heartbeatPosition = UInt64(header.nextPosition)
            while !cursor.isAtEnd {
                let field = try cursor.u8()
                if field == 0 { break }
                let length = try cursor.lenencCount()
                if field == 1 { name = try cursor.utf8(length) }
                else if field == 2 {
                    var value = ByteReader(cursor.bytes, from: cursor.offset, to: cursor.offset + length)
                    heartbeatPosition = try value.lenenc()
                    try cursor.skip(length)
                } else { try cursor.skip(length) }
            }
            return .heartbeat(file: name, position: heartbeatPosition)
        case .stop:
            return .stop
        case .xaPrepare:
            return .xaPrepare
        case .incident:
            let code = try cursor.u16()
            let length = Int(try cursor.u8())
            return .incident(code: code, message: try cursor.utf8(min(length, cursor.remaining)))
        case .transactionPayload:
            try decodeTransactionPayload(header, &cursor)
            return nil
        case .startEncryption:
            throw BinlogFormatError("the binlog is encrypted (START_ENCRYPTION_EVENT); read it through the server, "
                                    + "which decrypts events for replicas")
        default:
            if type.rowsKind != nil {
                let (body, name) = try decodeRows(header, &cursor, postHeaderLength: postHeader(type.hasRowsExtraData ? 10 : 8))
                tableName = name
                return body
            }
            switch type.rawValue {
            case 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 18, 28, 36, 37, 161:
                return .other
            case 1:
                return .other  // START_EVENT_V3 of very old binlogs
            case 20, 21, 22:
                throw BinlogFormatError("pre-GA rows events of MySQL 5.1 betas are not supported")
            default:
                if header.flags & BinlogEventHeader.ignorableFlag != 0 { return .ignored }
                throw BinlogFormatError("unknown event type \(type.rawValue) without the ignorable flag")
            }
        }
    }

    /// Parses a format description body (its CRC already cut off when the event has room for one).
    static func parseFormatDescription(_ cursor: inout ByteReader<[UInt8]>) throws -> FormatDescription {
        let binlogVersion = try cursor.u16()
        let versionBytes = try cursor.array(50)
        let serverVersion = String(decoding: versionBytes.prefix { $0 != 0 }, as: UTF8.self)
        _ = try cursor.u32()  // creation time
        let headerLength = Int(try cursor.u8())
        var algorithm: UInt8 = 0
        var lengthsEnd = cursor.end
        if FormatDescription.isChecksumAware(serverVersion: serverVersion) && cursor.remaining >= 1 {
            algorithm = cursor.bytes[cursor.end - 1]
            lengthsEnd = cursor.end - 1
        }
        let lengths = Array(cursor.bytes[cursor.offset..<max(cursor.offset, lengthsEnd)])
        cursor.offset = cursor.end
        return FormatDescription(binlogVersion: binlogVersion, serverVersion: serverVersion, headerLength: headerLength,
                                 postHeaderLengths: lengths, checksumAlgorithm: algorithm == 255 ? 0 : algorithm)
    }

    private func parseQuery(_ cursor: inout ByteReader<[UInt8]>, postHeaderLength: Int, compressed: Bool) throws -> QueryEvent {
        let threadID = try cursor.u32()
        _ = try cursor.u32()  // execution time
        let databaseLength = Int(try cursor.u8())
        let errorCode = try cursor.u16()
        var statusLength = 0
        if postHeaderLength >= 13 { statusLength = Int(try cursor.u16()) }
        try cursor.skip(max(0, postHeaderLength - 13))
        try cursor.skip(statusLength)
        let database = try cursor.utf8(databaseLength)
        try cursor.skip(1)
        let sql: String
        if compressed {
            let inflated = try BinlogCompression.inflateMariaDB(cursor.bytes, from: cursor.offset, to: cursor.end)
            sql = String(decoding: inflated, as: UTF8.self)
        } else {
            sql = String(decoding: cursor.rest(), as: UTF8.self)
        }
        return QueryEvent(threadID: threadID, errorCode: errorCode, database: database, sql: sql)
    }

    private mutating func installTableMap(_ map: TableMap) {
        let key = "\(map.database).\(map.table)"
        if let cached = tables[map.tableID], cached.map.signature == map.signature,
           cached.generation == catalogGeneration, cached.map.database == map.database {
            tables[map.tableID]!.map = map
            return
        }
        var info = catalog[key]
        if let columns = info, columns.count != map.columns.count { info = nil }
        // Plans are built lazily (a table map with an unsupported type only fails when its rows are read).
        tables[map.tableID] = CachedTable(map: map, plan: [], generation: catalogGeneration, catalogMatched: info != nil)
    }

    private mutating func plan(for id: UInt64) throws -> CachedTable {
        guard var cached = tables[id] else {
            throw BinlogFormatError("rows event for table id \(id) without a preceding TABLE_MAP_EVENT "
                                    + "(start reading at the transaction's first event)")
        }
        if cached.plan.isEmpty && !cached.map.columns.isEmpty {
            let key = "\(cached.map.database).\(cached.map.table)"
            var info = catalog[key]
            if let columns = info, columns.count != cached.map.columns.count { info = nil }
            cached.plan = try cached.map.columns.enumerated().map { index, column in
                try ColumnDecoding(column, catalog: info?[index])
            }
            cached.catalogMatched = info != nil
            tables[id] = cached
        }
        return cached
    }

    private mutating func decodeRows(_ header: BinlogEventHeader, _ cursor: inout ByteReader<[UInt8]>,
                                     postHeaderLength: Int) throws -> (BinlogEventBody, String?) {
        let type = header.type
        let tableID = postHeaderLength == 6 ? UInt64(try cursor.u32()) : try cursor.le(6)
        let flags = try cursor.u16()
        if postHeaderLength >= 10 {
            let extraLength = Int(try cursor.u16())
            try cursor.skip(max(0, extraLength - 2))
            try cursor.skip(postHeaderLength - 10)
        } else if postHeaderLength > 8 {
            try cursor.skip(postHeaderLength - 8)
        }
        let cached = try plan(for: tableID)
        let map = cached.map
        let name = "\(map.database).\(map.table)"
        let width = try cursor.lenencCount()
        guard width == map.columns.count else {
            throw BinlogFormatError("the rows event has \(width) columns but the table map of \(name) has "
                                    + "\(map.columns.count)")
        }
        guard let kind = type.rowsKind else { throw BinlogFormatError("not a rows event") }
        let bitmapLength = (width + 7) / 8
        let presentBefore = try cursor.array(bitmapLength)
        let presentAfter = kind == .update ? try cursor.array(bitmapLength) : presentBefore
        var rowsCursor = cursor
        if type.isMariaCompressed {
            let inflated = try BinlogCompression.inflateMariaDB(cursor.bytes, from: cursor.offset, to: cursor.end)
            rowsCursor = ByteReader(inflated)
            cursor.offset = cursor.end
        }
        let rowData = RowData(cursor: rowsCursor, plan: cached.plan, kind: kind, presentBefore: presentBefore,
                              presentAfter: presentAfter, isPartial: type == .partialUpdateRows)
        cursor.offset = cursor.end
        if defersRows && !rowData.isPartial {
            return (.rows(RowsEvent(kind: kind, table: map, rows: [], isStatementEnd: flags & 1 != 0, rowData: rowData)), name)
        }
        let event = RowsEvent(kind: kind, table: map, rows: try rowData.decode(), isStatementEnd: flags & 1 != 0)
        return (.rows(event), name)
    }

    /// One row image: a null bitmap over the present columns, then the non-null present values.
    @inline(__always)
    static func decodeImage(_ cursor: inout ByteReader<[UInt8]>, _ plan: [ColumnDecoding], present: [UInt8],
                            presentCount: Int) throws -> [Value] {
        let nullBytes = (presentCount + 7) / 8
        try cursor.need(nullBytes)
        let nullStart = cursor.offset
        cursor.offset += nullBytes
        var values = [Value](repeating: .unchanged, count: plan.count)
        var n = 0
        for i in 0..<plan.count where present[i >> 3] & (1 << (i & 7)) != 0 {
            if cursor.bytes[nullStart + (n >> 3)] & (1 << (n & 7)) != 0 {
                values[i] = .null
            } else {
                values[i] = try ColumnValueDecoder.decode(plan[i], &cursor)
            }
            n += 1
        }
        return values
    }

    /// The after image of a PARTIAL_UPDATE_ROWS row: value options, a bitmap of JSON columns sent as diffs,
    /// then the image, whose diffed JSON columns are applied to the before image's values.
    static func decodePartialAfterImage(_ cursor: inout ByteReader<[UInt8]>, _ plan: [ColumnDecoding], present: [UInt8],
                                        presentCount: Int, jsonColumns: Int, before: [Value],
                                        partial: inout [Int: JSONPartialUpdate]) throws -> [Value] {
        let options = try cursor.lenenc()
        var partialBits: [UInt8] = []
        if options & 1 != 0 { partialBits = try cursor.array((jsonColumns + 7) / 8) }
        let nullBytes = (presentCount + 7) / 8
        let nullBitmap = try cursor.array(nullBytes)
        var values = [Value](repeating: .unchanged, count: plan.count)
        var n = 0, jsonIndex = 0
        for i in 0..<plan.count where present[i >> 3] & (1 << (i & 7)) != 0 {
            var isPartial = false
            if case .json = plan[i] {
                isPartial = !partialBits.isEmpty && partialBits[jsonIndex >> 3] & (1 << (jsonIndex & 7)) != 0
                jsonIndex += 1
            }
            if nullBitmap[n >> 3] & (1 << (n & 7)) != 0 {
                values[i] = .null
            } else if isPartial {
                let update = try MySQLJSON.readDiffs(&cursor)
                if case .json(let text) = before[i] {
                    values[i] = .json(try update.applied(to: text))
                } else {
                    // The before image lacks the column (binlog_row_image MINIMAL/NOBLOB): keep the diffs.
                    values[i] = .unchanged
                    partial[i] = update
                }
            } else {
                values[i] = try ColumnValueDecoder.decode(plan[i], &cursor)
            }
            n += 1
        }
        return values
    }

    private mutating func decodeTransactionPayload(_ header: BinlogEventHeader, _ cursor: inout ByteReader<[UInt8]>) throws {
        var payloadSize: Int?
        var compression: UInt64 = 0
        var uncompressedSize: Int?
        while !cursor.isAtEnd {
            let field = try cursor.lenenc()
            if field == 0 { break }  // end of the header fields
            let length = try cursor.lenencCount()
            var value = ByteReader(cursor.bytes, from: cursor.offset, to: cursor.offset + length)
            try cursor.skip(length)
            switch field {
            case 1: payloadSize = Int(try value.lenenc())
            case 2: compression = try value.lenenc()
            case 3: uncompressedSize = Int(try value.lenenc())
            default: break
            }
        }
        let payloadEnd = min(cursor.end, cursor.offset + (payloadSize ?? cursor.remaining))
        let inner: [UInt8]
        switch compression {
        case 0: inner = try BinlogCompression.zstd(cursor.bytes, from: cursor.offset, to: payloadEnd,
                                                    expectedSize: uncompressedSize)
        case 255: inner = Array(cursor.bytes[cursor.offset..<payloadEnd])
        default: throw BinlogFormatError("unknown transaction payload compression \(compression)")
        }
        let outerPosition = framing == .file ? position - UInt64(header.eventSize)
            : (UInt64(header.nextPosition) >= UInt64(header.eventSize) ? UInt64(header.nextPosition) - UInt64(header.eventSize) : position)
        var offset = 0, index = 0
        while offset < inner.count {
            guard inner.count - offset >= BinlogEventHeader.size else {
                throw BinlogFormatError("transaction payload ends inside an event header")
            }
            let size = Int(inner[offset + 9]) | Int(inner[offset + 10]) << 8 | Int(inner[offset + 11]) << 16
                | Int(inner[offset + 12]) << 24
            guard size >= BinlogEventHeader.size, offset + size <= inner.count else {
                throw BinlogFormatError("transaction payload holds an event of \(size) bytes beyond its end")
            }
            try decodeEvent(inner, from: offset, to: offset + size, at: outerPosition, payloadIndex: index)
            offset += size
            index += 1
        }
    }

    static func uuidText(_ b: [UInt8]) -> String {
        let hex = HexBytes.encode(b)
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-"
            + String(c[20..<32])
    }

    /// GTID_TAGGED_LOG_EVENT (MySQL 8.3+): a serialized message (format version, size, last non-ignorable
    /// field id, then numbered fields): 0 flags, 1 server uuid (16 variable-length bytes), 2 sequence number,
    /// 3 tag; later fields (commit timestamps, lengths) are not needed.
    static func parseTaggedGTID(_ cursor: inout ByteReader<[UInt8]>) throws -> String? {
        _ = try varlen(&cursor)  // format version
        _ = try varlen(&cursor)  // message size
        _ = try varlen(&cursor)  // last non-ignorable field id
        var uuid: String?, sequence: UInt64?, tag = ""
        fields: while !cursor.isAtEnd {
            switch try varlen(&cursor) {
            case 0: _ = try varlen(&cursor)
            case 1:
                var bytes: [UInt8] = []
                for _ in 0..<16 { bytes.append(UInt8(truncatingIfNeeded: try varlen(&cursor))) }
                uuid = uuidText(bytes)
            case 2: sequence = try varlen(&cursor)
            case 3: tag = try cursor.utf8(Int(try varlen(&cursor)))
            default: break fields
            }
        }
        guard let uuid, let sequence else { throw BinlogFormatError("tagged GTID without server uuid or sequence number") }
        return tag.isEmpty ? "\(uuid):\(sequence)" : "\(uuid):\(tag):\(sequence)"
    }

    /// MySQL serialization's variable-length integer: the count of trailing one bits of the first byte
    /// says how many more bytes follow; the value is little-endian above those bits.
    static func varlen(_ cursor: inout ByteReader<[UInt8]>) throws -> UInt64 {
        let first = try cursor.u8()
        let extra = first == 0xFF ? 8 : (~first).trailingZeroBitCount
        var value = UInt64(first) >> UInt64(extra + 1 > 8 ? 8 : extra + 1)
        if extra == 0 { return value }
        let rest = try cursor.le(extra)
        if extra == 8 { return rest }
        value |= rest << UInt64(8 - extra - 1)
        return value
    }
}

