import Foundation
import SluiceCore
import Yams

/// A YAML document as a tree whose every node knows its line, so that errors can name it.
public struct ConfigNode: Sendable {
    public indirect enum Content: Sendable {
        /// A scalar and whether it was quoted (quoted scalars are always strings).
        case scalar(String, quoted: Bool)
        case mapping([(key: String, keyLine: Int, value: ConfigNode)])
        case sequence([ConfigNode])
    }

    public var content: Content
    /// 1-based line in the pipeline file.
    public var line: Int

    public init(content: Content, line: Int) {
        self.content = content
        self.line = line
    }

    /// The value under a mapping key.
    public subscript(key: String) -> ConfigNode? {
        guard case .mapping(let pairs) = content else { return nil }
        return pairs.first { $0.key == key }?.value
    }

    /// The scalar text, when this is a scalar.
    public var scalar: String? {
        if case .scalar(let s, _) = content { return s }
        return nil
    }
}

/// Errors in a pipeline file; each names the key path and line.
public struct ConfigErrors: Error, CustomStringConvertible, Sendable {
    public struct Entry: Sendable, CustomStringConvertible {
        public var path: String
        public var line: Int?
        public var message: String
        public var description: String {
            let at = line.map { "line \($0): " } ?? ""
            return path.isEmpty ? "\(at)\(message)" : "\(at)\(path): \(message)"
        }
    }

    public var file: String
    public var entries: [Entry]

    public init(file: String, entries: [Entry]) {
        self.file = file
        self.entries = entries
    }

    public var description: String {
        "invalid pipeline file \(file):\n" + entries.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Reads a pipeline file's YAML into `ConfigNode`s, with `${VAR}` and `${VAR:-default}` taken from the environment.
///
/// Variables are substituted inside scalars after parsing, so a value is always one string: a `#`, a newline, a
/// leading `*` or `@` in it is kept as it is and can neither cut the value nor add keys. Inputs are bounded
/// (`maximumBytes`, `maximumNodes`, `maximumDepth`), which also stops YAML alias bombs. Errors name lines and
/// never quote the file's text (it holds secrets).
public enum ConfigDocument {
    /// The largest pipeline file read.
    public static let maximumBytes = 1 << 20
    /// The most values (scalars, mappings, lists) a file may expand to, counting every use of an alias.
    public static let maximumNodes = 100_000
    /// The deepest nesting of mappings and lists.
    public static let maximumDepth = 64

    /// Parses pipeline YAML text, substituting environment variables in its scalars.
    public static func parse(_ text: String, environment: [String: String], file: String) throws -> ConfigNode {
        guard text.utf8.count <= maximumBytes else {
            throw ConfigErrors(file: file, entries: [.init(path: "", line: nil, message:
                "the file has \(text.utf8.count) bytes; pipeline files are limited to \(maximumBytes) bytes")])
        }
        let (marked, values) = try markVariables(text, environment: environment, file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: marked)
        } catch let error as YamlError {
            throw ConfigErrors(file: file, entries: [Self.entry(error)])
        }
        guard let root else {
            throw ConfigErrors(file: file, entries: [.init(path: "", line: 1, message: "the file is empty")])
        }
        var converter = Converter(values: values)
        guard let node = converter.convert(root, depth: 0) else {
            throw ConfigErrors(file: file, entries: [.init(path: "", line: converter.failedLine, message:
                converter.tooDeep ? "the file nests deeper than \(maximumDepth) levels"
                    : "the file expands to more than \(maximumNodes) values (YAML aliases?)")])
        }
        return node
    }

    /// The text with each `${…}` replaced by a placeholder that is plain YAML in any context, and the placeholders'
    /// values. A variable that is unset and has no default is an error naming the variable and its line; `$${`
    /// writes a literal `${`.
    static func markVariables(
        _ text: String, environment: [String: String], file: String
    ) throws -> (text: String, values: [String]) {
        var out = ""
        var values: [String] = []
        var errors: [ConfigErrors.Entry] = []
        var line = 1
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "\n" { line += 1 }
            if c == "$", text[i...].hasPrefix("$${") {
                values.append("${")
                out += Self.placeholder(values.count - 1)
                i = text.index(i, offsetBy: 3)
                continue
            }
            if c == "$", text[i...].hasPrefix("${"), let close = text[i...].firstIndex(of: "}") {
                let body = text[text.index(i, offsetBy: 2)..<close]
                let name: Substring
                let fallback: Substring?
                if let sep = body.range(of: ":-") {
                    name = body[..<sep.lowerBound]
                    fallback = body[sep.upperBound...]
                } else {
                    name = body
                    fallback = nil
                }
                if let value = environment[String(name)], !(value.isEmpty && fallback != nil) {
                    values.append(value)
                } else if let fallback {
                    values.append(String(fallback))
                } else {
                    values.append("")
                    errors.append(.init(path: "", line: line,
                        message: "environment variable \(name) is not set (write ${\(name):-default} to give a default)"))
                }
                out += Self.placeholder(values.count - 1)
                i = text.index(after: close)
                continue
            }
            out.append(c)
            i = text.index(after: i)
        }
        if !errors.isEmpty { throw ConfigErrors(file: file, entries: errors) }
        return (out, values)
    }

