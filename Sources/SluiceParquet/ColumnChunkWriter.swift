// SluiceParquet: a Parquet file writer: column chunks, dictionary and PLAIN encodings, statistics, compression,
// and the Thrift metadata (which it can also read back, for footers and compaction).

/// Writes one leaf column of the current row group: buffers its levels and values as pages (data page v1, each
/// page body compressed whole), and at the end of the row group writes the dictionary page and the data pages.
final class ColumnChunkWriter {
    let column: ParquetColumn
    private let layout: LeafLayout
    private let pathInSchema: [String]
    private let maxDefinitionLevel: UInt8
    private let definitionLevelBitWidth: Int
    private let pageSize: Int
    private var encoder: any ColumnValueEncoder

    private var pageDefinitionLevels: [UInt8] = []
    private var pageRepetitionLevels: [UInt8] = []
    /// Values in the current page, nulls and empty lists included (the page header's `num_values`).
    private var pageSlotCount = 0

    /// Data pages of the chunk (headers and compressed bodies), written out when the row group ends.
    private var chunkPages: [UInt8] = []
    private var chunkUncompressedSize: Int64 = 0
    private var chunkSlotCount: Int64 = 0
    private var chunkNullCount: Int64 = 0
    private var chunkEncodings: [ParquetFormat.Encoding] = []

    private var pageBody: [UInt8] = []
    private var compressedBody: [UInt8] = []

    /// Where this column's next rows start in the batch being written.
    private var levelCursor = 0
    private var valueCursor = 0

    init(column: ParquetColumn, options: ParquetWriterOptions) {
        self.column = column
        self.layout = LeafLayout(column.type)
        self.pathInSchema = column.isList ? [column.name, "list", "element"] : [column.name]
        self.maxDefinitionLevel = ColumnValues(column: column).maxDefinitionLevel
        self.definitionLevelBitWidth = RLEBitPackedHybrid.bitWidth(forMaximum: UInt32(maxDefinitionLevel))
        self.pageSize = options.pageSize
        self.encoder = makeValueEncoder(
            for: layout,
            options: ValueEncoderOptions(
                dictionaryEnabled: options.dictionaryEnabled,
                dictionaryPageSizeLimit: options.dictionaryPageSizeLimit,
                statisticsTruncationLength: options.statisticsTruncationLength))
    }

    /// Bytes this chunk will add to the file, estimated: finished pages, the open page and the dictionary.
    var bufferedBytes: Int {
        chunkPages.count + encoder.estimatedPageBytes + encoder.dictionaryPageBytes + pageDefinitionLevels.count / 8
    }

    /// Starts reading a new batch from its first row.
    func startBatch() {
        levelCursor = 0
        valueCursor = 0
    }

    /// Adds the next `rowCount` rows of `batch` to the chunk, ending pages as they fill.
    func write(_ batch: ColumnValues, rowCount: Int, compressor: PageCompressor) throws(ParquetError) {
        let levelStart = levelCursor
        var levelEnd: Int
        if column.isList {
            levelEnd = levelStart
            var rowsSeen = 0
            batch.repetitionLevels.withUnsafeBufferPointer { repetition in
                while levelEnd < repetition.count {
                    if repetition[levelEnd] == 0 {
                        if rowsSeen == rowCount { break }
                        rowsSeen += 1
                    }
                    levelEnd += 1
                }
            }
        } else {
            levelEnd = levelStart + rowCount
        }
        let valueCount: Int
        if maxDefinitionLevel == 0 {
            valueCount = rowCount
        } else {
            let maxLevel = maxDefinitionLevel
            valueCount = batch.definitionLevels.withUnsafeBufferPointer { levels in
                var count = 0
                for position in levelStart..<levelEnd where levels[position] == maxLevel {
                    count += 1
                }
                return count
            }
            pageDefinitionLevels.append(contentsOf: batch.definitionLevels[levelStart..<levelEnd])
            if column.isList {
                pageRepetitionLevels.append(contentsOf: batch.repetitionLevels[levelStart..<levelEnd])
            }
        }
        let slotCount = levelEnd - levelStart
        chunkNullCount += Int64(slotCount - valueCount)
        pageSlotCount += slotCount
        encoder.add(batch, values: valueCursor..<valueCursor + valueCount)
        levelCursor = levelEnd
        valueCursor += valueCount

        if encoder.isDictionaryFull {
            try endPage(compressor: compressor)
            encoder.fallBackToPlain()
        } else if encoder.estimatedPageBytes + pageDefinitionLevels.count / 4 >= pageSize {
            try endPage(compressor: compressor)
        }
    }

