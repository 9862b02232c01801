import Foundation
import SluiceCore
import SluiceRuntime

/// Settings of the MCP surface, from the pipeline file's `mcp:` section.
///
/// ```yaml
/// mcp:
///   pseudonym_key: ${SLUICE_PSEUDONYM_KEY}
///   listen: 127.0.0.1:8080
///   principals:
///     support-bot: {kind: agent, token_sha256: 9f86d0…, roles: [support]}
///   roles:
///     support: {policies: [orders-read, orders-pii]}
///   policies:
///     orders-read: {streams: ["shop.public.orders"], operations: [describe, read, history, state]}
///     orders-pii:  {effect: allow, streams: ["shop.public.*"], columns: {email: {action: pseudonym}}}
/// ```
public struct MCPSettings: Sendable {
    public var governance: Governance
    /// Address the HTTP server binds in `sluice serve`.
    public var listenHost: String
    public var listenPort: Int
    /// The MCP endpoint's public URL (the OAuth resource identifier in the protected-resource document).
    public var publicURL: String?
    /// Authorization servers named in the protected-resource document.
    public var authorizationServers: [String]
    /// Origins allowed to call `/mcp` from a browser (besides localhost ones).
    public var allowedOrigins: [String]
    /// Key for hashing literal argument values in the audit trail (secret; SHA-256 without it).
    public var auditKey: [UInt8]?
    /// Path of the state sink's database, when the pipeline has a `state` sink.
    public var statePath: String?
    /// Sessions idle longer than this are closed, in seconds.
    public var sessionIdleTimeout: Double
    /// Most concurrent HTTP sessions.
    public var maxSessions: Int
    /// Most concurrent HTTP sessions of one principal.
    public var maxSessionsPerPrincipal: Int

    /// The `mcp:` section's fields, for `PipelineLoader(registry:sections:)`.
    public static let fields: [FieldSpec] = {
        let limits: [FieldSpec] = [
            FieldSpec(
                "max_rows_per_call", .int, description: "most rows (events, history entries, current rows) per call"),
            FieldSpec("calls_per_minute", .int, description: "most tool calls per minute"),
        ]
        let column = FieldSpec(
            "columns",
            .map(
                .object([
                    FieldSpec(
                        "action", .oneOf(["deny", "redact", "pseudonym", "partial"]), required: true,
                        description:
                            "deny: remove the column; redact; pseudonym: keyed HMAC (joins still work); partial",
                        example: "pseudonym"),
                    FieldSpec("keep_last", .int, default: .int(4), description: "characters partial shows at the end"),
                ])), description: "column rules: column name → action")
        let rows = FieldSpec(
            "rows",
            .list(
                .object([
                    FieldSpec("column", .string, required: true, description: "the column compared", example: "region"),
                    FieldSpec(
                        "op", .oneOf(RowCondition.Comparison.allCases.map(\.rawValue)), default: .string("eq"),
                        description: "comparison"),
                    FieldSpec("value", .string, description: "the value compared with", example: "EU"),
                    FieldSpec("values", .list(.string), description: "values for in / not_in", example: "[EU, UK]"),
                ])), description: "row conditions, all must hold; applied to before and after images")
        return [
            FieldSpec(
                "pseudonym_key", .string, secret: true,
                description: "key of keyed-HMAC pseudonyms (required when a policy uses action: pseudonym)",
                example: "${SLUICE_PSEUDONYM_KEY}"),
            FieldSpec(
                "audit_key", .string, secret: true,
                description: "key for hashing literal argument values in the audit trail (default: plain SHA-256)"),
            FieldSpec(
                "listen", .string, default: .string("127.0.0.1:8080"),
                description: "host:port `sluice serve` listens on", example: "0.0.0.0:8080"),
            FieldSpec(
                "public_url", .string, description: "the MCP endpoint's public URL (default http://<listen>/mcp)",
                example: "https://sluice.example.com/mcp"),
            FieldSpec(
                "authorization_servers", .list(.string), default: .list([]),
                description: "OAuth authorization servers listed in /.well-known/oauth-protected-resource"),
            FieldSpec(
                "allowed_origins", .list(.string), default: .list([]),
                description: "browser origins allowed to call /mcp besides localhost",
                example: "[https://app.example.com]"),
            FieldSpec(
                "state", .string,
                description:
                    "name of the state sink that serves \(ToolDeclaration.currentRows.name) and "
                    + "\(ToolDeclaration.rowHistory.name) "
                    + "(default: the pipeline's only sink of type state)"),
            FieldSpec(
                "session_idle_timeout", .duration, default: .duration(1800),
                description: "close idle HTTP sessions after"),
            FieldSpec("max_sessions", .int, default: .int(256), description: "most concurrent HTTP sessions"),
            FieldSpec(
                "max_sessions_per_principal", .int, default: .int(16),
                description: "most concurrent HTTP sessions of one principal (beyond: 429)"),
            FieldSpec("limits", .object(limits), description: "default limits of every principal"),
            FieldSpec(
                "principals",
                .map(
                    .object([
                        FieldSpec(
                            "kind", .oneOf(["agent", "person"]), default: .string("agent"),
                            description: "agent or person"),
                        FieldSpec(
                            "token_sha256", .string, required: true,
                            description:
                                "SHA-256 of the bearer token, hex (`echo -n TOKEN | sha256sum` or `sluice mcp --hash-token`)"
                        ),
                        FieldSpec("roles", .list(.string), default: .list([]), description: "roles the principal has"),
                        FieldSpec(
                            "policies", .list(.string), default: .list([]), description: "policies given directly"),
                        FieldSpec("limits", .object(limits), description: "limits overriding the defaults"),
                    ])), default: .map([:]), description: "who may connect: name → settings"),
            FieldSpec(
                "roles",
                .map(
                    .object([
                        FieldSpec("policies", .list(.string), required: true, description: "policies of the role")
                    ])), default: .map([:]), description: "roles: name → policies"),
            FieldSpec(
                "policies",
                .map(
                    .object([
                        FieldSpec(
                            "effect", .oneOf(["allow", "deny"]), default: .string("allow"), description: "allow or deny"
                        ),
                        FieldSpec(
                            "streams", .list(.string), required: true, description: "stream globs",
                            example: "[\"shop.public.*\"]"),
                        FieldSpec(
                            "operations", .list(.oneOf(StreamOperation.allCases.map(\.rawValue))),
                            default: .list(StreamOperation.allCases.map { .string($0.rawValue) }),
                            description: "describe, read, history, state"),
                        column,
                        rows,
                    ])), default: .map([:]), description: "policies: name → rule"),
        ]
    }()

