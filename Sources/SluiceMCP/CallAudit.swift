import MCP

extension AuditTrail {
    /// Records one tool call or resource read: what was asked, the decision, what was read and masked, and the
    /// hash of the text returned. Returns that text (the outcome's JSON or the error message).
    ///
    /// Throws when the record cannot be written; the caller then returns nothing.
    func record(
        _ tool: String, arguments: [String: MCPValue], principal: Principal, result: Result<ToolOutcome, ToolError>
    ) async throws -> String {
        let facts: AuditFacts
        let text: String
        switch result {
        case .success(let outcome):
            text = outcome.json
            facts = AuditFacts(
                principal: principal.name, tool: tool, arguments: arguments,
                decision: outcome.decision?.label ?? "allow", policies: outcome.decision?.decidingPolicies ?? [],
                reads: outcome.reads, maskedColumns: outcome.maskedColumns, rows: outcome.rows,
                resultHash: Self.sha256Hex(Array(text.utf8)))
        case .failure(let failure):
            text = failure.message
            facts = AuditFacts(
                principal: principal.name, tool: tool, arguments: arguments, decision: failure.decision,
                policies: failure.policies, resultHash: Self.sha256Hex(Array(text.utf8)), error: failure.message)
        }
        try await record(facts)
        return text
    }
}
