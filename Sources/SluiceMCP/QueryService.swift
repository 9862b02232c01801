import Crypto
import Foundation
import Logging
import MCP
import SluiceCore
import SluiceLog
import SluiceRuntime
import Synchronization

/// What the runtime reports about a pipeline running in the same process (`sluice serve`).
public struct RuntimeStatus: Sendable {
    /// `running`, `stopped` or `failed`.
    public var state: String
    /// The failure, when the pipeline failed (no row values).
    public var error: String?

    public init(state: String, error: String? = nil) {
        self.state = state
        self.error = error
    }
}

/// A tool's result: the JSON text (the structured content) or, for errors, the message.
public struct ToolResponse: Sendable {
    /// For successes a JSON object, which is also the structured content; for errors the message.
    public var text: String
    public var isError: Bool

    /// As the sdk's result type: the text as text content and, for successes, parsed as `structuredContent`.
    public var result: CallTool.Result {
        let content: [Tool.Content] = [.text(text: text, annotations: nil, _meta: nil)]
        guard !isError else { return CallTool.Result(content: content, isError: true) }
        let structured: MCPValue? = (try? JSONValueParser.parse(text)) ?? .object([:])
        return CallTool.Result(content: content, structuredContent: structured, isError: false)
    }

    /// The JSON-RPC response carrying this result, for the request with this id (given as JSON text).
    public func jsonRPCResponse(id: String) -> [UInt8] {
        var out = JSONText()
        out.beginObject()
        out.key("jsonrpc"); out.string("2.0")
        out.key("id"); out.raw(id)
        out.key("result")
        out.beginObject()
        out.key("content")
        out.beginArray()
        out.beginObject()
        out.key("type"); out.string("text")
        out.key("text"); out.string(text)
        out.endObject()
        out.endArray()
        if !isError { out.key("structuredContent"); out.raw(text) }
        out.key("isError"); out.raw(isError ? "true" : "false")
        out.endObject()
        out.endObject()
        return out.bytes
    }
}

/// The answer of a tool: its JSON text and what the audit trail records about it.
struct ToolOutcome {
    var json: String
    var decision: AccessDecision?
    var reads: [AuditRead] = []
    var maskedColumns: [String] = []
    var rows: Int = 0
}

/// Answers the MCP tools for principals, under governance, and records every call in the audit trail.
///
/// Shared by every session of a process; each call names its principal.
public final class QueryService: Sendable {
    public let pipeline: PipelineConfig
    public let settings: MCPSettings
    let log: any ChangeLog
    let audit: AuditTrail
    let masker: ColumnMasker
    let logger: Logger
    let catalog = SchemaCatalog()
    private let catalogNext = Mutex<Int64>(0)
    private let stateStore = Mutex<StateStore?>(nil)
    private let rateWindows = Mutex<[String: [ContinuousClock.Instant]]>([:])
    let runtimeStatus: @Sendable () -> RuntimeStatus?
    /// Seals cursors (see `Cursor`); random per process.
    private let cursorKeyBytes: [UInt8]
    var cursorKey: SymmetricKey { SymmetricKey(data: cursorKeyBytes) }

    /// Tools whose calls read no stream data (still audited).
    static let defaultPageSize = 100

