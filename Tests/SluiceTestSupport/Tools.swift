import Foundation

/// A tool's exit status and output (written to files: reading Foundation pipes was seen to crash on EINTR).
public struct ToolResult: Sendable {
    /// The exit status; 128 + the signal's number when a signal ended it.
    public var status: Int32
    public var output: String
    public var errors: String
}

/// Runs tools in `directory`, each run's stdout and stderr kept in that folder's `NAME.out` / `NAME.err` (for
/// failure messages and for reading large outputs).
public struct Tools: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Starts a tool found on PATH (or at an absolute path); output goes to `<name>.out` / `<name>.err`.
    public func start(
        _ tool: String, _ arguments: [String], input: String? = nil, environment: [String: String] = [:],
        name: String
    ) throws -> Process {
        let process = Process()
        if tool.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [tool] + arguments
        }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try emptyFile(path(name + ".out"))
        process.standardError = try emptyFile(path(name + ".err"))
        if let input {
            process.standardInput = FileHandle(forReadingAtPath: input)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        return process
    }

    /// Waits for a started tool (killing it after `timeout` seconds) and returns its result.
    public func finish(_ process: Process, name: String, timeout: Double = 600) -> ToolResult {
        if !process.waitForExit(timeout: timeout) { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return ToolResult(status: status, output: read(name + ".out"), errors: read(name + ".err"))
    }

    /// Runs a tool to its end (see `start`), killing it after `timeout` seconds.
    public func run(
        _ tool: String, _ arguments: [String], input: String? = nil, environment: [String: String] = [:], name: String,
        timeout: Double = 600
    ) throws -> ToolResult {
        finish(try start(tool, arguments, input: input, environment: environment, name: name), name: name, timeout: timeout)
    }

    /// The file `name` in the folder.
    public func path(_ name: String) -> String { directory + "/" + name }
    /// The text of the file `name` in the folder; empty when it cannot be read.
    public func read(_ name: String) -> String { (try? String(contentsOfFile: path(name), encoding: .utf8)) ?? "" }
    /// Writes `text` to the file `name` in the folder.
    public func write(_ text: String, _ name: String) throws { try text.write(toFile: path(name), atomically: true, encoding: .utf8) }

    /// A handle writing to a new, empty file at `path` (throws when it cannot be created).
    private func emptyFile(_ path: String) throws -> FileHandle {
        let url = URL(fileURLWithPath: path)
        try Data().write(to: url)
        return try FileHandle(forWritingTo: url)
    }
}
