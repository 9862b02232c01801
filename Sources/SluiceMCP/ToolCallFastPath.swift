import Foundation
import Logging
import MCP
import SluiceCore

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

/// A transport wrapper that answers `tools/call` requests itself and hands every other message to the sdk `Server`.
///
/// The sdk's request handlers round-trip every result through Codable three times (encode, decode into `Value`,
/// encode again with sorted keys); for a page of 1,000 change events that costs several times the query itself.
/// Tool results are JSON text already, so this path writes the JSON-RPC response directly. Requests it does not
/// recognise as a well-formed single `tools/call` (batches, missing names) go to the server unchanged, whose own
/// `tools/call` handler answers them the same way, only slower.
public actor ToolCallFastPath: Transport {
    public nonisolated let logger: Logger
    let base: any Transport
    let service: QueryService
    let principal: Principal
    private let incoming: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private var pump: Task<Void, Never>?

    public init(base: any Transport, service: QueryService, principal: Principal, logger: Logger) {
        self.base = base
        self.service = service
        self.principal = principal
        self.logger = logger
        (incoming, continuation) = AsyncThrowingStream<Data, any Error>.makeStream()
    }

    public func connect() async throws {
        try await base.connect()
        let upstream = await base.receive()
        let continuation = self.continuation
        let service = self.service
        let principal = self.principal
        let base = self.base
        pump = Task {
            await withDiscardingTaskGroup { group in
                do {
                    for try await data in upstream {
                        guard let call = Self.toolCall(data) else {
                            continuation.yield(data)
                            continue
                        }
                        group.addTask {
                            let response = await service.respond(
                                tool: call.name, arguments: call.arguments, principal: principal)
                            try? await base.send(Data(response.jsonRPCResponse(id: call.id)))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        }
    }

    public func disconnect() async {
        pump?.cancel()
        continuation.finish()
        await base.disconnect()
    }

    public func send(_ data: Data) async throws {
        try await base.send(data)
    }

    public nonisolated func receive() -> AsyncThrowingStream<Data, any Error> {
        incoming
    }

    /// The id (as JSON text), tool name and arguments of a single `tools/call` request; nil for anything else.
    static func toolCall(_ data: Data) -> (id: String, name: String, arguments: [String: MCPValue]?)? {
        // Cheap test before parsing: only requests that mention the method are candidates.
        guard data.count < 1 << 20, let text = String(data: data, encoding: .utf8), text.contains("tools/call"),
            case .object(let message)? = try? JSONValueParser.parse(text),
            message["method"] == .string(CallTool.name), case .object(let params)? = message["params"],
            case .string(let name)? = params["name"]
        else { return nil }
        let id: String
        switch message["id"] {
        case .int(let number)?: id = String(number)
        case .string(let string)?:
            var out = JSONText()
            out.string(string)
            id = out.text
        default: return nil
        }
        var arguments: [String: MCPValue]?
        switch params["arguments"] {
        case nil, .null?: arguments = nil
        case .object(let fields)?: arguments = fields
        default: return nil  // let the server reject it
        }
        return (id, name, arguments)
    }
}
