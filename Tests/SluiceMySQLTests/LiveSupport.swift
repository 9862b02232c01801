import Foundation
import Logging
import SluiceConnectorKit
import SluiceCore
import SluiceRuntime
import Synchronization
import Testing
@testable import SluiceMySQL

/// A real MariaDB from `SLUICE_TEST_MYSQL_URL` (start one with `scripts/servers.sh start --mysql-only`).
enum LiveServer {
    static let url = ProcessInfo.processInfo.environment["SLUICE_TEST_MYSQL_URL"]
    static var required: Bool { ProcessInfo.processInfo.environment["SLUICE_REQUIRE_SERVERS"] != nil }
    /// Run live tests when a server is configured, or when servers are required (then they fail without one).
    static var enabled: Bool { url != nil || required }

    static func connect(url other: String? = nil) throws -> MySQLConnection {
        guard let url = other ?? url else {
            throw SluiceError(.sourceSetup, "SLUICE_REQUIRE_SERVERS is set but SLUICE_TEST_MYSQL_URL is not",
                              hint: "start MariaDB with scripts/servers.sh start --mysql-only and export its env")
        }
        let settings = try MySQLSourceSettings(ConnectorConfig(instanceName: "t", values: ["url": .string(url)]),
                                               pipeline: "t")
        return try MySQLConnection(settings.endpoint)
    }

    /// A fresh database for one test.
    static func database(_ name: String) throws -> MySQLConnection {
        let connection = try connect()
        try connection.execute("DROP DATABASE IF EXISTS \(name)")
        try connection.execute("CREATE DATABASE \(name)")
        try connection.execute("USE \(name)")
        return connection
    }

    static func position(_ connection: MySQLConnection) throws -> String {
        let row = try connection.query("SHOW MASTER STATUS")[0]
        return "\(row[0]!):\(row[1]!)"
    }
}

/// An in-memory stand-in for the runtime: keeps emitted batches and state; can "crash" after some batches.
final class RecordingRuntime: Sendable {
    struct Stored: Sendable {
        var batches: [SourceBatch] = []
        var state: [String: [UInt8]] = [:]
        var schemas: [TableID: TableSchema] = [:]
    }

    let stored = Mutex(Stored())
    /// Accept at most this many more batches, then fail the emit (a crash before the append).
    let budget = Mutex<Int?>(nil)
    /// Pending incremental snapshot requests (`sluice snapshot`), cleared by the source when done.
    let snapshotRequests = Mutex<[String]>([])

    var events: [ChangeEvent] { stored.withLock { $0.batches.flatMap(\.events) } }
    var schemas: [TableSchema] { stored.withLock { $0.batches.flatMap(\.schemas) } }

    func context(_ values: [String: ConfigValue], untilCaughtUp: Bool = true) -> SourceContext {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return SourceContext(
            pipeline: "test", config: ConnectorConfig(instanceName: "my", values: values), logger: logger,
            untilCaughtUp: untilCaughtUp,
            emit: { batch in
                let allowed = self.budget.withLock { budget -> Bool in
                    guard let left = budget else { return true }
                    budget = left - 1
                    return left > 0
                }
                guard allowed else { throw CancellationError() }
                var decoded = batch  // encoded events read back as the log's readers read them
                decoded.events = try batch.allEvents()
                decoded.encoded = EncodedChanges()
                self.stored.withLock { stored in
                    stored.batches.append(decoded)
                    for schema in batch.schemas { stored.schemas[schema.table] = schema }
                    for (key, value) in batch.state { stored.state[key] = value }
                }
            },
            loadState: { key in self.stored.withLock { $0.state[key] } },
            loadStates: { prefix in self.stored.withLock { $0.state.filter { $0.key.hasPrefix(prefix) } } },
            waitUntilDurable: {},
            latestSchema: { table in self.stored.withLock { $0.schemas[table] } },
            pendingSnapshotRequests: { self.snapshotRequests.withLock { $0 } },
            completeSnapshotRequest: { request in self.snapshotRequests.withLock { $0.removeAll { $0 == request } } })
    }

    /// Runs a source until it has caught up with the server's current position.
    func run(_ values: [String: ConfigValue], url: String? = nil) async throws {
        var all = values
        all["url"] = .string(url ?? LiveServer.url ?? "")
        try await MySQLSource(context: context(all)).run()
    }
}
