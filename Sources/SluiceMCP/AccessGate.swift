// SluiceMCP: the MCP server agents use: tools declared once, governance (identities, policies, masking),
// paging, the audit trail in the core log, and the state store that serves current rows.

import Foundation
import SluiceCore
import SluiceLog
import Synchronization

/// A change stream with its table (nil when the schema catalog does not know it yet).
struct ChangeStream: Sendable {
    var info: StreamInfo
    var table: TableID?
}

/// A stream a principal may perform an operation on, with what the principal sees of it.
struct AuthorizedStream: Sendable {
    var info: StreamInfo
    var table: TableID?
    var view: GovernedView
}

/// Governance at call time: who is calling (tokens), how often (the call budget) and what they may do with which
/// stream (the policies of `Governance`, with the masker that applies their column rules).
final class AccessGate: Sendable {
    let governance: Governance
    let masker: ColumnMasker
    /// Times of each principal's calls in the last minute.
    private let rateWindows = Mutex<[String: [ContinuousClock.Instant]]>([:])

    init(governance: Governance) {
        self.governance = governance
        self.masker = ColumnMasker(pseudonymKey: governance.pseudonymKey)
    }

    /// The principal a bearer token belongs to.
    func authenticate(token: String) -> Principal? {
        governance.authenticate(token: token)
    }

    /// Counts a call against the principal's budget (a sliding one-minute window); throws once it is spent.
    ///
    /// - Parameter advice: appended to the error message, e.g. "; retry shortly".
    func admitCall(_ principal: Principal, advice: String = "") throws {
        let now = ContinuousClock.now
        let admitted = rateWindows.withLock { windows in
            var calls = windows[principal.name, default: []].filter { now - $0 < .seconds(60) }
            defer { windows[principal.name] = calls }
            guard calls.count < principal.limits.callsPerMinute else { return false }
            calls.append(now)
            return true
        }
        guard admitted else {
            throw ToolError(
                "rate limit: at most \(principal.limits.callsPerMinute) calls per minute\(advice)",
                decision: "rate-limited")
        }
    }

    /// Whether the principal may perform the operation on the stream.
    func allows(_ principal: Principal, _ operation: StreamOperation, stream: String) -> Bool {
        governance.decide(principal, stream: stream, operation: operation).allowed
    }

    /// The stream among `streams` if the principal may perform the operation, else a denial that does not reveal
    /// whether a stream the principal may not describe exists.
    func authorize(
        _ stream: String, _ operation: StreamOperation, principal: Principal, among streams: [ChangeStream]
    ) throws -> AuthorizedStream {
        let describe = governance.decide(principal, stream: stream, operation: .describe)
        guard describe.allowed, let entry = streams.first(where: { $0.info.name == stream }) else {
            throw ToolError(
                "no stream '\(stream)' that you may see; \(ToolDeclaration.listStreams.name) shows yours",
                decision: describe.allowed ? "error" : describe.label, policies: describe.decidingPolicies)
        }
        let decision =
            operation == .describe ? describe : governance.decide(principal, stream: stream, operation: operation)
        guard decision.allowed else {
            let by =
                decision.decidingPolicies.isEmpty
                ? "no policy allows it" : "denied by \(decision.decidingPolicies.joined(separator: ", "))"
            throw ToolError(
                "you may not \(operation.rawValue) stream '\(stream)' (\(by))",
                decision: decision.label, policies: decision.decidingPolicies)
        }
        return AuthorizedStream(
            info: entry.info, table: entry.table, view: GovernedView(decision: decision, masker: masker))
    }
}
