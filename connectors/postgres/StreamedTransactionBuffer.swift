import Foundation
import SluiceCore

/// Holds the messages of large transactions that the server streams before they commit (pgoutput
/// `streaming`), per top-level transaction id, until Stream Commit (replay) or Stream Abort (drop).
///
/// Memory is bounded: when the buffered bytes exceed `memoryLimit`, the largest transaction moves to a
/// temporary file and its later messages are appended there.
final class StreamedTransactionBuffer {
    private struct Entry {
        var messages: [[UInt8]] = []
        var memoryBytes = 0
        var file: FileHandle?
        var path: String?
        var writeBuffer: [UInt8] = []
        var abortedSubtransactions: Set<UInt32> = []
        var messageCount = 0
    }

    private var entries: [UInt32: Entry] = [:]
    private var memoryBytes = 0
    private let memoryLimit: Int
    private let directory: String
    /// Bytes written to spill files so far (for metrics and tests).
    private(set) var spilledBytes = 0

    init(memoryLimit: Int, directory: String = NSTemporaryDirectory()) {
        self.memoryLimit = memoryLimit
        self.directory = directory
    }

    deinit {
        for xid in Array(entries.keys) { drop(xid) }
    }

    var isEmpty: Bool { entries.isEmpty }

    /// Bytes held in memory now.
    var bufferedMemory: Int { memoryBytes }

    /// Adds one pgoutput message of transaction `xid`.
    func append(xid: UInt32, message: [UInt8]) throws {
        var entry = entries.removeValue(forKey: xid) ?? Entry()
        entry.messageCount += 1
        if entry.file != nil {
            try write(message, to: &entry)
        } else {
            entry.messages.append(message)
            entry.memoryBytes += message.count + 32
            memoryBytes += message.count + 32
        }
        entries[xid] = entry
        if memoryBytes > memoryLimit { try spillLargest() }
    }

    /// Marks a subtransaction as aborted: its messages are skipped at replay.
    func abortSubtransaction(xid: UInt32, subXid: UInt32) {
        entries[xid]?.abortedSubtransactions.insert(subXid)
    }

    /// Subtransactions of `xid` that aborted.
    func abortedSubtransactions(of xid: UInt32) -> Set<UInt32> { entries[xid]?.abortedSubtransactions ?? [] }

    /// Forgets a transaction (aborted, or replayed).
    func drop(_ xid: UInt32) {
        guard let entry = entries.removeValue(forKey: xid) else { return }
        memoryBytes -= entry.memoryBytes
        try? entry.file?.close()
        if let path = entry.path { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Calls `body` with every message of `xid` in order (from the spill file, then memory), then drops it.
    func replay(_ xid: UInt32, _ body: ([UInt8]) async throws -> Void) async throws {
        guard var entry = entries[xid] else { return }
        defer { drop(xid) }
        if let file = entry.file, let path = entry.path {
            try flushWrites(&entry)
            entries[xid] = entry
            try file.close()
            entries[xid]?.file = nil
            guard let reader = FileHandle(forReadingAtPath: path) else {
                throw SluiceError(.internal, "could not reopen the spill file of transaction \(xid) at \(path)")
            }
            defer { try? reader.close() }
            var pending: [UInt8] = []
            var offset = 0
            while true {
                let chunk = try reader.read(upToCount: 4 << 20) ?? Data()
                if chunk.isEmpty { break }
                if offset > 0 {
                    pending.removeFirst(offset)
                    offset = 0
                }
                pending.append(contentsOf: chunk)
                while pending.count - offset >= 4 {
                    let length = Int(pending[offset]) | Int(pending[offset + 1]) << 8 | Int(pending[offset + 2]) << 16
                        | Int(pending[offset + 3]) << 24
                    guard pending.count - offset - 4 >= length else { break }
                    try await body(Array(pending[(offset + 4)..<(offset + 4 + length)]))
                    offset += 4 + length
                }
            }
        }
        for message in entry.messages { try await body(message) }
    }

    private func spillLargest() throws {
        guard let (xid, _) = entries.filter({ $0.value.file == nil }).max(by: { $0.value.memoryBytes < $1.value.memoryBytes })
        else { return }
        var entry = entries[xid]!
        let path = (directory as NSString).appendingPathComponent("sluice-pg-xid-\(xid)-\(UUID().uuidString).spill")
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let file = FileHandle(forWritingAtPath: path) else {
            throw SluiceError(.internal, "could not create a spill file for streamed transaction \(xid) at \(path)",
                              hint: "Check free space and permissions of the temporary directory (TMPDIR)")
        }
        entry.file = file
        entry.path = path
        let messages = entry.messages
        entry.messages = []
        memoryBytes -= entry.memoryBytes
        entry.memoryBytes = 0
        for message in messages { try write(message, to: &entry) }
        entries[xid] = entry
    }

    private func write(_ message: [UInt8], to entry: inout Entry) throws {
        let length = UInt32(message.count)
        entry.writeBuffer.append(contentsOf: [UInt8(truncatingIfNeeded: length), UInt8(truncatingIfNeeded: length >> 8),
                                              UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 24)])
        entry.writeBuffer.append(contentsOf: message)
        spilledBytes += message.count + 4
        if entry.writeBuffer.count >= 1 << 20 { try flushWrites(&entry) }
    }

    private func flushWrites(_ entry: inout Entry) throws {
        guard !entry.writeBuffer.isEmpty, let file = entry.file else { return }
        try file.write(contentsOf: entry.writeBuffer)
        entry.writeBuffer.removeAll(keepingCapacity: true)
    }
}
