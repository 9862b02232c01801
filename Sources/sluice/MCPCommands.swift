import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluiceLog
import SluiceMCP
import SluiceRuntime
import Synchronization

/// `sluice mcp PIPELINE.yaml`: the governed MCP server on stdin/stdout for the principal of `SLUICE_TOKEN`.
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve MCP on stdin/stdout for the principal whose token is in SLUICE_TOKEN.",
        discussion: """
            Tools: \(ToolCatalog.names.joined(separator: ", ")); streams are also resources. Every call is \
            governed by the pipeline's mcp: policies and recorded in the _audit stream. Logs go to stderr. \
            `sluice mcp --hash-token` reads a token on stdin and prints the token_sha256 to put in the pipeline file \
            (the same as `echo -n TOKEN | sha256sum`).
            """)

    @Argument(help: "The pipeline file.") var pipeline: String?
    @Flag(help: "Read a token from stdin and print its SHA-256 for mcp.principals.<name>.token_sha256.") var hashToken =
        false
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if !hashToken && pipeline == nil { throw ValidationError("give the pipeline file: sluice mcp PIPELINE.yaml") }
    }

    func run() async throws {
        if hashToken {
            let token = readLine(strippingNewline: true) ?? ""
            guard !token.isEmpty else { throw ValidationError("--hash-token: no token on stdin") }
            print(Governance.tokenHash(token))
            return
        }
        let config = try loader.load(path: pipeline!)
        let settings = try MCPSettings(section: config.sections["mcp"], pipeline: config)
        let logger = logging.bootstrap()
        guard let token = ProcessInfo.processInfo.environment["SLUICE_TOKEN"], !token.isEmpty else {
            throw ValidationError("set SLUICE_TOKEN to the token of a principal in \(pipeline!) (mcp.principals)")
        }
        let log = try LogFactory.open(config.log)
        let service = QueryService(pipeline: config, settings: settings, log: log, logger: logger)
        guard let principal = service.authenticate(token: token) else {
            try? await log.close()
            throw RuntimeFailure(
                error: SluiceError(
                    .invalidConfiguration, "SLUICE_TOKEN matches no principal of \(pipeline!)",
                    hint: "compare `sluice mcp --hash-token` with mcp.principals.*.token_sha256"))
        }
        logger.info("MCP on stdio", metadata: ["sluice.principal": .string(principal.name)])
        do {
            try await MCPServerFactory.serveStdio(service: service, principal: principal, logger: logger)
            try await log.close()
        } catch {
            try? await log.close()
            throw RuntimeFailure(error: error)
        }
    }
}

/// `sluice serve PIPELINE.yaml`: the pipeline runner plus HTTP (MCP at /mcp, protected-resource metadata, status).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the pipeline and serve MCP over Streamable HTTP (/mcp) with bearer tokens.",
        discussion: """
            Listens on mcp.listen (default 127.0.0.1:8080; --listen overrides). Endpoints: /mcp, \
            /.well-known/oauth-protected-resource, /admin/status (bearer token), /healthz. SIGINT/SIGTERM drain the \
            pipeline and stop.
            """)

    @Argument(help: "The pipeline file.") var pipeline: String
    @Option(help: "host:port to listen on (overrides mcp.listen; port 0 picks a free port).") var listen: String?
    @Flag(help: "Serve MCP only, without running the pipeline.") var noPipeline = false
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let config = try loader.load(path: pipeline)
        var section = config.sections["mcp"]
        if let listen, case .map(var fields) = section ?? .map([:]) {
            fields["listen"] = .string(listen)
            section = .map(fields)
        }
        let settings = try MCPSettings(section: section, pipeline: config)
        let logger = logging.bootstrap()
        let lock = noPipeline ? nil : try RunnerLock.acquire(config.log, pipeline: config.name)
        defer { withExtendedLifetime(lock) {} }
        let log = try LogFactory.open(config.log)
        let status = Mutex<RuntimeStatus>(RuntimeStatus(state: noPipeline ? "not running (--no-pipeline)" : "starting"))
        let service = QueryService(
            pipeline: config, settings: settings, log: log, logger: logger,
            runtimeStatus: { status.withLock { $0 } })
        let http = MCPHTTPServer(service: service, logger: logger)
        let runner = PipelineRunner(config: config, registry: registry, log: log, logger: logger, untilCaughtUp: false)
        let stopper = SignalStopper(stopTimeout: config.runtime.stopTimeout)
        let httpTask = Task {
            try await http.run { port in
                let message = "sluice: MCP listening on http://\(settings.listenHost):\(port)/mcp\n"
                FileHandle.standardError.write(Data(message.utf8))
            }
        }
        stopper.onStop {
            runner.requestStop()
            Task { await http.shutdown() }
        }
        var failure: (any Error)?
        if noPipeline {
            await stopper.waitForStop()
        } else {
            status.withLock { $0 = RuntimeStatus(state: "running") }
            do {
                try await runner.run()
                status.withLock { $0 = RuntimeStatus(state: "stopped") }
            } catch {
                status.withLock { $0 = RuntimeStatus(state: "failed", error: "\(error)") }
                failure = error
            }
        }
        await http.shutdown()
        _ = await httpTask.result
        try? await log.close()
        if let failure { throw RuntimeFailure(error: failure) }
    }
}

/// `sluice audit verify|read PIPELINE.yaml`.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the audit trail's hash chain, or print its records.", subcommands: [Verify.self, Read.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every audit record and the chain; exit 1 naming the first broken offset.")
        @Argument(help: "The pipeline file.") var pipeline: String

        func run() async throws {
            let config = try loader.load(path: pipeline)
            let log = try LogFactory.openExisting(config.log)
            let result = try await AuditTrail.verify(log: log)
            try? await log.close()
            if let failure = result.failure {
                throw RuntimeFailure(
                    error: SluiceError(
                        .log, "audit chain broken at offset \(failure.offset): \(failure.reason)",
                        hint:
                            "the _audit stream of \(config.log.path) was changed outside Sluice; keep the file for inspection"
                    ))
            }
            print("audit chain intact: \(result.records) records")
        }
    }

    struct Read: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print audit records as JSON lines.")
        @Argument(help: "The pipeline file.") var pipeline: String
        @Option(help: "First offset to print.") var from: Int64 = 0
        @Option(help: "Most records to print.") var limit: Int?

        func run() async throws {
            let config = try loader.load(path: pipeline)
            let log = try LogFactory.openExisting(config.log)
            var offset = from
            var remaining = limit ?? Int.max
            let out = FileHandle.standardOutput
            do {
                while remaining > 0 {
                    let records = try await log.read(
                        stream: SystemStream.audit, from: offset, limit: min(remaining, 1000))
                    guard let last = records.last else { break }
                    var text = ""
                    for record in records {
                        text +=
                            "{\"offset\":\(record.offset),\"record\":" + String(decoding: record.payload, as: UTF8.self)
                            + "}\n"
                    }
                    out.write(Data(text.utf8))
                    remaining -= records.count
                    offset = last.offset + 1
                }
            } catch {
                try? await log.close()
                throw RuntimeFailure(error: error)
            }
            try? await log.close()
        }
    }
}
