import Foundation
import MCP
import SluiceCore
import SluiceLog

extension ToolDeclaration {
    /// `read_changes`: one page of a stream's changes in offset order, filtered and masked for the caller.
    static let readChanges = ToolDeclaration(
        name: "read_changes", title: "Read changes",
        description: "Changes of one stream in offset order, from an offset, a time (since) or a cursor; filter by "
            + "operation (ops), key columns (key) and column values (where; a list means any of). Returns at most "
            + "limit events (and about 256 KiB of them) and next_cursor for the next page (null once the end of "
            + "the stream is reached).",
        arguments: [
            ToolSchema.stream,
            ToolArgument(
                name: "from_offset",
                schema: ["type": "integer", "minimum": 0, "description": "first offset to read"]),
            ToolArgument(
                name: "since",
                schema: ["type": "string", "description": "read changes committed at or after this ISO-8601 time"]),
            ToolSchema.cursor,
            ToolSchema.limit,
            ToolArgument(
                name: "ops",
                schema: [
                    "type": "array", "items": ["type": "string", "enum": ["c", "u", "d", "r", "t"]],
                    "description": "operations to return: c insert, u update, d delete, r snapshot read, t truncate",
                ]),
            ToolArgument(name: "key", schema: ToolSchema.columnValues),
            ToolArgument(name: "where", schema: ToolSchema.columnValues),
        ],
        outputSchema: ToolSchema.output(
            [
                "stream": ["type": "string"],
                "events": ["type": "array", "items": ToolSchema.event],
                "next_offset": ["type": "integer"],
                "next_cursor": ToolSchema.nullableString,
                "end_of_stream": ["type": "boolean"],
                "scanned": [
                    "type": "object", "properties": ["from": ["type": "integer"], "to": ["type": "integer"]],
                ],
                "limit": ["type": "integer"],
            ], required: ["stream", "events", "next_offset", "next_cursor", "end_of_stream"]),
        handler: ReadChanges.run)
}

/// The handler of `ToolDeclaration.readChanges`.
private enum ReadChanges {
    /// A page ends once its events take this many bytes (at least one event always fits), so that a response stays
    /// well below the 1 MiB event size SSE clients accept, text and structured content together.
    static let maximumPageBytes = 256 << 10

    static func run(_ call: ToolCall) async throws -> ToolOutcome {
        let (args, environment) = (call.arguments, call.environment)
        let tool = args.tool
        let authorized = try await call.authorizedStream(.read)
        let (info, view, stream) = (authorized.info, authorized.view, authorized.info.name)
        let limit = try call.pageLimit()
        let starts = ["from_offset", "since", "cursor"].filter { args.has($0) }
        guard starts.count <= 1 else {
            throw ToolError(
                "\(tool): give at most one of from_offset, since and cursor (got \(starts.joined(separator: ", ")))")
        }
        var from = info.firstOffset
        if let offset = try args.int("from_offset", min: 0) { from = offset }
        if let since = try args.string("since") {
            guard let micros = parseTime(since) else {
                throw ToolError("\(tool): 'since' must be an ISO-8601 time such as 2026-01-31T12:00:00Z")
            }
            from = try await environment.log.offset(stream: stream, atOrAfterTimestamp: micros)
        }
        if let offset = try call.offsetCursor(stream: stream) { from = offset }
        from = max(from, info.firstOffset)
        let ops = try operations(args)
        let filters = try self.filters(
            args, stream: stream, table: authorized.table, view: view, environment: environment)
        let masker = environment.masker
        var events: [String] = []
        var pageBytes = 0
        var offset = from
        let end = info.nextOffset
        let budget = Int64(max(10_000, limit * 20))
        while events.count < limit && pageBytes < Self.maximumPageBytes && offset < end && offset - from < budget {
            let page = Int(min(Int64(max(limit - events.count, 256)), end - offset, 2_000))
            let records = try await environment.log.read(stream: stream, from: offset, limit: page)
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
                let rendered = JSONRendering.render(
                    visible, stream: stream, offset: record.offset, appendedAtMicros: record.appendedAtMicros)
                events.append(rendered)
                pageBytes += rendered.utf8.count
                if events.count >= limit || pageBytes >= Self.maximumPageBytes { break }
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
            out.string(environment.paging.seal(Cursor(stream: stream, offset: offset)))
        } else {
            out.raw("null")
        }
        out.key("end_of_stream"); out.raw(offset >= end ? "true" : "false")
        out.key("scanned"); out.beginObject(); out.key("from"); out.raw(String(from)); out.key("to");
        out.raw(String(offset)); out.endObject()
        out.key("limit"); out.raw(String(limit))
        out.endObject()
        return ToolOutcome(
            json: out.text, decision: view.decision, reads: [AuditRead(stream: stream, from: from, to: offset)],
            maskedColumns: view.columns.keys.sorted(), rows: events.count)
    }

    /// The `key` and `where` filters, checked against the stream's columns and the caller's column rules.
    static func filters(
        _ args: ToolArguments, stream: String, table: TableID?, view: GovernedView, environment: ToolEnvironment
    ) throws -> [ValueFilter] {
        let (tool, catalog) = (args.tool, environment.catalog)
        let latest = table.flatMap { catalog.latest($0) }
        var filters: [ValueFilter] = []
        for (column, literals) in try args.columnValues("key") ?? [] {
            guard latest?.primaryKey.contains(column) ?? true else {
                let key = latest?.primaryKey.joined(separator: ", ") ?? "none"
                throw ToolError("\(tool): '\(column)' is not a key column of \(stream) (key: \(key))")
            }
            filters.append(try ValueFilter.make(column: column, literals: literals, view: view))
        }
        for (column, literals) in try args.columnValues("where") ?? [] {
            if let latest, !catalog.schemas(latest.table).values.contains(where: { $0.columnIndex(column) != nil }) {
                throw ToolError("\(tool): stream \(stream) has no column '\(column)'")
            }
            filters.append(try ValueFilter.make(column: column, literals: literals, view: view))
        }
        return filters
    }

    static func operations(_ args: ToolArguments) throws -> Set<ChangeOperation>? {
        guard let names = try args.stringList("ops") else { return nil }
        let aliases: [String: ChangeOperation] = [
            "insert": .insert, "update": .update, "delete": .delete, "read": .read, "snapshot": .read,
            "truncate": .truncate,
        ]
        return Set(
            try names.map { name -> ChangeOperation in
                if let op = ChangeOperation(rawValue: name) ?? aliases[name.lowercased()] { return op }
                throw ToolError(
                    "\(args.tool): unknown operation '\(name)' in ops; "
                        + "use c, u, d, r, t (or insert, update, delete, read, truncate)")
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
}
