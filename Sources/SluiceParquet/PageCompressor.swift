import CSnappy
import CZlib
import CZstd

/// Compression of a Parquet file's pages.
public enum ParquetCompression: Sendable, Hashable {
    /// No compression.
    case uncompressed
    /// Snappy raw blocks (not the framing format).
    case snappy
    /// Gzip framing (RFC 1952), deflate inside.
    case gzip
    /// Zstandard frames.
    case zstd

    var codec: ParquetFormat.CompressionCodec {
        switch self {
        case .uncompressed: .uncompressed
        case .snappy: .snappy
        case .gzip: .gzip
        case .zstd: .zstd
        }
    }
}

/// Compresses page bodies with one codec, reusing its C context across pages. Owns the C handles.
final class PageCompressor {
    let compression: ParquetCompression
    private let level: Int32
    private var zstdContext: OpaquePointer?
    private var deflateStream: UnsafeMutablePointer<z_stream>?

    /// - Parameter level: codec level; nil picks pyarrow's defaults (zstd 1, gzip 6). Ignored for snappy.
    init(_ compression: ParquetCompression, level: Int?) throws(ParquetError) {
        self.compression = compression
        switch compression {
        case .zstd:
            self.level = Int32(level ?? 1)
            guard let context = ZSTD_createCCtx() else {
                throw ParquetError(code: .compressionFailed, message: "zstd could not allocate a compression context")
            }
            zstdContext = context
        case .gzip:
            self.level = Int32(level ?? 6)
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            // windowBits 15 + 16 asks zlib for gzip framing instead of a zlib header.
            let status = czlib_deflate_init2(stream, self.level, 15 + 16, 8, Z_DEFAULT_STRATEGY)
            guard status == Z_OK else {
                stream.deinitialize(count: 1)
                stream.deallocate()
                throw ParquetError(
                    code: .compressionFailed,
                    message: "zlib deflateInit2 failed with status \(status); check the gzip level (0...9)")
            }
            deflateStream = stream
        case .snappy, .uncompressed:
            self.level = 0
        }
    }

    deinit {
        if let zstdContext {
            ZSTD_freeCCtx(zstdContext)
        }
        if let deflateStream {
            deflateEnd(deflateStream)
            deflateStream.deinitialize(count: 1)
            deflateStream.deallocate()
        }
    }

    /// Appends the compressed form of `input` to `output`; `.uncompressed` appends `input` itself.
    func compress(_ input: [UInt8], into output: inout [UInt8]) throws(ParquetError) {
        let start = output.count
        switch compression {
        case .uncompressed:
            output.append(contentsOf: input)
        case .zstd:
            let bound = ZSTD_compressBound(input.count)
            output.append(contentsOf: repeatElement(0, count: bound))
            let result = input.withUnsafeBytes { source in
                output.withUnsafeMutableBytes { destination in
                    ZSTD_compressCCtx(
                        zstdContext, destination.baseAddress! + start, bound, source.baseAddress, source.count, level)
                }
            }
            guard ZSTD_isError(result) == 0 else {
                output.removeSubrange(start...)
                let reason = String(cString: ZSTD_getErrorName(result))
                throw ParquetError(code: .compressionFailed, message: "zstd compression failed: \(reason)")
            }
            output.removeSubrange((start + result)...)
        case .snappy:
            var length = snappy_max_compressed_length(input.count)
            output.append(contentsOf: repeatElement(0, count: length))
            let status = input.withUnsafeBytes { source in
                output.withUnsafeMutableBytes { destination in
                    snappy_compress(
                        source.baseAddress?.assumingMemoryBound(to: CChar.self), source.count,
                        (destination.baseAddress! + start).assumingMemoryBound(to: CChar.self), &length)
                }
            }
            guard status == SNAPPY_OK else {
                output.removeSubrange(start...)
                throw ParquetError(code: .compressionFailed, message: "snappy compression failed (status \(status))")
            }
            output.removeSubrange((start + length)...)
        case .gzip:
            guard let stream = deflateStream else { return }
            let bound = Int(deflateBound(stream, uLong(input.count)))
            output.append(contentsOf: repeatElement(0, count: bound))
            var mutableInput = input
            let status = mutableInput.withUnsafeMutableBytes { source in
                output.withUnsafeMutableBytes { destination in
                    stream.pointee.next_in = source.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_in = uInt(source.count)
                    stream.pointee.next_out = (destination.baseAddress! + start).assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = uInt(bound)
                    return deflate(stream, Z_FINISH)
                }
            }
            let written = bound - Int(stream.pointee.avail_out)
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
            deflateReset(stream)
            guard status == Z_STREAM_END else {
                output.removeSubrange(start...)
                throw ParquetError(code: .compressionFailed, message: "zlib deflate failed with status \(status)")
            }
            output.removeSubrange((start + written)...)
        }
    }
}
