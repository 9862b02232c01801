import Crypto
import Foundation
import SluiceCore

/// What a principal does with a stream; policies grant or deny operations.
public enum StreamOperation: String, Sendable, Hashable, CaseIterable, Codable {
    /// See that the stream exists, its schema versions and counts (list_streams, describe_stream, status).
    case describe
    /// Read changes from the log (read_changes, stream resources).
    case read
    /// Every change to one key (get_row_history).
    case history
    /// Current rows from the state store (get_current_rows).
    case state
}

/// How a column's values reach a principal. Cases are ordered from least to most restrictive; when several
/// policies rule on one column, the strictest wins.
public enum ColumnAction: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Only the last `keepLast` characters are shown; the rest become `*`.
    case partial(keepLast: Int)
    /// A keyed HMAC pseudonym: equal values give equal pseudonyms, so joins still work.
    case pseudonym
    /// The value is replaced by `"[redacted]"` (null stays null).
    case redact
    /// The column is removed from every image and schema detail.
    case deny

    var strictness: Int {
        switch self {
        case .partial: return 1
        case .pseudonym: return 2
        case .redact: return 3
        case .deny: return 4
        }
    }

    public static func < (lhs: ColumnAction, rhs: ColumnAction) -> Bool {
        if lhs.strictness != rhs.strictness { return lhs.strictness < rhs.strictness }
        if case .partial(let a) = lhs, case .partial(let b) = rhs { return a > b }  // fewer characters is stricter
        return false
    }

    /// The label shown in `describe_stream` and the audit trail.
    public var description: String {
        switch self {
        case .partial(let n): return "partial(last \(n))"
        case .pseudonym: return "pseudonym"
        case .redact: return "redacted"
        case .deny: return "denied"
        }
    }
}

/// One condition of a row filter, on a column's value.
public struct RowCondition: Sendable, Hashable {
    public enum Comparison: String, Sendable, Hashable, CaseIterable {
        case eq, ne, `in`, notIn = "not_in", lt, le, gt, ge
    }

    public var column: String
    public var comparison: Comparison
    /// The values compared with, as text (see `ValueText`).
    public var values: [String]

    public init(column: String, comparison: Comparison, values: [String]) {
        self.column = column
        self.comparison = comparison
        self.values = values
    }

    /// True, false, or nil when the row does not carry the column (or the source did not send its value).
    func evaluate(_ row: Row) -> Bool? {
        guard let value = row[column] else { return nil }
        if case .unchanged = value { return nil }
        let text = ValueText.canonical(value)
        switch comparison {
        case .eq, .in: return values.contains { ValueText.equal(text, value, $0) }
        case .ne, .notIn: return !values.contains { ValueText.equal(text, value, $0) }
        case .lt, .le, .gt, .ge:
            guard let bound = values.first, let order = ValueText.compare(value, bound) else { return false }
            switch comparison {
            case .lt: return order < 0
            case .le: return order <= 0
            case .gt: return order > 0
            default: return order >= 0
            }
        }
    }
}

/// A named rule: which operations on which streams it allows or denies, and the column and row rules it brings.
///
/// A deny policy without `columns` and `rows` denies its operations outright. A deny policy with `rows` hides
/// the matching rows only; with `columns` it applies those column rules only. Column rules of every matching
/// policy apply (the strictest per column wins). Rows are visible when some matching allow policy's row
/// conditions all hold (a policy without row conditions grants every row) and no matching deny policy's do.
public struct Policy: Sendable, Hashable {
    public enum Effect: String, Sendable, Hashable { case allow, deny }

    public var name: String
    public var effect: Effect
    /// Globs over stream names: `*` matches any run of characters (dots included), `?` one character.
    public var streams: [String]
    public var operations: Set<StreamOperation>
    public var columns: [String: ColumnAction]
    /// All must hold (an empty list: every row).
    public var rows: [RowCondition]

    public init(
        name: String, effect: Effect, streams: [String],
        operations: Set<StreamOperation> = Set(StreamOperation.allCases),
        columns: [String: ColumnAction] = [:], rows: [RowCondition] = []
    ) {
        self.name = name
        self.effect = effect
        self.streams = streams
        self.operations = operations
        self.columns = columns
        self.rows = rows
    }

    func matches(stream: String, operation: StreamOperation) -> Bool {
        operations.contains(operation) && streams.contains { Glob.matches($0, stream) }
    }

