import Foundation
import SluiceConnectorKit
import SluiceCore
import SluiceRuntime
import Testing

@testable import SluiceMCP

/// Row images of the test table `shop.public.customers (id, email, region, card)`.
func customerRow(
    id: Int64, email: String = "ann@example.com", region: String = "EU", card: String = "4111111111111234"
) -> Row {
    Row(
        columns: ["id", "email", "region", "card"], values: [.int(id), .string(email), .string(region), .string(card)])
}

func customerEvent(_ op: ChangeOperation, before: Row?, after: Row?) -> ChangeEvent {
    ChangeEvent(
        op: op, connector: "test", table: TableID(database: "db", schema: "public", name: "customers"),
        schemaVersion: 1, before: before, after: after,
        position: SourcePosition(sortKey: [1], text: "1"), commitTimeMicros: 1_700_000_000_000_000)
}

func principal(_ name: String = "bot", policies: [String], limits: AccessLimits = AccessLimits()) -> Principal {
    Principal(
        name: name, kind: .agent, tokenSHA256: Array(repeating: 0, count: 32), roles: [], policies: policies,
        limits: limits)
}

@Suite struct PolicyEvaluationTests {
    let stream = "shop.public.customers"

    @Test func globsMatchStreamNames() {
        #expect(Glob.matches("shop.public.*", "shop.public.customers"))
        #expect(Glob.matches("*.customers", "shop.public.customers"))
        #expect(Glob.matches("shop.?ublic.customers", "shop.public.customers"))
        #expect(!Glob.matches("shop.public.*", "shop.private.customers"))
        #expect(!Glob.matches("shop.public", "shop.public.customers"))
        #expect(Glob.matches("*", "anything.at.all"))
    }

    @Test func defaultDenyWithoutMatchingPolicy() {
        let governance = Governance(
            principals: [],
            policies: [
                Policy(name: "orders", effect: .allow, streams: ["shop.public.orders"])
            ], pseudonymKey: [])
        let decision = governance.decide(principal(policies: ["orders"]), stream: stream, operation: .read)
        #expect(!decision.allowed)
        #expect(decision.label == "default-deny")
        #expect(decision.decidingPolicies.isEmpty)
    }

    @Test func denyWinsOverAllow() {
        let governance = Governance(
            principals: [],
            policies: [
                Policy(name: "all", effect: .allow, streams: ["shop.*"]),
                Policy(name: "no-customers", effect: .deny, streams: ["*.customers"], operations: [.read, .history]),
            ], pseudonymKey: [])
        let p = principal(policies: ["all", "no-customers"])
        let read = governance.decide(p, stream: stream, operation: .read)
        #expect(!read.allowed)
        #expect(read.label == "deny")
        #expect(read.decidingPolicies == ["no-customers"])
        #expect(governance.decide(p, stream: stream, operation: .describe).allowed)
        #expect(governance.decide(p, stream: "shop.public.orders", operation: .read).allowed)
    }

    @Test func operationsAreSeparate() {
        let governance = Governance(
            principals: [],
            policies: [
                Policy(name: "describe-only", effect: .allow, streams: ["shop.*"], operations: [.describe])
            ], pseudonymKey: [])
        let p = principal(policies: ["describe-only"])
        #expect(governance.decide(p, stream: stream, operation: .describe).allowed)
        for operation in [StreamOperation.read, .history, .state] {
            #expect(!governance.decide(p, stream: stream, operation: operation).allowed)
        }
    }

