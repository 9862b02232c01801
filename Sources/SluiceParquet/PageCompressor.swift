import SluiceCompression

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

/// Compresses page bodies with one codec, reusing its context across pages.
final class PageCompressor {
    let compression: ParquetCompression
    private let zstd: ZstdCompressor?
    private let gzip: Deflater?

    /// - Parameter level: codec level; nil picks pyarrow's defaults (zstd 1, gzip 6). Ignored for snappy.
    init(_ compression: ParquetCompression, level: Int?) throws(ParquetError) {
        self.compression = compression
        do throws(CompressionError) {
            zstd = compression == .zstd ? try ZstdCompressor(level: Int32(level ?? 1)) : nil
            gzip = compression == .gzip ? try Deflater(format: .gzip, level: Int32(level ?? 6)) : nil
        } catch {
            throw ParquetError(code: .compressionFailed, message: error.description)
        }
    }

    /// Appends the compressed form of `input` to `output`; `.uncompressed` appends `input` itself.
    func compress(_ input: [UInt8], into output: inout [UInt8]) throws(ParquetError) {
        do throws(CompressionError) {
            switch compression {
            case .uncompressed:
                output.append(contentsOf: input)
            case .zstd:
                try zstd?.compress(input, appendingTo: &output)
            case .snappy:
                try Snappy.compress(input, appendingTo: &output)
            case .gzip:
                try gzip?.compress(input, appendingTo: &output)
            }
        } catch {
            throw ParquetError(code: .compressionFailed, message: error.description)
        }
    }
}
