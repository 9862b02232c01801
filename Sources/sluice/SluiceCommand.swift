import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluiceDatabricks
import SluiceDevConnectors
import SluiceIceberg
import SluiceLog
import SluiceMCP
import SluiceMySQL
import SluiceParquetSink
import SluicePostgres
import SluiceRuntime
import SluiceSnowflake

/// Every connector this build ships.
let registry = ConnectorRegistry(
    sources: [PostgresSource.self, MySQLSource.self, GeneratorSource.self],
    sinks: [JSONLSink.self, StateSink.self, IcebergSink.self, ParquetFileSink.self, SnowflakeStageSink.self, DeltaSink.self])

let loader = PipelineLoader(registry: registry, sections: ["mcp": MCPSettings.fields])

struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Change data capture: databases → durable log → sinks and agents.",
        discussion: "Exit codes: 0 success, 1 runtime failure, 2 bad usage or invalid configuration.",
        subcommands: [Run.self, Validate.self, Connectors.self, LogCommand.self, Snapshot.self, MCPCommand.self, Serve.self,
                      Audit.self, IcebergCommand.self])
}

/// Options shared by commands that log.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (or SLUICE_LOG_LEVEL).")
    var logLevel: String?

    func bootstrap() -> Logger {
        let name = logLevel ?? ProcessInfo.processInfo.environment["SLUICE_LOG_LEVEL"] ?? "info"
        let level = Logger.Level(rawValue: name.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "sluice")
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pipeline until stopped (SIGINT/SIGTERM drain and commit).",
        discussion: """
            With --until-caught-up, exit once every source has caught up to its position at start and every \
            sink has committed it (for cron jobs). A pipeline with a `schedule` runs like that at each tick.
            """)

    @Argument(help: "The pipeline file.") var pipeline: String
    @Flag(help: "Exit once caught up to the sources' positions at start.") var untilCaughtUp = false
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let config = try loader.load(path: pipeline)
        let logger = logging.bootstrap()
        let stopper = SignalStopper(stopTimeout: config.runtime.stopTimeout)
        if let schedule = config.schedule, !untilCaughtUp {
            logger.info("pipeline \(config.name) runs on schedule '\(schedule)' (UTC)")
            while !stopper.stopped {
                let next = schedule.next(after: Date())
                logger.info("next run at \(ISO8601DateFormatter().string(from: next))")
                // Wakes at the tick or on a signal; at most a minute apart, so a changed wall clock is noticed.
                while Date() < next && !stopper.stopped {
                    await stopper.waitForStop(timeout: .seconds(min(60, max(0.001, next.timeIntervalSinceNow))))
                }
                if stopper.stopped { break }
                try await runOnce(config, logger: logger, untilCaughtUp: true, stopper: stopper)
            }
            return
        }
        try await runOnce(config, logger: logger, untilCaughtUp: untilCaughtUp, stopper: stopper)
    }

    func runOnce(_ config: PipelineConfig, logger: Logger, untilCaughtUp: Bool, stopper: SignalStopper) async throws {
        let lock = try RunnerLock.acquire(config.log, pipeline: config.name)
        defer { withExtendedLifetime(lock) {} }
        let log = try LogFactory.open(config.log)
        let runner = PipelineRunner(config: config, registry: registry, log: log, logger: logger, untilCaughtUp: untilCaughtUp)
        stopper.onStop { runner.requestStop() }
        defer { stopper.onStop(nil) }
        do {
            try await runner.run()
            try await log.close()
        } catch {
            try? await log.close()
            throw RuntimeFailure(error: error)
        }
    }
}

/// Turns SIGINT and SIGTERM into a graceful stop; a second signal, or a stop still running after `stopTimeout`
/// seconds, exits at once (safe: nothing unacknowledged is lost, the next run replays it).
///
/// @unchecked Sendable: the handler is only touched under `lock`; `sources` is written once in `init` and only kept
/// alive afterwards.
final class SignalStopper: @unchecked Sendable {
    private let lock = NSLock()
    private var handler: (@Sendable () -> Void)?
    private let signal = StopSignal()
    private let stopTimeout: Double
    private var sources: [any DispatchSourceSignal] = []

    /// - Parameter stopTimeout: seconds a graceful stop may take (`runtime.stop_timeout`); 0: no limit.
    init(stopTimeout: Double) {
        self.stopTimeout = stopTimeout
        for number in [SIGINT, SIGTERM] {
            Foundation.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.received() }
            source.resume()
            sources.append(source)
        }
    }

    var stopped: Bool { signal.isRequested }

    func onStop(_ handler: (@Sendable () -> Void)?) {
        lock.withLock { self.handler = handler }
    }

    /// Returns once a stop was requested, or after `timeout` (nil: no limit), or when the task is cancelled.
    func waitForStop(timeout: Duration? = nil) async {
        await signal.wait(timeout: timeout)
    }

    private func received() {
        guard signal.request() else {
            FileHandle.standardError.write(Data("sluice: second signal, exiting without draining\n".utf8))
            exit(130)
        }
        if stopTimeout > 0 {
            let seconds = stopTimeout
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
                let text = "sluice: still stopping after \(Int(seconds))s (runtime.stop_timeout); exiting without "
                    + "draining. Nothing acknowledged is lost: the next run replays what was not committed\n"
                FileHandle.standardError.write(Data(text.utf8))
                exit(1)
            }
        }
        lock.withLock { handler }?()
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a pipeline file; errors name the key path and line.")
    @Argument(help: "The pipeline file.") var pipeline: String

    func run() async throws {
        let config = try loader.load(path: pipeline)
        print("\(pipeline): valid pipeline '\(config.name)' — sources: "
              + config.sources.map { "\($0.name) (\($0.type))" }.joined(separator: ", ")
              + "; sinks: " + config.sinks.map { "\($0.name) (\($0.type))" }.joined(separator: ", "))
    }
}