    /// True for deny policies that deny the operation as a whole (no column or row rules).
    var deniesOutright: Bool { effect == .deny && columns.isEmpty && rows.isEmpty }
}

/// Per-principal limits.
public struct AccessLimits: Sendable, Hashable {
    /// Most rows (events, history entries, current rows) one call returns.
    public var maxRowsPerCall: Int
    /// Most tool calls per minute (a sliding window).
    public var callsPerMinute: Int

    public init(maxRowsPerCall: Int = 1000, callsPerMinute: Int = 120) {
        self.maxRowsPerCall = maxRowsPerCall
        self.callsPerMinute = callsPerMinute
    }
}

/// An agent or a person allowed to connect, identified by a bearer token stored only as its SHA-256.
public struct Principal: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case agent, person }

    public var name: String
    public var kind: Kind
    /// SHA-256 of the token (32 bytes).
    public var tokenSHA256: [UInt8]
    public var roles: [String]
    /// Policy names from the roles and those given directly, in order.
    public var policies: [String]
    public var limits: AccessLimits

    public init(
        name: String, kind: Kind, tokenSHA256: [UInt8], roles: [String], policies: [String], limits: AccessLimits
    ) {
        self.name = name
        self.kind = kind
        self.tokenSHA256 = tokenSHA256
        self.roles = roles
        self.policies = policies
        self.limits = limits
    }
}

/// Which rows of a stream a principal sees: a disjunction of grants and of denials, each a conjunction.
public struct RowScope: Sendable, Hashable {
    /// Row visible when all conditions of at least one grant hold. An empty grant grants every row.
    public var grants: [[RowCondition]]
    /// Row hidden when all conditions of at least one denial hold.
    public var denials: [[RowCondition]]

    /// Every row.
    public static let all = RowScope(grants: [[]], denials: [])

    public var isUnrestricted: Bool { denials.isEmpty && grants.contains { $0.isEmpty } }

    /// Every column a condition looks at.
    public var columns: Set<String> { Set((grants + denials).flatMap { $0.map(\.column) }) }

    /// Whether the row is visible: true, false, or nil when a needed column is missing from the image.
    public func contains(_ row: Row) -> Bool? {
        if isUnrestricted { return true }
        func all(_ conditions: [RowCondition]) -> Bool? {
            var unknown = false
            for condition in conditions {
                switch condition.evaluate(row) {
                case false?: return false
                case nil: unknown = true
                case true?: continue
                }
            }
            return unknown ? nil : true
        }
        var denialUnknown = false
        for denial in denials {
            switch all(denial) {
            case true?: return false
            case nil: denialUnknown = true
            case false?: continue
            }
        }
        var grantUnknown = false
        var granted = false
        for grant in grants {
            switch all(grant) {
            case true?: granted = true
            case nil: grantUnknown = true
            case false?: continue
            }
            if granted { break }
        }
        if granted { return denialUnknown ? nil : true }
        return grantUnknown ? nil : false
    }
}

/// The outcome of evaluating the policies for one principal, stream and operation.
public struct AccessDecision: Sendable, Hashable {
    public var allowed: Bool
    /// The policies that decided: the denying ones when denied, else the allowing ones; empty for default deny.
    public var decidingPolicies: [String]
    /// Column rules that apply (strictest per column).
    public var columns: [String: ColumnAction]
    public var rows: RowScope

    public static let defaultDeny = AccessDecision(
        allowed: false, decidingPolicies: [], columns: [:], rows: RowScope(grants: [], denials: []))

    /// `allow`, `deny` or `default-deny`, as recorded in the audit trail.
    public var label: String { allowed ? "allow" : (decidingPolicies.isEmpty ? "default-deny" : "deny") }
}

/// Principals, roles and policies of one pipeline's MCP surface; evaluates access. Default deny; deny wins.
public struct Governance: Sendable {
    public var principals: [String: Principal]
    public var policies: [String: Policy]
    /// Key of the keyed-HMAC pseudonyms (secret).
    public var pseudonymKey: [UInt8]

