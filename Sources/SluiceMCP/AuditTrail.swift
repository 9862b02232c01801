import Crypto
import Foundation
import MCP
import SluiceCore
import SluiceLog
import SluiceRuntime

/// One stream range a call read.
public struct AuditRead: Sendable, Hashable {
    public var stream: String
    /// First offset read.
    public var from: Int64
    /// Offset after the last one read.
    public var to: Int64

    public init(stream: String, from: Int64, to: Int64) {
        self.stream = stream
        self.from = from
        self.to = to
    }
}

/// What the audit trail records about one call (besides time, chain and hashes, which the trail adds).
public struct AuditFacts: Sendable {
    public var principal: String
    public var tool: String
    /// The arguments; literal values are hashed before they are stored.
    public var arguments: [String: MCPValue]
    /// `allow`, `deny`, `default-deny`, `rate-limited`, `error` or `unauthenticated`.
    public var decision: String
    public var policies: [String]
    public var reads: [AuditRead]
    public var maskedColumns: [String]
    public var rows: Int
    /// SHA-256 (hex) of the JSON text returned.
    public var resultHash: String
    /// For errors: what was wrong (never row values).
    public var error: String?

    public init(
        principal: String, tool: String, arguments: [String: MCPValue], decision: String, policies: [String] = [],
        reads: [AuditRead] = [], maskedColumns: [String] = [], rows: Int = 0, resultHash: String, error: String? = nil
    ) {
        self.principal = principal
        self.tool = tool
        self.arguments = arguments
        self.decision = decision
        self.policies = policies
        self.reads = reads
        self.maskedColumns = maskedColumns
        self.rows = rows
        self.resultHash = resultHash
        self.error = error
    }
}

