import Foundation
import SluiceCompression
import SluiceParquet

/// Reads Parquet data and delete files of an Iceberg table back into cells, matching columns by field id (so
/// renamed or reordered columns and columns added later read right; a column the file lacks reads as null).
///
/// It reads what Sluice and pyarrow write: data pages v1 with PLAIN or dictionary encoding, scalar and
/// three-level LIST columns, uncompressed, Snappy, gzip or zstd. Used to rebuild the upsert key index after a
/// restart and by compaction.
struct DataFileReader {
    /// Reads the whole file; returns rows with one cell per field of `schema`, in schema order.
    static func read(location: String, schema: IcebergSchema) throws -> [[Cell]] {
        let path = LocalFiles.path(location)
        let bytes = try LocalFiles.read(path)
        let metadata: ParquetFormat.FileMetaData
        do {
            metadata = try ParquetFooter.metadata(fromFileBytes: bytes, name: path)
        } catch {
            throw IcebergError(.corruptMetadata, "cannot read the Parquet footer of \(path): \(error)")
        }
        let leaves = try leafColumns(metadata.schema)
        let rowCount = Int(metadata.numRows)
        var columns: [[Cell]] = []
        for field in schema.fields {
            guard let leafIndex = leaves.firstIndex(where: { $0.topFieldId == field.id }) else {
                columns.append(Array(repeating: .null, count: rowCount))
                continue
            }
            let leaf = leaves[leafIndex]
            var cells: [Cell] = []
            cells.reserveCapacity(rowCount)
            for rowGroup in metadata.rowGroups {
                guard leafIndex < rowGroup.columns.count, let chunk = rowGroup.columns[leafIndex].metaData else {
                    throw IcebergError(.corruptMetadata, "\(path): a row group lacks column \(field.name)")
                }
                cells += try readChunk(
                    bytes: bytes, chunk: chunk, leaf: leaf, type: field.type, path: path,
                    rows: Int(rowGroup.numRows))
            }
            guard cells.count == rowCount else {
                throw IcebergError(
                    .corruptMetadata, "\(path): column \(field.name) has \(cells.count) values for \(rowCount) rows")
            }
            columns.append(cells)
        }
        return (0..<rowCount).map { row in columns.map { $0[row] } }
    }

    struct Leaf {
        var topFieldId: Int?
        var element: ParquetFormat.SchemaElement
        var maxDefinition: Int
        var maxRepetition: Int
        var isList: Bool
        /// Definition level from which the list is non-null (lists only).
        var listPresentLevel: Int
    }

    static func leafColumns(_ elements: [ParquetFormat.SchemaElement]) throws -> [Leaf] {
        var leaves: [Leaf] = []
        var index = 1
        func walk(topFieldId: Int?, definition: Int, repetition: Int, depth: Int, listPresent: Int) throws {
            guard index < elements.count else { throw IcebergError(.corruptMetadata, "a Parquet schema is truncated") }
            let element = elements[index]
            index += 1
            var definition = definition
            var repetition = repetition
            switch element.repetitionType {
            case .optional?: definition += 1
            case .repeated?:
                definition += 1
                repetition += 1
            default: break
            }
            let top = depth == 0 ? element.fieldId.map(Int.init) : topFieldId
            if let children = element.numChildren, children > 0 {
                let present = depth == 0 ? definition : listPresent
                for _ in 0..<children {
                    try walk(
                        topFieldId: top, definition: definition, repetition: repetition, depth: depth + 1,
                        listPresent: present)
                }
            } else {
                leaves.append(
                    Leaf(
                        topFieldId: top, element: element, maxDefinition: definition,
                        maxRepetition: repetition, isList: repetition > 0, listPresentLevel: listPresent))
            }
        }
        let rootChildren = elements.first?.numChildren ?? 0
        for _ in 0..<rootChildren { try walk(topFieldId: nil, definition: 0, repetition: 0, depth: 0, listPresent: 0) }
        return leaves
    }

