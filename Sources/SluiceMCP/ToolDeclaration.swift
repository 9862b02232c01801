import MCP
import SluiceCore
import SluiceLog
import SluiceRuntime

/// One argument of a tool: its name, JSON schema and whether a call must give it.
struct ToolArgument: Sendable {
    var name: String
    var schema: MCPValue
    var required = false
}

/// A tool in one place: name, description, argument and output schemas, and the handler that answers it.
///
/// `ToolCatalog.all` lists every declaration; tools/list, the dispatcher (which the sdk's `tools/call` handler and
/// `ToolCallFastPath` share) and the command-line help derive from it. Each tool's file declares one as a static
/// member, e.g. `ToolDeclaration.readChanges`; other code names a tool as `ToolDeclaration.readChanges.name`.
struct ToolDeclaration: Sendable {
    var name: String
    var title: String
    var description: String
    /// In the order the "unknown argument" error lists them.
    var arguments: [ToolArgument]
    var outputSchema: MCPValue
    var handler: @Sendable (ToolCall) async throws -> ToolOutcome

    /// The tool as tools/list shows it. Every Sluice tool is read-only.
    var tool: Tool {
        let properties = Dictionary(arguments.map { ($0.name, $0.schema) }, uniquingKeysWith: { a, _ in a })
        let inputSchema: MCPValue = [
            "type": "object", "properties": .object(properties),
            "required": .array(arguments.filter(\.required).map { .string($0.name) }),
            "additionalProperties": false,
        ]
        return Tool(
            name: name, title: title, description: description, inputSchema: inputSchema,
            annotations: ToolSchema.readOnly, outputSchema: outputSchema)
    }

    /// Checks the arguments against the declared ones, then runs the handler.
    func run(
        arguments values: [String: MCPValue]?, principal: Principal, environment: ToolEnvironment
    ) async throws -> ToolOutcome {
        let checked = try ToolArguments(tool: name, values: values, allowed: arguments.map(\.name))
        return try await handler(ToolCall(arguments: checked, principal: principal, environment: environment))
    }
}

/// The answer of a tool: its JSON text and what the audit trail records about it.
struct ToolOutcome {
    var json: String
    var decision: AccessDecision?
    var reads: [AuditRead] = []
    var maskedColumns: [String] = []
    var rows: Int = 0
}

/// One call of a tool as its handler sees it: the checked arguments, the caller and what the tools share.
struct ToolCall {
    let arguments: ToolArguments
    let principal: Principal
    let environment: ToolEnvironment

    /// The stream named by the `stream` argument, if the caller may perform the operation on it.
    func authorizedStream(_ operation: StreamOperation) async throws -> AuthorizedStream {
        try await environment.authorize(try arguments.requiredString("stream"), operation, principal: principal)
    }

    /// The page size: the `limit` argument (default `Paging.defaultPageSize`) within the principal's limit.
    func pageLimit() throws -> Int {
        Paging.limit(try arguments.int("limit", min: 1), principal: principal)
    }

    /// The offset of the `cursor` argument, if given; refuses cursors of key scans.
    func offsetCursor(stream: String) throws -> Int64? {
        guard let text = try arguments.string("cursor") else { return nil }
        let cursor = try environment.paging.open(text, stream: stream)
        guard cursor.key == nil else { throw ToolError("\(arguments.tool): that cursor belongs to another tool") }
        return cursor.offset
    }

    /// The last key of the `cursor` argument, if given; refuses cursors of offset scans.
    func keyCursor(stream: String) throws -> [UInt8]? {
        guard let text = try arguments.string("cursor") else { return nil }
        guard let key = try environment.paging.open(text, stream: stream).key else {
            throw ToolError("\(arguments.tool): that cursor belongs to another tool")
        }
        return key
    }

