import MCP

/// The MCP tools Sluice offers, with their input and output JSON schemas. All are read-only.
public enum ToolCatalog {
    public static var names: [String] { tools.map(\.name) }

    static let readOnly = Tool.Annotations(
        readOnlyHint: true, destructiveHint: false, idempotentHint: true,
        openWorldHint: false)

    static let streamArgument: Value = [
        "type": "string", "description": "the stream, e.g. shop.public.orders (list_streams shows yours)",
    ]
    static let limitArgument: Value = [
        "type": "integer", "minimum": 1,
        "description": "most results (default 100; your policy may lower it)",
    ]
    static let cursorArgument: Value = ["type": "string", "description": "next_cursor from the previous page"]
    static let literal: Value = ["type": ["string", "number", "integer", "boolean", "null"]]
    static let columnValues: Value = [
        "type": "object",
        "additionalProperties": ["anyOf": [literal, ["type": "array", "items": literal]]],
    ]
    static let nullableInteger: Value = ["type": ["integer", "null"]]
    static let nullableString: Value = ["type": ["string", "null"]]

    /// A change event in the JSON rendering of `sluice log read`.
    static let event: Value = [
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

    static let streamOffsets: [String: Value] = [
        "name": ["type": "string"],
        "first_offset": ["type": "integer"],
        "last_offset": nullableInteger,
        "next_offset": ["type": "integer"],
        "count": ["type": "integer"],
    ]

    static func object(_ properties: [String: Value], required: [String] = []) -> Value {
        [
            "type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) }),
            "additionalProperties": false,
        ]
    }

    static func output(_ properties: [String: Value], required: [String]) -> Value {
        ["type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) })]
    }

    public static let tools: [Tool] = [
        Tool(
            name: "list_streams", title: "List change streams",
            description: "The change streams you may see, with offsets, counts and the operations you may perform.",
            inputSchema: object([:]), annotations: readOnly,
            outputSchema: output(
                [
                    "pipeline": ["type": "string"],
                    "streams": [
                        "type": "array",
                        "items": [
                            "type": "object",
                            "properties": .object(
                                streamOffsets.merging([
                                    "schema": ["type": "string"], "table": ["type": "string"],
                                    "operations": ["type": "array", "items": ["type": "string"]],
                                ]) { a, _ in a }),
                            "required": ["name", "first_offset", "next_offset", "count", "operations"],
                        ],
                    ],
                ], required: ["pipeline", "streams"])),
        Tool(
            name: "describe_stream", title: "Describe a stream",
            description: "A stream's schema versions (columns with your access: visible, redacted, pseudonym, partial, "
                + "denied), primary key, first/last offsets and times, and count.",
            inputSchema: object(["stream": streamArgument], required: ["stream"]), annotations: readOnly,
            outputSchema: output(
                [
                    "stream": ["type": "string"],
                    "first_offset": ["type": "integer"], "last_offset": nullableInteger,
                    "next_offset": ["type": "integer"],
                    "count": ["type": "integer"],
                    "schema": ["type": "string"], "table": ["type": "string"],
                    "primary_key": ["type": "array", "items": ["type": "string"]],
                    "schema_versions": [
                        "type": "array",
                        "items": [
                            "type": "object",
                            "properties": [
                                "version": ["type": "integer"],
                                "columns": [
                                    "type": "array",
                                    "items": [
                                        "type": "object",
                                        "properties": ["name": ["type": "string"], "access": ["type": "string"]],
                                        "required": ["name", "access"],
                                    ],
                                ],
                            ],
                            "required": ["version", "columns"],
                        ],
                    ],
                    "row_filtered": ["type": "boolean"],
                    "first_time": nullableString, "last_time": nullableString,
                ], required: ["stream", "first_offset", "next_offset", "count", "schema_versions"])),
        Tool(
            name: "read_changes", title: "Read changes",
            description: "Changes of one stream in offset order, from an offset, a time (since) or a cursor; filter by "
                + "operation (ops), key columns (key) and column values (where; a list means any of). Returns at most "
                + "limit events and next_cursor for the next page (null once the end of the stream is reached).",
            inputSchema: object(
                [
                    "stream": streamArgument,
                    "from_offset": ["type": "integer", "minimum": 0, "description": "first offset to read"],
                    "since": [
                        "type": "string", "description": "read changes committed at or after this ISO-8601 time",
                    ],
                    "cursor": cursorArgument,
                    "limit": limitArgument,
                    "ops": [
                        "type": "array", "items": ["type": "string", "enum": ["c", "u", "d", "r", "t"]],
                        "description":
                            "operations to return: c insert, u update, d delete, r snapshot read, t truncate",
                    ],
                    "key": columnValues,
                    "where": columnValues,
                ], required: ["stream"]),
            annotations: readOnly,
            outputSchema: output(
                [
                    "stream": ["type": "string"],
                    "events": ["type": "array", "items": event],
                    "next_offset": ["type": "integer"],
                    "next_cursor": nullableString,
                    "end_of_stream": ["type": "boolean"],
                    "scanned": [
                        "type": "object", "properties": ["from": ["type": "integer"], "to": ["type": "integer"]],
                    ],
                    "limit": ["type": "integer"],
                ], required: ["stream", "events", "next_offset", "next_cursor", "end_of_stream"])),
        Tool(
            name: "get_row_history", title: "Row history",
            description: "Every change to one row, by its primary key (all key columns), oldest first, from the state "
                + "sink's key index (no log scan).",
            inputSchema: object(
                [
                    "stream": streamArgument,
                    "key": columnValues,
                    "limit": limitArgument,
                    "cursor": cursorArgument,
                ], required: ["stream", "key"]),
            annotations: readOnly,
            outputSchema: output(
                [
                    "stream": ["type": "string"],
                    "events": ["type": "array", "items": event],
                    "next_cursor": nullableString,
                    "indexed_through": ["type": "integer"],
                ], required: ["stream", "events", "next_cursor"])),
        Tool(
            name: "get_current_rows", title: "Current rows",
            description:
                "Current rows of a table from the state sink: one row by key, or rows matching where, in key order.",
            inputSchema: object(
                [
                    "stream": streamArgument,
                    "key": columnValues,
                    "where": columnValues,
                    "limit": limitArgument,
                    "cursor": cursorArgument,
                ], required: ["stream"]),
            annotations: readOnly,
            outputSchema: output(
                [
                    "stream": ["type": "string"],
                    "rows": [
                        "type": "array",
                        "items": [
                            "type": "object",
                            "properties": [
                                "key": ["type": "object"], "row": ["type": "object"], "offset": ["type": "integer"],
                                "schema_version": ["type": "integer"], "ts_ms": ["type": "integer"],
                            ],
                            "required": ["key", "row", "offset"],
                        ],
                    ],
                    "next_cursor": nullableString,
                    "applied_through": ["type": "integer"],
                ], required: ["stream", "rows", "next_cursor"])),
        Tool(
            name: "pipeline_status", title: "Pipeline status",
            description:
                "Source positions, per-stream offsets, each sink's committed offset and lag, and runtime errors.",
            inputSchema: object([:]), annotations: readOnly,
            outputSchema: output(
                [
                    "pipeline": ["type": "string"],
                    "runtime": [
                        "type": "object", "properties": ["state": ["type": "string"], "error": nullableString],
                    ],
                    "sources": ["type": "array", "items": ["type": "object"]],
                    "streams": [
                        "type": "array",
                        "items": [
                            "type": "object",
                            "properties": .object(
                                streamOffsets.merging(["sinks": ["type": "array", "items": ["type": "object"]]]) {
                                    a, _ in a
                                }),
                            "required": ["name", "next_offset", "sinks"],
                        ],
                    ],
                ], required: ["pipeline", "runtime", "sources", "streams"])),
    ]
}
