import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MCP
import NIOCore
import SluiceCore
import ServiceLifecycle
import Synchronization

/// MCP over Streamable HTTP at `/mcp`, on Hummingbird, with bearer-token authentication.
///
/// Each MCP session is one swift-sdk `StatefulHTTPServerTransport` plus a `Server` bound to the principal whose
/// token opened it; every later request of the session must carry a token of the same principal. Requests without a
/// valid token get 401 with `WWW-Authenticate: Bearer resource_metadata="…"`; a principal without any policy, or a
/// token of another principal than the session's, gets 403; a browser `Origin` that is not allowed gets 403.
///
/// Also serves `/.well-known/oauth-protected-resource` (RFC 9728), `/healthz` and `/admin/status` (the caller's
/// `pipeline_status`, authenticated and audited like the tool).
public final class MCPHTTPServer: Sendable {
    let service: QueryService
    let settings: MCPSettings
    let logger: Logger
    let sessions: SessionTable
    /// The port actually bound (differs from the configured one when that is 0).
    let boundPort = Atomic<Int>(0)
    private let serviceGroup = Mutex<ServiceGroup?>(nil)
    private let shutdownRequested = Atomic<Bool>(false)

    public init(service: QueryService, logger: Logger) {
        self.service = service
        self.settings = service.settings
        self.logger = logger
        self.sessions = SessionTable(maxSessions: service.settings.maxSessions)
    }

