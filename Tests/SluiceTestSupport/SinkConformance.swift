import Foundation
import SluiceConnectorKit
import SluiceCore

/// The contract every sink keeps with the runtime, as one test any sink runs against its own target.
///
/// The runtime hands a sink batches of one stream in offset order and commits the stream's consumer offset only up
/// to what `write`/`flush` report durable. A crash can happen anywhere; the runtime then opens a new instance and
/// replays from the committed offset (or from the sink's own `resumeOffsets`, where its target records them). The
/// checks, in the order they run:
/// 1. **Reported offsets are honest**: `write` and `flush` never report an offset past what was written, and never
///    one lower than an earlier report.
/// 2. **Durable means durable**: every offset below what was reported before a crash is in the target when a new
///    instance opens it, before anything is replayed.
/// 3. **Replay never skips**: after the replay (with other batch boundaries than the first run) and a flush, every
///    offset is in the target.
/// 4. **Effectively once** where the target records offsets (`resumeOffsets` returns non-nil): no offset twice.
public struct SinkConformance: Sendable {
    /// Opens a new sink instance over the same target (a process restart).
    public var open: @Sendable () async throws -> any SinkConnector
    /// The offsets of `stream`'s records as the target holds them now (duplicates kept), read the way a user of
    /// the target would read them (files, tables).
    public var storedOffsets: @Sendable (_ stream: String) async throws -> [Int64]

    public init(
        open: @escaping @Sendable () async throws -> any SinkConnector,
        storedOffsets: @escaping @Sendable (_ stream: String) async throws -> [Int64]
    ) {
        self.open = open
        self.storedOffsets = storedOffsets
    }

    /// A broken promise, with what was expected and what the target held.
    public struct Violation: Error, CustomStringConvertible {
        public var description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// The table the checks write: `id` (primary key), `name`, `amount`.
    public static let table = TableID(database: "conformance", schema: "public", name: "items")
    public static let stream = "conformance.public.items"
    public static let schema = TableSchema(
        table: table, version: 1,
        columns: [
            ColumnSchema(name: "id", sourceType: "bigint", kind: .int, nullable: false),
            ColumnSchema(name: "name", sourceType: "text", kind: .string),
            ColumnSchema(name: "amount", sourceType: "numeric(12,2)", kind: .decimal, precision: 12, scale: 2),
        ],
        primaryKey: ["id"])

    /// Runs every check: `total` inserts, a crash after `crashAfter` of them, a replay in batches of `replayBatch`.
    public func run(total: Int = 600, firstBatch: Int = 100, crashAfter: Int = 350, replayBatch: Int = 70)
        async throws
    {
        precondition(crashAfter < total && firstBatch > 0 && replayBatch > 0)
        var committed: Int64 = 0

        // First run: batches until the crash point, committing what the sink reports durable.
        let first = try await open()
        let firstResume = try await first.resumeOffsets(streams: [Self.stream])?[Self.stream] ?? 0
        try expect(firstResume == 0, "a new target resumes at offset 0, the sink said \(firstResume)")
        var written: Int64 = 0
        while written < Int64(crashAfter) {
            let end = min(written + Int64(firstBatch), Int64(crashAfter))
            let durable = try await first.write(Self.batch(written..<end))[Self.stream] ?? committed
            try checkReported(durable, written: end, committed: committed, by: "write")
            committed = max(committed, durable)
            written = end
        }
        // The middle of the run flushes once, so the crash finds something published and something buffered.
        let flushed = try await first.flush()[Self.stream] ?? committed
        try checkReported(flushed, written: written, committed: committed, by: "flush")
        committed = max(committed, flushed)
        let afterFlush = Int64(min(total, crashAfter + firstBatch))
        let buffered = try await first.write(Self.batch(written..<afterFlush))[Self.stream] ?? committed
        try checkReported(buffered, written: afterFlush, committed: committed, by: "write")
        committed = max(committed, buffered)
        // Crash: the instance is abandoned without flush or close.

        let afterCrash = try await storedOffsets(Self.stream)
        let present = Set(afterCrash)
        if let missing = (0..<committed).first(where: { !present.contains($0) }) {
            throw Violation(description: "offset \(missing) was reported durable (committed up to \(committed)) but "
                + "is not in the target after a crash")
        }

        // Restart: resume where the target or the runtime's committed offset says, replay in other batch sizes.
        let second = try await open()
        let resume = try await second.resumeOffsets(streams: [Self.stream])
        let recordsOffsets = resume != nil
        let from = resume?[Self.stream] ?? committed
        try expect(from <= afterFlush, "the sink resumes at \(from), past the \(afterFlush) records ever written")
        try expect(from >= 0, "the sink resumes at a negative offset \(from)")
        var next = from
        while next < Int64(total) {
            let end = min(next + Int64(replayBatch), Int64(total))
            let durable = try await second.write(Self.batch(next..<end))[Self.stream] ?? committed
            try checkReported(durable, written: end, committed: recordsOffsets ? from : committed, by: "write")
            committed = max(committed, durable)
            next = end
        }
        let final = try await second.flush()[Self.stream] ?? committed
        try expect(final == Int64(total), "after the last flush the sink reports \(final) durable, not \(total)")
        try await second.close()

        let stored = try await storedOffsets(Self.stream)
        let distinct = Set(stored)
        if let missing = (0..<Int64(total)).first(where: { !distinct.contains($0) }) {
            throw Violation(description: "offset \(missing) is missing after the replay: a replay skipped it")
        }
        if let stray = distinct.first(where: { $0 < 0 || $0 >= Int64(total) }) {
            throw Violation(description: "the target holds offset \(stray), which was never written")
        }
        if recordsOffsets && stored.count != distinct.count {
            let twice = Dictionary(grouping: stored, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
            throw Violation(description: "the sink records its offsets (resumeOffsets) but holds offsets "
                + "\(twice.prefix(5).map(String.init).joined(separator: ", ")) more than once after a replay")
        }
    }

    private func checkReported(_ durable: Int64, written: Int64, committed: Int64, by call: String) throws {
        try expect(durable <= written, "\(call) reported offset \(durable) durable, past the \(written) written")
        try expect(durable >= committed,
                   "\(call) reported offset \(durable) durable, below the \(committed) it reported before")
    }

    private func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw Violation(description: message()) }
    }

    /// Inserts for `offsets`: row `id = offset`, in one batch of the conformance stream.
    public static func batch(_ offsets: Range<Int64>) -> SinkBatch {
        let columns = schema.columns.map(\.name)
        let records = offsets.map { offset in
            let event = ChangeEvent(
                op: .insert, connector: "conformance", table: table, schemaVersion: 1, before: nil,
                after: Row(columns: columns, values: [
                    .int(offset), .string("item \(offset)"),
                    .decimal(ExactDecimal("\(offset).25")!),
                ]),
                position: SourcePosition(sortKey: SourcePosition.sortKey(UInt64(offset)), text: "conformance/\(offset)"),
                transactionID: "tx\(offset / 10)", orderInTransaction: Int(offset % 10),
                commitTimeMicros: 1_700_000_000_000_000 + offset * 1_000)
            return SinkRecord(offset: offset, event: event, appendedAtMicros: 1_700_000_000_000_000 + offset * 1_000)
        }
        return SinkBatch(stream: stream, table: table, records: records, schemas: [1: schema])
    }
}
