import Foundation
import SluiceCore
import SluiceConnectorKit

#if canImport(Glibc)
import Glibc
#endif

/// A sink that writes each stream to `<path>/<stream>.jsonl`, one event per line in the JSON rendering.
///
/// Effectively once: on start it reads the last complete line of each file to learn the next offset,
/// cuts off a torn last line, and skips records it already holds, so a replay after a crash adds nothing twice.
public actor JSONLSink: SinkConnector {
    /// The thread of this type's sinks: their file, SQLite and compression calls block it, never the cooperative pool.
    private static let thread = ThreadExecutor(name: "jsonl-sink")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { Self.thread.asUnownedSerialExecutor() }

    public static let spec = ConnectorSpec(
        name: "jsonl", role: .sink,
        summary: "JSON lines files, one per stream, in the JSON rendering of `sluice log read` (for demos and tests).",
        fields: [
            FieldSpec("path", .string, required: true, description: "directory for the files", example: "out/"),
            FieldSpec("fsync", .bool, default: .bool(true), description: "fsync each batch before committing its offset"),
        ])

    let directory: String
    let fsyncEachBatch: Bool
    var files: [String: Int32] = [:]
    var nextOffsets: [String: Int64] = [:]

    public init(context: SinkContext) throws {
        directory = try context.config.required("path", of: Self.spec)
        fsyncEachBatch = try context.config.required("fsync", of: Self.spec)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SluiceError(.sink, "cannot create the jsonl directory \(directory)",
                              location: "sinks.\(context.config.instanceName).path", hint: "check the path and permissions")
        }
    }

    func filePath(_ stream: String) -> String { "\(directory)/\(PathComponent.safe(stream)).jsonl" }

    /// Opens a stream's file, cutting off a torn last line, and learns the next offset from its last line.
    func open(_ stream: String) throws -> Int32 {
        if let fd = files[stream] { return fd }
        let path = filePath(stream)
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SluiceError(.sink, "cannot open \(path): \(String(cString: strerror(errno)))", isTransient: false)
        }
        let size = Int64(lseek(fd, 0, SEEK_END))
        var next: Int64 = 0
        if size > 0 {
            // Read the tail to find the last complete line.
            let tail = min(size, 1 << 20)
            var buffer = [UInt8](repeating: 0, count: Int(tail))
            _ = pread(fd, &buffer, Int(tail), off_t(size - tail))
            var end = buffer.count
            if buffer.last != UInt8(ascii: "\n") {
                let cut = (buffer.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
                _ = ftruncate(fd, off_t(size - tail + Int64(cut)))
                end = cut
            }
            if end > 0 {
                let start = buffer[..<(end - 1)].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
                let line = Data(buffer[start..<(end - 1)])
                if let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
                   let offset = object["offset"] as? Int64 ?? (object["offset"] as? Int).map(Int64.init) {
                    next = offset + 1
                }
            }
            lseek(fd, 0, SEEK_END)
        }
        files[stream] = fd
        nextOffsets[stream] = next
        return fd
    }

    public func resumeOffsets(streams: [String]) async throws -> [String: Int64]? {
        var result: [String: Int64] = [:]
        for stream in streams {
            _ = try open(stream)
            result[stream] = nextOffsets[stream]
        }
        return result
    }

    public func write(_ batch: SinkBatch) async throws -> [String: Int64] {
        let fd = try open(batch.stream)
        let already = nextOffsets[batch.stream] ?? 0
        var bytes: [UInt8] = []
        for record in batch.records where record.offset >= already {
            let line = JSONRendering.render(record.event, stream: batch.stream, offset: record.offset,
                                            appendedAtMicros: record.appendedAtMicros)
            bytes.append(contentsOf: line.utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            guard n > 0 else {
                throw SluiceError(.sink, "writing \(filePath(batch.stream)) failed: \(String(cString: strerror(errno)))",
                                  hint: "check free disk space")
            }
            written += n
        }
        if fsyncEachBatch && fsync(fd) != 0 {
            throw SluiceError(.sink, "fsync of \(filePath(batch.stream)) failed: \(String(cString: strerror(errno)))")
        }
        nextOffsets[batch.stream] = max(already, batch.nextOffset)
        return [batch.stream: nextOffsets[batch.stream]!]
    }

    public func flush() async throws -> [String: Int64] { nextOffsets }

    public func close() async throws {
        for fd in files.values { Glibc.close(fd) }
        files.removeAll()
    }
}