    /// Runs until `shutdown()` (or cancellation); `onListening` gets the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let router = Router()
        router.on("/mcp", method: .post) { request, _ in try await self.handleMCP(request) }
        router.on("/mcp", method: .get) { request, _ in try await self.handleMCP(request) }
        router.on("/mcp", method: .delete) { request, _ in try await self.handleMCP(request) }
        router.on("/.well-known/oauth-protected-resource", method: .get) { _, _ in self.protectedResourceDocument() }
        router.on("/.well-known/oauth-protected-resource/mcp", method: .get) { _, _ in self.protectedResourceDocument()
        }
        router.on("/healthz", method: .get) { _, _ in Self.json(.ok, "{\"status\":\"ok\"}") }
        router.on("/admin/status", method: .get) { request, _ in await self.adminStatus(request) }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(settings.listenHost, port: settings.listenPort), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? self.settings.listenPort
                self.boundPort.store(port, ordering: .relaxed)
                onListening(port)
            },
            logger: logger)
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        serviceGroup.withLock { $0 = services }
        if shutdownRequested.load(ordering: .sequentiallyConsistent) { await services.triggerGracefulShutdown() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(15))
                    await self.sessions.closeIdle(olderThan: self.settings.sessionIdleTimeout)
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
        await sessions.closeAll()
    }

    /// Stops accepting connections and lets `run()` return once open requests end.
    public func shutdown() async {
        shutdownRequested.store(true, ordering: .sequentiallyConsistent)
        await sessions.closeAll()
        if let services = serviceGroup.withLock({ $0 }) { await services.triggerGracefulShutdown() }
    }

    // MARK: Endpoints

    var metadataURL: String {
        var base = resourceURL
        if base.hasSuffix("/mcp") { base.removeLast(4) }
        return base + "/.well-known/oauth-protected-resource"
    }

    var resourceURL: String {
        if let url = settings.publicURL { return url }
        let host = settings.listenHost.contains(":") ? "[\(settings.listenHost)]" : settings.listenHost
        let bound = boundPort.load(ordering: .relaxed)
        return "http://\(host):\(bound != 0 ? bound : settings.listenPort)/mcp"
    }

    func protectedResourceDocument() -> Response {
        var out = JSONText()
        out.beginObject()
        out.key("resource"); out.string(resourceURL)
        out.key("authorization_servers"); out.beginArray(); settings.authorizationServers.forEach { out.string($0) };
        out.endArray()
        out.key("bearer_methods_supported"); out.beginArray(); out.string("header"); out.endArray()
        out.key("scopes_supported"); out.beginArray(); out.endArray()
        out.key("resource_name"); out.string("Sluice pipeline \(service.pipeline.name)")
        out.endObject()
        return Self.json(.ok, out.text)
    }

    func adminStatus(_ request: Request) async -> Response {
        switch authenticate(request) {
        case .failure(let error): return error.response
        case .success(let principal):
            let result = await service.call(
                tool: ToolDeclaration.pipelineStatus.name, arguments: nil, principal: principal)
            let text = result.content.compactMap { if case .text(let t, _, _) = $0 { t } else { nil } }.joined()
            return Self.json(result.isError == true ? .internalServerError : .ok, text)
        }
    }

    /// The principal of the request's bearer token, or the 401/403 response to send.
    func authenticate(_ request: Request) -> Result<Principal, ErrorResponse> {
        let header = request.headers[.authorization] ?? ""
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            return .failure(ErrorResponse(unauthorized(error: nil)))
        }
        guard let principal = service.authenticate(token: String(parts[1]).trimmingCharacters(in: .whitespaces)) else {
            return .failure(ErrorResponse(unauthorized(error: "invalid_token")))
        }
        guard !principal.policies.isEmpty else {
            return .failure(
                ErrorResponse(
                    Self.jsonRPCError(
                        .forbidden, code: -32600,
                        message: "Forbidden: principal \(principal.name) has no access to any stream",
                        extra: [
                            .wwwAuthenticate:
                                "Bearer error=\"insufficient_scope\", resource_metadata=\"\(metadataURL)\""
                        ])))
        }
        return .success(principal)
    }

    struct ErrorResponse: Error {
        var response: Response
        init(_ response: Response) { self.response = response }
    }

    func unauthorized(error: String?) -> Response {
        var challenge = "Bearer resource_metadata=\"\(metadataURL)\""
        if let error { challenge += ", error=\"\(error)\"" }
        return Self.jsonRPCError(
            .unauthorized, code: -32001,
            message: error == nil ? "Unauthorized: send Authorization: Bearer <token>" : "Unauthorized: invalid token",
            extra: [.wwwAuthenticate: challenge])
    }

    func originAllowed(_ request: Request) -> Bool {
        guard let origin = request.headers[.origin] else { return true }  // not a browser
        if settings.allowedOrigins.contains(origin) { return true }
        guard let url = URL(string: origin), url.scheme == "http" || url.scheme == "https", let host = url.host else {
            return false
        }
        return ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host)
    }

    func handleMCP(_ request: Request) async throws -> Response {
        guard originAllowed(request) else {
            return Self.jsonRPCError(.forbidden, code: -32600, message: "Forbidden: Origin not allowed")
        }
        let principal: Principal
        switch authenticate(request) {
        case .failure(let error): return error.response
        case .success(let p): principal = p
        }
        var request = request
        let body = try await request.collectBody(upTo: 4 << 20)
        let data = Data(buffer: body)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let mcpRequest = MCP.HTTPRequest(
            method: request.method.rawValue, headers: headers, body: data.isEmpty ? nil : data,
            path: request.uri.path)
        let sessionID = request.headers[HTTPField.Name(HTTPHeaderName.sessionID)!]
        let session: MCPSession
        if let sessionID {
            guard let existing = await sessions.session(sessionID) else {
                return Self.jsonRPCError(
                    .notFound, code: -32600, message: "Not Found: unknown or expired session; initialize again")
            }
            guard existing.principal == principal.name else {
                return Self.jsonRPCError(
                    .forbidden, code: -32600, message: "Forbidden: the session belongs to another principal")
            }
            session = existing
        } else {
            guard request.method == .post, Self.isInitialize(data) else {
                // Also the answer to `server/discover` probes: clients then fall back to `initialize`.
                return Self.jsonRPCError(
                    .badRequest, code: -32600,
                    message: "Bad Request: no session; send initialize first (server/discover is not supported)",
                    id: Self.requestID(data))
            }
            guard let created = await newSession(principal) else {
                return Self.jsonRPCError(.serviceUnavailable, code: -32603, message: "too many sessions; retry later")
            }
            session = created
        }
        await sessions.touch(session)
        let response = await session.transport.handleRequest(mcpRequest)
        if sessionID == nil {
            if let id = response.headers.first(where: { $0.key.lowercased() == HTTPHeaderName.sessionID.lowercased() })?
                .value
            {
                await sessions.register(session, id: id)
            } else {
                await session.server.stop()  // initialize was refused: no session came of it
            }
        }
        if request.method == .delete, response.statusCode == 200, let sessionID {
            await sessions.remove(sessionID)
        }
        return Self.convert(response)
    }

    func newSession(_ principal: Principal) async -> MCPSession? {
        guard await sessions.hasRoom() else { return nil }
        let transport = StatefulHTTPServerTransport(
            validationPipeline: StandardValidationPipeline(validators: [
                AcceptHeaderValidator(mode: .sseRequired), ContentTypeValidator(), ProtocolVersionValidator(),
                SessionValidator(),
            ]),
            logger: logger)
        let server = await MCPServerFactory.makeServer(service: service, principal: principal)
        do {
            try await server.start(
                transport: ToolCallFastPath(
                    base: transport, service: service, principal: principal,
                    logger: logger))
        } catch {
            logger.error("cannot start an MCP session: \(error)")
            return nil
        }
        return MCPSession(principal: principal.name, transport: transport, server: server)
    }

    // MARK: Helpers

    static func isInitialize(_ data: Data) -> Bool {
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return json["method"] as? String == "initialize"
    }

    static func requestID(_ data: Data) -> String {
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return "null" }
        if let id = json["id"] as? String { return "\"\(id.replacingOccurrences(of: "\"", with: ""))\"" }
        if let id = json["id"] as? Int { return String(id) }
        return "null"
    }

    static func json(_ status: HTTPResponse.Status, _ text: String, extra: [HTTPField.Name: String] = [:]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        for (name, value) in extra { headers[name] = value }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func jsonRPCError(
        _ status: HTTPResponse.Status, code: Int, message: String, id: String = "null",
        extra: [HTTPField.Name: String] = [:]
    ) -> Response {
        var out = JSONText()
        out.beginObject()
        out.key("jsonrpc"); out.string("2.0")
        out.key("id"); out.raw(id)
        out.key("error"); out.beginObject(); out.key("code"); out.raw(String(code)); out.key("message");
        out.string(message); out.endObject()
        out.endObject()
        return json(status, out.text, extra: extra)
    }

    /// The sdk's framework-neutral response as a Hummingbird response (SSE bodies streamed as they come).
    static func convert(_ response: MCP.HTTPResponse) -> Response {
        var headers = HTTPFields()
        for (name, value) in response.headers {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        let status = HTTPResponse.Status(code: response.statusCode)
        switch response {
        case .stream(let stream, _):
            return Response(
                status: status, headers: headers,
                body: ResponseBody { writer in
                    for try await chunk in stream {
                        try await writer.write(ByteBuffer(bytes: chunk))
                    }
                    try await writer.finish(nil)
                })
        default:
            guard let data = response.bodyData else { return Response(status: status, headers: headers) }
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
    }
}

/// One MCP HTTP session: its transport, its server and the principal that opened it.
final class MCPSession: Sendable {
    let principal: String
    let transport: StatefulHTTPServerTransport
    let server: Server
    let created = ContinuousClock.now

    init(principal: String, transport: StatefulHTTPServerTransport, server: Server) {
        self.principal = principal
        self.transport = transport
        self.server = server
    }
}

/// Open sessions by id, with their last use, closed when idle too long.
actor SessionTable {
    let maxSessions: Int
    private var sessions: [String: (session: MCPSession, lastUsed: ContinuousClock.Instant)] = [:]
    private var pending = 0

    init(maxSessions: Int) {
        self.maxSessions = maxSessions
    }

    func hasRoom() -> Bool { sessions.count < maxSessions }

    func session(_ id: String) -> MCPSession? { sessions[id]?.session }

    func register(_ session: MCPSession, id: String) {
        sessions[id] = (session, .now)
    }

    func touch(_ session: MCPSession) {
        for (id, entry) in sessions where entry.session === session { sessions[id]?.lastUsed = .now }
    }

    func remove(_ id: String) async {
        if let entry = sessions.removeValue(forKey: id) { await entry.session.server.stop() }
    }

    func closeIdle(olderThan seconds: Double) async {
        let now = ContinuousClock.now
        for (id, entry) in sessions where now - entry.lastUsed > .seconds(seconds) {
            await remove(id)
        }
    }

    func closeAll() async {
        for id in Array(sessions.keys) { await remove(id) }
    }
}
