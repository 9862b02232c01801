/// The compression codec of an Avro object container file.
public enum AvroCodec: String, Sendable, Hashable {
    case null
    /// Raw DEFLATE (RFC 1951).
    case deflate
}

/// Writes an Avro object container file in memory: header (magic, metadata, sync marker), then blocks of records.
///
/// ```
/// var writer = try AvroContainerWriter(schema: schema, codec: .deflate, metadata: ["format-version": "2"])
/// try writer.append(.record([...]))
/// let bytes = try writer.finish()
/// ```
public struct AvroContainerWriter: Sendable {
    public let schema: AvroSchema
    public let codec: AvroCodec
    public let syncMarker: [UInt8]
    /// Records per block before the block is closed.
    public var recordsPerBlock: Int
    /// Uncompressed bytes per block before the block is closed.
    public var bytesPerBlock: Int

    private var output: [UInt8] = []
    private var block = AvroBinaryEncoder()
    private var blockCount = 0
    /// Records appended so far.
    public private(set) var recordCount = 0

    /// Starts a file. `metadata` adds custom keys (Iceberg's `schema`, `partition-spec`, …) next to
    /// `avro.schema` and `avro.codec`; `syncMarker` defaults to 16 random bytes.
    public init(
        schema: AvroSchema, codec: AvroCodec = .null, metadata: [(String, String)] = [], syncMarker: [UInt8]? = nil,
        recordsPerBlock: Int = 4096, bytesPerBlock: Int = 1 << 20
    ) throws {
        self.schema = schema
        self.codec = codec
        self.recordsPerBlock = max(1, recordsPerBlock)
        self.bytesPerBlock = max(1, bytesPerBlock)
        if let syncMarker {
            guard syncMarker.count == 16 else { throw AvroError(.invalidSchema, "a sync marker has 16 bytes") }
            self.syncMarker = syncMarker
        } else {
            var generator = SystemRandomNumberGenerator()
            self.syncMarker = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        var header = AvroBinaryEncoder()
        header.bytes = Array("Obj".utf8) + [1]
        var entries: [(String, [UInt8])] = [
            ("avro.schema", Array(schema.json.text.utf8)), ("avro.codec", Array(codec.rawValue.utf8)),
        ]
        for (key, value) in metadata where key != "avro.schema" && key != "avro.codec" {
            entries.append((key, Array(value.utf8)))
        }
        header.writeLong(Int64(entries.count))
        for (key, value) in entries {
            header.writeString(key)
            header.writeBytes(value)
        }
        header.writeLong(0)
        header.bytes.append(contentsOf: self.syncMarker)
        output = header.bytes
    }

    /// Appends one record (any datum matching the schema).
    public mutating func append(_ value: AvroValue) throws {
        try block.write(value, as: schema)
        blockCount += 1
        recordCount += 1
        if blockCount >= recordsPerBlock || block.bytes.count >= bytesPerBlock { try closeBlock() }
    }

    private mutating func closeBlock() throws {
        guard blockCount > 0 else { return }
        let data = codec == .deflate ? try RawDeflate.compress(block.bytes) : block.bytes
        var framing = AvroBinaryEncoder()
        framing.writeLong(Int64(blockCount))
        framing.writeLong(Int64(data.count))
        output.append(contentsOf: framing.bytes)
        output.append(contentsOf: data)
        output.append(contentsOf: syncMarker)
        block.bytes.removeAll(keepingCapacity: true)
        blockCount = 0
    }

    /// Closes the last block and returns the whole file.
    public mutating func finish() throws -> [UInt8] {
        try closeBlock()
        return output
    }
}

/// Reads an Avro object container file held in memory.
public struct AvroContainerReader: Sendable {
    /// The writer's schema (`avro.schema`).
    public let schema: AvroSchema
    public let codec: AvroCodec
    /// Every metadata entry, including `avro.schema` and `avro.codec`.
    public let metadata: [String: [UInt8]]
    public let syncMarker: [UInt8]
    private let bytes: [UInt8]
    private let dataStart: Int

    /// Parses the header; throws when the bytes are not an Avro container file.
    public init(bytes: [UInt8]) throws {
        guard bytes.count >= 4, Array(bytes[0..<4]) == Array("Obj".utf8) + [1] else {
            throw AvroError(.corruptData, "the data does not start with the Avro magic 'Obj\\x01'")
        }
        var decoder = AvroBinaryDecoder(bytes: bytes, position: 4)
        var metadata: [String: [UInt8]] = [:]
        while true {
            var count = try decoder.readLong()
            if count == 0 { break }
            if count < 0 {
                count = -count
                _ = try decoder.readLong()
            }
            for _ in 0..<count {
                let key = String(decoding: try decoder.readBytes(), as: UTF8.self)
                metadata[key] = try decoder.readBytes()
            }
        }
        syncMarker = try decoder.readFixed(16)
        guard let schemaBytes = metadata["avro.schema"] else {
            throw AvroError(.corruptData, "the file has no avro.schema metadata")
        }
        schema = try AvroSchema(jsonText: String(decoding: schemaBytes, as: UTF8.self))
        let codecName = metadata["avro.codec"].map { String(decoding: $0, as: UTF8.self) } ?? "null"
        guard let codec = AvroCodec(rawValue: codecName.isEmpty ? "null" : codecName) else {
            throw AvroError(.unsupportedCodec, "codec '\(codecName)' is not supported (only null and deflate)")
        }
        self.codec = codec
        self.metadata = metadata
        self.bytes = bytes
        self.dataStart = decoder.position
    }

    /// A metadata value as UTF-8 text.
    public func metadataString(_ key: String) -> String? {
        metadata[key].map { String(decoding: $0, as: UTF8.self) }
    }

    /// Decodes every record of every block, checking each block's sync marker.
    public func records() throws -> [AvroValue] {
        var out: [AvroValue] = []
        var decoder = AvroBinaryDecoder(bytes: bytes, position: dataStart)
        while !decoder.isAtEnd {
            let count = try decoder.readLong()
            let size = try decoder.readLong()
            guard count >= 0, size >= 0 else { throw AvroError(.corruptData, "a block has a negative count or size") }
            let data = try decoder.readFixed(Int(size))
            guard try decoder.readFixed(16) == syncMarker else {
                throw AvroError(.corruptData, "a block does not end with the file's sync marker; the file is damaged")
            }
            let raw = codec == .deflate ? try RawDeflate.decompress(data) : data
            var blockDecoder = AvroBinaryDecoder(bytes: raw)
            for _ in 0..<count { out.append(try blockDecoder.read(schema)) }
        }
        return out
    }
}
