import MCP
import SluiceCore
import SluiceLog

extension ToolDeclaration {
    /// `get_current_rows`: current rows from the state sink, one by key or a filtered scan in key order.
    static let currentRows = ToolDeclaration(
        name: "get_current_rows", title: "Current rows",
        description:
            "Current rows of a table from the state sink: one row by key, or rows matching where, in key order.",
        arguments: [
            ToolSchema.stream,
            ToolArgument(name: "key", schema: ToolSchema.columnValues),
            ToolArgument(name: "where", schema: ToolSchema.columnValues),
            ToolSchema.limit,
            ToolSchema.cursor,
        ],
        outputSchema: ToolSchema.output(
            [
                "stream": ["type": "string"],
                "rows": [
                    "type": "array",
                    "items": [
                        "type": "object",
                        "properties": [
                            "key": ["type": "object"], "row": ["type": "object"], "offset": ["type": "integer"],
                            "schema_version": ["type": "integer"], "ts_ms": ["type": "integer"],
                        ],
                        "required": ["key", "row", "offset"],
                    ],
                ],
                "next_cursor": ToolSchema.nullableString,
                "applied_through": ["type": "integer"],
            ], required: ["stream", "rows", "next_cursor"]),
        handler: currentRows)

    private static func currentRows(_ call: ToolCall) async throws -> ToolOutcome {
        let environment = call.environment
        let authorized = try await call.authorizedStream(.state)
        let (view, stream, masker) = (authorized.view, authorized.info.name, environment.masker)
        let limit = try call.pageLimit()
        let store = try environment.openStateStore()
        let key = try call.lookupKey(table: authorized.table, view: view)
        var filters: [ValueFilter] = []
        for (column, literals) in try call.arguments.columnValues("where") ?? [] {
            filters.append(try ValueFilter.make(column: column, literals: literals, view: view))
        }
        var afterKey = try call.keyCursor(stream: stream)
        let primaryKey = authorized.table.flatMap { environment.catalog.latest($0)?.primaryKey } ?? []
        var rows: [String] = []
        var lastKey: [UInt8]?
        var exhausted = true
        func consider(_ stored: StoredRow) {
            guard view.decision.rows.contains(stored.row) == true else { return }
            guard filters.allSatisfy({ $0.matches(stored.row, masker: masker) }) else { return }
            rows.append(rowJSON(stored, primaryKey: primaryKey, view: view))
        }
        if let key {
            if let stored = try await store.row(stream: stream, key: key) { consider(stored) }
        } else {
            var scanned = 0
            let budget = max(20_000, limit * 20)
            outer: while rows.count < limit && scanned < budget {
                let page = try await store.rows(stream: stream, afterKey: afterKey, limit: 1000)
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
            out.string(environment.paging.seal(Cursor(stream: stream, offset: 0, key: lastKey)))
        } else {
            out.raw("null")
        }
        out.key("applied_through"); out.raw(String(try await store.progress()[stream] ?? 0))
        out.endObject()
        return ToolOutcome(
            json: out.text, decision: view.decision, maskedColumns: view.columns.keys.sorted(), rows: rows.count)
    }

    /// One current row: its key columns, the masked image, and where it was last changed.
    private static func rowJSON(_ stored: StoredRow, primaryKey: [String], view: GovernedView) -> String {
        let row = view.masker.mask(stored.row, view.columns)
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
}
