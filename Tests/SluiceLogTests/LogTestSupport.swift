import Foundation
import SluiceCore
import SluiceLog

/// A fresh directory for one test's log files, removed when the test drops it.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-log-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    var logPath: String { url.appendingPathComponent("log.db").path }
}

/// A clock tests move by hand, for age retention and `appendedAtMicros`.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var micros: Int64 = 1_700_000_000_000_000

    var now: Int64 { lock.withLock { micros } }

    func advance(seconds: Int64) {
        lock.withLock { micros += seconds * 1_000_000 }
    }

    var function: @Sendable () -> Int64 { { self.now } }
}

/// A record whose payload is `text` in UTF-8.
func draft(
    _ text: String, key: String? = nil, timestamp: Int64 = 0, position: UInt64? = nil
) -> LogRecordDraft {
    LogRecordDraft(
        key: key.map { Array($0.utf8) },
        payload: Array(text.utf8),
        position: position.map { SourcePosition(sortKey: SourcePosition.sortKey($0), text: "pos-\($0)") },
        timestampMicros: timestamp
    )
}

extension LogRecord {
    var text: String { String(decoding: payload, as: UTF8.self) }
}

extension ChangeLog {
    /// Every stored record of `stream`, read in pages of `pageSize`.
    func readAll(_ stream: String, pageSize: Int = 1_000) async throws -> [LogRecord] {
        var records: [LogRecord] = []
        var offset: Int64 = 0
        while true {
            let page = try await read(stream: stream, from: offset, limit: pageSize)
            guard let last = page.last else { return records }
            records += page
            offset = last.offset + 1
        }
    }
}
