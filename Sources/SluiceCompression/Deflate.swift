import CZlib

/// DEFLATE (RFC 1951) data in one of zlib's framings.
public enum DeflateFormat: Sendable {
    /// A zlib header and trailer (RFC 1950).
    case zlib
    /// Gzip framing (RFC 1952).
    case gzip
    /// No header or trailer (Avro's `deflate` codec).
    case raw
    /// zlib or gzip, told by the header (decompression only; compresses as zlib).
    case zlibOrGzip

    var windowBits: Int32 {
        switch self {
        case .zlib: 15
        case .gzip: 15 + 16
        case .raw: -15
        case .zlibOrGzip: 15 + 32
        }
    }

    var codec: CompressionError.Codec {
        switch self {
        case .zlib, .zlibOrGzip: .zlib
        case .gzip: .gzip
        case .raw: .rawDeflate
        }
    }
}

/// Compresses with one zlib deflate stream reused from call to call (reset, not reallocated, between inputs).
public final class Deflater {
    public let format: DeflateFormat
    /// zlib's level: 0–9, or -1 for its default.
    public let level: Int32
    private let stream: UnsafeMutablePointer<z_stream>

    public init(format: DeflateFormat, level: Int32) throws(CompressionError) {
        self.format = format
        self.level = level
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = czlib_deflate_init2(stream, level, format.windowBits, 8, Z_DEFAULT_STRATEGY)
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw CompressionError(
                format.codec, "could not start compressing (zlib status \(status)); check the level (0...9)")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Appends the compressed form of `input` to `output`.
    public func compress(_ input: [UInt8], appendingTo output: inout [UInt8]) throws(CompressionError) {
        let bound = Int(deflateBound(stream, uLong(input.count)))
        defer {
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
            deflateReset(stream)
        }
        try withBytes(of: input) { (source) throws(CompressionError) in
            try output.append(capacity: bound) { (destination) throws(CompressionError) -> Int in
                // zlib does not write through next_in; its type is mutable only for historical reasons.
                stream.pointee.next_in = UnsafeMutablePointer(
                    mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = uInt(source.count)
                stream.pointee.next_out = destination.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(destination.count)
                let status = deflate(stream, Z_FINISH)
                guard status == Z_STREAM_END else {
                    throw CompressionError(format.codec, "compressing failed (zlib status \(status))")
                }
                return destination.count - Int(stream.pointee.avail_out)
            }
        }
    }
}

extension Deflater {
    /// The compressed form of `input` (with a deflate stream of its own).
    public static func compress(_ input: [UInt8], format: DeflateFormat, level: Int32) throws(CompressionError)
        -> [UInt8]
    {
        var output: [UInt8] = []
        try Deflater(format: format, level: level).compress(input, appendingTo: &output)
        return output
    }
}

/// Decompression of DEFLATE data.
public enum Inflater {
    /// Decompresses data whose content is exactly `exactSize` bytes (as the container says); fails otherwise.
    public static func decompress(_ input: UnsafeRawBufferPointer, format: DeflateFormat, exactSize: Int)
        throws(CompressionError) -> [UInt8]
    {
        let output = try decompress(input, format: format, limit: exactSize, initialCapacity: exactSize)
        guard output.count == exactSize else {
            throw .wrongSize(format.codec, produced: output.count, expected: exactSize)
        }
        return output
    }

    /// Decompresses data of at most `limit` bytes of content.
    public static func decompress(_ input: UnsafeRawBufferPointer, format: DeflateFormat, limit: Int)
        throws(CompressionError) -> [UInt8]
    {
        try decompress(input, format: format, limit: limit, initialCapacity: min(limit, max(1 << 16, input.count * 4)))
    }

    private static func decompress(
        _ input: UnsafeRawBufferPointer, format: DeflateFormat, limit: Int, initialCapacity: Int
    ) throws(CompressionError) -> [UInt8] {
        var stream = z_stream()
        let started = czlib_inflate_init2(&stream, format.windowBits)
        guard started == Z_OK else {
            throw CompressionError(format.codec, "could not start decompressing (zlib status \(started))")
        }
        defer { inflateEnd(&stream) }
        // zlib does not write through next_in; its type is mutable only for historical reasons.
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        var output: [UInt8] = []
        var capacity = initialCapacity
        while true {
            // One byte past the limit tells content longer than the limit from content of exactly the limit.
            let room = min(capacity, limit + 1) - output.count
            var status: Int32 = Z_OK
            var produced = 0
            output.append(capacity: room) { buffer in
                stream.next_out = buffer.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(buffer.count)
                status = inflate(&stream, Z_NO_FLUSH)
                produced = buffer.count - Int(stream.avail_out)
                return produced
            }
            guard output.count <= limit else { throw .tooLarge(format.codec, limit: limit) }
            switch status {
            case Z_STREAM_END:
                return output
            case Z_OK, Z_BUF_ERROR:
                if produced == 0 && (stream.avail_in == 0 || status == Z_BUF_ERROR) {
                    throw CompressionError(format.codec, "decompressing: the data ends before its last block")
                }
            default:
                throw CompressionError(
                    format.codec, "decompressing failed (zlib status \(status)); the data is damaged")
            }
            if output.count == capacity { capacity *= 2 }
        }
    }
}
