import Testing

/// A database server the server tests need, named by the variable that holds its URL (scripts/servers.sh).
public enum TestServer: String, Sendable {
    case postgres = "SLUICE_TEST_PG_URL"
    case mysql = "SLUICE_TEST_MYSQL_URL"

    var product: String { self == .postgres ? "PostgreSQL" : "MariaDB" }
}

/// The one gate for tests that need PostgreSQL or MariaDB.
///
/// Mark the test or suite with `.needsPostgres` / `.needsMySQL` and take the URL with `try TestServers.postgres()`.
/// Without the variable the test is skipped (Swift Testing records the reason); under `SLUICE_REQUIRE_SERVERS=1`
/// (CI) it runs anyway and fails, because `postgres()` / `mysql()` throw.
public enum TestServers {
    /// True when servers must be there (CI): a missing URL fails the test instead of skipping it.
    public static var required: Bool { TestEnvironment.value("SLUICE_REQUIRE_SERVERS") != nil }

    /// The server's URL; nil when its variable is unset.
    public static func url(_ server: TestServer) -> String? { TestEnvironment.value(server.rawValue) }

    /// Whether a test needing `server` runs: its URL is set, or servers are required (then it fails without one).
    public static func runnable(_ server: TestServer) -> Bool { url(server) != nil || required }

    /// Why a test needing `server` was skipped.
    public static func skipReason(_ server: TestServer) -> Comment {
        let how = "scripts/servers.sh start DIR; eval \"$(scripts/servers.sh env DIR)\""
        return "\(server.product) test server missing: set \(server.rawValue) (\(how))"
    }

    /// The server's URL, or an error naming the variable and how to start the server.
    public static func require(_ server: TestServer) throws -> String {
        if let url = url(server) { return url }
        throw TestSetupError(
            "\(server.rawValue) is not set\(required ? " but SLUICE_REQUIRE_SERVERS is" : ""): start the "
                + "servers with scripts/servers.sh start DIR, then eval \"$(scripts/servers.sh env DIR)\"")
    }

    /// The PostgreSQL test server's URL (`SLUICE_TEST_PG_URL`).
    public static func postgres() throws -> String { try require(.postgres) }

    /// The MariaDB test server's URL (`SLUICE_TEST_MYSQL_URL`).
    public static func mysql() throws -> String { try require(.mysql) }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only when a PostgreSQL test server is configured or servers are required.
    public static var needsPostgres: Self {
        .enabled(if: TestServers.runnable(.postgres), TestServers.skipReason(.postgres))
    }

    /// Runs the test only when a MariaDB test server is configured or servers are required.
    public static var needsMySQL: Self {
        .enabled(if: TestServers.runnable(.mysql), TestServers.skipReason(.mysql))
    }
}