    /// Encodes, compresses and buffers the open page.
    private func endPage(compressor: PageCompressor) throws(ParquetError) {
        guard pageSlotCount > 0 else { return }
        pageBody.removeAll(keepingCapacity: true)
        if column.isList {
            RLEBitPackedHybrid.encodeLengthPrefixed(pageRepetitionLevels, bitWidth: 1, into: &pageBody)
        }
        if maxDefinitionLevel > 0 {
            RLEBitPackedHybrid.encodeLengthPrefixed(
                pageDefinitionLevels, bitWidth: definitionLevelBitWidth, into: &pageBody)
        }
        let encoding = encoder.encodePage(into: &pageBody)
        if !chunkEncodings.contains(encoding) {
            chunkEncodings.append(encoding)
        }
        let header = ParquetFormat.PageHeader(
            type: .dataPage, uncompressedPageSize: 0, compressedPageSize: 0,
            dataPageHeader: ParquetFormat.DataPageHeader(numValues: Int32(pageSlotCount), encoding: encoding))
        try appendPage(header: header, body: pageBody, to: &chunkPages, compressor: compressor)
        chunkSlotCount += Int64(pageSlotCount)
        pageSlotCount = 0
        pageDefinitionLevels.removeAll(keepingCapacity: true)
        pageRepetitionLevels.removeAll(keepingCapacity: true)
    }

    /// Compresses `body` and appends header and body to `destination`; counts the chunk's uncompressed size.
    private func appendPage(
        header: ParquetFormat.PageHeader, body: [UInt8], to destination: inout [UInt8], compressor: PageCompressor
    ) throws(ParquetError) {
        guard body.count <= Int(Int32.max) else {
            throw ParquetError(
                code: .invalidValue,
                message: "a page would exceed 2 GiB; write values that large in smaller batches or as files",
                column: column.name)
        }
        compressedBody.removeAll(keepingCapacity: true)
        try compressor.compress(body, into: &compressedBody)
        var sizedHeader = header
        sizedHeader.uncompressedPageSize = Int32(body.count)
        sizedHeader.compressedPageSize = Int32(compressedBody.count)
        let headerBytes = sizedHeader.encoded()
        destination.append(contentsOf: headerBytes)
        destination.append(contentsOf: compressedBody)
        chunkUncompressedSize += Int64(headerBytes.count + body.count)
    }

    /// Ends the chunk: writes its dictionary page and data pages to `output` and returns its metadata.
    func finishChunk(
        to output: ParquetFileOutput, compressor: PageCompressor
    ) throws(ParquetError) -> ParquetFormat.ColumnChunk {
        try endPage(compressor: compressor)
        let chunkStart = output.position
        var dictionaryPageOffset: Int64?
        var encodings = chunkEncodings
        var dictionaryPage: [UInt8] = []
        pageBody.removeAll(keepingCapacity: true)
        if let entryCount = encoder.encodeDictionaryPage(into: &pageBody) {
            let header = ParquetFormat.PageHeader(
                type: .dictionaryPage, uncompressedPageSize: 0, compressedPageSize: 0,
                dictionaryPageHeader: ParquetFormat.DictionaryPageHeader(numValues: Int32(entryCount)))
            try appendPage(header: header, body: pageBody, to: &dictionaryPage, compressor: compressor)
            dictionaryPageOffset = chunkStart
            try output.write(dictionaryPage)
            if !encodings.contains(.plain) {
                encodings.insert(.plain, at: 0)
            }
        }
        if !encodings.contains(.rle) {
            encodings.append(.rle)
        }
        let dataPageOffset = output.position
        try output.write(chunkPages)

        var statistics = encoder.minMaxStatistics() ?? ParquetFormat.Statistics()
        statistics.nullCount = chunkNullCount
        let metaData = ParquetFormat.ColumnMetaData(
            type: layout.physicalType, encodings: encodings.sorted { $0.rawValue < $1.rawValue },
            pathInSchema: pathInSchema, codec: compressor.compression.codec, numValues: chunkSlotCount,
            totalUncompressedSize: chunkUncompressedSize,
            totalCompressedSize: Int64(dictionaryPage.count + chunkPages.count), dataPageOffset: dataPageOffset,
            dictionaryPageOffset: dictionaryPageOffset, statistics: statistics)

        chunkPages.removeAll(keepingCapacity: true)
        chunkUncompressedSize = 0
        chunkSlotCount = 0
        chunkNullCount = 0
        chunkEncodings = []
        encoder.startNextChunk()
        return ParquetFormat.ColumnChunk(fileOffset: chunkStart, metaData: metaData)
    }
}
