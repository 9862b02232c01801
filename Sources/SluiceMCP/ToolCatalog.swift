import MCP

/// The MCP tools Sluice offers, in the order tools/list shows them. All are read-only.
///
/// Each tool is declared once (see `ToolDeclaration`); the list, the dispatcher and the help derive from `all`.
public enum ToolCatalog {
    static let all: [ToolDeclaration] = [
        .listStreams, .describeStream, .readChanges, .rowHistory, .currentRows, .pipelineStatus,
    ]

    /// The tools' names, e.g. for help texts.
    public static var names: [String] { all.map(\.name) }

    /// The tools as tools/list returns them, with their input and output JSON schemas.
    public static let tools: [Tool] = all.map(\.tool)

    /// Runs the named tool; unknown names are tool errors that list the tools.
    static func run(
        tool: String, arguments: [String: MCPValue]?, principal: Principal, environment: ToolEnvironment
    ) async throws -> ToolOutcome {
        guard let declaration = all.first(where: { $0.name == tool }) else {
            throw ToolError("unknown tool '\(tool)'; tools: \(names.joined(separator: ", "))")
        }
        return try await declaration.run(arguments: arguments, principal: principal, environment: environment)
    }
}
