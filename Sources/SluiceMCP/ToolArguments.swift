import Foundation
import MCP
import SluiceCore

/// A tool call that cannot be answered: bad arguments, access denied, a missing stream. The message goes back
/// to the caller as a tool error; it never contains row values.
public struct ToolError: Error, CustomStringConvertible, Sendable {
    public var message: String
    /// The audit decision: `error` for bad calls, `deny` / `default-deny` when policies refused.
    public var decision: String
    public var policies: [String]

    public init(_ message: String, decision: String = "error", policies: [String] = []) {
        self.message = message
        self.decision = decision
        self.policies = policies
    }

    public var description: String { message }
}

/// Typed access to a tool's arguments that names the argument and the expected type when something is wrong.
struct ToolArguments {
    let tool: String
    let values: [String: MCPValue]

    init(tool: String, values: [String: MCPValue]?, allowed: [String]) throws {
        self.tool = tool
        self.values = values ?? [:]
        for key in self.values.keys.sorted() where !allowed.contains(key) {
            let known =
                allowed.isEmpty ? "it takes no arguments" : "known arguments: \(allowed.joined(separator: ", "))"
            throw ToolError("\(tool): unknown argument '\(key)'; \(known)")
        }
    }

    func has(_ name: String) -> Bool {
        if let value = values[name], value != .null { return true }
        return false
    }

    func string(_ name: String) throws -> String? {
        guard let value = values[name], value != .null else { return nil }
        guard case .string(let s) = value else { throw ToolError("\(tool): '\(name)' must be a string") }
        return s
    }

    func requiredString(_ name: String) throws -> String {
        guard let s = try string(name), !s.isEmpty else { throw ToolError("\(tool): '\(name)' is required (a string)") }
        return s
    }

    func int(_ name: String, min: Int64 = Int64.min) throws -> Int64? {
        guard let value = values[name], value != .null else { return nil }
        let result: Int64
        switch value {
        case .int(let i): result = Int64(i)
        case .double(let d) where d == d.rounded() && abs(d) < 9e15: result = Int64(d)
        case .string(let s):
            guard let i = Int64(s) else { throw ToolError("\(tool): '\(name)' must be an integer") }
            result = i
        default: throw ToolError("\(tool): '\(name)' must be an integer")
        }
        guard result >= min else { throw ToolError("\(tool): '\(name)' must be \(min) or more") }
        return result
    }

    func stringList(_ name: String) throws -> [String]? {
        guard let value = values[name], value != .null else { return nil }
        switch value {
        case .string(let s): return [s]
        case .array(let items):
            return try items.map {
                guard case .string(let s) = $0 else { throw ToolError("\(tool): '\(name)' must be a list of strings") }
                return s
            }
        default: throw ToolError("\(tool): '\(name)' must be a list of strings")
        }
    }

    /// An object of column → literal (or list of literals), as texts.
    func columnValues(_ name: String) throws -> [(column: String, literals: [String])]? {
        guard let value = values[name], value != .null else { return nil }
        guard case .object(let fields) = value else {
            throw ToolError("\(tool): '\(name)' must be an object of column names to values, e.g. {\"id\": 42}")
        }
        guard !fields.isEmpty else { throw ToolError("\(tool): '\(name)' names no column") }
        return try fields.keys.sorted().map { column in
            let literal = fields[column]!
            if case .array(let items) = literal {
                guard !items.isEmpty else { throw ToolError("\(tool): '\(name).\(column)' is an empty list") }
                return (column, try items.map { try Self.literalText($0, "\(tool): '\(name).\(column)'") })
            }
            return (column, [try Self.literalText(literal, "\(tool): '\(name).\(column)'")])
        }
    }

    static func literalText(_ value: MCPValue, _ what: String) throws -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d == d.rounded() && abs(d) < 9e15 ? String(Int64(d)) : String(d)
        case .string(let s): return s
        case .data, .array, .object: throw ToolError("\(what) must be a string, number, boolean or null")
        }
    }
}

/// Converts key literals to typed values of the key columns, so they encode like the log's record keys.
enum KeyLiteral {
    static func value(_ literal: String, column: ColumnSchema) throws -> SluiceCore.Value {
        func bad() -> ToolError {
            ToolError("key column '\(column.name)' (\(column.sourceType)) cannot hold the value given")
        }
        switch column.kind {
        case .int:
            guard let i = Int64(literal) else { throw bad() }
            return .int(i)
        case .string, .json: return column.kind == .string ? .string(literal) : .json(literal)
        case .bool:
            switch literal.lowercased() {
            case "true", "t", "1": return .bool(true)
            case "false", "f", "0": return .bool(false)
            default: throw bad()
            }
        case .uuid:
            guard let uuid = UUID(uuidString: literal) else { throw bad() }
            return .uuid(uuid)
        case .decimal:
            guard let d = ExactDecimal(literal) else { throw bad() }
            return .decimal(d)
        case .bytes:
            guard let data = Data(base64Encoded: literal) else { throw bad() }
            return .bytes(Array(data))
        case .date:
            let parts = literal.split(separator: "-")
            guard parts.count == 3, let y = Int64(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else {
                throw bad()
            }
            return .date(Int32(TemporalText.days(year: y, month: m, day: d)))
        default:
            throw ToolError(
                "looking rows up by a key column of kind \(column.kind.rawValue) ('\(column.name)') is not supported; "
                    + "use \(ToolDeclaration.readChanges.name) with a where filter")
        }
    }
}
