import Crypto
import Foundation
import SluiceCore

/// Applies column rules to values and row images: the only way row data reaches a principal.
public struct ColumnMasker: Sendable {
    /// The text a redacted value becomes.
    public static let redacted = "[redacted]"
    let key: [UInt8]

    public init(pseudonymKey: [UInt8]) {
        key = pseudonymKey.isEmpty ? Array("sluice-unkeyed".utf8) : pseudonymKey
    }

    /// The pseudonym of a value: `pn_` and 24 hex digits of HMAC-SHA256(key, the value's JSON rendering).
    ///
    /// It depends only on the value (not the column or table), so equal values in different tables get equal
    /// pseudonyms and joins still work.
    public func pseudonym(_ value: Value) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array(JSONRendering.render(value).utf8), using: SymmetricKey(data: key))
        return "pn_" + HexBytes.encode(Array(Array(mac).prefix(12)))
    }

    /// The value as the rule shows it (nil for `.deny`: the column is removed). Null and unchanged stay as they are.
    public func mask(_ value: Value, _ action: ColumnAction) -> Value? {
        switch value {
        case .null, .unchanged: return action == .deny ? nil : value
        default: break
        }
        switch action {
        case .deny: return nil
        case .redact: return .string(Self.redacted)
        case .pseudonym: return .string(pseudonym(value))
        case .partial(let keep):
            let characters = Array(ValueText.canonical(value))
            let shown = characters.count > keep ? keep : 0
            return .string(String(repeating: "*", count: characters.count - shown) + String(characters.suffix(shown)))
        }
    }

    /// The row with rules applied: denied columns removed, masked ones replaced.
    public func mask(_ row: Row, _ columns: [String: ColumnAction]) -> Row {
        guard !columns.isEmpty else { return row }
        var names: [String] = []
        var values: [Value] = []
        names.reserveCapacity(row.columns.count)
        values.reserveCapacity(row.columns.count)
        for (name, value) in zip(row.columns, row.values) {
            if let action = columns[name] {
                if let masked = mask(value, action) {
                    names.append(name)
                    values.append(masked)
                }
            } else {
                names.append(name)
                values.append(value)
            }
        }
        return Row(columns: names, values: values)
    }
}

/// What one principal sees of a stream: the row scope and column rules of one access decision.
struct GovernedView: Sendable {
    var decision: AccessDecision
    var masker: ColumnMasker

    var columns: [String: ColumnAction] { decision.columns }

    /// The event as the principal may see it, or nil when it is out of scope.
    ///
    /// Row filters apply to both images: an update that moves a row out of scope becomes a delete (before image
    /// only), one that moves it into scope an insert (after image only). When an image lacks a column a filter
    /// needs, the row counts as out of scope (fail closed), except that an update whose after image is in scope
    /// stays an update without its before image.
    func scope(_ event: ChangeEvent) -> ChangeEvent? {
        var event = event
        let rows = decision.rows
        if !rows.isUnrestricted {
            switch event.op {
            case .insert, .read:
                guard let after = event.after, rows.contains(after) == true else { return nil }
            case .delete:
                guard let before = event.before, rows.contains(before) == true else { return nil }
            case .update:
                let wasIn = event.before.flatMap { rows.contains($0) }
                let isIn = event.after.flatMap { rows.contains($0) } ?? false
                switch (wasIn, isIn) {
                case (true?, true): break
                case (true?, false):
                    event.op = .delete
                    event.after = nil
                case (false?, true):
                    event.op = .insert
                    event.before = nil
                case (nil, true):
                    event.before = nil
                default:
                    return nil
                }
            case .truncate, .message, .begin, .commit:
                break
            }
        }
        if !columns.isEmpty {
            event.before = event.before.map { masker.mask($0, columns) }
            event.after = event.after.map { masker.mask($0, columns) }
        }
        return event
    }

    /// Names of columns a rule masks or denies, among `names`, sorted.
    func maskedColumns(among names: [String]) -> [String] {
        names.filter { columns[$0] != nil }.sorted()
    }
}

/// A filter argument on a column value (`where` / `key` of the tools), checked against the column rules.
struct ValueFilter: Sendable {
    var column: String
    /// Accepted literal texts (any of them matches).
    var literals: [String]
    /// True when the column is pseudonymized for the caller: literals are pseudonyms, compared with the value's.
    var comparesPseudonyms: Bool

    /// Builds a filter, refusing columns whose real value the caller may not see.
    static func make(column: String, literals: [String], view: GovernedView) throws -> ValueFilter {
        switch view.columns[column] {
        case nil:
            return ValueFilter(column: column, literals: literals, comparesPseudonyms: false)
        case .pseudonym?:
            return ValueFilter(column: column, literals: literals, comparesPseudonyms: true)
        case let action?:
            throw ToolError("column '\(column)' is \(action) for you: filtering on it is not allowed")
        }
    }

    /// Whether an image matches (nil image or missing column: no match).
    func matches(_ row: Row?, masker: ColumnMasker) -> Bool {
        guard let row, let value = row[column] else { return false }
        if case .unchanged = value { return false }
        if comparesPseudonyms {
            if value.isNull { return literals.contains("null") }
            let pseudonym = masker.pseudonym(value)
            return literals.contains(pseudonym)
        }
        let text = ValueText.canonical(value)
        return literals.contains { ValueText.equal(text, value, $0) }
    }
}