    public init(
        pipeline: PipelineConfig, settings: MCPSettings, log: any ChangeLog, logger: Logger,
        runtimeStatus: @escaping @Sendable () -> RuntimeStatus? = { nil }
    ) {
        self.pipeline = pipeline
        self.settings = settings
        self.log = log
        self.logger = logger
        self.audit = AuditTrail(log: log, argumentKey: settings.auditKey)
        self.masker = ColumnMasker(pseudonymKey: settings.governance.pseudonymKey)
        self.runtimeStatus = runtimeStatus
        self.cursorKeyBytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    /// The principal a bearer token belongs to.
    public func authenticate(token: String) -> Principal? {
        settings.governance.authenticate(token: token)
    }

    // MARK: Calls

    /// Runs a tool for a principal: rate limit, arguments, policies, masking, then the audit record.
    ///
    /// Never throws: bad arguments, denials and failures become tool results with `isError`. When the audit
    /// record cannot be written, nothing is returned (an error result says so).
    public func call(tool: String, arguments: [String: MCPValue]?, principal: Principal) async -> CallTool.Result {
        await respond(tool: tool, arguments: arguments, principal: principal).result
    }

    /// Like `call`, but returns the result as JSON text, so that transports can send it without the sdk's
    /// Codable round trips (see `ToolCallFastPath`).
    public func respond(tool: String, arguments: [String: MCPValue]?, principal: Principal) async -> ToolResponse {
        let args = arguments ?? [:]
        var outcome: ToolOutcome?
        var failure: ToolError?
        if !allowCall(principal) {
            failure = ToolError(
                "rate limit: at most \(principal.limits.callsPerMinute) calls per minute; retry shortly",
                decision: "rate-limited")
        } else {
            do {
                outcome = try await dispatch(tool: tool, arguments: arguments, principal: principal)
            } catch let error as ToolError {
                failure = error
            } catch {
                logger.error("tool \(tool) failed: \(error)", metadata: ["sluice.principal": .string(principal.name)])
                failure = ToolError("\(tool) failed inside Sluice: \(Self.safeDescription(error))")
            }
        }
        let text = outcome?.json ?? (failure?.message ?? "")
        let facts = AuditFacts(
            principal: principal.name, tool: tool, arguments: args,
            decision: outcome?.decision?.label ?? (outcome != nil ? "allow" : failure?.decision ?? "error"),
            policies: outcome?.decision?.decidingPolicies ?? failure?.policies ?? [],
            reads: outcome?.reads ?? [], maskedColumns: outcome?.maskedColumns ?? [], rows: outcome?.rows ?? 0,
            resultHash: AuditTrail.sha256Hex(Array(text.utf8)), error: failure?.message)
        do {
            try await audit.record(facts)
        } catch {
            logger.error("cannot write the audit record, returning nothing: \(error)")
            return ToolResponse(
                text: "the call could not be recorded in the audit trail, so nothing is returned",
                isError: true)
        }
        return ToolResponse(text: text, isError: outcome == nil)
    }

    /// A description of an error that holds no row values (log and state errors name offsets and files only).
    static func safeDescription(_ error: any Error) -> String {
        if let error = error as? SluiceError { return error.message + (error.hint.map { ". \($0)" } ?? "") }
        if let error = error as? LogError { return error.message }
        return "internal error"
    }

    func dispatch(tool: String, arguments: [String: MCPValue]?, principal: Principal) async throws -> ToolOutcome {
        switch tool {
        case "list_streams":
            _ = try ToolArguments(tool: tool, values: arguments, allowed: [])
            return try await listStreams(principal)
        case "describe_stream":
            let args = try ToolArguments(tool: tool, values: arguments, allowed: ["stream"])
            return try await describeStream(try args.requiredString("stream"), principal: principal)
        case "read_changes":
            return try await readChanges(
                try ToolArguments(
                    tool: tool, values: arguments,
                    allowed: [
                        "stream", "from_offset", "since", "cursor", "limit", "ops", "key", "where",
                    ]), principal: principal)
        case "get_row_history":
            return try await rowHistory(
                try ToolArguments(
                    tool: tool, values: arguments,
                    allowed: [
                        "stream", "key", "limit", "cursor",
                    ]), principal: principal)
        case "get_current_rows":
            return try await currentRows(
                try ToolArguments(
                    tool: tool, values: arguments,
                    allowed: [
                        "stream", "key", "where", "limit", "cursor",
                    ]), principal: principal)
        case "pipeline_status":
            _ = try ToolArguments(tool: tool, values: arguments, allowed: [])
            return try await pipelineStatus(principal)
        default:
            throw ToolError("unknown tool '\(tool)'; tools: \(ToolCatalog.names.joined(separator: ", "))")
        }
    }

    /// Sliding one-minute window per principal.
    func allowCall(_ principal: Principal) -> Bool {
        let now = ContinuousClock.now
        return rateWindows.withLock { windows in
            var calls = windows[principal.name, default: []].filter { now - $0 < .seconds(60) }
            defer { windows[principal.name] = calls }
            guard calls.count < principal.limits.callsPerMinute else { return false }
            calls.append(now)
            return true
        }
    }

    // MARK: Streams and schemas

    /// Change streams of the pipeline with their tables (from the schema catalog), refreshed from `_schemas`.
    func changeStreams() async throws -> [(info: StreamInfo, table: TableID?)] {
        try await refreshCatalog()
        let tables = Dictionary(catalog.tables.map { (pipeline.stream(for: $0), $0) }, uniquingKeysWith: { a, _ in a })
        return try await log.streams().filter { pipeline.isChangeStream($0.name) }.map { ($0, tables[$0.name]) }
    }

    func refreshCatalog() async throws {
        var next = catalogNext.withLock { $0 }
        while true {
            let records = try await log.read(stream: SystemStream.schemas, from: next, limit: 1000)
            guard let last = records.last else { break }
            for record in records {
                if let schema = try? SchemaCatalog.decode(record.payload) { catalog.add(schema) }
            }
            next = last.offset + 1
        }
        catalogNext.withLock { $0 = max($0, next) }
    }

    /// The stream if the principal may perform the operation, else a denial that does not reveal whether a
    /// stream the principal may not describe exists.
    func authorize(
        _ stream: String, _ operation: StreamOperation, principal: Principal
    ) async throws
        -> (info: StreamInfo, table: TableID?, view: GovernedView)
    {
        let governance = settings.governance
        let describe = governance.decide(principal, stream: stream, operation: .describe)
        let streams = try await changeStreams()
        guard describe.allowed, let entry = streams.first(where: { $0.info.name == stream }) else {
            throw ToolError(
                "no stream '\(stream)' that you may see; list_streams shows yours",
                decision: describe.allowed ? "error" : describe.label, policies: describe.decidingPolicies)
        }
        let decision =
            operation == .describe ? describe : governance.decide(principal, stream: stream, operation: operation)
        guard decision.allowed else {
            let by =
                decision.decidingPolicies.isEmpty
                ? "no policy allows it" : "denied by \(decision.decidingPolicies.joined(separator: ", "))"
            throw ToolError(
                "you may not \(operation.rawValue) stream '\(stream)' (\(by))",
                decision: decision.label, policies: decision.decidingPolicies)
        }
        return (entry.info, entry.table, GovernedView(decision: decision, masker: masker))
    }

    func listStreams(_ principal: Principal) async throws -> ToolOutcome {
        var out = JSONText()
        out.beginObject()
        out.key("pipeline"); out.string(pipeline.name)
        out.key("streams")
        out.beginArray()
        var policies: [String] = []
        var count = 0
        for (info, table) in try await changeStreams() {
            let describe = settings.governance.decide(principal, stream: info.name, operation: .describe)
            guard describe.allowed else { continue }
            policies += describe.decidingPolicies
            count += 1
            out.beginObject()
            out.key("name"); out.string(info.name)
            if let table {
                out.key("schema"); out.string(table.schema)
                out.key("table"); out.string(table.name)
            }
            writeOffsets(info, to: &out)
            out.key("operations")
            out.beginArray()
            for operation in StreamOperation.allCases
            where settings.governance.decide(principal, stream: info.name, operation: operation).allowed {
                out.string(operation.rawValue)
            }
            out.endArray()
            out.endObject()
        }
        out.endArray()
        out.endObject()
        var unique: [String] = []
        for p in policies where !unique.contains(p) { unique.append(p) }
        let decision = AccessDecision(allowed: true, decidingPolicies: unique, columns: [:], rows: .all)
        return ToolOutcome(json: out.text, decision: decision, rows: count)
    }

    func writeOffsets(_ info: StreamInfo, to out: inout JSONText) {
        out.key("first_offset"); out.raw(String(info.firstOffset))
        out.key("last_offset"); out.raw(info.nextOffset > info.firstOffset ? String(info.nextOffset - 1) : "null")
        out.key("next_offset"); out.raw(String(info.nextOffset))
        out.key("count"); out.raw(String(info.count))
    }

    func describeStream(_ stream: String, principal: Principal) async throws -> ToolOutcome {
        let (info, table, view) = try await authorize(stream, .describe, principal: principal)
        var times: (first: Int64, last: Int64)?
        if info.count > 0,
            let first = try await log.read(stream: stream, from: info.firstOffset, limit: 1).first?.timestampMicros,
            let last = try await log.read(stream: stream, from: info.nextOffset - 1, limit: 1).first?.timestampMicros
        {
            times = (first, last)
        }
        var out = JSONText()
        describeJSON(info: info, table: table, view: view, times: times, to: &out)
        let text = out.text
        let schemaColumns = table.map { catalog.schemas($0).values.flatMap { $0.columns.map(\.name) } } ?? []
        return ToolOutcome(
            json: text, decision: view.decision, maskedColumns: view.maskedColumns(among: Array(Set(schemaColumns))))
    }

    /// The describe document: offsets and counts, key, and every schema version with each column's access.
    func describeJSON(
        info: StreamInfo, table: TableID?, view: GovernedView, times: (first: Int64, last: Int64)?,
        to out: inout JSONText
    ) {
        out.beginObject()
        out.key("stream"); out.string(info.name)
        writeOffsets(info, to: &out)
        let versions = table.map { catalog.schemas($0).values.sorted { $0.version < $1.version } } ?? []
        if let table {
            out.key("schema"); out.string(table.schema)
            out.key("table"); out.string(table.name)
        }
        out.key("primary_key")
        out.beginArray()
        for column in versions.last?.primaryKey ?? [] where view.columns[column] != .deny { out.string(column) }
        out.endArray()
        out.key("schema_versions")
        out.beginArray()
        for schema in versions {
            out.beginObject()
            out.key("version"); out.raw(String(schema.version))
            if let position = schema.position { out.key("position"); out.string(position.text) }
            out.key("columns")
            out.beginArray()
            for column in schema.columns {
                out.beginObject()
                out.key("name"); out.string(column.name)
                let action = view.columns[column.name]
                out.key("access"); out.string(action.map { "\($0)" } ?? "visible")
                if action != .deny {
                    out.key("type"); out.string(column.sourceType)
                    out.key("kind"); out.string(column.kind.rawValue)
                    out.key("nullable"); out.raw(column.nullable ? "true" : "false")
                }
                out.endObject()
            }
            out.endArray()
            out.endObject()
        }
        out.endArray()
        out.key("row_filtered"); out.raw(view.decision.rows.isUnrestricted ? "false" : "true")
        for (name, micros) in [("first_time", times?.first), ("last_time", times?.last)] {
            out.key(name)
            if let micros {
                out.string(TemporalText.timestamp(Timestamp(micros: micros, isUTC: true)))
            } else {
                out.raw("null")
            }
        }
        out.endObject()
    }

    // MARK: read_changes

    /// Where the next page starts: an offset, or the last key of a state scan. Sealed with a key that lives only in
    /// this process, so a cursor neither reveals key values (which may be masked for the caller) nor can be forged;
    /// cursors from before a restart are refused.
    struct Cursor {
        var stream: String
        var offset: Int64
        var key: [UInt8]?

        func encoded(_ sealKey: SymmetricKey) -> String {
            var plain = "\(offset):\(stream)"
            if let key { plain = "k" + HexBytes.encode(key) + ":" + stream }
            let sealed = (try? ChaChaPoly.seal(Array(plain.utf8), using: sealKey).combined) ?? Data()
            return sealed.base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        }

        static func decode(_ text: String, stream: String, _ sealKey: SymmetricKey) throws -> Cursor {
            let base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            guard let data = Data(base64Encoded: base64), let box = try? ChaChaPoly.SealedBox(combined: data),
                let opened = try? ChaChaPoly.open(box, using: sealKey),
                let plain = String(data: opened, encoding: .utf8),
                let colon = plain.firstIndex(of: ":"), String(plain[plain.index(after: colon)...]) == stream
            else {
                throw ToolError(
                    "the cursor is not one this server returned for stream '\(stream)' "
                        + "(cursors do not survive a restart; start again from next_offset)")
            }
            let head = plain[..<colon]
            if head.hasPrefix("k"), let key = HexBytes.decode(String(head.dropFirst())) {
                return Cursor(stream: stream, offset: 0, key: key)
            }
            guard let offset = Int64(head), offset >= 0 else { throw ToolError("the cursor is damaged") }
            return Cursor(stream: stream, offset: offset, key: nil)
        }
    }

    func limit(_ args: ToolArguments, principal: Principal) throws -> Int {
        let requested = try args.int("limit", min: 1) ?? Int64(Self.defaultPageSize)
        return Int(min(requested, Int64(principal.limits.maxRowsPerCall)))
    }

    func readChanges(_ args: ToolArguments, principal: Principal) async throws -> ToolOutcome {
        let stream = try args.requiredString("stream")
        let (info, table, view) = try await authorize(stream, .read, principal: principal)
        let limit = try limit(args, principal: principal)
        let starts = ["from_offset", "since", "cursor"].filter { args.has($0) }
        guard starts.count <= 1 else {
            throw ToolError(
                "read_changes: give at most one of from_offset, since and cursor (got \(starts.joined(separator: ", ")))"
            )
        }
        var from = info.firstOffset
        if let offset = try args.int("from_offset", min: 0) { from = offset }
        if let since = try args.string("since") {
            guard let micros = Self.parseTime(since) else {
                throw ToolError("read_changes: 'since' must be an ISO-8601 time such as 2026-01-31T12:00:00Z")
            }
            from = try await log.offset(stream: stream, atOrAfterTimestamp: micros)
        }
        if let cursor = try args.string("cursor") {
            let decoded = try Cursor.decode(cursor, stream: stream, cursorKey)
            guard decoded.key == nil else { throw ToolError("read_changes: that cursor belongs to another tool") }
            from = decoded.offset
        }
        from = max(from, info.firstOffset)
        let ops = try Self.operations(args)
        let latest = table.flatMap { catalog.latest($0) }
        var filters: [ValueFilter] = []
        for (column, literals) in try args.columnValues("key") ?? [] {
            guard latest?.primaryKey.contains(column) ?? true else {
                throw ToolError(
                    "read_changes: '\(column)' is not a key column of \(stream) (key: \(latest?.primaryKey.joined(separator: ", ") ?? "none"))"
                )
            }
            filters.append(try ValueFilter.make(column: column, literals: literals, view: view))
        }
        for (column, literals) in try args.columnValues("where") ?? [] {
            if let latest, !catalog.schemas(latest.table).values.contains(where: { $0.columnIndex(column) != nil }) {
                throw ToolError("read_changes: stream \(stream) has no column '\(column)'")
            }
            filters.append(try ValueFilter.make(column: column, literals: literals, view: view))
        }
        var events: [String] = []
        var offset = from
        let end = info.nextOffset
        let budget = Int64(max(10_000, limit * 20))
        while events.count < limit && offset < end && offset - from < budget {
            let page = Int(min(Int64(max(limit - events.count, 256)), end - offset, 2_000))
            let records = try await log.read(stream: stream, from: offset, limit: page)
            guard !records.isEmpty else {
                offset = end  // removed by retention meanwhile
                break
            }
            for record in records {
                offset = record.offset + 1
                let event: ChangeEvent
                do {
                    event = try EventCoding.decode(record.payload)
                } catch {
                    throw ToolError(
                        "the record at offset \(record.offset) of \(stream) cannot be decoded", decision: "allow")
                }
                guard let visible = view.scope(event) else { continue }
                if let ops, !ops.contains(visible.op) { continue }
                // Filters look at the images the principal may see; pseudonymized columns compare as pseudonyms.
                let images = [visible.after == nil ? nil : event.after, visible.before == nil ? nil : event.before]
                if !filters.allSatisfy({ filter in images.contains { filter.matches($0, masker: masker) } }) {
                    continue
                }
                events.append(
                    JSONRendering.render(
                        visible, stream: stream, offset: record.offset, appendedAtMicros: record.appendedAtMicros))
                if events.count >= limit { break }
            }
        }
        var out = JSONText()
        out.beginObject()
        out.key("stream"); out.string(stream)
        out.key("events")
        out.beginArray()
        for event in events { out.raw(event) }
        out.endArray()
        out.key("next_offset"); out.raw(String(offset))
        out.key("next_cursor")
        if offset < end {
            out.string(Cursor(stream: stream, offset: offset).encoded(cursorKey))
        } else {
            out.raw("null")
        }
        out.key("end_of_stream"); out.raw(offset >= end ? "true" : "false")
        out.key("scanned"); out.beginObject(); out.key("from"); out.raw(String(from)); out.key("to");
        out.raw(String(offset)); out.endObject()
        out.key("limit"); out.raw(String(limit))
        out.endObject()
        let masked = view.columns.keys.sorted()
        return ToolOutcome(
            json: out.text, decision: view.decision, reads: [AuditRead(stream: stream, from: from, to: offset)],
            maskedColumns: masked, rows: events.count)
    }

    static func operations(_ args: ToolArguments) throws -> Set<ChangeOperation>? {
        guard let names = try args.stringList("ops") else { return nil }
        return Set(
            try names.map { name -> ChangeOperation in
                let aliases: [String: ChangeOperation] = [
                    "insert": .insert, "update": .update, "delete": .delete, "read": .read, "snapshot": .read,
                    "truncate": .truncate,
                ]
                if let op = ChangeOperation(rawValue: name) ?? aliases[name.lowercased()] { return op }
                throw ToolError(
                    "read_changes: unknown operation '\(name)' in ops; use c, u, d, r, t (or insert, update, delete, read, truncate)"
                )
            })
    }

    static func parseTime(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text) {
            return Int64(date.timeIntervalSince1970 * 1_000_000)
        }
        return nil
    }