    /// The encoded key from a `key` argument naming every key column, refusing masked key columns.
    func lookupKey(table: TableID?, view: GovernedView) throws -> [UInt8]? {
        let tool = arguments.tool
        guard let given = try arguments.columnValues("key") else { return nil }
        guard let table, let schema = environment.catalog.latest(table), !schema.primaryKey.isEmpty else {
            throw ToolError("\(tool): the stream's table has no primary key, so rows cannot be looked up by key")
        }
        let byColumn = Dictionary(given.map { ($0.column, $0.literals) }, uniquingKeysWith: { a, _ in a })
        guard Set(byColumn.keys) == Set(schema.primaryKey) else {
            throw ToolError(
                "\(tool): 'key' must name exactly the key columns: \(schema.primaryKey.joined(separator: ", "))")
        }
        var values: [SluiceCore.Value] = []
        for column in schema.primaryKey {
            if let action = view.columns[column] {
                throw ToolError(
                    "\(tool): key column '\(column)' is \(action) for you, so rows cannot be looked up by its value")
            }
            guard let literals = byColumn[column], literals.count == 1,
                let spec = schema.columns.first(where: { $0.name == column })
            else { throw ToolError("\(tool): give one value for key column '\(column)'") }
            values.append(try KeyLiteral.value(literals[0], column: spec))
        }
        return EventCoding.encodeKey(values)
    }
}

/// Schema fragments several tools' declarations share.
enum ToolSchema {
    static let readOnly = Tool.Annotations(
        readOnlyHint: true, destructiveHint: false, idempotentHint: true,
        openWorldHint: false)

    static let stream = ToolArgument(
        name: "stream",
        schema: [
            "type": "string",
            "description": .string(
                "the stream, e.g. shop.public.orders (\(ToolDeclaration.listStreams.name) shows yours)"),
        ], required: true)
    static let limit = ToolArgument(
        name: "limit",
        schema: [
            "type": "integer", "minimum": 1,
            "description": .string("most results (default \(Paging.defaultPageSize); your policy may lower it)"),
        ])
    static let cursor = ToolArgument(
        name: "cursor", schema: ["type": "string", "description": "next_cursor from the previous page"])
    static let literal: MCPValue = ["type": ["string", "number", "integer", "boolean", "null"]]
    /// An object of column names to a literal or a list of literals (`key`, `where`).
    static let columnValues: MCPValue = [
        "type": "object",
        "additionalProperties": ["anyOf": [literal, ["type": "array", "items": literal]]],
    ]
    static let nullableInteger: MCPValue = ["type": ["integer", "null"]]
    static let nullableString: MCPValue = ["type": ["string", "null"]]

    /// A change event in the JSON rendering of `sluice log read`.
    static let event: MCPValue = [
        "type": "object",
        "properties": [
            "stream": ["type": "string"],
            "offset": ["type": "integer"],
            "op": ["type": "string", "enum": ["c", "u", "d", "r", "t", "m", "b", "e"]],
            "before": ["type": ["object", "null"]],
            "after": ["type": ["object", "null"]],
            "unchanged": ["type": "array", "items": ["type": "string"]],
            "source": ["type": "object"],
            "ts_ms": ["type": "integer"],
        ],
        "required": ["stream", "offset", "op", "before", "after", "source", "ts_ms"],
    ]

    /// The offsets and count `ToolEnvironment.writeOffsets` writes, with the stream's name.
    static let streamOffsets: [String: MCPValue] = [
        "name": ["type": "string"],
        "first_offset": ["type": "integer"],
        "last_offset": nullableInteger,
        "next_offset": ["type": "integer"],
        "count": ["type": "integer"],
    ]

    /// A list of streams: objects with a stream's offsets (`streamOffsets`) and `more` properties.
    static func streams(more: [String: MCPValue], required: [String]) -> MCPValue {
        [
            "type": "array",
            "items": [
                "type": "object",
                "properties": .object(streamOffsets.merging(more) { offsets, _ in offsets }),
                "required": .array(required.map { .string($0) }),
            ],
        ]
    }

    /// An output schema: an object with these properties.
    static func output(_ properties: [String: MCPValue], required: [String]) -> MCPValue {
        ["type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) })]
    }
}
