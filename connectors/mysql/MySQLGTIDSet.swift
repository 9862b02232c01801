import Foundation
import SluiceCore

/// A MySQL GTID set: per server uuid (and, MySQL 8.3+, tag) the transaction numbers it holds, as sorted,
/// merged intervals.
///
/// Text form as `@@gtid_executed` prints it: `uuid:1-5:7-9:tag:1-3,uuid2:1-3` (uuids sorted and lower case,
/// untagged intervals first, then each tag with its intervals). Parsing also takes one entry per tag
/// (`uuid:tag:1-3`), repeated uuids, unmerged intervals, upper case and whitespace.
public struct MySQLGTIDSet: Sendable, Hashable, CustomStringConvertible {
    /// Where transactions come from: a server uuid (lower case, with dashes) and a tag ("" when untagged).
    struct Source: Hashable, Comparable {
        var uuid: String
        var tag: String

        static func < (a: Source, b: Source) -> Bool { (a.uuid, a.tag) < (b.uuid, b.tag) }
    }

    /// The largest transaction number MySQL hands out (2^63 − 1).
    static let maxNumber = UInt64(Int64.max)

    /// Per source: disjoint, non-adjacent intervals in ascending order (never empty).
    private(set) var intervals: [Source: [ClosedRange<UInt64>]] = [:]

    /// The empty set.
    public init() {}

    /// Parses the text form; throws a `SluiceError` naming the part that is wrong.
    public init(_ text: String) throws {
        for entry in text.split(separator: ",") {
            let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            if parts.count == 1 && parts[0].isEmpty { continue }
            guard let uuid = Self.uuid(parts[0]) else {
                throw Self.error(text, "'\(parts[0])' is not a server uuid (8-4-4-4-12 hex digits)")
            }
            var source = Source(uuid: uuid, tag: "")
            var hasInterval = false
            for part in parts.dropFirst() {
                if let first = part.first, first.isASCII && first.isNumber {
                    guard let range = Self.interval(part) else {
                        throw Self.error(text, "'\(part)' is not an interval (N or N-M, 1 ≤ N ≤ M < 2^63)")
                    }
                    insert(range, from: source)
                    hasInterval = true
                } else {
                    guard hasInterval || source.tag.isEmpty else {
                        throw Self.error(text, "tag '\(source.tag)' of \(uuid) has no interval")
                    }
                    guard let tag = Self.tag(part) else {
                        throw Self.error(text, "'\(part)' is neither an interval nor a tag (a letter or _, then up to "
                                            + "31 letters, digits or _)")
                    }
                    source.tag = tag
                    hasInterval = false
                }
            }
            guard hasInterval else {
                throw Self.error(text, "\(entry.trimmingCharacters(in: .whitespacesAndNewlines)) has no interval")
            }
        }
    }

    public var isEmpty: Bool { intervals.isEmpty }

    /// Adds one GTID (`uuid:number` or `uuid:tag:number`, as GTID events carry it).
    public mutating func insert(_ gtid: String) throws {
        let one = try MySQLGTIDSet(gtid)
        guard one.intervals.count == 1, let ranges = one.intervals.first?.value, ranges.count == 1,
              ranges[0].count == 1 else {
            throw Self.error(gtid, "expected a single GTID (uuid:number)")
        }
        formUnion(one)
    }

    /// Adds every GTID of `other`.
    public mutating func formUnion(_ other: MySQLGTIDSet) {
        for (source, ranges) in other.intervals {
            for range in ranges { insert(range, from: source) }
        }
    }

    /// This set with every GTID of `other`.
    public func union(_ other: MySQLGTIDSet) -> MySQLGTIDSet {
        var result = self
        result.formUnion(other)
        return result
    }

    /// The canonical text form (see the type's description).
    public var description: String {
        var text = ""
        var uuid: String?
        for source in intervals.keys.sorted() {
            if source.uuid != uuid {
                if uuid != nil { text += "," }
                text += source.uuid
                uuid = source.uuid
            }
            if !source.tag.isEmpty { text += ":" + source.tag }
            for range in intervals[source]! {
                text += range.count == 1 ? ":\(range.lowerBound)" : ":\(range.lowerBound)-\(range.upperBound)"
            }
        }
        return text
    }

    /// Adds `range`, merging it with intervals it overlaps or touches.
    private mutating func insert(_ range: ClosedRange<UInt64>, from source: Source) {
        var list = intervals[source] ?? []
        var low = range.lowerBound, high = range.upperBound
        // The intervals to merge form one run [start, end): those that neither end before low − 1 nor
        // start after high + 1. Transactions mostly append, so search from the end.
        var end = list.count
        while end > 0 && list[end - 1].lowerBound > high + 1 { end -= 1 }
        var start = end
        while start > 0 && list[start - 1].upperBound + 1 >= low { start -= 1 }
        if start < end {
            low = min(low, list[start].lowerBound)
            high = max(high, list[end - 1].upperBound)
        }
        list.replaceSubrange(start..<end, with: [low...high])
        intervals[source] = list
    }

