import Foundation
import Logging
import MCP

/// Builds MCP servers (swift-sdk `Server`) bound to one principal, answering through a `QueryService`.
public enum MCPServerFactory {
    /// The version Sluice reports to clients.
    public static let version = "0.1.0"

    static let instructions = """
        Sluice serves change data captured from databases: \(ToolDeclaration.listStreams.name), then \
        \(ToolDeclaration.describeStream.name), \(ToolDeclaration.readChanges.name) (page with next_cursor), \
        \(ToolDeclaration.rowHistory.name) (by key), \(ToolDeclaration.currentRows.name) and \
        \(ToolDeclaration.pipelineStatus.name). All tools are read-only; what you see is governed by your policies \
        (some columns are masked or hidden) and every call is recorded in an audit trail.
        """

    /// A server whose every tool call and resource read runs as `principal`.
    public static func makeServer(service: QueryService, principal: Principal) async -> Server {
        let server = Server(
            name: "sluice", version: version, title: "Sluice change data (\(service.pipeline.name))",
            instructions: instructions,
            capabilities: .init(
                resources: .init(subscribe: false, listChanged: false), tools: .init(listChanged: false)))
        await server.withMethodHandler(ListTools.self) { _ in
            ListTools.Result(tools: ToolCatalog.tools)
        }
        await server.withMethodHandler(CallTool.self) { params in
            await service.call(tool: params.name, arguments: params.arguments, principal: principal)
        }
        await server.withMethodHandler(ListResources.self) { _ in
            ListResources.Result(resources: try await service.resources(principal: principal))
        }
        await server.withMethodHandler(ListResourceTemplates.self) { _ in
            ListResourceTemplates.Result(templates: [
                Resource.Template(
                    uriTemplate: QueryService.resourcePrefix + "{stream}", name: "stream",
                    description: "a change stream: schema, offsets and the latest changes",
                    mimeType: "application/json")
            ])
        }
        await server.withMethodHandler(ReadResource.self) { params in
            try await service.readResource(uri: params.uri, principal: principal)
        }
        return server
    }

    /// Serves one principal on stdin/stdout until the client closes stdin.
    public static func serveStdio(service: QueryService, principal: Principal, logger: Logger) async throws {
        let server = await makeServer(service: service, principal: principal)
        let transport = ToolCallFastPath(
            base: StdioTransport(logger: logger), service: service, principal: principal,
            logger: logger)
        try await server.start(transport: transport)
        await server.waitUntilCompleted()
        await server.stop()
    }
}
