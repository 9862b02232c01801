import MCP
import SluiceCore
import SluiceLog

extension ToolDeclaration {
    /// `get_row_history`: every change to one row, found through the state sink's key index.
    static let rowHistory = ToolDeclaration(
        name: "get_row_history", title: "Row history",
        description: "Every change to one row, by its primary key (all key columns), oldest first, from the state "
            + "sink's key index (no log scan).",
        arguments: [
            ToolSchema.stream,
            ToolArgument(name: "key", schema: ToolSchema.columnValues, required: true),
            ToolSchema.limit,
            ToolSchema.cursor,
        ],
        outputSchema: ToolSchema.output(
            [
                "stream": ["type": "string"],
                "events": ["type": "array", "items": ToolSchema.event],
                "next_cursor": ToolSchema.nullableString,
                "indexed_through": ["type": "integer"],
            ], required: ["stream", "events", "next_cursor"]),
        handler: rowHistory)

    private static func rowHistory(_ call: ToolCall) async throws -> ToolOutcome {
        let (tool, environment) = (call.arguments.tool, call.environment)
        let authorized = try await call.authorizedStream(.history)
        let (info, view, stream) = (authorized.info, authorized.view, authorized.info.name)
        let limit = try call.pageLimit()
        guard call.arguments.has("key") else { throw ToolError("\(tool): 'key' is required, e.g. {\"id\": 42}") }
        guard let key = try call.lookupKey(table: authorized.table, view: view) else {
            throw ToolError("\(tool): 'key' is required")
        }
        let from = try call.offsetCursor(stream: stream) ?? 0
        let store = try environment.openStateStore()
        let offsets = try await store.history(
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
            let records = try await environment.log.read(stream: stream, from: wanted[index], limit: run)
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
            out.string(environment.paging.seal(Cursor(stream: stream, offset: next)))
        } else {
            out.raw("null")
        }
        out.key("indexed_through"); out.raw(String(try await store.progress()[stream] ?? 0))
        out.endObject()
        return ToolOutcome(
            json: out.text, decision: view.decision, reads: reads, maskedColumns: view.columns.keys.sorted(),
            rows: events.count)
    }
}
