import MCP
import SluiceCore

/// A JSON value of the MCP sdk (named apart from `SluiceCore.Value`, the column value).
public typealias MCPValue = MCP.Value

/// Parses JSON text into MCP `Value`s, so that a tool's `structuredContent` is exactly the JSON of its text content.
///
/// The text goes through `SluiceCore.JSONValue.parse`; integers that fit in `Int` become `.int`, other numbers
/// `.double`; strings stay strings (unlike the sdk's decoder, which turns strings that look like data URLs into
/// `.data`); of a key written twice in an object the last value counts.
enum JSONValueParser {
    static func parse(_ text: String) throws -> MCPValue {
        mcpValue(try JSONValue.parse(text, options: JSONParseOptions(maxDepth: 128)))
    }

    static func mcpValue(_ json: JSONValue) -> MCPValue {
        switch json {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(Int(i))
        case .double(let d): return .double(d)
        case .number(let text): return Int(text).map { .int($0) } ?? .double(Double(text) ?? .nan)
        case .string(let s): return .string(s)
        case .array(let items): return .array(items.map(mcpValue))
        case .object(let pairs):
            return .object(Dictionary(pairs.map { ($0.0, mcpValue($0.1)) }, uniquingKeysWith: { _, last in last }))
        }
    }
}
