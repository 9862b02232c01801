import Foundation
import SluiceCore
import SluiceDevConnectors
import SluiceRuntime
import Testing

let registry = ConnectorRegistry(sources: [GeneratorSource.self], sinks: [JSONLSink.self])

func load(_ yaml: String, env: [String: String] = [:]) throws -> PipelineConfig {
    try PipelineLoader(registry: registry).load(text: yaml, file: "test.yaml", environment: env)
}

func errors(_ yaml: String, env: [String: String] = [:]) -> [ConfigErrors.Entry] {
    do {
        _ = try load(yaml, env: env)
        return []
    } catch let error as ConfigErrors {
        return error.entries
    } catch {
        Issue.record("unexpected error \(error)")
        return []
    }
}

let validPipeline = """
    name: demo
    log:
      path: /tmp/demo.sluicelog
      sync: normal
    sources:
      gen:
        type: generator
        count: 500
        tables: [orders, customers]
    sinks:
      out:
        type: jsonl
        path: /tmp/out
    """

@Test func validPipelineLoadsWithDefaults() throws {
    let config = try load(validPipeline)
    #expect(config.name == "demo")
    #expect(config.log.sync == .normal)
    #expect(config.sources.map(\.name) == ["gen"])
    #expect(config.sources[0].config.int("count") == 500)
    #expect(config.sources[0].config.int("batch_size") == 500)  // default
    #expect(config.sources[0].config.strings("tables") == ["orders", "customers"])
    #expect(config.sinks[0].config.bool("fsync") == true)
    #expect(config.runtime.maxInFlightBatches == 4)
    #expect(config.stream(for: TableID(database: "d", schema: "public", name: "t")) == "demo.public.t")
}

@Test func misspelledKeyNamesPathLineAndSuggestion() {
    let entries = errors(validPipeline.replacingOccurrences(of: "    path: /tmp/out", with: "    paht: /tmp/out"))
    #expect(entries.contains { $0.path == "sinks.out.paht" && $0.line == 13 && $0.message.contains("did you mean 'path'") })
    // the required key it replaced is missing now
    #expect(entries.contains { $0.path == "sinks.out.path" && $0.message.contains("missing required key") })
}

@Test func wrongTypeNamesPathAndLine() {
    let entries = errors(validPipeline.replacingOccurrences(of: "count: 500", with: "count: lots"))
    #expect(entries.count == 1)
    #expect(entries.first?.path == "sources.gen.count")
    #expect(entries.first?.line == 8)
    #expect(entries.first?.message.contains("expected a integer") == true || entries.first?.message.contains("integer") == true)
}

/// Huge or non-finite durations and sizes are refused with the key and line (they used to crash the binary when
/// converted to Int64).
@Test(arguments: ["inf", "1e20s", "999999999999d", "nan", "-5s"])
func outOfRangeDurationIsAnError(text: String) {
    let yaml = validPipeline.replacingOccurrences(of: "sync: normal", with: "sync: normal\n  retention: {max_age: \(text)}")
        + "\nruntime: {status_interval: \(text)}\n"
    let entries = errors(yaml)
    #expect(entries.contains { $0.path == "log.retention.max_age" && $0.line == 5 && $0.message.contains("at most 100 years") },
            "\(entries)")
    #expect(entries.contains { $0.path == "runtime.status_interval" && $0.message.contains("duration") }, "\(entries)")
}

@Test(arguments: ["1e30GiB", "inf", "9223372036854775807", "-1"])
func outOfRangeSizeIsAnError(text: String) {
    let yaml = validPipeline.replacingOccurrences(of: "sync: normal", with: "sync: normal\n  retention: {max_bytes: \(text)}")
    #expect(errors(yaml).contains { $0.path == "log.retention.max_bytes" && $0.message.contains("at most 1 EiB") })
}

@Test func missingRequiredFieldIsNamed() {
    let yaml = """
        name: demo
        sources:
          gen: {type: generator}
        sinks:
          out:
            type: jsonl
            fsync: false
        """
    let entries = errors(yaml)
    #expect(entries.contains { $0.path == "sinks.out.path" && $0.line != nil && $0.message.contains("missing required key 'path'") })
}

@Test func unknownConnectorTypeAndTopLevelKey() {
    let yaml = validPipeline.replacingOccurrences(of: "type: jsonl", with: "type: jsnol") + "\nsink: {}\n"
    let entries = errors(yaml)
    #expect(entries.contains { $0.path == "sinks.out.type" && $0.message.contains("did you mean 'jsonl'") })
    #expect(entries.contains { $0.path == "sink" && $0.message.contains("did you mean 'sinks'") })
}

@Test func badEnumValueAndCron() {
    var yaml = validPipeline.replacingOccurrences(of: "sync: normal", with: "sync: sometimes")
    yaml += "\nschedule: '61 * * * *'\n"
    let entries = errors(yaml)
    #expect(entries.contains { $0.path == "log.sync" && $0.line == 4 && $0.message.contains("full|normal|off") })
    #expect(entries.contains { $0.path == "schedule" && $0.message.contains("minute") })
}