    // MARK: Binary form (PREVIOUS_GTIDS, COM_BINLOG_DUMP_GTID)

    /// The binary form: a source count, then per source 16 uuid bytes, the number of intervals and each as
    /// [start, end + 1). With tags (MySQL 8.3+) the count is framed by format bytes 1 and each uuid is
    /// followed by its tag (length, then text); without tags the untagged format older servers read.
    func encoded() -> [UInt8] {
        let sources = intervals.keys.sorted()
        let tagged = sources.contains { !$0.tag.isEmpty }
        let count = UInt64(sources.count)
        var out = BinlogPacketStream.le(tagged ? 1 | count << 8 | 1 << 56 : count, 8)
        for source in sources {
            out += HexBytes.decode(source.uuid.replacingOccurrences(of: "-", with: ""))!
            if tagged {
                out.append(UInt8(source.tag.utf8.count << 1))  // a one-byte variable-length integer (tags ≤ 32)
                out += Array(source.tag.utf8)
            }
            let ranges = intervals[source]!
            out += BinlogPacketStream.le(UInt64(ranges.count), 8)
            for range in ranges {
                out += BinlogPacketStream.le(range.lowerBound, 8) + BinlogPacketStream.le(range.upperBound + 1, 8)
            }
        }
        return out
    }

    /// Reads the binary form (see `encoded`).
    init(decoding cursor: inout ByteReader<[UInt8]>) throws {
        let head = try cursor.u64()
        let tagged = head & 0xFF == 1 && head >> 56 == 1
        let count = Int(tagged ? (head >> 8) & 0xFFFF_FFFF_FFFF : head)
        guard count <= cursor.remaining / 16 else { throw BinlogFormatError("GTID set claims \(count) server uuids") }
        for _ in 0..<count {
            var source = Source(uuid: BinlogEventDecoder.uuidText(try cursor.array(16)), tag: "")
            if tagged {
                let raw = try cursor.utf8(Int(try BinlogEventDecoder.varlen(&cursor)))
                if !raw.isEmpty {
                    guard let tag = Self.tag(raw) else { throw BinlogFormatError("GTID set holds the tag '\(raw)'") }
                    source.tag = tag
                }
            }
            let ranges = Int(try cursor.u64())
            guard ranges <= cursor.remaining / 16 else { throw BinlogFormatError("GTID set claims \(ranges) intervals") }
            for _ in 0..<ranges {
                let from = try cursor.u64(), to = try cursor.u64()
                guard from >= 1, from < to, to - 1 <= Self.maxNumber else {
                    throw BinlogFormatError("GTID set of \(source.uuid) holds the interval [\(from), \(to))")
                }
                insert(from...(to - 1), from: source)
            }
        }
    }

    // MARK: Parsing helpers

    private static func error(_ text: String, _ reason: String) -> SluiceError {
        SluiceError(.invalidConfiguration, "'\(text)' is not a MySQL GTID set: \(reason)",
                    hint: "write it as @@gtid_executed prints it, e.g. 3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9")
    }

    /// A uuid in lower case with dashes, from 32 hex digits with or without the dashes.
    private static func uuid(_ text: String) -> String? {
        let chars = Array(text.lowercased())
        let dashed = chars.count == 36 && [8, 13, 18, 23].allSatisfy { chars[$0] == "-" }
        let digits = dashed ? chars.enumerated().filter { ![8, 13, 18, 23].contains($0.offset) }.map(\.element) : chars
        guard digits.count == 32, digits.allSatisfy(\.isHexDigit) else { return nil }
        return BinlogEventDecoder.uuidText(HexBytes.decode(String(digits))!)
    }

    /// `N` or `N-M` with 1 ≤ N ≤ M ≤ 2^63 − 1.
    private static func interval(_ text: String) -> ClosedRange<UInt64>? {
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard bounds.count <= 2, bounds.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let low = UInt64(bounds[0]), let high = UInt64(bounds[bounds.count - 1]),
              low >= 1, low <= high, high <= maxNumber else { return nil }
        return low...high
    }

    /// A tag in lower case (MySQL compares tags case-insensitively and prints them in lower case).
    private static func tag(_ text: String) -> String? {
        let tag = text.lowercased()
        guard let first = tag.first, tag.count <= 32, first == "_" || (first.isASCII && first.isLetter),
              tag.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) else { return nil }
        return tag
    }
}
