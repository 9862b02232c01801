import Foundation
import MCP
import SluiceCore
import SluiceLog

extension ToolDeclaration {
    /// `pipeline_status`: source positions, stream offsets, sink progress and lag, and the runtime's state.
    static let pipelineStatus = ToolDeclaration(
        name: "pipeline_status", title: "Pipeline status",
        description: "Source positions, per-stream offsets, each sink's committed offset and lag, and runtime errors.",
        arguments: [],
        outputSchema: ToolSchema.output(
            [
                "pipeline": ["type": "string"],
                "runtime": [
                    "type": "object",
                    "properties": [
                        "state": ["type": "string"], "error": ToolSchema.nullableString,
                        "state_store_error": ToolSchema.nullableString,
                    ],
                ],
                "sources": ["type": "array", "items": ["type": "object"]],
                "streams": ToolSchema.streams(
                    more: ["sinks": ["type": "array", "items": ["type": "object"]]],
                    required: ["name", "next_offset", "sinks"]),
            ], required: ["pipeline", "runtime", "sources", "streams"]),
        handler: pipelineStatus)

    private static func pipelineStatus(_ call: ToolCall) async throws -> ToolOutcome {
        let environment = call.environment
        let (pipeline, log) = (environment.pipeline, environment.log)
        let streams = try await environment.visibleStreams(call.principal)
        var stateProgress: [String: Int64] = [:]
        // The status still answers when the state store cannot be read; it says why instead of hiding it.
        var stateStoreError: String?
        if let path = environment.settings.statePath, FileManager.default.fileExists(atPath: path) {
            do { stateProgress = try await environment.openStateStore().progress() } catch {
                stateStoreError = "\(error)"
            }
        }
        var out = JSONText()
        out.beginObject()
        out.key("pipeline"); out.string(pipeline.name)
        out.key("runtime")
        out.beginObject()
        let status = environment.runtimeStatus()
        out.key("state"); out.string(status?.state ?? "unknown (not running in this process)")
        out.key("error"); if let error = status?.error { out.string(error) } else { out.raw("null") }
        out.key("state_store_error"); if let stateStoreError { out.string(stateStoreError) } else { out.raw("null") }
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
                out.string(stateText(value))
            }
            out.endObject()
            out.endObject()
        }
        out.endArray()
        out.key("streams")
        out.beginArray()
        for stream in streams {
            let info = stream.info
            out.beginObject()
            out.key("name"); out.string(info.name)
            ToolEnvironment.writeOffsets(info, to: &out)
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
    private static func stateText(_ bytes: [UInt8]) -> String {
        if let text = String(bytes: bytes, encoding: .utf8),
            text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F })
        {
            return text
        }
        if bytes.count == 8 { return String(bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
        return HexBytes.encode(bytes)
    }
}