    @Test func strictestColumnRuleWins() {
        let governance = Governance(
            principals: [],
            policies: [
                Policy(
                    name: "a", effect: .allow, streams: ["shop.*"],
                    columns: ["email": .partial(keepLast: 4), "card": .pseudonym]),
                Policy(
                    name: "b", effect: .allow, streams: ["*.customers"],
                    columns: ["email": .redact, "card": .partial(keepLast: 4)]),
                Policy(name: "c", effect: .deny, streams: ["*.customers"], columns: ["region": .deny]),
            ], pseudonymKey: [])
        let decision = governance.decide(principal(policies: ["a", "b", "c"]), stream: stream, operation: .read)
        #expect(decision.allowed)
        #expect(decision.columns["email"] == .redact)
        #expect(decision.columns["card"] == .pseudonym)
        #expect(decision.columns["region"] == .deny)
        #expect(ColumnAction.partial(keepLast: 2) > ColumnAction.partial(keepLast: 4))
    }

    @Test func tokensAreCheckedAgainstTheirHashes() {
        let hash = HexBytes.decode(Governance.tokenHash("s3cret"))!
        let governance = Governance(
            principals: [
                Principal(name: "bot", kind: .agent, tokenSHA256: hash, roles: [], policies: [], limits: AccessLimits())
            ], policies: [], pseudonymKey: [])
        #expect(governance.authenticate(token: "s3cret")?.name == "bot")
        #expect(governance.authenticate(token: "s3cret ") == nil)
        #expect(governance.authenticate(token: "") == nil)
        // The documented way: echo -n s3cret | sha256sum
        #expect(Governance.tokenHash("s3cret") == "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0")
    }
}

@Suite struct RowScopeTests {
    let euOnly = AccessDecision(
        allowed: true, decidingPolicies: ["eu"], columns: [:],
        rows: RowScope(
            grants: [[RowCondition(column: "region", comparison: .eq, values: ["EU"])]], denials: []))

    var view: GovernedView { GovernedView(decision: euOnly, masker: ColumnMasker(pseudonymKey: Array("k".utf8))) }

    /// An update leaving the scope (EU → US) becomes a delete of its EU image; one entering it, an insert.
    @Test(arguments: [("EU", "US", ChangeOperation.delete), ("US", "EU", ChangeOperation.insert)])
    func updateCrossingScopeBecomesDeleteOrInsert(from: String, to: String, becomes op: ChangeOperation) throws {
        let event = customerEvent(
            .update, before: customerRow(id: 1, region: from), after: customerRow(id: 1, region: to))
        let seen = try #require(view.scope(event))
        #expect(seen.op == op)
        let (inScope, outOfScope) = op == .delete ? (seen.before, seen.after) : (seen.after, seen.before)
        #expect(outOfScope == nil)
        #expect(inScope?["region"] == .string("EU"))
    }

    @Test func outOfScopeChangesAreDropped() {
        #expect(view.scope(customerEvent(.insert, before: nil, after: customerRow(id: 1, region: "US"))) == nil)
        #expect(view.scope(customerEvent(.delete, before: customerRow(id: 1, region: "US"), after: nil)) == nil)
        #expect(
            view.scope(
                customerEvent(
                    .update, before: customerRow(id: 1, region: "US"), after: customerRow(id: 1, region: "US"))) == nil)
        #expect(
            view.scope(customerEvent(.update, before: customerRow(id: 1), after: customerRow(id: 1)))?.op == .update)
    }

    @Test func missingFilterColumnFailsClosed() {
        let keyOnly = Row(columns: ["id"], values: [.int(1)])
        #expect(view.scope(customerEvent(.delete, before: keyOnly, after: nil)) == nil)
        // The after image is in scope: still an update, without the before image it cannot judge.
        let update = view.scope(customerEvent(.update, before: keyOnly, after: customerRow(id: 1)))
        #expect(update?.op == .update)
        #expect(update?.before == nil)
    }

    @Test func denialsHideRowsEvenWhenGranted() {
        let scope = RowScope(
            grants: [[]], denials: [[RowCondition(column: "region", comparison: .in, values: ["US", "CA"])]])
        #expect(scope.contains(customerRow(id: 1, region: "EU")) == true)
        #expect(scope.contains(customerRow(id: 1, region: "CA")) == false)
        #expect(scope.contains(Row(columns: ["id"], values: [.int(1)])) == nil)
    }

    @Test func numericConditionsCompareByValue() {
        let row = Row(columns: ["amount", "n"], values: [.decimal(ExactDecimal("12.50")!), .int(7)])
        #expect(RowCondition(column: "amount", comparison: .eq, values: ["12.5"]).evaluate(row) == true)
        #expect(RowCondition(column: "amount", comparison: .gt, values: ["9.99"]).evaluate(row) == true)
        #expect(RowCondition(column: "amount", comparison: .lt, values: ["-1"]).evaluate(row) == false)
        #expect(RowCondition(column: "n", comparison: .le, values: ["7"]).evaluate(row) == true)
        #expect(RowCondition(column: "n", comparison: .ge, values: ["10"]).evaluate(row) == false)
        #expect(RowCondition(column: "missing", comparison: .eq, values: ["1"]).evaluate(row) == nil)
    }
}