/// The hash-chained audit trail in the `_audit` stream of the core log.
///
/// Each record is one JSON object: `seq` (its offset), time, principal, tool, arguments with literal values hashed,
/// decision and deciding policies, reads (stream offset ranges), masked columns, rows returned, the result's
/// SHA-256, `prev` (the previous record's hash, 64 zeros for the first), and last `hash`: the SHA-256 of the record
/// text before `,"hash":…`. The head (`seq:hash`) is also stored as log state in the same append, so removing
/// records at the end is detected too.
public actor AuditTrail {
    /// Log state key of the newest record's `seq:hash`.
    public static let headStateKey = "audit.head"
    static let genesis = String(repeating: "0", count: 64)

    let log: any ChangeLog
    let argumentKey: [UInt8]?
    private var head: (next: Int64, hash: String)?
    /// The newest pending append: each record waits for the one before it, so that concurrent calls (the actor is
    /// reentrant across its awaits) never chain two records to the same predecessor.
    private var lastAppend: Task<Int64, any Error>?

    /// - Parameter argumentKey: HMAC key for hashing argument values (plain SHA-256 when nil).
    public init(log: any ChangeLog, argumentKey: [UInt8]? = nil) {
        self.log = log
        self.argumentKey = argumentKey
    }

    /// Appends one record; returns its offset. Throws when the log refuses it (callers then return nothing).
    @discardableResult
    public func record(
        _ facts: AuditFacts, timeMicros: Int64 = Int64(Date().timeIntervalSince1970 * 1_000_000)
    ) async throws -> Int64 {
        let previous = lastAppend
        let append = Task {
            _ = await previous?.result  // a failed append leaves the head to be re-read from the log
            return try await self.append(facts, timeMicros: timeMicros)
        }
        lastAppend = append
        return try await append.value
    }

    private func append(_ facts: AuditFacts, timeMicros: Int64) async throws -> Int64 {
        let (seq, prev) = try await currentHead()
        let body = Self.body(facts, seq: seq, prev: prev, timeMicros: timeMicros, hashArgument: hashArgument)
        let hash = Self.sha256Hex(Array(body.utf8))
        let payload = String(body.dropLast()) + ",\"hash\":\"\(hash)\"}"
        let draft = LogRecordDraft(key: nil, payload: Array(payload.utf8), position: nil, timestampMicros: timeMicros)
        let ranges = try await log.append(
            AppendBatch(
                records: [(SystemStream.audit, [draft])],
                state: [Self.headStateKey: Array("\(seq):\(hash)".utf8)]))
        let offset = ranges[SystemStream.audit]?.lowerBound ?? seq
        head = (offset + 1, hash)
        return offset
    }

    /// The next offset and the hash to chain to, re-read from the log when another writer appended meanwhile.
    private func currentHead() async throws -> (Int64, String) {
        let info = try await log.stream(SystemStream.audit)
        let next = info?.nextOffset ?? 0
        if let head, head.next == next { return (head.next, head.hash) }
        guard next > 0 else { return (0, Self.genesis) }
        let last = try await log.read(stream: SystemStream.audit, from: next - 1, limit: 1)
        guard let record = last.first, let hash = Self.storedHash(record.payload) else {
            throw SluiceError(
                .log, "the last audit record (offset \(next - 1)) is missing or damaged",
                hint: "run `sluice audit verify` on the pipeline")
        }
        return (next, hash)
    }

    nonisolated func hashArgument(_ json: String) -> String {
        if let argumentKey {
            let mac = HMAC<SHA256>.authenticationCode(for: Array(json.utf8), using: SymmetricKey(data: argumentKey))
            return "hmac:" + HexBytes.encode(Array(mac))
        }
        return "sha256:" + Self.sha256Hex(Array(json.utf8))
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        HexBytes.encode(Array(SHA256.hash(data: bytes)))
    }

    /// The record text without its hash.
    static func body(
        _ facts: AuditFacts, seq: Int64, prev: String, timeMicros: Int64, hashArgument: (String) -> String
    ) -> String {
        var out = JSONText()
        out.beginObject()
        out.key("seq"); out.raw(String(seq))
        out.key("time"); out.string(TemporalText.timestamp(Timestamp(micros: timeMicros, isUTC: true)))
        out.key("principal"); out.string(facts.principal)
        out.key("tool"); out.string(facts.tool)
        out.key("arguments"); writeHashed(MCPValue.object(facts.arguments), to: &out, hashArgument: hashArgument)
        out.key("decision"); out.string(facts.decision)
        out.key("policies"); out.beginArray(); facts.policies.forEach { out.string($0) }; out.endArray()
        out.key("reads")
        out.beginArray()
        for read in facts.reads {
            out.beginObject()
            out.key("stream"); out.string(read.stream)
            out.key("from"); out.raw(String(read.from))
            out.key("to"); out.raw(String(read.to))
            out.endObject()
        }
        out.endArray()
        out.key("masked_columns"); out.beginArray(); facts.maskedColumns.forEach { out.string($0) }; out.endArray()
        out.key("rows"); out.raw(String(facts.rows))
        out.key("result_sha256"); out.string(facts.resultHash)
        if let error = facts.error { out.key("error"); out.string(error) }
        out.key("prev"); out.string(prev)
        out.endObject()
        return out.text
    }

    /// Arguments with their structure kept and every literal value replaced by its hash.
    static func writeHashed(_ value: MCPValue, to out: inout JSONText, hashArgument: (String) -> String) {
        switch value {
        case .object(let fields):
            out.beginObject()
            for key in fields.keys.sorted() {
                out.key(key)
                writeHashed(fields[key]!, to: &out, hashArgument: hashArgument)
            }
            out.endObject()
        case .array(let items):
            out.beginArray()
            for item in items { writeHashed(item, to: &out, hashArgument: hashArgument) }
            out.endArray()
        case .null:
            out.raw("null")
        default:
            let json = (try? String(decoding: JSONEncoder().encode(value), as: UTF8.self)) ?? "\(value)"
            out.string(hashArgument(json))
        }
    }

    /// The `hash` at the end of a stored record, or nil when the record does not end with one.
    static func storedHash(_ payload: [UInt8]) -> String? {
        split(payload)?.hash
    }

    /// Splits a stored record into the hashed body and the hash.
    static func split(_ payload: [UInt8]) -> (body: [UInt8], hash: String)? {
        let suffixLength = 9 + 64 + 2  // ,"hash":" + 64 hex + "}
        guard payload.count > suffixLength + 2 else { return nil }
        let cut = payload.count - suffixLength
        let suffix = Array(payload[cut...])
        guard suffix.starts(with: Array(",\"hash\":\"".utf8)),
            suffix.suffix(2) == [UInt8(ascii: "\""), UInt8(ascii: "}")]
        else { return nil }
        let hash = String(decoding: suffix[9..<73], as: UTF8.self)
        guard hash.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        return (Array(payload[..<cut]) + [UInt8(ascii: "}")], hash)
    }
}