    // MARK: History and current rows

    func openStateStore() throws -> StateStore {
        if let store = stateStore.withLock({ $0 }) { return store }
        guard let path = settings.statePath else {
            throw ToolError(
                "this pipeline has no state sink: add a sink with type: state (and a path) to use this tool")
        }
        do {
            let store = try StateStore(path: path)
            stateStore.withLock { $0 = store }
            return store
        } catch {
            throw ToolError(
                "the state store is not available yet (\(path)): run the pipeline with its state sink first")
        }
    }

    /// The encoded key from a `key` argument naming every key column, refusing masked key columns.
    func lookupKey(_ args: ToolArguments, table: TableID?, view: GovernedView, tool: String) throws -> [UInt8]? {
        guard let given = try args.columnValues("key") else { return nil }
        guard let table, let schema = catalog.latest(table), !schema.primaryKey.isEmpty else {
            throw ToolError("\(tool): the stream's table has no primary key, so rows cannot be looked up by key")
        }
        let byColumn = Dictionary(given.map { ($0.column, $0.literals) }, uniquingKeysWith: { a, _ in a })
        guard Set(byColumn.keys) == Set(schema.primaryKey) else {
            throw ToolError(
                "\(tool): 'key' must name exactly the key columns: \(schema.primaryKey.joined(separator: ", "))")
        }
        var values: [SluiceCore.Value] = []
        for column in schema.primaryKey {
            if let action = view.columns[column] {
                throw ToolError(
                    "\(tool): key column '\(column)' is \(action) for you, so rows cannot be looked up by its value")
            }
            guard let literals = byColumn[column], literals.count == 1,
                let spec = schema.columns.first(where: { $0.name == column })
            else { throw ToolError("\(tool): give one value for key column '\(column)'") }
            values.append(try KeyLiteral.value(literals[0], column: spec))
        }
        return EventCoding.encodeKey(values)
    }

