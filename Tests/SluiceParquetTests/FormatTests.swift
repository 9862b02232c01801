import Foundation
import Testing

@testable import SluiceParquet

/// Decodes the RLE / bit-packing hybrid (a test oracle for the encoder).
func decodeHybrid(_ bytes: [UInt8], bitWidth: Int, count: Int) -> [UInt32] {
    var values: [UInt32] = []
    var position = 0
    func varint() -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }
    while values.count < count {
        let header = varint()
        if header & 1 == 0 {
            var value: UInt32 = 0
            for index in 0..<(bitWidth + 7) / 8 {
                value |= UInt32(bytes[position + index]) << (8 * index)
            }
            position += (bitWidth + 7) / 8
            values.append(contentsOf: repeatElement(value, count: Int(header >> 1)))
        } else {
            let groups = Int(header >> 1)
            var bitOffset = 0
            for _ in 0..<groups * 8 {
                var value: UInt32 = 0
                for bit in 0..<bitWidth {
                    let absolute = bitOffset + bit
                    if bytes[position + absolute / 8] >> (absolute % 8) & 1 == 1 {
                        value |= 1 << bit
                    }
                }
                bitOffset += bitWidth
                values.append(value)
            }
            position += groups * bitWidth
        }
    }
    return Array(values.prefix(count))
}

@Suite struct FormatTests {
    @Test(arguments: [1, 2, 3, 7, 10, 17, 32])
    func hybridEncodingRoundTrips(bitWidth: Int) {
        var generator = SystemRandomNumberGenerator()
        let maximum = bitWidth == 32 ? UInt32.max : UInt32(1) << bitWidth - 1
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 5003] {
            var values: [UInt32] = []
            while values.count < length {
                let value = UInt32.random(in: 0...maximum, using: &generator)
                let run = Int.random(in: 0..<3, using: &generator) == 0 ? Int.random(in: 1...40, using: &generator) : 1
                values.append(contentsOf: repeatElement(value, count: min(run, length - values.count)))
            }
            var encoded: [UInt8] = []
            values.withUnsafeBufferPointer { RLEBitPackedHybrid.encode($0, bitWidth: bitWidth, into: &encoded) }
            #expect(decodeHybrid(encoded, bitWidth: bitWidth, count: length) == values, "length \(length)")
        }
    }

    @Test func longRunsBecomeRLE() {
        let levels = [UInt8](repeating: 1, count: 100_000)
        var encoded: [UInt8] = []
        RLEBitPackedHybrid.encodeLengthPrefixed(levels, bitWidth: 1, into: &encoded)
        #expect(encoded == [4, 0, 0, 0, 0xC0, 0x9A, 0x0C, 1])
    }

    @Test func thriftCompactStructuresRoundTrip() throws {
        let metadata = ParquetFormat.FileMetaData(
            version: 1,
            schema: [
                ParquetFormat.SchemaElement(name: "schema", numChildren: 1),
                ParquetFormat.SchemaElement(
                    type: .fixedLenByteArray, typeLength: 16, repetitionType: .optional, name: "amount",
                    convertedType: .decimal, scale: 4, precision: 38, fieldId: 7,
                    logicalType: .decimal(scale: 4, precision: 38)),
                ParquetFormat.SchemaElement(
                    type: .int64, repetitionType: .required, name: "at", fieldId: 300,
                    logicalType: .timestamp(isAdjustedToUTC: false, unit: .micros)),
                ParquetFormat.SchemaElement(
                    type: .int32, name: "small", logicalType: .integer(bitWidth: 8, isSigned: false)),
            ],
            numRows: 1 << 40,
            rowGroups: [
                ParquetFormat.RowGroup(
                    columns: [
                        ParquetFormat.ColumnChunk(
                            fileOffset: 4,
                            metaData: ParquetFormat.ColumnMetaData(
                                type: .fixedLenByteArray, encodings: [.plain, .rle, .rleDictionary],
                                pathInSchema: ["amount"], codec: .zstd, numValues: -5, totalUncompressedSize: 1,
                                totalCompressedSize: 2, dataPageOffset: 99, dictionaryPageOffset: 4,
                                statistics: ParquetFormat.Statistics(
                                    nullCount: 3, maxValue: [1, 2], minValue: [], isMaxValueExact: false,
                                    isMinValueExact: true)))
                    ],
                    totalByteSize: 10, numRows: 20, fileOffset: 4, totalCompressedSize: 30, ordinal: 0)
            ],
            keyValueMetadata: (0..<20).map { ParquetFormat.KeyValue(key: "k\($0)", value: $0 % 2 == 0 ? "v" : nil) },
            createdBy: "sluice", columnOrders: [.typeDefinedOrder, .typeDefinedOrder, .typeDefinedOrder])
        let decoded = try ParquetFormat.FileMetaData.decode(metadata.encoded())
        #expect(decoded == metadata)

        let header = ParquetFormat.PageHeader(
            type: .dictionaryPage, uncompressedPageSize: 1 << 20, compressedPageSize: 12345,
            dictionaryPageHeader: ParquetFormat.DictionaryPageHeader(numValues: 997))
        let encoded = [0xAA] + header.encoded() + [0xBB]
        let (decodedHeader, end) = try ParquetFormat.PageHeader.decode(encoded, at: 1)
        #expect(decodedHeader == header)
        #expect(encoded[end] == 0xBB)
    }

    @Test func truncatedFooterIsReportedAsCorrupt() throws {
        let bytes = ParquetFormat.FileMetaData(version: 1, schema: [], numRows: 0, rowGroups: []).encoded()
        #expect(throws: ParquetError.self) { try ParquetFormat.FileMetaData.decode(Array(bytes.dropLast(2))) }
    }

    @Test func footerOfAWrittenFileDecodesToWhatWasWritten() throws {
        let path = TemporaryFile.path(suffix: "parquet")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let summary = try SampleTables.allTypes(rows: 1000).write(to: path)
        let footer = try ParquetFooter.readMetadata(path: path)
        #expect(footer == summary.metadata)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.size] as? Int).map(Int64.init) == summary.fileSize)
        #expect(footer.columnOrders?.count == footer.schema.filter { $0.type != nil }.count)

        // Every chunk starts with its dictionary page (when it has one), followed by data pages v1.
        let file = try ParquetFooter.readFile(path: path)
        for chunk in footer.rowGroups.flatMap(\.columns) {
            let metaData = try #require(chunk.metaData)
            if let dictionaryOffset = metaData.dictionaryPageOffset {
                let (header, _) = try ParquetFormat.PageHeader.decode(file, at: Int(dictionaryOffset))
                #expect(header.type == .dictionaryPage)
                #expect(header.dictionaryPageHeader?.encoding == .plain)
            }
            let (dataHeader, _) = try ParquetFormat.PageHeader.decode(file, at: Int(metaData.dataPageOffset))
            #expect(dataHeader.type == .dataPage)
            #expect(metaData.statistics?.nullCount != nil)
        }
    }

    @Test func decimalByteLengthsAreMinimal() {
        #expect(LeafLayout.decimalByteLength(precision: 19) == 9)
        #expect(LeafLayout.decimalByteLength(precision: 38) == 16)
        #expect(LeafLayout.decimalByteLength(precision: 39) == 17)
        #expect(LeafLayout.decimalByteLength(precision: 76) == 32)
    }

    @Test func wideDecimalsAreBigEndianTwosComplement() throws {
        let schema = try ParquetSchema(columns: [ParquetColumn(name: "d", type: .decimal(precision: 20, scale: 2))])
        var values = schema.makeColumnBuffers()[0]
        try values.append(decimal: "-1.00")
        try values.append(decimal: "1")
        try values.append(Int64(-2))
        try values.append(decimalUnscaledBigEndian: [0xFF, 0xFF, 0xFE])
        #expect(values.bytes == [UInt8](repeating: 0xFF, count: 8) + [0x9C]
            + [UInt8](repeating: 0, count: 8) + [100]
            + [UInt8](repeating: 0xFF, count: 8) + [0xFE]
            + [UInt8](repeating: 0xFF, count: 8) + [0xFE])
    }
}

