import Foundation

/// A five-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC.
///
/// Fields take `*`, numbers, ranges `a-b`, lists `a,b`, steps `*/n` and `a-b/n`, and month and
/// weekday names (`jan`, `mon`). Shortcuts: `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
/// As in classic cron, when both day fields are restricted a day matches either.
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    public let expression: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(_ expression: String) throws {
        let shortcuts = [
            "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
            "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
        ]
        let text = shortcuts[expression.trimmingCharacters(in: .whitespaces)] ?? expression
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(description: "cron expression '\(expression)' needs 5 fields (minute hour day month weekday), found \(fields.count)")
        }
        let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
        self.expression = expression
        minutes = try Self.field(fields[0], name: "minute", range: 0...59, names: [])
        hours = try Self.field(fields[1], name: "hour", range: 0...23, names: [])
        daysOfMonth = try Self.field(fields[2], name: "day of month", range: 1...31, names: [])
        months = try Self.field(fields[3], name: "month", range: 1...12, names: monthNames, nameBase: 1)
        var weekdays = try Self.field(fields[4], name: "day of week", range: 0...7, names: dayNames)
        if weekdays.remove(7) != nil { weekdays.insert(0) }
        daysOfWeek = weekdays
        dayOfMonthRestricted = fields[2] != "*"
        dayOfWeekRestricted = fields[4] != "*"
    }

    public var description: String { expression }

    private static func field(
        _ text: String, name: String, range: ClosedRange<Int>, names: [String], nameBase: Int = 0
    ) throws -> Set<Int> {
        func number(_ s: Substring) throws -> Int {
            if let n = Int(s), range.contains(n) { return n }
            if let i = names.firstIndex(of: s.lowercased()) { return i + nameBase }
            throw ParseError(description: "cron \(name) field: '\(s)' is not in \(range.lowerBound)-\(range.upperBound)")
        }
        var values = Set<Int>()
        for part in text.split(separator: ",") {
            let pieces = part.split(separator: "/", maxSplits: 1)
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0 else {
                    throw ParseError(description: "cron \(name) field: step '\(pieces[1])' must be a positive number")
                }
                step = s
            }
            let base = pieces[0]
            let lower: Int, upper: Int
            if base == "*" {
                (lower, upper) = (range.lowerBound, range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                (lower, upper) = (try number(base[..<dash]), try number(base[base.index(after: dash)...]))
                guard lower <= upper else { throw ParseError(description: "cron \(name) field: range '\(base)' is backwards") }
            } else {
                lower = try number(base)
                upper = pieces.count == 2 ? range.upperBound : lower
            }
            values.formUnion(stride(from: lower, through: upper, by: step))
        }
        guard !values.isEmpty else { throw ParseError(description: "cron \(name) field is empty") }
        return values
    }

    /// The first matching minute strictly after `date`.
    public func next(after date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let start = floor(date.timeIntervalSince1970 / 60) * 60 + 60
        var candidate = Date(timeIntervalSince1970: start)
        // At most a few years of minutes; days that cannot match are skipped whole.
        for _ in 0..<600_000 {
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: candidate)
            guard months.contains(c.month!) else {
                candidate = calendar.date(from: DateComponents(year: c.year, month: c.month! + 1, day: 1))!
                continue
            }
            let domMatch = daysOfMonth.contains(c.day!)
            let dowMatch = daysOfWeek.contains(c.weekday! - 1)
            let dayMatches = dayOfMonthRestricted && dayOfWeekRestricted ? (domMatch || dowMatch)
                : (domMatch && dowMatch)
            guard dayMatches else {
                candidate = calendar.date(from: DateComponents(year: c.year, month: c.month, day: c.day! + 1))!
                continue
            }
            guard hours.contains(c.hour!) else {
                candidate = calendar.date(from: DateComponents(year: c.year, month: c.month, day: c.day, hour: c.hour! + 1))!
                continue
            }
            if minutes.contains(c.minute!) { return candidate }
            candidate += 60
        }
        return candidate
    }
}
