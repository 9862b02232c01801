import MCP
import SluiceCore
import SluiceLog

extension ToolDeclaration {
    /// `describe_stream`: a stream's schema versions with the caller's access per column, key, offsets and times.
    static let describeStream = ToolDeclaration(
        name: "describe_stream", title: "Describe a stream",
        description: "A stream's schema versions (columns with your access: visible, redacted, pseudonym, partial, "
            + "denied), primary key, first/last offsets and times, and count.",
        arguments: [ToolSchema.stream],
        outputSchema: ToolSchema.output(
            [
                "stream": ["type": "string"],
                "first_offset": ["type": "integer"], "last_offset": ToolSchema.nullableInteger,
                "next_offset": ["type": "integer"],
                "count": ["type": "integer"],
                "schema": ["type": "string"], "table": ["type": "string"],
                "primary_key": ["type": "array", "items": ["type": "string"]],
                "schema_versions": [
                    "type": "array",
                    "items": [
                        "type": "object",
                        "properties": [
                            "version": ["type": "integer"],
                            "columns": [
                                "type": "array",
                                "items": [
                                    "type": "object",
                                    "properties": ["name": ["type": "string"], "access": ["type": "string"]],
                                    "required": ["name", "access"],
                                ],
                            ],
                        ],
                        "required": ["version", "columns"],
                    ],
                ],
                "row_filtered": ["type": "boolean"],
                "first_time": ToolSchema.nullableString, "last_time": ToolSchema.nullableString,
            ], required: ["stream", "first_offset", "next_offset", "count", "schema_versions"]),
        handler: describeStream)

    private static func describeStream(_ call: ToolCall) async throws -> ToolOutcome {
        let environment = call.environment
        let stream = try await call.authorizedStream(.describe)
        let (info, log) = (stream.info, environment.log)
        var times: (first: Int64, last: Int64)?
        if info.count > 0,
            let first = try await log.read(stream: info.name, from: info.firstOffset, limit: 1).first?.timestampMicros,
            let last = try await log.read(stream: info.name, from: info.nextOffset - 1, limit: 1).first?
                .timestampMicros
        {
            times = (first, last)
        }
        let versions = stream.table.map { environment.catalog.schemas($0).values.sorted { $0.version < $1.version } }
        var out = JSONText()
        describeJSON(
            info: info, table: stream.table, versions: versions ?? [], view: stream.view, times: times, to: &out)
        let schemaColumns = versions?.flatMap { $0.columns.map(\.name) } ?? []
        return ToolOutcome(
            json: out.text, decision: stream.view.decision,
            maskedColumns: stream.view.maskedColumns(among: Array(Set(schemaColumns))))
    }

    /// The describe document: offsets and counts, key, and every schema version with each column's access.
    private static func describeJSON(
        info: StreamInfo, table: TableID?, versions: [TableSchema], view: GovernedView,
        times: (first: Int64, last: Int64)?, to out: inout JSONText
    ) {
        out.beginObject()
        out.key("stream"); out.string(info.name)
        ToolEnvironment.writeOffsets(info, to: &out)
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
}
