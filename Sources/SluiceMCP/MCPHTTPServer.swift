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
        self.sessions = SessionTable(
            maxSessions: service.settings.maxSessions, maxSessionsPerPrincipal: service.settings.maxSessionsPerPrincipal)
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

    /// The largest request body read (JSON-RPC message); larger ones get 413.
    static let maximumBodyBytes = 4 << 20

    func handleMCP(_ request: Request) async throws -> Response {
        guard originAllowed(request) else {
            await auditRefusal(request, principal: nil, decision: "forbidden-origin")
            return Self.jsonRPCError(.forbidden, code: -32600, message: "Forbidden: Origin not allowed")
        }
        let principal: Principal
        switch authenticate(request) {
        case .failure(let error):
            await auditRefusal(request, principal: nil, decision: error.response.status == .unauthorized
                               ? "unauthenticated" : "forbidden")
            return error.response
        case .success(let p): principal = p
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maximumBodyBytes)
        } catch {
            return Self.jsonRPCError(
                .contentTooLarge, code: -32600,
                message: "Invalid Request: the body exceeds \(Self.maximumBodyBytes) bytes")
        }
        let data = Data(buffer: body)
        if request.method == .post, let refusal = Self.malformedMessage(data) { return refusal }
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
                await auditRefusal(request, principal: principal, decision: "forbidden-session")
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
            switch await sessions.admit(principal.name) {
            case .principalFull:
                return Self.jsonRPCError(
                    .tooManyRequests, code: -32600,
                    message: "Too Many Requests: \(principal.name) has \(settings.maxSessionsPerPrincipal) open sessions; "
                        + "close one (DELETE) or reuse it", extra: [.retryAfter: "30"])
            case .serverFull:
                return Self.jsonRPCError(.serviceUnavailable, code: -32603, message: "too many sessions; retry later",
                                         extra: [.retryAfter: "30"])
            case .admitted:
                break
            }
            guard let created = await newSession(principal) else {
                await sessions.release(principal.name)
                return Self.jsonRPCError(.internalServerError, code: -32603, message: "the session could not start")
            }
            session = created
        }
        await sessions.touch(session)
        // The sdk routes a response by its request id: a second request with an id still in flight would take the
        // first one's stream, which then never ends.
        let inFlightID = sessionID != nil && request.method == .post ? Self.requestIDIfRequest(data) : nil
        if let inFlightID, let sessionID {
            guard await sessions.claim(inFlightID, in: sessionID) else {
                return Self.jsonRPCError(
                    .conflict, code: -32600,
                    message: "Invalid Request: a request with id \(inFlightID) is still in flight in this session",
                    id: inFlightID)
            }
        }
        let release: @Sendable () async -> Void = { [sessions] in
            if let inFlightID, let sessionID { await sessions.unclaim(inFlightID, in: sessionID) }
        }
        let response = await session.transport.handleRequest(mcpRequest)
        if sessionID == nil {
            if let id = response.headers.first(where: { $0.key.lowercased() == HTTPHeaderName.sessionID.lowercased() })?
                .value
            {
                await sessions.register(session, id: id)
            } else {
                await sessions.release(principal.name)
                await session.server.stop()  // initialize was refused: no session came of it
            }
            await auditInitialize(principal, accepted: response.statusCode < 300)
        }
        if request.method == .delete, response.statusCode == 200, let sessionID {
            await sessions.remove(sessionID)
        }
        let acceptsJSON = request.headers[.accept]?.contains("application/json") == true
        return await Self.convert(response, singleAsJSON: acceptsJSON && request.method == .post, finished: release)
    }

    /// Why a POSTed body is not one JSON-RPC message MCP accepts, as the response to send; nil when it is.
    static func malformedMessage(_ data: Data) -> Response? {
        guard !data.isEmpty else { return nil }  // the sdk answers an empty POST
        guard let json = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            return jsonRPCError(.badRequest, code: -32700, message: "Parse error: the body is not valid JSON")
        }
        if json is [Any] {
            return jsonRPCError(
                .badRequest, code: -32600,
                message: "Invalid Request: JSON-RPC batches are not part of MCP (removed in 2025-06-18); "
                    + "send one message per request")
        }
        guard let message = json as? [String: Any] else {
            return jsonRPCError(.badRequest, code: -32600, message: "Invalid Request: a JSON-RPC message is an object")
        }
        if let params = message["params"], !(params is [String: Any]), !(params is NSNull) {
            return jsonRPCError(
                .badRequest, code: -32602, message: "Invalid params: params must be an object", id: requestID(data))
        }
        return nil
    }

    /// Audits a request refused before any session or tool: unauthenticated, forbidden origin, another's session.
    func auditRefusal(_ request: Request, principal: Principal?, decision: String) async {
        let facts = AuditFacts(
            principal: principal?.name ?? "-", tool: "http \(request.method.rawValue) \(request.uri.path)",
            arguments: ["origin": request.headers[.origin].map { .string($0) } ?? .null], decision: decision,
            resultHash: AuditTrail.sha256Hex([]))
        do { try await service.audit.record(facts) } catch { logger.error("cannot audit a refused request: \(error)") }
    }

    /// Audits an `initialize`: who opened (or failed to open) a session.
    func auditInitialize(_ principal: Principal, accepted: Bool) async {
        let facts = AuditFacts(
            principal: principal.name, tool: "initialize", arguments: [:], decision: accepted ? "allow" : "refused",
            resultHash: AuditTrail.sha256Hex([]))
        do { try await service.audit.record(facts) } catch { logger.error("cannot audit initialize: \(error)") }
    }

    func newSession(_ principal: Principal) async -> MCPSession? {
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

    /// The id (as JSON text) of a JSON-RPC request; nil for notifications, responses and anything else.
    static func requestIDIfRequest(_ data: Data) -> String? {
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any], json["method"] is String,
            json["id"] != nil, !(json["id"] is NSNull)
        else { return nil }
        return requestID(data)
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

    /// The sdk's framework-neutral response as a Hummingbird response; `finished` runs once its body is sent.
    ///
    /// With `singleAsJSON` (a POST whose client accepts `application/json`), an SSE stream that carries exactly one
    /// message, the response, is sent as that JSON body instead: SSE clients bound their event size (the Python
    /// client refuses events over 1 MiB) where a JSON body has no such limit. Other streams go out as they came.
    static func convert(
        _ response: MCP.HTTPResponse, singleAsJSON: Bool, finished: @escaping @Sendable () async -> Void
    ) async -> Response {
        var headers = HTTPFields()
        for (name, value) in response.headers {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        let status = HTTPResponse.Status(code: response.statusCode)
        switch response {
        case .stream(let stream, _) where singleAsJSON:
            var body = Data()
            do {
                for try await chunk in stream { body.append(chunk) }
            } catch {
                await finished()
                return jsonRPCError(.internalServerError, code: -32603, message: "the response stream failed: \(error)")
            }
            await finished()
            let messages = SSEMessages.data(of: body)
            if messages.count == 1 {
                var jsonHeaders = headers
                jsonHeaders[.contentType] = "application/json"
                return Response(status: status, headers: jsonHeaders,
                                body: ResponseBody(byteBuffer: ByteBuffer(bytes: messages[0])))
            }
            return Response(status: status, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        case .stream(let stream, _):
            return Response(
                status: status, headers: headers,
                body: ResponseBody { writer in
                    defer { Task { await finished() } }
                    for try await chunk in stream {
                        try await writer.write(ByteBuffer(bytes: chunk))
                    }
                    try await writer.finish(nil)
                })
        default:
            await finished()
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

/// The `data:` payloads of the message events in an SSE body (events without data, such as priming events, are
/// left out; multi-line data is joined with newlines, as the SSE format says).
enum SSEMessages {
    static func data(of body: Data) -> [Data] {
        var messages: [Data] = []
        for event in String(decoding: body, as: UTF8.self).components(separatedBy: "\n\n") {
            let lines = event.split(separator: "\n", omittingEmptySubsequences: true)
            let data = lines.filter { $0.hasPrefix("data:") }.map { line -> Substring in
                let value = line.dropFirst(5)
                return value.hasPrefix(" ") ? value.dropFirst() : value
            }
            let text = data.joined(separator: "\n")
            if !text.isEmpty { messages.append(Data(text.utf8)) }
        }
        return messages
    }
}

/// Open sessions by id, with their last use, closed when idle too long; session counts per principal and the
/// request ids in flight per session.
actor SessionTable {
    let maxSessions: Int
    let maxSessionsPerPrincipal: Int
    private var sessions: [String: (session: MCPSession, lastUsed: ContinuousClock.Instant)] = [:]
    /// Sessions open or being opened, per principal.
    private var perPrincipal: [String: Int] = [:]
    private var inFlight: [String: Set<String>] = [:]

    enum Admission { case admitted, principalFull, serverFull }

    init(maxSessions: Int, maxSessionsPerPrincipal: Int) {
        self.maxSessions = maxSessions
        self.maxSessionsPerPrincipal = maxSessionsPerPrincipal
    }

    /// Reserves a session for the principal (give it back with `release` when none comes of it).
    func admit(_ principal: String) -> Admission {
        guard perPrincipal.values.reduce(0, +) < maxSessions else { return .serverFull }
        guard perPrincipal[principal, default: 0] < maxSessionsPerPrincipal else { return .principalFull }
        perPrincipal[principal, default: 0] += 1
        return .admitted
    }

    func release(_ principal: String) {
        perPrincipal[principal, default: 1] -= 1
        if perPrincipal[principal] == 0 { perPrincipal[principal] = nil }
    }

    /// Marks a request id in flight in a session; false when it already is.
    func claim(_ id: String, in session: String) -> Bool {
        inFlight[session, default: []].insert(id).inserted
    }

    func unclaim(_ id: String, in session: String) {
        inFlight[session]?.remove(id)
    }

    func session(_ id: String) -> MCPSession? { sessions[id]?.session }

    func register(_ session: MCPSession, id: String) {
        sessions[id] = (session, .now)
    }

    func touch(_ session: MCPSession) {
        for (id, entry) in sessions where entry.session === session { sessions[id]?.lastUsed = .now }
    }

    func remove(_ id: String) async {
        inFlight[id] = nil
        if let entry = sessions.removeValue(forKey: id) {
            release(entry.session.principal)
            await entry.session.server.stop()
        }
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