@Suite struct WriterErrorTests {
    @Test func nullInARequiredColumnNamesTheColumnAndRow() throws {
        let schema = try ParquetSchema(columns: [ParquetColumn(name: "id", type: .int64, isNullable: false)])
        var values = schema.makeColumnBuffers()[0]
        try values.append(Int64(1))
        let error = #expect(throws: ParquetError.self) { try values.appendNull() }
        #expect(error?.column == "id")
        #expect(error?.row == 1)
        #expect(error?.code == .invalidValue)
    }

    @Test func outOfRangeValuesAndWrongKindsAreRejected() throws {
        let schema = try ParquetSchema(columns: [
            ParquetColumn(name: "small", type: .int8),
            ParquetColumn(name: "price", type: .decimal(precision: 5, scale: 2)),
            ParquetColumn(name: "u", type: .uint32),
        ])
        var columns = schema.makeColumnBuffers()
        #expect(throws: ParquetError.self) { try columns[0].append(Int64(128)) }
        #expect(throws: ParquetError.self) { try columns[0].append("text") }
        #expect(throws: ParquetError.self) { try columns[1].append(decimal: "1234.5") }
        #expect(throws: ParquetError.self) { try columns[1].append(decimal: "1.234") }
        try columns[1].append(decimal: "1.230")
        #expect(throws: ParquetError.self) { try columns[2].append(Int64(-1)) }
        try columns[2].append(UInt64(UInt32.max))
    }

    @Test func batchesWithUnequalRowCountsAreRejected() throws {
        let schema = try ParquetSchema(columns: [
            ParquetColumn(name: "a", type: .int64), ParquetColumn(name: "b", type: .string),
        ])
        let path = TemporaryFile.path(suffix: "parquet")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try ParquetWriter(path: path, schema: schema)
        var columns = schema.makeColumnBuffers()
        try columns[0].append(Int64(1))
        let error = #expect(throws: ParquetError.self) { try writer.append(columns: columns) }
        #expect(error?.code == .batchMismatch)
        #expect(error?.column == "b")
    }

    @Test func invalidSchemasAreRejected() {
        #expect(throws: ParquetError.self) { try ParquetSchema(columns: []) }
        #expect(throws: ParquetError.self) {
            try ParquetSchema(columns: [ParquetColumn(name: "a", type: .int8), ParquetColumn(name: "a", type: .int8)])
        }
        #expect(throws: ParquetError.self) {
            try ParquetSchema(columns: [ParquetColumn(name: "d", type: .decimal(precision: 80, scale: 0))])
        }
        #expect(throws: ParquetError.self) {
            try ParquetSchema(columns: [
                ParquetColumn(name: "a", type: .int8, fieldId: 1), ParquetColumn(name: "b", type: .int8, fieldId: 1),
            ])
        }
    }
}
