#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let systemClose = Glibc.close
private let systemWrite = Glibc.write
private let systemRead = Glibc.read
#elseif canImport(Darwin)
private let systemClose = Darwin.close
private let systemWrite = Darwin.write
private let systemRead = Darwin.read
#endif

/// The file a `ParquetWriter` writes to: a buffered sequence of POSIX writes that tracks the file offset.
/// Owns the file descriptor's I/O.
final class ParquetFileOutput {
    private var descriptor: Int32
    private let closesDescriptor: Bool
    private let name: String
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    /// Bytes written so far (buffered or not): the offset of the next byte in the file.
    private(set) var position: Int64 = 0

    /// Creates (or truncates) the file at `path`.
    init(path: String) throws(ParquetError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ParquetError(
                code: .io, message: "cannot create \(path); check that its directory exists and is writable",
                errno: errno)
        }
        self.descriptor = descriptor
        self.closesDescriptor = true
        self.name = path
    }

    /// Writes to an open descriptor positioned at the start of an empty file; the caller keeps ownership.
    init(fileDescriptor: Int32) {
        self.descriptor = fileDescriptor
        self.closesDescriptor = false
        self.name = "file descriptor \(fileDescriptor)"
    }

    deinit {
        if closesDescriptor && descriptor >= 0 {
            _ = systemClose(descriptor)
        }
    }

    func write(_ bytes: [UInt8]) throws(ParquetError) {
        position += Int64(bytes.count)
        if buffer.count + bytes.count <= bufferLimit {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        if bytes.count >= bufferLimit {
            try writeFully(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    func flush() throws(ParquetError) {
        guard !buffer.isEmpty else { return }
        try writeFully(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, optionally fsyncs, and closes the descriptor if this output opened it.
    func finish(sync: Bool) throws(ParquetError) {
        try flush()
        if sync && fsync(descriptor) != 0 {
            throw ParquetError(code: .io, message: "fsync of \(name) failed; the file may be incomplete", errno: errno)
        }
        if closesDescriptor {
            let status = systemClose(descriptor)
            descriptor = -1
            guard status == 0 else {
                throw ParquetError(code: .io, message: "closing \(name) failed", errno: errno)
            }
        }
    }

    private func writeFully(_ bytes: [UInt8]) throws(ParquetError) {
        let failure: Int32? = bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = systemWrite(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
        if let failure {
            throw ParquetError(
                code: .io, message: "writing \(name) failed; check free disk space and permissions", errno: failure)
        }
    }
}

/// Reads the footer of a Parquet file.
public enum ParquetFooter {
    /// Reads and decodes the `FileMetaData` of the Parquet file at `path`.
    public static func readMetadata(path: String) throws(ParquetError) -> ParquetFormat.FileMetaData {
        let bytes = try readFile(path: path)
        return try metadata(fromFileBytes: bytes, name: path)
    }

    /// Decodes the `FileMetaData` of a whole Parquet file held in memory.
    public static func metadata(
        fromFileBytes bytes: [UInt8], name: String = "the file"
    ) throws(ParquetError) -> ParquetFormat.FileMetaData {
        let magic: [UInt8] = Array("PAR1".utf8)
        guard bytes.count >= 12, Array(bytes[..<4]) == magic, Array(bytes[(bytes.count - 4)...]) == magic else {
            throw ParquetError(
                code: .corruptMetadata, message: "\(name) does not start and end with PAR1; it is not a Parquet file")
        }
        let lengthOffset = bytes.count - 8
        let footerLength = Int(bytes[lengthOffset]) | Int(bytes[lengthOffset + 1]) << 8
            | Int(bytes[lengthOffset + 2]) << 16 | Int(bytes[lengthOffset + 3]) << 24
        guard footerLength <= lengthOffset - 4 else {
            throw ParquetError(code: .corruptMetadata, message: "\(name) declares a footer longer than the file")
        }
        return try ParquetFormat.FileMetaData.decode(Array(bytes[(lengthOffset - footerLength)..<lengthOffset]))
    }

    /// Reads a whole file.
    static func readFile(path: String) throws(ParquetError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ParquetError(code: .io, message: "cannot open \(path) for reading", errno: errno)
        }
        defer { _ = systemClose(descriptor) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ParquetError(code: .io, message: "reading \(path) failed", errno: errno)
            }
            if count == 0 {
                return contents
            }
            contents.append(contentsOf: chunk[..<count])
        }
    }
}
