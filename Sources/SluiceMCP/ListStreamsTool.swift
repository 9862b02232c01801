import MCP
import SluiceCore

extension ToolDeclaration {
    /// `list_streams`: the change streams the caller may see.
    static let listStreams = ToolDeclaration(
        name: "list_streams", title: "List change streams",
        description: "The change streams you may see, with offsets, counts and the operations you may perform.",
        arguments: [],
        outputSchema: ToolSchema.output(
            [
                "pipeline": ["type": "string"],
                "streams": ToolSchema.streams(
                    more: [
                        "schema": ["type": "string"], "table": ["type": "string"],
                        "operations": ["type": "array", "items": ["type": "string"]],
                    ], required: ["name", "first_offset", "next_offset", "count", "operations"]),
            ], required: ["pipeline", "streams"]),
        handler: listStreams)

    private static func listStreams(_ call: ToolCall) async throws -> ToolOutcome {
        let environment = call.environment
        let governance = environment.access.governance
        var out = JSONText()
        out.beginObject()
        out.key("pipeline"); out.string(environment.pipeline.name)
        out.key("streams")
        out.beginArray()
        var policies: [String] = []
        var count = 0
        for stream in try await environment.changeStreams() {
            let info = stream.info
            let describe = governance.decide(call.principal, stream: info.name, operation: .describe)
            guard describe.allowed else { continue }
            policies += describe.decidingPolicies
            count += 1
            out.beginObject()
            out.key("name"); out.string(info.name)
            if let table = stream.table {
                out.key("schema"); out.string(table.schema)
                out.key("table"); out.string(table.name)
            }
            ToolEnvironment.writeOffsets(info, to: &out)
            out.key("operations")
            out.beginArray()
            for operation in StreamOperation.allCases
            where environment.access.allows(call.principal, operation, stream: info.name) {
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
}