    func rowHistory(_ args: ToolArguments, principal: Principal) async throws -> ToolOutcome {
        let stream = try args.requiredString("stream")
        let (info, table, view) = try await authorize(stream, .history, principal: principal)
        let limit = try limit(args, principal: principal)
        guard args.has("key") else { throw ToolError("get_row_history: 'key' is required, e.g. {\"id\": 42}") }
        guard let key = try lookupKey(args, table: table, view: view, tool: "get_row_history") else {
            throw ToolError("get_row_history: 'key' is required")
        }
        var from: Int64 = 0
        if let cursor = try args.string("cursor") {
            let decoded = try Cursor.decode(cursor, stream: stream, cursorKey)
            guard decoded.key == nil else { throw ToolError("get_row_history: that cursor belongs to another tool") }
            from = decoded.offset
        }
        let store = try openStateStore()
        let offsets = try store.history(
            stream: stream, key: key, fromOffset: max(from, info.firstOffset), limit: limit + 1)
        let more = offsets.count > limit
        let wanted = Array(offsets.prefix(limit))
        var events: [String] = []
        var reads: [AuditRead] = []
        var index = 0
        while index < wanted.count {
            // Read runs of consecutive offsets in one call.
            var run = 1
            while index + run < wanted.count && wanted[index + run] == wanted[index] + Int64(run) && run < 500 {
                run += 1
            }
            let records = try await log.read(stream: stream, from: wanted[index], limit: run)
            reads.append(AuditRead(stream: stream, from: wanted[index], to: wanted[index] + Int64(run)))
            for record in records where wanted[index..<(index + run)].contains(record.offset) {
                guard let event = try? EventCoding.decode(record.payload) else {
                    throw ToolError(
                        "the record at offset \(record.offset) of \(stream) cannot be decoded", decision: "allow")
                }
                guard let visible = view.scope(event) else { continue }
                events.append(
                    JSONRendering.render(
                        visible, stream: stream, offset: record.offset, appendedAtMicros: record.appendedAtMicros))
            }
            index += run
        }
        var out = JSONText()
        out.beginObject()
        out.key("stream"); out.string(stream)
        out.key("events"); out.beginArray(); events.forEach { out.raw($0) }; out.endArray()
        out.key("next_cursor")
        if more, let next = offsets.last {
            out.string(Cursor(stream: stream, offset: next).encoded(cursorKey))
        } else {
            out.raw("null")
        }
        out.key("indexed_through"); out.raw(String((try? store.progress()[stream]) ?? 0))
        out.endObject()
        return ToolOutcome(
            json: out.text, decision: view.decision, reads: reads, maskedColumns: view.columns.keys.sorted(),
            rows: events.count)
    }

