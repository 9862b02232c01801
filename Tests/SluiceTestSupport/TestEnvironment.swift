// SluiceTestSupport: what Sluice's test targets share instead of each keeping a copy: where the built tools,
// the readers' Python, the repository and ../shared are; the server gate; process and Python runners; stand-ins.

import Foundation

/// A test cannot run because its setup lacks something (a tool, a server, a Python package); says what to do.
public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A test's check or helper failed: says what went wrong.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Where the things the tests use are.
public enum TestEnvironment {
    /// The repository's root folder (this file is `Tests/SluiceTestSupport/TestEnvironment.swift`).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared` beside the repository: recorded fixtures and bench scripts.
    public static let shared: URL = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared")

    /// An environment variable's value; nil when it is unset or empty.
    public static func value(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// The built `sluice` executable: `SLUICE_BIN`, else `sluice` next to the test bundle (`.build/debug`).
    public static func sluiceExecutable() throws -> URL {
        if let path = value("SLUICE_BIN") { return URL(fileURLWithPath: path) }
        return try builtExecutable("sluice", hint: "run `swift build` first (or set SLUICE_BIN)")
    }

    /// The executable `name` that `swift build` put in the test bundle's folder or a folder above it.
    public static func builtExecutable(_ name: String, hint: String? = nil) throws -> URL {
        let selfPath = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var folder = URL(fileURLWithPath: selfPath).deletingLastPathComponent()
        while folder.path != "/" {
            let candidate = folder.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                FileManager.default.isExecutableFile(atPath: candidate.path)
            {
                return candidate
            }
            folder.deleteLastPathComponent()
        }
        throw TestSetupError(
            "the \(name) executable was not found next to the tests: \(hint ?? "run `swift build --product \(name)` first")")
    }

    /// The Python with the readers' packages (pyarrow, duckdb, pyiceberg, deltalake, fastavro, mcp):
    /// `SLUICE_PYTHON`, else the repository's `.venv/bin/python`. Never the system `python3`: a fresh machine's
    /// has none of those packages, so a missing venv is reported instead.
    public static func python() throws -> String {
        if let path = value("SLUICE_PYTHON") { return path }
        let venv = repositoryRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv) else {
            throw TestSetupError(
                "no Python with the readers' packages: \(venv) does not exist and SLUICE_PYTHON is not set; "
                    + "run scripts/install-deps.sh (it fills .venv) or set SLUICE_PYTHON to a Python with "
                    + "scripts/requirements-readers.txt installed")
        }
        return venv
    }

    /// A new, empty temporary folder whose name starts with `prefix`; the caller removes it.
    public static func temporaryFolder(_ prefix: String = "sluice-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The size of the file at `path` in bytes; 0 while it does not exist (yet).
public func fileSize(atPath path: String) -> Int {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return 0 }  // not there yet
    return (attributes[.size] as? NSNumber)?.intValue ?? 0
}