    static func readChunk(
        bytes: [UInt8], chunk: ParquetFormat.ColumnMetaData, leaf: Leaf, type: IcebergType, path: String, rows: Int
    ) throws -> [Cell] {
        var position = Int(chunk.dictionaryPageOffset ?? chunk.dataPageOffset)
        let end = position + Int(chunk.totalCompressedSize)
        var dictionary: [Cell] = []
        var out: [Cell] = []
        var currentList: [Cell]? = nil
        let elementType: IcebergType
        if case .list(_, let element, _) = type { elementType = element } else { elementType = type }
        while position < end && (out.count < rows || currentList != nil) {
            let (header, bodyStart) = try ParquetFormat.PageHeader.decode(bytes, at: position)
            let bodyEnd = bodyStart + Int(header.compressedPageSize)
            guard bodyEnd <= bytes.count else {
                throw IcebergError(.corruptMetadata, "\(path): a page runs past the file")
            }
            position = bodyEnd
            switch header.type {
            case .dictionaryPage:
                let body = try decompress(
                    Array(bytes[bodyStart..<bodyEnd]), codec: chunk.codec,
                    size: Int(header.uncompressedPageSize), path: path)
                var cursor = 0
                let count = Int(header.dictionaryPageHeader?.numValues ?? 0)
                dictionary = try plainValues(body, &cursor, count: count, leaf: leaf, type: elementType, path: path)
            case .dataPage:
                guard let page = header.dataPageHeader else { continue }
                let body = try decompress(
                    Array(bytes[bodyStart..<bodyEnd]), codec: chunk.codec,
                    size: Int(header.uncompressedPageSize), path: path)
                var cursor = 0
                let count = Int(page.numValues)
                var repetitions = [Int](repeating: 0, count: count)
                var definitions = [Int](repeating: leaf.maxDefinition, count: count)
                if leaf.maxRepetition > 0 {
                    repetitions = try lengthPrefixedLevels(body, &cursor, count: count, max: leaf.maxRepetition)
                }
                if leaf.maxDefinition > 0 {
                    definitions = try lengthPrefixedLevels(body, &cursor, count: count, max: leaf.maxDefinition)
                }
                let present = definitions.filter { $0 == leaf.maxDefinition }.count
                var values: [Cell]
                switch page.encoding {
                case .plain:
                    values = try plainValues(body, &cursor, count: present, leaf: leaf, type: elementType, path: path)
                case .rleDictionary, .plainDictionary:
                    guard cursor < body.count || present == 0 else {
                        throw IcebergError(.corruptMetadata, "\(path): empty dictionary page")
                    }
                    let width = present == 0 ? 0 : Int(body[cursor])
                    cursor += 1
                    let indices = try hybrid(body, &cursor, end: body.count, count: present, bitWidth: width)
                    values = try indices.map { index in
                        guard index < dictionary.count else {
                            throw IcebergError(.corruptMetadata, "\(path): a dictionary index is out of range")
                        }
                        return dictionary[index]
                    }
                default:
                    throw IcebergError(
                        .unsupported, "\(path) uses Parquet encoding \(page.encoding), which Sluice cannot read",
                        hint: "compact the table with a writer that uses PLAIN or dictionary encoding")
                }
                var next = 0
                for slot in 0..<count {
                    let definition = definitions[slot]
                    let value: Cell? = definition == leaf.maxDefinition ? values[next] : nil
                    if value != nil { next += 1 }
                    if !leaf.isList {
                        out.append(value ?? .null)
                        continue
                    }
                    if repetitions[slot] == 0, let list = currentList {
                        out.append(.list(list))
                        currentList = nil
                    }
                    if definition < leaf.listPresentLevel {
                        out.append(.null)
                    } else if definition == leaf.listPresentLevel {
                        currentList = []
                    } else {
                        currentList = (currentList ?? []) + [value ?? .null]
                    }
                }
            default:
                throw IcebergError(
                    .unsupported, "\(path) has a \(header.type) page, which Sluice cannot read",
                    hint: "Sluice reads data pages v1 (pyarrow's default)")
            }
        }
        if let list = currentList { out.append(.list(list)) }
        return out
    }

    static func lengthPrefixedLevels(_ body: [UInt8], _ cursor: inout Int, count: Int, max: Int) throws -> [Int] {
        guard cursor + 4 <= body.count else { throw IcebergError(.corruptMetadata, "a page's levels are truncated") }
        let length =
            Int(body[cursor]) | Int(body[cursor + 1]) << 8 | Int(body[cursor + 2]) << 16 | Int(body[cursor + 3]) << 24
        cursor += 4
        let end = cursor + length
        guard end <= body.count else { throw IcebergError(.corruptMetadata, "a page's levels are truncated") }
        var levelCursor = cursor
        let width = Int.bitWidth - max.leadingZeroBitCount
        let levels = try hybrid(body, &levelCursor, end: end, count: count, bitWidth: width)
        cursor = end
        return levels
    }