    func currentRows(_ args: ToolArguments, principal: Principal) async throws -> ToolOutcome {
        let stream = try args.requiredString("stream")
        let (_, table, view) = try await authorize(stream, .state, principal: principal)
        let limit = try limit(args, principal: principal)
        let store = try openStateStore()
        let key = try lookupKey(args, table: table, view: view, tool: "get_current_rows")
        var filters: [ValueFilter] = []
        for (column, literals) in try args.columnValues("where") ?? [] {
            filters.append(try ValueFilter.make(column: column, literals: literals, view: view))
        }
        var afterKey: [UInt8]?
        if let cursor = try args.string("cursor") {
            let decoded = try Cursor.decode(cursor, stream: stream, cursorKey)
            guard let key = decoded.key else {
                throw ToolError("get_current_rows: that cursor belongs to another tool")
            }
            afterKey = key
        }
        let primaryKey = table.flatMap { catalog.latest($0)?.primaryKey } ?? []
        var rows: [String] = []
        var lastKey: [UInt8]?
        var exhausted = true
        func consider(_ stored: StoredRow) {
            guard view.decision.rows.contains(stored.row) == true else { return }
            guard filters.allSatisfy({ $0.matches(stored.row, masker: masker) }) else { return }
            rows.append(rowJSON(stored, primaryKey: primaryKey, view: view))
        }
        if let key {
            if let stored = try store.row(stream: stream, key: key) { consider(stored) }
        } else {
            var scanned = 0
            let budget = max(20_000, limit * 20)
            outer: while rows.count < limit && scanned < budget {
                let page = try store.rows(stream: stream, afterKey: afterKey, limit: 1000)
                if page.isEmpty { break }
                for stored in page {
                    scanned += 1
                    lastKey = stored.key
                    afterKey = stored.key
                    consider(stored)
                    if rows.count >= limit { exhausted = false; break outer }
                }
                if page.count < 1000 { break }
                if scanned >= budget { exhausted = false }
            }
        }
        var out = JSONText()
        out.beginObject()
        out.key("stream"); out.string(stream)
        out.key("rows"); out.beginArray(); rows.forEach { out.raw($0) }; out.endArray()
        out.key("next_cursor")
        if !exhausted, let lastKey {
            out.string(Cursor(stream: stream, offset: 0, key: lastKey).encoded(cursorKey))
        } else {
            out.raw("null")
        }
        out.key("applied_through"); out.raw(String((try? store.progress()[stream]) ?? 0))
        out.endObject()
        return ToolOutcome(
            json: out.text, decision: view.decision, maskedColumns: view.columns.keys.sorted(), rows: rows.count)
    }