@Test func environmentSubstitution() throws {
    let yaml = validPipeline
        .replacingOccurrences(of: "/tmp/out", with: "${OUT_DIR}")
        .replacingOccurrences(of: "count: 500", with: "count: ${COUNT:-42}")
    let config = try load(yaml, env: ["OUT_DIR": "/data/out"])
    #expect(config.sinks[0].config.string("path") == "/data/out")
    #expect(config.sources[0].config.int("count") == 42)
    let overridden = try load(yaml, env: ["OUT_DIR": "/x", "COUNT": "7"])
    #expect(overridden.sources[0].config.int("count") == 7)
    let missing = errors(yaml)
    #expect(missing.contains { $0.line == 13 && $0.message.contains("OUT_DIR is not set") })
}

@Test func durationsAndSizes() {
    #expect(ConfigValidator.parseDuration("250ms") == 0.25)
    #expect(ConfigValidator.parseDuration("5m") == 300)
    #expect(ConfigValidator.parseDuration("7d") == 604_800)
    #expect(ConfigValidator.parseDuration("soon") == nil)
    #expect(ConfigValidator.parseSize("10GiB") == 10_737_418_240)
    #expect(ConfigValidator.parseSize("128MB") == 128_000_000)
    #expect(ConfigValidator.parseSize("-1") == nil)
    #expect(ConfigValidator.parseSize("1024") == 1024 && ConfigValidator.parseSize("10k") == 10_000)
    #expect(ConfigValidator.parseDuration("36500d") == 3_153_600_000 && ConfigValidator.parseDuration("36501d") == nil)
}

/// `${VAR}` values are substituted inside scalars after parsing: whatever they hold stays one string.
@Test func environmentValuesCannotChangeTheDocument() throws {
    let yaml = validPipeline.replacingOccurrences(of: "/tmp/out", with: "${OUT_DIR}")
    for value in ["/data/a #b", "/x\n    bogus: true", "*secret", "@secret", "\"quoted\" 'single'", "{a: 1}", "- x"] {
        // An injected key would be refused as unknown: the load succeeds only when the value stayed a value.
        let config = try load(yaml, env: ["OUT_DIR": value])
        #expect(config.sinks[0].config.string("path") == value, "\(value)")
    }
    let quoted = try load(validPipeline.replacingOccurrences(of: "/tmp/out", with: "\"pre-${OUT_DIR}-post\""),
                          env: ["OUT_DIR": "a\"b"])
    #expect(quoted.sinks[0].config.string("path") == "pre-a\"b-post")
    let literal = try load(validPipeline.replacingOccurrences(of: "/tmp/out", with: "/tmp/$${HOME}"))
    #expect(literal.sinks[0].config.string("path") == "/tmp/${HOME}")
}

/// A YAML alias bomb (each alias doubling the document) is refused at once, not expanded until memory runs out.
@Test func aliasBombIsRefused() {
    var yaml = "name: bomb\na0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    for level in 1...9 {
        yaml += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
    }
    let started = ContinuousClock.now
    let entries = errors(yaml)
    #expect(entries.contains { $0.message.contains("expands to more than 100000 values") }, "\(entries)")
    #expect(ContinuousClock.now - started < .seconds(5))
}

@Test func deepNestingAndHugeFilesAreRefused() {
    let deep = "name: deep\nx: " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "\n"
    #expect(errors(deep).contains { $0.message.contains("nests deeper than 64 levels") })
    let huge = validPipeline + "\n# " + String(repeating: "p", count: 1 << 20) + "\n"
    #expect(errors(huge).contains { $0.message.contains("limited to 1048576 bytes") })
}

/// YAML errors name the line and never print the file's text, which holds secrets.
@Test func yamlErrorsDoNotQuoteTheFile() {
    let secret = "hunter2-very-secret"
    let duplicate = validPipeline + "\n    password: \(secret)\n    path: /again\n"
    let entries = errors(duplicate)
    #expect(entries.contains { $0.line != nil && $0.message.contains("duplicate key 'path'") }, "\(entries)")
    let broken = validPipeline.replacingOccurrences(of: "path: /tmp/out", with: "path: /tmp/out\n    password: *\(secret)")
    let brokenEntries = errors(broken)
    #expect(!brokenEntries.isEmpty && brokenEntries.allSatisfy { $0.line != nil })
    for entry in entries + brokenEntries {
        #expect(!entry.message.contains(secret) && !entry.message.contains("generator"), "\(entry)")
    }
}

@Test func cronNextTimes() throws {
    let utc = { (s: String) in ISO8601DateFormatter().date(from: s)! }
    let everyQuarter = try CronSchedule("*/15 * * * *")
    #expect(everyQuarter.next(after: utc("2026-11-25T10:07:30Z")) == utc("2026-11-25T10:15:00Z"))
    let weekdayMorning = try CronSchedule("30 6 * * mon-fri")
    // 2026-11-28 is a Saturday: the next run is Monday the 30th.
    #expect(weekdayMorning.next(after: utc("2026-11-27T07:00:00Z")) == utc("2026-11-30T06:30:00Z"))
    let monthly = try CronSchedule("@monthly")
    #expect(monthly.next(after: utc("2026-12-15T00:00:00Z")) == utc("2027-01-01T00:00:00Z"))
    #expect(throws: CronSchedule.ParseError.self) { try CronSchedule("* * *") }
    #expect(throws: CronSchedule.ParseError.self) { try CronSchedule("0 25 * * *") }
}