@Suite struct MaskingTests {
    let masker = ColumnMasker(pseudonymKey: Array("a long and secret pseudonym key".utf8))

    /// A view of every row that pseudonymizes `email`, keeps the last 4 characters of `card` and denies `region`.
    var maskingView: GovernedView {
        let decision = AccessDecision(
            allowed: true, decidingPolicies: ["p"],
            columns: ["email": .pseudonym, "card": .partial(keepLast: 4), "region": .deny], rows: .all)
        return GovernedView(decision: decision, masker: masker)
    }

    @Test func redactPartialAndDeny() {
        #expect(masker.mask(.string("ann@example.com"), .redact) == .string("[redacted]"))
        #expect(masker.mask(.string("4111111111111234"), .partial(keepLast: 4)) == .string("************1234"))
        #expect(masker.mask(.string("abc"), .partial(keepLast: 4)) == .string("***"))
        #expect(masker.mask(.int(123456), .partial(keepLast: 2)) == .string("****56"))
        #expect(masker.mask(.string("x"), .deny) == nil)
        #expect(masker.mask(.null, .redact) == .null)
        #expect(masker.mask(.unchanged, .pseudonym) == .unchanged)
    }

    @Test func pseudonymsAreKeyedAndStableSoJoinsWork() {
        let a = masker.pseudonym(.string("ann@example.com"))
        #expect(a == masker.pseudonym(.string("ann@example.com")))
        #expect(a != masker.pseudonym(.string("bob@example.com")))
        #expect(
            a
                != ColumnMasker(pseudonymKey: Array("another key entirely, also long".utf8)).pseudonym(
                    .string("ann@example.com")))
        #expect(a.hasPrefix("pn_") && a.count == 27)
        // The same value in two columns or tables gets the same pseudonym; an int and a string do not.
        #expect(masker.pseudonym(.int(42)) != masker.pseudonym(.string("42")))
    }

    @Test func masksApplyToEveryImageAndDenyRemovesTheColumn() throws {
        let view = maskingView
        let event = customerEvent(
            .update, before: customerRow(id: 1, email: "ann@example.com"),
            after: customerRow(id: 1, email: "ann@new.example.com"))
        let seen = try #require(view.scope(event))
        let text = JSONRendering.render(seen, stream: "s", offset: 0, appendedAtMicros: 0)
        #expect(!text.contains("example.com"))
        #expect(!text.contains("4111"))
        #expect(!text.contains("region"))
        #expect(text.contains("1234"))
        #expect(seen.before?["email"] == .string(masker.pseudonym(.string("ann@example.com"))))
    }

    @Test func filtersOnMaskedColumnsAreRefusedExceptPseudonyms() throws {
        let view = maskingView
        #expect(throws: ToolError.self) {
            try ValueFilter.make(column: "card", literals: ["4111111111111234"], view: view)
        }
        #expect(throws: ToolError.self) { try ValueFilter.make(column: "region", literals: ["EU"], view: view) }
        // The real value of a pseudonymized column does not match; its pseudonym does.
        let real = try ValueFilter.make(column: "email", literals: ["ann@example.com"], view: view)
        #expect(!real.matches(customerRow(id: 1), masker: masker))
        let pseudo = try ValueFilter.make(
            column: "email", literals: [masker.pseudonym(.string("ann@example.com"))], view: view)
        #expect(pseudo.matches(customerRow(id: 1), masker: masker))
        let plain = try ValueFilter.make(column: "id", literals: ["1"], view: view)
        #expect(plain.matches(customerRow(id: 1), masker: masker))
    }
}