/// The result of checking the audit chain.
public struct AuditVerification: Sendable, CustomStringConvertible {
    /// Records checked.
    public var records: Int64
    /// The first offset where the chain breaks, with what is wrong; nil when the chain is intact.
    public var failure: (offset: Int64, reason: String)?

    public var isIntact: Bool { failure == nil }

    public var description: String {
        if let failure { return "audit chain broken at offset \(failure.offset): \(failure.reason)" }
        return "audit chain intact: \(records) records"
    }
}

extension AuditTrail {
    /// Checks every record of `_audit`: dense offsets from 0, each record's hash, its `seq` and its link to the
    /// previous record, and that the chain ends at the head stored in the log state.
    public static func verify(log: any ChangeLog) async throws -> AuditVerification {
        guard let info = try await log.stream(SystemStream.audit) else {
            if let head = try await log.state(headStateKey) {
                return AuditVerification(
                    records: 0,
                    failure: (
                        0, "the _audit stream is gone but its head \(String(decoding: head, as: UTF8.self)) is recorded"
                    ))
            }
            return AuditVerification(records: 0, failure: nil)
        }
        var expected: Int64 = 0
        var prev = genesis
        var checked: Int64 = 0
        func fail(_ offset: Int64, _ reason: String) -> AuditVerification {
            AuditVerification(records: checked, failure: (offset, reason))
        }
        while expected < info.nextOffset {
            let records: [LogRecord]
            do {
                records = try await log.read(stream: SystemStream.audit, from: expected, limit: 1000)
            } catch let error as LogError where error.code == .checksumMismatch {
                // Find the damaged record one by one.
                var offset = expected
                while offset < info.nextOffset {
                    do {
                        _ = try await log.read(stream: SystemStream.audit, from: offset, limit: 1)
                    } catch {
                        return fail(offset, "the record was altered (its checksum does not match)")
                    }
                    offset += 1
                }
                return fail(expected, "the record was altered (its checksum does not match)")
            }
            guard !records.isEmpty else { break }
            for record in records {
                if record.offset != expected {
                    return fail(expected, "records \(expected)..<\(record.offset) are missing")
                }
                guard let (body, hash) = split(record.payload) else {
                    return fail(record.offset, "the record does not end with its hash")
                }
                if sha256Hex(body) != hash {
                    return fail(record.offset, "the record was altered (its hash does not match its content)")
                }
                guard case .object(let fields)? = try? JSONValueParser.parse(String(decoding: body, as: UTF8.self))
                else {
                    return fail(record.offset, "the record is not a JSON object")
                }
                guard fields["seq"]?.intValue.map(Int64.init) == record.offset else {
                    return fail(record.offset, "the record's seq does not match its offset (records were moved)")
                }
                guard fields["prev"]?.stringValue == prev else {
                    return fail(record.offset, "the record does not link to the previous record's hash")
                }
                prev = hash
                expected = record.offset + 1
                checked += 1
            }
        }
        if expected < info.nextOffset {
            return fail(expected, "records \(expected)..<\(info.nextOffset) are missing")
        }
        if let head = try await log.state(headStateKey) {
            let text = String(decoding: head, as: UTF8.self)
            let parts = text.split(separator: ":")
            if parts.count == 2, let seq = Int64(parts[0]) {
                if seq >= expected {
                    return fail(expected, "records up to \(seq) were recorded but are missing")
                }
                // Records appended after the head by another process are fine when they chain correctly.
                if seq == expected - 1 && String(parts[1]) != prev {
                    return fail(seq, "the last record's hash differs from the recorded head")
                }
            }
        } else if expected > 0 {
            return fail(0, "the audit head is missing from the log state")
        }
        return AuditVerification(records: checked, failure: nil)
    }
}