    func rowJSON(_ stored: StoredRow, primaryKey: [String], view: GovernedView) -> String {
        let row = masker.mask(stored.row, view.columns)
        var out = JSONText()
        out.beginObject()
        out.key("key")
        out.beginObject()
        for column in primaryKey {
            if let value = row[column] { out.key(column); out.raw(JSONRendering.render(value)) }
        }
        out.endObject()
        out.key("row")
        out.beginObject()
        for (name, value) in zip(row.columns, row.values) {
            if case .unchanged = value { continue }
            out.key(name)
            out.raw(JSONRendering.render(value))
        }
        out.endObject()
        out.key("offset"); out.raw(String(stored.offset))
        out.key("schema_version"); out.raw(String(stored.schemaVersion))
        out.key("ts_ms"); out.raw(String(stored.commitTimeMicros / 1000))
        out.endObject()
        return out.text
    }

    // MARK: pipeline_status

    func pipelineStatus(_ principal: Principal) async throws -> ToolOutcome {
        let streams = try await changeStreams().filter {
            settings.governance.decide(principal, stream: $0.info.name, operation: .describe).allowed
        }
        var stateProgress: [String: Int64] = [:]
        if let path = settings.statePath, FileManager.default.fileExists(atPath: path) {
            stateProgress = (try? openStateStore().progress()) ?? [:]
        }
        var out = JSONText()
        out.beginObject()
        out.key("pipeline"); out.string(pipeline.name)
        out.key("runtime")
        out.beginObject()
        let status = runtimeStatus()
        out.key("state"); out.string(status?.state ?? "unknown (not running in this process)")
        out.key("error"); if let error = status?.error { out.string(error) } else { out.raw("null") }
        out.endObject()
        out.key("sources")
        out.beginArray()
        for source in pipeline.sources {
            out.beginObject()
            out.key("name"); out.string(source.name)
            out.key("type"); out.string(source.type)
            out.key("position")
            out.beginObject()
            let prefix = "source.\(source.name)."
            for (key, value) in try await log.states(prefix: prefix).sorted(by: { $0.key < $1.key }) {
                out.key(String(key.dropFirst(prefix.count)))
                out.string(Self.stateText(value))
            }
            out.endObject()
            out.endObject()
        }
        out.endArray()
        out.key("streams")
        out.beginArray()
        for (info, _) in streams {
            out.beginObject()
            out.key("name"); out.string(info.name)
            writeOffsets(info, to: &out)
            out.key("sinks")
            out.beginArray()
            for sink in pipeline.sinks {
                var committed = try await log.consumerOffset(consumer: "sink.\(sink.name)", stream: info.name)
                if sink.type == StateSink.spec.name, let applied = stateProgress[info.name] {
                    committed = max(committed, applied)
                }
                out.beginObject()
                out.key("sink"); out.string(sink.name)
                out.key("type"); out.string(sink.type)
                out.key("committed_offset"); out.raw(String(committed))
                out.key("lag"); out.raw(String(max(0, info.nextOffset - committed)))
                out.endObject()
            }
            out.endArray()
            out.endObject()
        }
        out.endArray()
        out.endObject()
        return ToolOutcome(
            json: out.text, decision: AccessDecision(allowed: true, decidingPolicies: [], columns: [:], rows: .all),
            rows: streams.count)
    }