    /// Decodes the RLE/bit-packed hybrid encoding.
    static func hybrid(_ body: [UInt8], _ cursor: inout Int, end: Int, count: Int, bitWidth: Int) throws -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(count)
        if bitWidth == 0 { return Array(repeating: 0, count: count) }
        while out.count < count {
            var header = 0
            var shift = 0
            while true {
                guard cursor < end else { throw IcebergError(.corruptMetadata, "a level or index run is truncated") }
                let byte = body[cursor]
                cursor += 1
                header |= Int(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            if header & 1 == 0 {
                let runLength = header >> 1
                let width = (bitWidth + 7) / 8
                guard cursor + width <= end else { throw IcebergError(.corruptMetadata, "an RLE run is truncated") }
                var value = 0
                for i in 0..<width { value |= Int(body[cursor + i]) << (8 * i) }
                cursor += width
                out.append(contentsOf: repeatElement(value, count: min(runLength, count - out.count)))
            } else {
                let groups = header >> 1
                let byteCount = groups * bitWidth
                guard cursor + byteCount <= end else {
                    throw IcebergError(.corruptMetadata, "a bit-packed run is truncated")
                }
                var bitPosition = 0
                for _ in 0..<(groups * 8) {
                    var value = 0
                    for bit in 0..<bitWidth {
                        let absolute = bitPosition + bit
                        if body[cursor + absolute / 8] & (1 << (absolute % 8)) != 0 { value |= 1 << bit }
                    }
                    bitPosition += bitWidth
                    if out.count < count { out.append(value) }
                }
                cursor += byteCount
            }
        }
        return out
    }

    static func plainValues(
        _ body: [UInt8], _ cursor: inout Int, count: Int, leaf: Leaf, type: IcebergType, path: String
    ) throws -> [Cell] {
        func need(_ n: Int) throws {
            guard cursor + n <= body.count else {
                throw IcebergError(.corruptMetadata, "\(path): a page's values are truncated")
            }
        }
        func littleEndian(_ n: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(body[cursor + i]) << (8 * UInt64(i)) }
            cursor += n
            return v
        }
        func decimal(_ raw: ArraySlice<UInt8>) -> Cell {
            var value: Int128 = (raw.first ?? 0) & 0x80 != 0 ? -1 : 0
            for byte in raw { value = value << 8 | Int128(byte) }
            return .decimal(value)
        }
        var out: [Cell] = []
        out.reserveCapacity(count)
        let isDecimal: Bool = { if case .decimal = type { return true } else { return false } }()
        switch leaf.element.type {
        case .boolean?:
            try need((count + 7) / 8)
            for i in 0..<count { out.append(.bool(body[cursor + i / 8] & (1 << (i % 8)) != 0)) }
            cursor += (count + 7) / 8
        case .int32?:
            try need(4 * count)
            for _ in 0..<count {
                let v = Int64(Int32(bitPattern: UInt32(littleEndian(4))))
                out.append(isDecimal ? .decimal(Int128(v)) : .long(v))
            }
        case .int64?:
            try need(8 * count)
            for _ in 0..<count {
                let v = Int64(bitPattern: littleEndian(8))
                out.append(isDecimal ? .decimal(Int128(v)) : .long(v))
            }
        case .float?:
            try need(4 * count)
            for _ in 0..<count { out.append(.double(Double(Float(bitPattern: UInt32(littleEndian(4)))))) }
        case .double?:
            try need(8 * count)
            for _ in 0..<count { out.append(.double(Double(bitPattern: littleEndian(8)))) }
        case .byteArray?:
            for _ in 0..<count {
                try need(4)
                let length = Int(littleEndian(4))
                try need(length)
                let raw = body[cursor..<(cursor + length)]
                cursor += length
                if isDecimal {
                    out.append(decimal(raw))
                } else if type == .string {
                    out.append(.string(String(decoding: raw, as: UTF8.self)))
                } else {
                    out.append(.bytes(Array(raw)))
                }
            }
        case .fixedLenByteArray?:
            let length = Int(leaf.element.typeLength ?? 0)
            try need(length * count)
            for _ in 0..<count {
                let raw = body[cursor..<(cursor + length)]
                cursor += length
                out.append(isDecimal ? decimal(raw) : .bytes(Array(raw)))
            }
        default:
            throw IcebergError(
                .unsupported, "\(path): column \(leaf.element.name) has a physical type Sluice cannot read")
        }
        return out
    }

    /// A page body decompressed to the `size` bytes its header promises (a page that decompresses to any other
    /// size is damaged).
    static func decompress(
        _ data: [UInt8], codec: ParquetFormat.CompressionCodec, size: Int, path: String
    ) throws -> [UInt8] {
        switch codec {
        case .uncompressed:
            return data
        case .zstd, .snappy, .gzip:
            break
        default:
            throw IcebergError(.unsupported, "\(path) uses compression \(codec), which Sluice cannot read")
        }
        do {
            return try data.withUnsafeBytes { page throws(CompressionError) in
                switch codec {
                case .zstd: try Zstd.decompress(page, exactSize: size)
                case .snappy: try Snappy.decompress(page, exactSize: size)
                default: try Inflater.decompress(page, format: .zlibOrGzip, exactSize: size)
                }
            }
        } catch let error as CompressionError {
            throw IcebergError(
                .corruptMetadata, "\(path): a \(error.codec.rawValue) page does not decompress (\(error.reason))")
        }
    }
}
