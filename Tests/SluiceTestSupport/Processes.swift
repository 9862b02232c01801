import Foundation

/// How a finished child process ended, with what it printed.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var reason: Process.TerminationReason
    public var out: String
    public var err: String

    /// True when it exited with status 0.
    public var succeeded: Bool { reason == .exit && status == 0 }

    /// How it ended, for messages: `exit 3`, `signal 9`.
    public var endDescription: String { reason == .exit ? "exit \(status)" : "signal \(status)" }
}

/// Runs a program to its end. Its stdout and stderr go to separate temporary files (never one pipe, and no pipe
/// that fills up while the other is read), so an error message never mixes into the output a test parses.
@discardableResult
public func runProcess(
    _ executable: URL, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
    input: String? = nil
) throws -> ProcessResult {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-process-\(UUID().uuidString)")
    let outPath = base.path + ".out", errPath = base.path + ".err", inPath = base.path + ".in"
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer {
        for path in [outPath, errPath, inPath] where FileManager.default.fileExists(atPath: path) {
            try? FileManager.default.removeItem(atPath: path)  // a leftover temp file fails no test
        }
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    defer {
        try? out.close()
        try? err.close()
    }
    process.standardOutput = out
    process.standardError = err
    if let input {
        _ = FileManager.default.createFile(atPath: inPath, contents: Data(input.utf8))
        process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
    } else {
        process.standardInput = FileHandle.nullDevice
    }
    try process.run()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus, reason: process.terminationReason,
        out: String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self),
        err: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self))
}

/// Runs `/usr/bin/env NAME arguments…` (a tool found on PATH: psql, mariadb).
@discardableResult
public func runTool(
    _ name: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
    input: String? = nil
) throws -> ProcessResult {
    try runProcess(URL(fileURLWithPath: "/usr/bin/env"), [name] + arguments, in: directory, environment: environment,
                   input: input)
}

/// Starts `sluice arguments…` in `directory` in the background, its stdout discarded and its stderr discarded or
/// written to `stderrFile`.
public func startSluice(_ arguments: [String], in directory: URL, environment: [String: String] = [:],
                        stderrFile: URL? = nil) throws -> Process
{
    let process = Process()
    process.executableURL = try TestEnvironment.sluiceExecutable()
    process.arguments = arguments
    process.currentDirectoryURL = directory
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardOutput = FileHandle.nullDevice
    if let stderrFile {
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: stderrFile)
    } else {
        process.standardError = FileHandle.nullDevice
    }
    try process.run()
    return process
}

extension Process {
    /// Lets the process work for `seconds` (a random crash point the caller picked, not a wait for an event),
    /// then SIGKILLs it and waits for its end. Check `wasKilled(by: SIGKILL)` afterwards: it tells the kill
    /// from a process that had already ended on its own.
    public func kill(after seconds: TimeInterval) {
        Thread.sleep(forTimeInterval: seconds)
        Foundation.kill(processIdentifier, SIGKILL)
        waitUntilExit()
    }

    /// Waits up to `timeout` seconds for a process that is to SIGKILL itself (a crash injected at a step, such
    /// as `SLUICE_STAGING_CRASH_AT`); kills it when it is still running then. True only when it ended from
    /// SIGKILL by itself, so neither a hang nor a crash of its own counts as reaching the step.
    public func waitForInjectedKill(timeout: TimeInterval) -> Bool {
        let ended = waitForExit(timeout: timeout)
        if !ended { Foundation.kill(processIdentifier, SIGKILL) }
        waitUntilExit()
        return ended && wasKilled(by: SIGKILL)
    }

    /// Waits until the process exits, at most `timeout` seconds; true when it exited. The wait is on the
    /// process's own exit (another thread blocks in `waitUntilExit` and signals), not a polling loop.
    public func waitForExit(timeout: TimeInterval) -> Bool {
        let exited = DispatchSemaphore(value: 0)
        Thread { [self] in
            waitUntilExit()
            exited.signal()
        }.start()
        return exited.wait(timeout: .now() + timeout) == .success
    }

    /// True when the process ended from `signal` (an injected crash such as SIGKILL), not by exiting or another
    /// signal: tells the injected crash from a real one.
    public func wasKilled(by signal: Int32) -> Bool {
        terminationReason == .uncaughtSignal && terminationStatus == signal
    }

    /// True when it exited with status 0.
    public var exitedCleanly: Bool { terminationReason == .exit && terminationStatus == 0 }

    /// How it ended, for messages: `exit 3`, `signal 9`.
    public var endDescription: String {
        terminationReason == .exit ? "exit \(terminationStatus)" : "signal \(terminationStatus)"
    }
}

/// Waits until `condition` holds, checking it every `interval` until `timeout` seconds have passed; returns
/// whether it held. For states that only an outside system reports (a replication slot, a file another process
/// writes); inside one process, wait for an explicit signal instead. Throws when the task is cancelled.
public func waitUntil(
    timeout: TimeInterval, interval: Duration = .milliseconds(50), _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try await condition() { return true }
        if Date() >= deadline { return false }
        try await Task.sleep(for: interval)
    }
}

/// `waitUntil` for synchronous tests and clean-ups (blocks the calling thread between checks).
public func waitUntilBlocking(
    timeout: TimeInterval, interval: TimeInterval = 0.05, _ condition: () throws -> Bool
) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        Thread.sleep(forTimeInterval: interval)
    }
}

/// Blocking work run on its own thread beside async code, which a test can wait for.
public final class BackgroundThread: Sendable {
    private let finished = DispatchSemaphore(value: 0)

    /// Starts `body` on a new thread.
    public init(_ body: @escaping @Sendable () -> Void) {
        let finished = self.finished
        Thread {
            body()
            finished.signal()
        }.start()
    }

    /// Blocks until `body` has returned.
    public func join() {
        finished.wait()
        finished.signal()  // later joins return at once
    }

    /// Waits until `body` has returned without blocking a task's thread.
    public func join() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.join()
                continuation.resume()
            }
        }
    }
}