/// `text` followed by spaces up to `width` characters; never cut (a longer text pushes the next column right).
func padded(_ text: String, to width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - text.count))
}

struct Connectors: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List connectors, or describe one's settings.", subcommands: [List.self, Describe.self],
        defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the connectors of this build.")
        func run() async throws {
            let nameWidth = registry.specs.map(\.name.count).max() ?? 0
            for spec in registry.specs {
                print(padded(spec.name, to: nameWidth) + "  " + padded(spec.role.rawValue, to: 6) + "  " + spec.summary)
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a connector's settings.")
        @Argument(help: "The connector's type name.") var name: String
        @Flag(help: "Print Markdown (for the connector's README).") var markdown = false

        func run() async throws {
            guard let spec = registry.spec(named: name) else {
                throw ValidationError("unknown connector '\(name)'; known: \(registry.specs.map(\.name).joined(separator: ", "))")
            }
            print(markdown ? SpecDocs.markdown(spec) : SpecDocs.text(spec))
        }
    }
}

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Inspect the core log.", subcommands: [Streams.self, Read.self])

    struct Streams: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Streams with first/last offset and counts.")
        @Argument(help: "The pipeline file.") var pipeline: String

        func run() async throws {
            let config = try loader.load(path: pipeline)
            let log = try LogFactory.openExisting(config.log)
            defer { Task { try? await log.close() } }
            let streams = try await log.streams()
            let width = max(6, streams.map(\.name.count).max() ?? 0)
            print(padded("STREAM", to: width) + "  FIRST      LAST       COUNT      BYTES")
            for s in streams {
                let last = s.nextOffset > s.firstOffset ? String(s.nextOffset - 1) : "-"
                print(padded(s.name, to: width) + "  "
                      + [String(s.firstOffset), last, String(s.count), String(s.bytes)]
                        .map { padded($0, to: 10) }.joined(separator: " "))
            }
        }
    }

    struct Read: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a stream's records as JSON lines.")
        @Argument(help: "The pipeline file.") var pipeline: String
        @Argument(help: "The stream, e.g. demo.public.orders or _schemas.") var stream: String
        @Option(help: "First offset to read.") var from: Int64?
        @Option(help: "Read from this time on: ISO-8601 (2026-11-25T10:00:00Z) or an age such as 10m.") var since: String?
        @Option(help: "Most records to print.") var limit: Int?

        func validate() throws {
            if from != nil && since != nil { throw ValidationError("give --from or --since, not both") }
            if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more") }
        }

        func run() async throws {
            let config = try loader.load(path: pipeline)
            let log = try LogFactory.openExisting(config.log)
            defer { Task { try? await log.close() } }
            guard let info = try await log.stream(stream) else {
                throw ValidationError("no stream '\(stream)' in \(config.log.path); `sluice log streams \(pipeline)` lists them")
            }
            var offset = from ?? info.firstOffset
            if let since {
                guard let micros = TimeArgument.micros(since) else {
                    throw ValidationError("--since: '\(since)' is neither an ISO-8601 time nor an age like 10m")
                }
                offset = try await log.offset(stream: stream, atOrAfterTimestamp: micros)
            }
            var remaining = limit ?? Int.max
            let out = FileHandle.standardOutput
            while remaining > 0 {
                let records = try await log.read(stream: stream, from: offset, limit: min(remaining, 1000))
                guard let last = records.last else { break }
                var text = ""
                for record in records { text += try LogRendering.line(record) + "\n" }
                out.write(Data(text.utf8))
                remaining -= records.count
                offset = last.offset + 1
            }
        }
    }
}

struct Snapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Request an incremental snapshot of one table while the pipeline streams.",
        discussion: "The running source picks the request up and snapshots the table without pausing the stream.")
    @Argument(help: "The pipeline file.") var pipeline: String
    @Argument(help: "The table: schema.table (PostgreSQL) or database.table (MySQL/MariaDB).") var table: String
    @Option(help: "The source to snapshot from (default: the only source).") var source: String?

    func run() async throws {
        let config = try loader.load(path: pipeline)
        let name = source ?? config.sources.first?.name ?? ""
        guard config.sources.contains(where: { $0.name == name }), source != nil || config.sources.count == 1 else {
            throw ValidationError("name the source with --source (one of: \(config.sources.map(\.name).joined(separator: ", ")))")
        }
        let log = try LogFactory.open(config.log)
        try await log.setState("snapshot-request.\(name).\(table)", Array("requested".utf8))
        try await log.close()
        print("requested an incremental snapshot of \(table) from source \(name)")
    }
}

/// Wraps a failure of a running pipeline (exit code 1).
struct RuntimeFailure: Error, CustomStringConvertible {
    var error: any Error
    var description: String { "\(error)" }
}

@main
enum Main {
    static func main() async {
        do {
            var command = try Sluice.parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as ConfigErrors {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(2)
        } catch let error as RuntimeFailure {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(1)
        } catch let error as SluiceError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(error.code == .invalidConfiguration ? 2 : 1)
        } catch {
            let code = Sluice.exitCode(for: error)
            if code == .success {
                Sluice.exit(withError: error)
            }
            if code.rawValue == 64 || error is ValidationError {
                FileHandle.standardError.write(Data((Sluice.fullMessage(for: error) + "\n").utf8))
                exit(2)
            }
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(1)
        }
    }
}
