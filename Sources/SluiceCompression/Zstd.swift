import CZstd

/// Zstandard frames.
public enum Zstd {
    /// The most bytes compressing `count` bytes can produce.
    public static func compressBound(_ count: Int) -> Int {
        ZSTD_compressBound(count)
    }

    /// The content size a frame's header declares, or nil when it declares none or `frame` is not a zstd frame.
    public static func frameContentSize(_ frame: UnsafeRawBufferPointer) -> Int? {
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard size != ZSTD_CONTENTSIZE_UNKNOWN, size != ZSTD_CONTENTSIZE_ERROR, size <= UInt64(Int.max) else {
            return nil
        }
        return Int(size)
    }

    /// Decompresses frames whose content is exactly `exactSize` bytes (as the container says); fails otherwise.
    public static func decompress(_ input: UnsafeRawBufferPointer, exactSize: Int) throws(CompressionError)
        -> [UInt8]
    {
        var output: [UInt8] = []
        try output.append(capacity: exactSize) { (buffer) throws(CompressionError) -> Int in
            let written = ZSTD_decompress(buffer.baseAddress, buffer.count, input.baseAddress, input.count)
            try check(written, "decompressing")
            guard written == exactSize else {
                throw .wrongSize(.zstd, produced: written, expected: exactSize)
            }
            return written
        }
        return output
    }

    /// Decompresses frames of at most `limit` bytes of content: in one call when the first frame declares its
    /// size, else streamed.
    public static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws(CompressionError) -> [UInt8] {
        if let size = frameContentSize(input) {
            guard size <= limit else { throw .tooLarge(.zstd, limit: limit) }
            return try decompress(input, exactSize: size)
        }
        guard let stream = ZSTD_createDStream() else {
            throw CompressionError(.zstd, "could not allocate a decompression context")
        }
        defer { ZSTD_freeDStream(stream) }
        var output: [UInt8] = []
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            // One byte past the limit tells content longer than the limit from content of exactly the limit.
            let capacity = min(1 << 16, limit + 1 - output.count)
            var status = 0
            var produced = 0
            try output.append(capacity: capacity) { (buffer) throws(CompressionError) -> Int in
                var outBuffer = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                status = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                try check(status, "decompressing")
                produced = outBuffer.pos
                return produced
            }
            guard output.count <= limit else { throw .tooLarge(.zstd, limit: limit) }
            let inputUsedUp = inBuffer.pos == inBuffer.size
            if status == 0 && inputUsedUp { return output }
            if inputUsedUp && produced < capacity {
                throw CompressionError(.zstd, "decompressing: the data ends inside a frame")
            }
        }
    }

    static func check(_ result: Int, _ activity: String) throws(CompressionError) {
        if ZSTD_isError(result) != 0 {
            throw CompressionError(.zstd, "\(activity): \(String(cString: ZSTD_getErrorName(result)))")
        }
    }
}

/// Compresses with one zstd context reused from call to call (allocating it once, not per page or chunk).
public final class ZstdCompressor {
    private let context: OpaquePointer
    /// The compression level (1 is zstd's fastest regular level).
    public let level: Int32

    public init(level: Int32) throws(CompressionError) {
        guard let context = ZSTD_createCCtx() else {
            throw CompressionError(.zstd, "could not allocate a compression context")
        }
        self.context = context
        self.level = level
    }

    deinit {
        ZSTD_freeCCtx(context)
    }

    /// Compresses `source` into `destination` and returns the compressed size; fails when it does not fit
    /// (`Zstd.compressBound` bytes always do).
    public func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer)
        throws(CompressionError) -> Int
    {
        let size = ZSTD_compressCCtx(
            context, destination.baseAddress, destination.count, source.baseAddress, source.count, level)
        try Zstd.check(size, "compressing")
        return size
    }

    /// Appends the compressed form of `input` to `output`.
    public func compress(_ input: [UInt8], appendingTo output: inout [UInt8]) throws(CompressionError) {
        try withBytes(of: input) { (source) throws(CompressionError) in
            try output.append(capacity: Zstd.compressBound(source.count)) {
                (destination) throws(CompressionError) -> Int in
                try compress(source, into: destination)
            }
        }
    }
}