@Suite struct MCPConfigurationTests {
    func load(_ mcp: String, environment: [String: String] = [:]) throws -> MCPSettings {
        let yaml = """
            name: shop
            sources:
              gen: {type: gen}
            sinks:
              state: {type: state, path: /tmp/x.db}
            mcp:
            \(mcp.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            """
        let registry = ConnectorRegistry(sources: [NoSource.self], sinks: [StateSink.self])
        let config = try PipelineLoader(registry: registry, sections: ["mcp": MCPSettings.fields])
            .load(text: yaml, file: "test.yaml", environment: environment)
        return try MCPSettings(section: config.sections["mcp"], pipeline: config)
    }

    @Test func parsesPrincipalsRolesPoliciesAndRules() throws {
        let settings = try load(
            """
            pseudonym_key: ${KEY}
            limits: {max_rows_per_call: 50}
            principals:
              bot: {token_sha256: \(Governance.tokenHash("t")), roles: [support], limits: {calls_per_minute: 5}}
              ann: {kind: person, token_sha256: \(Governance.tokenHash("u")), policies: [everything]}
            roles:
              support: {policies: [orders, pii]}
            policies:
              everything: {streams: ["*"]}
              orders: {streams: ["shop.public.orders"], operations: [describe, read]}
              pii:
                effect: deny
                streams: ["shop.public.*"]
                columns:
                  email: {action: pseudonym}
                  card: {action: partial, keep_last: 2}
                rows:
                  - {column: region, op: in, values: [US, CA]}
            """, environment: ["KEY": "0123456789abcdef0123"])
        let bot = try #require(settings.governance.authenticate(token: "t"))
        #expect(bot.policies == ["orders", "pii"])
        #expect(bot.limits == AccessLimits(maxRowsPerCall: 50, callsPerMinute: 5))
        #expect(settings.governance.authenticate(token: "u")?.kind == .person)
        let pii = try #require(settings.governance.policies["pii"])
        #expect(pii.columns == ["email": .pseudonym, "card": .partial(keepLast: 2)])
        #expect(pii.rows == [RowCondition(column: "region", comparison: .in, values: ["US", "CA"])])
        #expect(settings.statePath == "/tmp/x.db")
        let decision = settings.governance.decide(bot, stream: "shop.public.orders", operation: .read)
        #expect(decision.allowed)
        #expect(!settings.governance.decide(bot, stream: "shop.public.orders", operation: .state).allowed)
    }

    @Test func undefinedReferencesAndBadHashesAreConfigErrors() throws {
        #expect(throws: SluiceError.self) {
            try load(
                """
                principals:
                  bot: {token_sha256: \(Governance.tokenHash("t")), roles: [nope]}
                """)
        }
        #expect(throws: SluiceError.self) {
            try load(
                """
                principals:
                  bot: {token_sha256: plaintext-token}
                """)
        }
        #expect(throws: SluiceError.self) {
            try load(
                """
                policies:
                  p: {streams: ["*"], columns: {email: {action: pseudonym}}}
                """)
        }
        #expect(throws: ConfigErrors.self) {
            try load(
                """
                policies:
                  p: {streams: ["*"], operations: [write]}
                """)
        }
    }
}

/// A source type for config tests; never runs.
struct NoSource: SourceConnector {
    static let spec = ConnectorSpec(name: "gen", role: .source, summary: "test", fields: [])
    init(context: SourceContext) throws {}
    func run() async throws {}
}