    /// Connector state as text: printable UTF-8 as is, 8 bytes as a big-endian integer, else hex.
    static func stateText(_ bytes: [UInt8]) -> String {
        if let text = String(bytes: bytes, encoding: .utf8),
            text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F })
        {
            return text
        }
        if bytes.count == 8 { return String(bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
        return HexBytes.encode(bytes)
    }

    // MARK: Resources

    /// Streams the principal may describe, as resources.
    public func resources(principal: Principal) async throws -> [Resource] {
        try await changeStreams().filter {
            settings.governance.decide(principal, stream: $0.info.name, operation: .describe).allowed
        }.map {
            Resource(
                name: $0.info.name, uri: "sluice://streams/\($0.info.name)",
                description: "change stream \($0.info.name): schema, offsets and the latest changes",
                mimeType: "application/json")
        }
    }

    /// Reads a stream resource: its describe document plus, with read access, the latest 20 changes. Audited.
    public func readResource(uri: String, principal: Principal) async throws -> ReadResource.Result {
        let prefix = "sluice://streams/"
        let stream = uri.hasPrefix(prefix) ? String(uri.dropFirst(prefix.count)) : ""
        let args: [String: MCPValue] = ["uri": .string(uri)]
        var text = ""
        var outcome: ToolOutcome?
        var failure: ToolError?
        do {
            guard allowCall(principal) else {
                throw ToolError(
                    "rate limit: at most \(principal.limits.callsPerMinute) calls per minute", decision: "rate-limited")
            }
            guard !stream.isEmpty else { throw ToolError("unknown resource '\(uri)'; resources are \(prefix)<stream>") }
            var described = try await describeStream(stream, principal: principal)
            let readDecision = settings.governance.decide(principal, stream: stream, operation: .read)
            if readDecision.allowed, let info = try await log.stream(stream) {
                let from = max(info.firstOffset, info.nextOffset - 20)
                let recent = try await readChanges(
                    try ToolArguments(
                        tool: "read_changes", values: ["stream": .string(stream), "from_offset": .int(Int(from))],
                        allowed: ["stream", "from_offset"]),
                    principal: principal)
                described.json = "{\"describe\":\(described.json),\"recent\":\(recent.json)}"
                described.reads = recent.reads
                described.rows = recent.rows
                described.maskedColumns = recent.maskedColumns
            }
            outcome = described
            text = described.json
        } catch let error as ToolError {
            failure = error
            text = error.message
        }
        try await audit.record(
            AuditFacts(
                principal: principal.name, tool: "resources/read", arguments: args,
                decision: outcome?.decision?.label ?? failure?.decision ?? "error",
                policies: outcome?.decision?.decidingPolicies ?? failure?.policies ?? [], reads: outcome?.reads ?? [],
                maskedColumns: outcome?.maskedColumns ?? [], rows: outcome?.rows ?? 0,
                resultHash: AuditTrail.sha256Hex(Array(text.utf8)), error: failure?.message))
        if let failure { throw MCPError.invalidParams(failure.message) }
        return ReadResource.Result(contents: [.text(text, uri: uri, mimeType: "application/json")])
    }
}
