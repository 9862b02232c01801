import Foundation
import SluiceConnectorKit
import SluiceCore
import SluiceRuntime
import SluiceTestSupport
import Testing
@testable import SluiceMySQL

/// A real MariaDB from `SLUICE_TEST_MYSQL_URL` (start one with `scripts/servers.sh start --mysql-only`).
enum LiveServer {
    static var url: String? { TestServers.url(.mysql) }

    static func connect(url other: String? = nil) throws -> MySQLConnection {
        let url = try other ?? TestServers.mysql()
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

extension RecordingRuntime {
    /// A context for a MySQL source (instance `my`) with `values` as its settings.
    func context(_ values: [String: ConfigValue], untilCaughtUp: Bool = true) -> SourceContext {
        context(instance: "my", values, untilCaughtUp: untilCaughtUp)
    }

    /// Runs a source until it has caught up with the server's current position.
    func run(_ values: [String: ConfigValue], url: String? = nil) async throws {
        var all = values
        all["url"] = .string(try url ?? TestServers.mysql())
        try await MySQLSource(context: context(all)).run()
    }
}