    static let placeholderPrefix = "__sluice_env_"

    static func placeholder(_ index: Int) -> String { "\(placeholderPrefix)\(index)__" }

    /// A YAML error as an entry with its line and problem, without the text around it.
    static func entry(_ error: YamlError) -> ConfigErrors.Entry {
        func at(_ context: YamlError.Context?, _ problem: String, _ mark: Mark) -> ConfigErrors.Entry {
            let detail = context.map { " (\($0.text) at line \($0.mark.line))" } ?? ""
            return .init(path: "", line: mark.line, message: "not valid YAML: \(problem)\(detail), column \(mark.column)")
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            return at(context, problem, mark)
        case let .reader(problem, _, _, _):
            return .init(path: "", line: nil, message: "not valid YAML text: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return .init(path: "", line: context.mark.line, message:
                "duplicate key \(duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")) in one mapping")
        default:
            return .init(path: "", line: nil, message: "not valid YAML")
        }
    }

    /// Turns Yams nodes into `ConfigNode`s, substituting placeholders and counting nodes (aliases expand here).
    struct Converter {
        let values: [String]
        var nodes = 0
        var failedLine: Int?
        var tooDeep = false

        mutating func convert(_ node: Node, depth: Int) -> ConfigNode? {
            let line = node.mark?.line ?? 0
            nodes += 1
            guard nodes <= ConfigDocument.maximumNodes, depth <= ConfigDocument.maximumDepth else {
                failedLine = failedLine ?? line
                tooDeep = depth > ConfigDocument.maximumDepth
                return nil
            }
            switch node {
            case .scalar(let scalar):
                let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
                let text = substituted(scalar.string)
                let isNull = !quoted && ["", "~", "null", "Null", "NULL"].contains(text)
                return ConfigNode(content: isNull ? .mapping([]) : .scalar(text, quoted: quoted), line: line)
            case .mapping(let mapping):
                var pairs: [(key: String, keyLine: Int, value: ConfigNode)] = []
                for pair in mapping {
                    guard let value = convert(pair.value, depth: depth + 1) else { return nil }
                    pairs.append((key: substituted(pair.key.scalar?.string ?? ""), keyLine: pair.key.mark?.line ?? line,
                                  value: value))
                }
                return ConfigNode(content: .mapping(pairs), line: line)
            case .sequence(let sequence):
                var elements: [ConfigNode] = []
                for element in sequence {
                    guard let converted = convert(element, depth: depth + 1) else { return nil }
                    elements.append(converted)
                }
                return ConfigNode(content: .sequence(elements), line: line)
            case .alias:
                return ConfigNode(content: .scalar("", quoted: false), line: line)
            }
        }

        /// The scalar with its placeholders replaced by their values.
        func substituted(_ text: String) -> String {
            guard text.contains(ConfigDocument.placeholderPrefix) else { return text }
            var out = ""
            var rest = Substring(text)
            while let start = rest.range(of: ConfigDocument.placeholderPrefix) {
                out += rest[..<start.lowerBound]
                let digits = rest[start.upperBound...].prefix(while: \.isNumber)
                let end = rest.index(start.upperBound, offsetBy: digits.count)
                if let index = Int(digits), index < values.count, rest[end...].hasPrefix("__") {
                    out += values[index]
                    rest = rest[rest.index(end, offsetBy: 2)...]
                } else {
                    out += ConfigDocument.placeholderPrefix
                    rest = rest[start.upperBound...]
                }
            }
            return out + rest
        }
    }
}

/// Checks config nodes against field specs and produces typed values with defaults applied.
public struct ConfigValidator {
    public private(set) var errors: [ConfigErrors.Entry] = []

    public init() {}

    public mutating func fail(_ path: String, _ line: Int?, _ message: String) {
        errors.append(.init(path: path, line: line, message: message))
    }

    /// Validates a mapping node against fields; unknown keys, missing required keys and wrong types are errors.
    public mutating func validateObject(_ node: ConfigNode, fields: [FieldSpec], path: String) -> [String: ConfigValue] {
        guard case .mapping(let pairs) = node.content else {
            fail(path, node.line, "expected a mapping of settings")
            return [:]
        }
        var result: [String: ConfigValue] = [:]
        var seen = Set<String>()
        for pair in pairs {
            let keyPath = path.isEmpty ? pair.key : "\(path).\(pair.key)"
            guard let field = fields.first(where: { $0.name == pair.key }) else {
                var message = "unknown key '\(pair.key)'"
                if let suggestion = Self.closest(pair.key, among: fields.map(\.name)) {
                    message += "; did you mean '\(suggestion)'?"
                } else {
                    message += "; known keys: " + fields.map(\.name).joined(separator: ", ")
                }
                fail(keyPath, pair.keyLine, message)
                continue
            }
            if !seen.insert(pair.key).inserted { fail(keyPath, pair.keyLine, "key given twice") }
            if let value = validate(pair.value, type: field.type, path: keyPath) { result[pair.key] = value }
        }
        for field in fields where result[field.name] == nil && !seen.contains(field.name) {
            if let value = field.defaultValue {
                result[field.name] = value
            } else if field.required {
                let keyPath = path.isEmpty ? field.name : "\(path).\(field.name)"
                var message = "missing required key '\(field.name)' (\(field.description))"
                if let example = field.example { message += ", e.g. \(field.name): \(example)" }
                fail(keyPath, node.line, message)
            }
        }
        return result
    }

