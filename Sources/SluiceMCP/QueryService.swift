import Foundation
import Logging
import MCP
import SluiceCore
import SluiceLog
import SluiceRuntime

/// What the runtime reports about a pipeline running in the same process (`sluice serve`).
public struct RuntimeStatus: Sendable {
    /// `running`, `stopped` or `failed`.
    public var state: String
    /// The failure, when the pipeline failed (no row values).
    public var error: String?

    public init(state: String, error: String? = nil) {
        self.state = state
        self.error = error
    }
}

/// The one entry point of the MCP servers: answers tool calls and resource reads for principals, under
/// governance, and records every call in the audit trail.
///
/// The tools are in `ToolCatalog`, call-time governance in `AccessGate`, cursors in `Paging` and the audit
/// recording in `AuditTrail.record(_:arguments:principal:result:)`. Shared by every session of a process; each
/// call names its principal.
public final class QueryService: Sendable {
    public var pipeline: PipelineConfig { environment.pipeline }
    public var settings: MCPSettings { environment.settings }
    let environment: ToolEnvironment
    let audit: AuditTrail
    let logger: Logger

    public init(
        pipeline: PipelineConfig, settings: MCPSettings, log: any ChangeLog, logger: Logger,
        runtimeStatus: @escaping @Sendable () -> RuntimeStatus? = { nil }
    ) {
        self.environment = ToolEnvironment(
            pipeline: pipeline, settings: settings, log: log, runtimeStatus: runtimeStatus)
        self.audit = AuditTrail(log: log, argumentKey: settings.auditKey)
        self.logger = logger
    }

    /// The principal a bearer token belongs to.
    public func authenticate(token: String) -> Principal? {
        environment.access.authenticate(token: token)
    }

    // MARK: Calls

    /// Runs a tool for a principal: rate limit, arguments, policies, masking, then the audit record.
    ///
    /// Never throws: bad arguments, denials and failures become tool results with `isError`. When the audit
    /// record cannot be written, nothing is returned (an error result says so).
    public func call(tool: String, arguments: [String: MCPValue]?, principal: Principal) async -> CallTool.Result {
        await respond(tool: tool, arguments: arguments, principal: principal).result
    }

    /// Like `call`, but returns the result as JSON text, so that transports can send it without the sdk's
    /// Codable round trips (see `ToolCallFastPath`).
    public func respond(tool: String, arguments: [String: MCPValue]?, principal: Principal) async -> ToolResponse {
        let result: Result<ToolOutcome, ToolError>
        do {
            try environment.access.admitCall(principal, advice: "; retry shortly")
            result = .success(
                try await ToolCatalog.run(
                    tool: tool, arguments: arguments, principal: principal, environment: environment))
        } catch let error as ToolError {
            result = .failure(error)
        } catch {
            logger.error("tool \(tool) failed: \(error)", metadata: ["sluice.principal": .string(principal.name)])
            result = .failure(ToolError("\(tool) failed inside Sluice: \(Self.safeDescription(error))"))
        }
        do {
            let text = try await audit.record(tool, arguments: arguments ?? [:], principal: principal, result: result)
            if case .failure = result { return ToolResponse(text: text, isError: true) }
            return ToolResponse(text: text, isError: false)
        } catch {
            logger.error("cannot write the audit record, returning nothing: \(error)")
            return ToolResponse(
                text: "the call could not be recorded in the audit trail, so nothing is returned",
                isError: true)
        }
    }

    /// A description of an error that holds no row values (log and state errors name offsets and files only).
    static func safeDescription(_ error: any Error) -> String {
        if let error = error as? SluiceError { return error.message + (error.hint.map { ". \($0)" } ?? "") }
        if let error = error as? LogError { return error.message }
        return "internal error"
    }

    // MARK: Resources

    /// Stream resources are this prefix and the stream's name.
    static let resourcePrefix = "sluice://streams/"

    /// Streams the principal may describe, as resources.
    public func resources(principal: Principal) async throws -> [Resource] {
        try await environment.visibleStreams(principal).map {
            Resource(
                name: $0.info.name, uri: Self.resourcePrefix + $0.info.name,
                description: "change stream \($0.info.name): schema, offsets and the latest changes",
                mimeType: "application/json")
        }
    }

    /// Reads a stream resource: its describe document plus, with read access, the latest 20 changes. Audited.
    public func readResource(uri: String, principal: Principal) async throws -> ReadResource.Result {
        let prefix = Self.resourcePrefix
        let stream = uri.hasPrefix(prefix) ? String(uri.dropFirst(prefix.count)) : ""
        let result: Result<ToolOutcome, ToolError>
        do {
            try environment.access.admitCall(principal)
            guard !stream.isEmpty else { throw ToolError("unknown resource '\(uri)'; resources are \(prefix)<stream>") }
            result = .success(try await streamDocument(stream, principal: principal))
        } catch let error as ToolError {
            result = .failure(error)
        }
        let text = try await audit.record(
            "resources/read", arguments: ["uri": .string(uri)], principal: principal, result: result)
        if case .failure(let failure) = result { throw MCPError.invalidParams(failure.message) }
        return ReadResource.Result(contents: [.text(text, uri: uri, mimeType: "application/json")])
    }

    /// The describe document of a stream and, when the principal may read it, its latest 20 changes.
    private func streamDocument(_ stream: String, principal: Principal) async throws -> ToolOutcome {
        var described = try await ToolDeclaration.describeStream.run(
            arguments: ["stream": .string(stream)], principal: principal, environment: environment)
        guard environment.access.allows(principal, .read, stream: stream),
            let info = try await environment.log.stream(stream)
        else { return described }
        let from = max(info.firstOffset, info.nextOffset - 20)
        let recent = try await ToolDeclaration.readChanges.run(
            arguments: ["stream": .string(stream), "from_offset": .int(Int(from))], principal: principal,
            environment: environment)
        described.json = "{\"describe\":\(described.json),\"recent\":\(recent.json)}"
        described.reads = recent.reads
        described.rows = recent.rows
        described.maskedColumns = recent.maskedColumns
        return described
    }
}