    /// Builds the settings from the validated section (nil: the pipeline has no `mcp:` section) and the pipeline.
    ///
    /// Throws `SluiceError(.invalidConfiguration)` naming the key when references do not resolve.
    public init(section: ConfigValue?, pipeline: PipelineConfig) throws {
        let config = ConnectorConfig(
            instanceName: "mcp", values: { if case .map(let m)? = section { m } else { [:] } }())
        let defaults = Self.limits(config.object("limits"), fallback: AccessLimits())
        var policies: [Policy] = []
        var usesPseudonym = false
        for (name, value) in (config.object("policies")?.values ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard case .map(let fields) = value else { continue }
            let policy = ConnectorConfig(instanceName: name, values: fields)
            var columns: [String: ColumnAction] = [:]
            for (column, rule) in policy.object("columns")?.values ?? [:] {
                guard case .map(let ruleFields) = rule else { continue }
                let ruleConfig = ConnectorConfig(instanceName: name, values: ruleFields)
                switch ruleConfig.string("action") {
                case "deny": columns[column] = .deny
                case "redact": columns[column] = .redact
                case "pseudonym":
                    columns[column] = .pseudonym
                    usesPseudonym = true
                default:
                    let keep = ruleConfig.int("keep_last") ?? 4
                    guard keep >= 0 else {
                        throw SluiceError(
                            .invalidConfiguration, "keep_last must be 0 or more",
                            location: "mcp.policies.\(name).columns.\(column).keep_last")
                    }
                    columns[column] = .partial(keepLast: keep)
                }
            }
            var rows: [RowCondition] = []
            if case .list(let items)? = policy.values["rows"] {
                for (index, item) in items.enumerated() {
                    guard case .map(let conditionFields) = item else { continue }
                    let condition = ConnectorConfig(instanceName: name, values: conditionFields)
                    let comparison = RowCondition.Comparison(rawValue: condition.string("op") ?? "eq") ?? .eq
                    var values = condition.strings("values") ?? []
                    if let single = condition.string("value") { values.append(single) }
                    guard !values.isEmpty else {
                        throw SluiceError(
                            .invalidConfiguration, "a row condition needs `value` or `values`",
                            location: "mcp.policies.\(name).rows[\(index)]",
                            hint: "for example {column: region, op: eq, value: EU}")
                    }
                    rows.append(
                        RowCondition(column: condition.string("column") ?? "", comparison: comparison, values: values))
                }
            }
            let operations = Set((policy.strings("operations") ?? []).compactMap(StreamOperation.init(rawValue:)))
            policies.append(
                Policy(
                    name: name, effect: policy.string("effect") == "deny" ? .deny : .allow,
                    streams: policy.strings("streams") ?? [], operations: operations, columns: columns, rows: rows))
        }
        let policyNames = Set(policies.map(\.name))
        var roles: [String: [String]] = [:]
        for (name, value) in config.object("roles")?.values ?? [:] {
            guard case .map(let fields) = value else { continue }
            let listed = ConnectorConfig(instanceName: name, values: fields).strings("policies") ?? []
            for policy in listed where !policyNames.contains(policy) {
                throw SluiceError(
                    .invalidConfiguration, "role \(name) names policy '\(policy)', which is not defined",
                    location: "mcp.roles.\(name).policies",
                    hint: "define it under mcp.policies (defined: \(policyNames.sorted().joined(separator: ", ")))")
            }
            roles[name] = listed
        }
        var principals: [Principal] = []
        for (name, value) in (config.object("principals")?.values ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard case .map(let fields) = value else { continue }
            let principal = ConnectorConfig(instanceName: name, values: fields)
            let hex = (principal.string("token_sha256") ?? "").lowercased()
            guard hex.count == 64, let hash = HexBytes.decode(hex) else {
                throw SluiceError(
                    .invalidConfiguration, "token_sha256 of principal \(name) is not a 64-digit hex SHA-256",
                    location: "mcp.principals.\(name).token_sha256",
                    hint: "store the hash, not the token: `echo -n TOKEN | sha256sum`")
            }
            var names: [String] = []
            let roleNames = principal.strings("roles") ?? []
            for role in roleNames {
                guard let rolePolicies = roles[role] else {
                    throw SluiceError(
                        .invalidConfiguration, "principal \(name) has role '\(role)', which is not defined",
                        location: "mcp.principals.\(name).roles", hint: "define it under mcp.roles")
                }
                names += rolePolicies
            }
            for policy in principal.strings("policies") ?? [] {
                guard policyNames.contains(policy) else {
                    throw SluiceError(
                        .invalidConfiguration, "principal \(name) names policy '\(policy)', which is not defined",
                        location: "mcp.principals.\(name).policies", hint: "define it under mcp.policies")
                }
                names.append(policy)
            }
            var unique: [String] = []
            for n in names where !unique.contains(n) { unique.append(n) }
            principals.append(
                Principal(
                    name: name, kind: principal.string("kind") == "person" ? .person : .agent, tokenSHA256: hash,
                    roles: roleNames, policies: unique,
                    limits: Self.limits(principal.object("limits"), fallback: defaults)))
        }
        let key = config.string("pseudonym_key").map { Array($0.utf8) } ?? []
        if usesPseudonym && key.count < 16 {
            throw SluiceError(
                .invalidConfiguration,
                "a policy uses action: pseudonym but pseudonym_key is missing or shorter than 16 bytes",
                location: "mcp.pseudonym_key",
                hint: "set pseudonym_key: ${SLUICE_PSEUDONYM_KEY} and export a long random secret")
        }
        governance = Governance(principals: principals, policies: policies, pseudonymKey: key)
        let listen = config.string("listen") ?? "127.0.0.1:8080"
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw SluiceError(
                .invalidConfiguration, "listen must be host:port", location: "mcp.listen",
                hint: "for example listen: 127.0.0.1:8080")
        }
        listenHost = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        listenPort = port
        publicURL = config.string("public_url")
        authorizationServers = config.strings("authorization_servers") ?? []
        allowedOrigins = config.strings("allowed_origins") ?? []
        auditKey = config.string("audit_key").map { Array($0.utf8) }
        sessionIdleTimeout = config.duration("session_idle_timeout") ?? 1800
        maxSessions = max(1, config.int("max_sessions") ?? 256)
        maxSessionsPerPrincipal = max(1, config.int("max_sessions_per_principal") ?? 16)
        let stateSinks = pipeline.sinks.filter { $0.type == StateSink.spec.name }
        if let name = config.string("state") {
            guard let sink = stateSinks.first(where: { $0.name == name }) else {
                throw SluiceError(
                    .invalidConfiguration, "mcp.state names '\(name)', which is not a sink of type state",
                    location: "mcp.state", hint: "add a sink with type: state and a path")
            }
            statePath = sink.config.string("path")
        } else {
            statePath = stateSinks.count == 1 ? stateSinks[0].config.string("path") : nil
        }
    }

    private static func limits(_ config: ConnectorConfig?, fallback: AccessLimits) -> AccessLimits {
        AccessLimits(
            maxRowsPerCall: max(1, config?.int("max_rows_per_call") ?? fallback.maxRowsPerCall),
            callsPerMinute: max(1, config?.int("calls_per_minute") ?? fallback.callsPerMinute))
    }
}