    /// Validates one node against a type.
    public mutating func validate(_ node: ConfigNode, type: FieldType, path: String) -> ConfigValue? {
        switch type {
        case .object(let fields):
            return .map(validateObject(node, fields: fields, path: path))
        case .list(let element):
            guard case .sequence(let items) = node.content else {
                if case .scalar = node.content, let single = validate(node, type: element, path: path) {
                    return .list([single])  // a single value where a list is expected
                }
                fail(path, node.line, "expected a list of \(element)")
                return nil
            }
            return .list(items.enumerated().compactMap { validate($1, type: element, path: "\(path)[\($0)]") })
        case .map(let element):
            guard case .mapping(let pairs) = node.content else {
                fail(path, node.line, "expected a mapping of names to \(element)")
                return nil
            }
            var result: [String: ConfigValue] = [:]
            for pair in pairs {
                if let v = validate(pair.value, type: element, path: "\(path).\(pair.key)") { result[pair.key] = v }
            }
            return .map(result)
        default:
            guard case .scalar(let text, let quoted) = node.content else {
                fail(path, node.line, "expected a \(type), found a \(Self.shape(node))")
                return nil
            }
            if let value = Self.parseScalar(text, quoted: quoted, type: type) { return value }
            var limit = ""
            if type == .duration { limit = " (e.g. 30s, 5m, 7d; at most \(Int(Self.maximumDurationSeconds / 86_400 / 365)) years)" }
            if type == .size { limit = " (e.g. 64MiB, 10GB; at most 1 EiB)" }
            fail(path, node.line, "expected a \(type)\(limit), found '\(Self.abbreviated(text))'")
            return nil
        }
    }

    static func shape(_ node: ConfigNode) -> String {
        switch node.content {
        case .scalar: return "value"
        case .mapping: return "mapping"
        case .sequence: return "list"
        }
    }

    static func abbreviated(_ text: String) -> String {
        text.count > 40 ? String(text.prefix(40)) + "…" : text
    }

    static func parseScalar(_ text: String, quoted: Bool, type: FieldType) -> ConfigValue? {
        switch type {
        case .string: return .string(text)
        case .int: return Int(text).map(ConfigValue.int)
        case .double: return Double(text).map(ConfigValue.double)
        case .bool:
            switch text.lowercased() {
            case "true", "yes", "on": return .bool(true)
            case "false", "no", "off": return .bool(false)
            default: return nil
            }
        case .duration: return parseDuration(text).map(ConfigValue.duration)
        case .size: return parseSize(text).map(ConfigValue.size)
        case .oneOf(let options): return options.contains(text) ? .string(text) : nil
        case .list, .map, .object: return nil
        }
    }

    /// The longest duration a setting or `--since` takes: 100 years (so that every duration fits in Int64 µs).
    public static let maximumDurationSeconds: Double = 100 * 365 * 86_400
    /// The largest size a setting takes: 1 EiB.
    public static let maximumSize: Double = 1_152_921_504_606_846_976

    /// `250ms`, `10s`, `5m`, `2h`, `7d`, or a plain number of seconds; nil beyond `maximumDurationSeconds`.
    public static func parseDuration(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var seconds = Double(trimmed)
        for (suffix, factor) in units where seconds == nil && trimmed.hasSuffix(suffix) {
            seconds = Double(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)).map { $0 * factor }
        }
        guard let seconds, seconds >= 0, seconds <= maximumDurationSeconds else { return nil }
        return seconds
    }

    /// `512KiB`, `128MB`, `1GiB`, `10k`, or a plain number of bytes; nil beyond `maximumSize`.
    public static func parseSize(_ text: String) -> Int64? {
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
            ("KB", 1000), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("k", 1000), ("B", 1),
        ]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let n = Int64(trimmed) { return n >= 0 && Double(n) <= maximumSize ? n : nil }
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            if let n = Double(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n >= 0,
                n * factor <= maximumSize
            {
                return Int64(n * factor)
            }
        }
        return nil
    }

    /// The known name nearest to a misspelled one (edit distance ≤ 2, or a prefix), if any.
    static func closest(_ word: String, among names: [String]) -> String? {
        let scored = names.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        return best.1 <= max(2, word.count / 3) ? best.0 : nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
