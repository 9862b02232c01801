import Foundation
import SluiceCore
import SluiceObjectStore
import SluiceStaging

/// One staged file as the ledger records it.
struct StageLedgerEntry: Codable, Sendable, Hashable {
    /// The file's name in the table's stage folder.
    var file: String
    var stream: String
    /// Log offsets of the first and last change in the file.
    var firstOffset: Int64
    var lastOffset: Int64
    var rows: Int
    var bytes: Int64
    var schemaVersion: Int
    /// Source positions (as `_position` text) of the first and last change.
    var firstPosition: String
    var lastPosition: String
    /// When the file was staged (ISO 8601, UTC).
    var stagedAt: String

    enum CodingKeys: String, CodingKey {
        case file, stream, rows, bytes
        case firstOffset = "first_offset"
        case lastOffset = "last_offset"
        case schemaVersion = "schema_version"
        case firstPosition = "first_position"
        case lastPosition = "last_position"
        case stagedAt = "staged_at"
    }
}

/// The ledger of one table's stage folder (`_ledger.jsonl`): one JSON line per staged file, appended and fsynced
/// before the file gets its final name. It is the sink's commit record: what it lists is staged, whatever else
/// lies in the folder is not.
struct StageLedger: Sendable {
    static let fileName = "_ledger.jsonl"

    let path: String
    let store: LocalObjectStore
    private(set) var entries: [StageLedgerEntry] = []

    /// Reads the ledger, cutting off a torn last line left by a crash mid-append.
    init(folder: String, store: LocalObjectStore) throws {
        path = folder + "/" + Self.fileName
        self.store = store
        guard let bytes = try store.read(path), !bytes.isEmpty else { return }
        var end = bytes.count
        if bytes.last != UInt8(ascii: "\n") {
            end = (bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
            try store.truncate(path, to: Int64(end))
        }
        let decoder = JSONDecoder()
        var lineNumber = 0
        for line in bytes[..<end].split(separator: UInt8(ascii: "\n")) {
            lineNumber += 1
            do {
                entries.append(try decoder.decode(StageLedgerEntry.self, from: Data(line)))
            } catch {
                throw SluiceError(
                    .sink, "line \(lineNumber) of the stage ledger \(path) is not a ledger entry",
                    hint: "the ledger was edited or damaged; restore it, or move the stage folder away to restage "
                        + "from the log", underlying: error)
            }
        }
    }

    /// The log offset after the last staged change (0 when nothing is staged).
    var nextOffset: Int64 { (entries.last?.lastOffset ?? -1) + 1 }

    /// The staged file names.
    var fileNames: Set<String> { Set(entries.map(\.file)) }

    /// Appends an entry durably.
    mutating func append(_ entry: StageLedgerEntry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = [UInt8](try encoder.encode(entry))
        line.append(UInt8(ascii: "\n"))
        try store.append(line, to: path)
        entries.append(entry)
    }
}