    public init(principals: [Principal], policies: [Policy], pseudonymKey: [UInt8]) {
        self.principals = Dictionary(principals.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.policies = Dictionary(policies.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.pseudonymKey = pseudonymKey
    }

    /// The principal whose token this is, comparing SHA-256 hashes in constant time; nil for unknown tokens.
    public func authenticate(token: String) -> Principal? {
        guard !token.isEmpty else { return nil }
        let digest = Array(SHA256.hash(data: Array(token.utf8)))
        var found: Principal?
        for principal in principals.values.sorted(by: { $0.name < $1.name }) {
            var difference: UInt8 = principal.tokenSHA256.count == digest.count ? 0 : 1
            for (a, b) in zip(principal.tokenSHA256, digest) { difference |= a ^ b }
            if difference == 0 && found == nil { found = principal }
        }
        return found
    }

    /// The hex SHA-256 of a token, as `token_sha256` in the pipeline file expects it.
    public static func tokenHash(_ token: String) -> String {
        HexBytes.encode(Array(SHA256.hash(data: Array(token.utf8))))
    }

    /// Evaluates the principal's policies for one stream and operation.
    public func decide(_ principal: Principal, stream: String, operation: StreamOperation) -> AccessDecision {
        let matching = principal.policies.compactMap { policies[$0] }.filter {
            $0.matches(stream: stream, operation: operation)
        }
        let outright = matching.filter(\.deniesOutright)
        if !outright.isEmpty {
            return AccessDecision(
                allowed: false, decidingPolicies: outright.map(\.name), columns: [:],
                rows: RowScope(grants: [], denials: []))
        }
        let allows = matching.filter { $0.effect == .allow }
        guard !allows.isEmpty else { return .defaultDeny }
        var columns: [String: ColumnAction] = [:]
        for policy in matching {
            for (column, action) in policy.columns {
                columns[column] = max(columns[column] ?? action, action)
            }
        }
        let denials = matching.filter { $0.effect == .deny && !$0.rows.isEmpty }
        let scope = RowScope(grants: allows.map(\.rows), denials: denials.map(\.rows))
        let deciding = allows.map(\.name) + matching.filter { $0.effect == .deny }.map(\.name)
        return AccessDecision(allowed: true, decidingPolicies: deciding, columns: columns, rows: scope)
    }
}

/// Comparable text forms of values, shared by row conditions, filters and masks.
enum ValueText {
    /// The value as plain text: strings as they are, other values as their JSON rendering without quotes.
    static func canonical(_ value: Value) -> String {
        switch value {
        case .string(let s): return s
        case .null, .unchanged: return "null"
        case .json(let text): return JSONRendering.render(.json(text))
        default:
            let json = JSONRendering.render(value)
            if json.hasPrefix("\"") && json.hasSuffix("\"") && json.count >= 2 {
                return String(json.dropFirst().dropLast())
            }
            return json
        }
    }

    /// Equality of a value (given with its canonical text) and a literal; decimals and numbers compare by value.
    static func equal(_ text: String, _ value: Value, _ literal: String) -> Bool {
        if text == literal { return true }
        switch value {
        case .int, .decimal, .double:
            guard let a = ExactDecimal(text), let b = ExactDecimal(literal) else { return false }
            return numericOrder(a, b) == 0
        case .bool(let b):
            return literal.lowercased() == (b ? "true" : "false")
        case .uuid:
            return text == literal.lowercased()
        default:
            return false
        }
    }

    /// Orders a value against a literal: numbers numerically, everything else by text. Nil when not comparable.
    static func compare(_ value: Value, _ literal: String) -> Int? {
        switch value {
        case .null, .unchanged: return nil
        case .int, .decimal, .double:
            guard let a = ExactDecimal(canonical(value)), let b = ExactDecimal(literal) else { return nil }
            return numericOrder(a, b)
        default:
            let text = canonical(value)
            return text == literal ? 0 : (text < literal ? -1 : 1)
        }
    }

    /// Compares two finite decimals exactly (NaN and infinities: by text).
    static func numericOrder(_ a: ExactDecimal, _ b: ExactDecimal) -> Int {
        if a.special != nil || b.special != nil {
            return a.description == b.description ? 0 : (a.description < b.description ? -1 : 1)
        }
        if a.isNegative != b.isNegative { return a.isNegative ? -1 : 1 }
        let scale = max(a.scale, b.scale)
        func digits(_ d: ExactDecimal) -> String {
            let padded = d.unscaledDigits + String(repeating: "0", count: scale - d.scale)
            let trimmed = padded.drop { $0 == "0" }
            return trimmed.isEmpty ? "0" : String(trimmed)
        }
        let x = digits(a), y = digits(b)
        var order = x.count != y.count ? (x.count < y.count ? -1 : 1) : (x == y ? 0 : (x < y ? -1 : 1))
        if a.isNegative { order = -order }
        return order
    }
}
