import SluiceCore
import SluiceTestSupport
import Testing

@Suite("TemporalText")
struct TemporalTextTests {
    static func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }
    static func daysIn(_ y: Int64, _ m: Int) -> Int {
        [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
    }

    @Test(
        "civil dates and day numbers agree",
        arguments: [
            (0, 1970, 1, 1), (-1, 1969, 12, 31), (1, 1970, 1, 2), (11_016, 2000, 2, 29), (11_017, 2000, 3, 1),
            (-25_508, 1900, 3, 1), (-25_509, 1900, 2, 28), (-141_427, 1582, 10, 15), (-719_162, 1, 1, 1),
            (-719_163, 0, 12, 31), (-719_528, 0, 1, 1), (-719_529, -1, 12, 31), (-2_440_588, -4713, 11, 24),
            (2_932_896, 9999, 12, 31), (2_932_897, 10000, 1, 1), (106_751, 2262, 4, 11),
        ] as [(Int64, Int64, Int, Int)])
    func knownDates(_ days: Int64, _ year: Int64, _ month: Int, _ day: Int) {
        let c = TemporalText.civil(fromDays: days)
        #expect(c.year == year && c.month == month && c.day == day)
        #expect(TemporalText.days(year: year, month: month, day: day) == days)
    }

    @Test func civilRoundTripDayByDay() {
        // Walk ~5,500 years day by day across year 0 and 1970: every day follows the one before it.
        var previous = TemporalText.civil(fromDays: -1_000_001)
        for days in Int64(-1_000_000)...1_000_000 {
            let c = TemporalText.civil(fromDays: days)
            let sameMonth = c.year == previous.year && c.month == previous.month && c.day == previous.day + 1
            let nextMonth =
                c.day == 1 && previous.day == Self.daysIn(previous.year, previous.month)
                && ((c.year == previous.year && c.month == previous.month + 1)
                    || (c.year == previous.year + 1 && c.month == 1 && previous.month == 12))
            if !(sameMonth || nextMonth) {
                Issue.record("day \(days) is \(c) after \(previous)")
                return
            }
            if TemporalText.days(year: c.year, month: c.month, day: c.day) != days {
                Issue.record("days(civil(\(days))) != \(days)")
                return
            }
            previous = c
        }
    }

    @Test func civilRoundTripAcrossTheInt32Range() {
        var rng = SeededGenerator(seed: 1)
        var samples: [Int64] = [Int64(Int32.min), Int64(Int32.max), Int64(Int32.min) + 1, Int64(Int32.max) - 1]
        for _ in 0..<100_000 { samples.append(Int64(Int32.random(in: .min ... .max, using: &rng))) }
        for days in samples {
            let c = TemporalText.civil(fromDays: days)
            #expect((1...12).contains(c.month) && (1...Self.daysIn(c.year, c.month)).contains(c.day))
            #expect(TemporalText.days(year: c.year, month: c.month, day: c.day) == days)
        }
    }

    @Test(
        "date text",
        arguments: [
            (0, "1970-01-01"), (-1, "1969-12-31"), (-719_162, "0001-01-01"), (-719_528, "0000-01-01"),
            (-719_529, "-0001-12-31"), (-2_440_588, "-4713-11-24"), (2_932_896, "9999-12-31"),
            (2_932_897, "10000-01-01"),
            (Value.dateInfinity, "infinity"), (Value.dateNegativeInfinity, "-infinity"),
            (Value.dateInfinity - 1, "5881580-07-10"), (Value.dateNegativeInfinity + 1, "-5877641-06-25"),
        ] as [(Int32, String)])
    func dateText(_ days: Int32, _ text: String) {
        #expect(TemporalText.date(days) == text)
    }

    @Test(
        "time text",
        arguments: [
            (TimeOfDay(micros: 0), "00:00:00.000000"),
            (TimeOfDay(micros: 86_399_999_999), "23:59:59.999999"),
            (TimeOfDay(micros: 90_000_000_000), "25:00:00.000000"),
            (TimeOfDay(micros: -(838 * 3600 + 59 * 60 + 59) * 1_000_000), "-838:59:59.000000"),
            (TimeOfDay(micros: (838 * 3600 + 59 * 60 + 59) * 1_000_000), "838:59:59.000000"),
            (TimeOfDay(micros: -1), "-00:00:00.000001"),
            (TimeOfDay(micros: -1_500_000), "-00:00:01.500000"),
            (TimeOfDay(micros: 45_296_000_001, utcOffsetSeconds: 0), "12:34:56.000001+00:00"),
            (TimeOfDay(micros: 45_296_000_001, utcOffsetSeconds: 19_800), "12:34:56.000001+05:30"),
            (TimeOfDay(micros: 45_296_000_001, utcOffsetSeconds: -34_215), "12:34:56.000001-09:30:15"),
            (TimeOfDay(micros: 0, utcOffsetSeconds: -3600), "00:00:00.000000-01:00"),
            (TimeOfDay(micros: Int64.min), "-2562047788:00:54.775808"),
        ])
    func timeText(_ time: TimeOfDay, _ text: String) {
        #expect(TemporalText.time(time) == text)
    }

    @Test(
        "timestamp text",
        arguments: [
            (Timestamp(micros: 0, isUTC: true), "1970-01-01T00:00:00.000000Z"),
            (Timestamp(micros: 0, isUTC: false), "1970-01-01T00:00:00.000000"),
            (Timestamp(micros: -1, isUTC: true), "1969-12-31T23:59:59.999999Z"),
            (Timestamp(micros: -1_500_000, isUTC: false), "1969-12-31T23:59:58.500000"),
            (Timestamp(micros: -86_400_000_001, isUTC: true), "1969-12-30T23:59:59.999999Z"),
            (Timestamp(micros: -86_400_000_000, isUTC: true), "1969-12-31T00:00:00.000000Z"),
            (
                Timestamp(micros: Fixtures.micros(1900, 1, 1, 0, 0, 0, 500_000), isUTC: true),
                "1900-01-01T00:00:00.500000Z"
            ),
            (Timestamp(micros: -2_208_988_799_999_999, isUTC: true), "1900-01-01T00:00:00.000001Z"),
            (Timestamp(micros: 1_700_000_000_123_456, isUTC: true), "2023-11-14T22:13:20.123456Z"),
            (Timestamp(micros: Fixtures.micros(-4713, 11, 24, 12), isUTC: false), "-4713-11-24T12:00:00.000000"),
            (
                Timestamp(micros: Fixtures.micros(0, 2, 29, 23, 59, 59, 999_999), isUTC: true),
                "0000-02-29T23:59:59.999999Z"
            ),
            (
                Timestamp(micros: Fixtures.micros(294_246, 12, 31, 23, 59, 59, 999_999), isUTC: true),
                "294246-12-31T23:59:59.999999Z"
            ),
            (Timestamp.infinity(isUTC: true), "infinity"), (Timestamp.negativeInfinity(isUTC: true), "-infinity"),
            (Timestamp.infinity(isUTC: false), "infinity"), (Timestamp.negativeInfinity(isUTC: false), "-infinity"),
            (Timestamp(micros: Int64.max - 1, isUTC: true), "294247-01-10T04:00:54.775806Z"),
            (Timestamp(micros: Int64.min + 2, isUTC: true), "-290308-12-21T19:59:05.224194Z"),  // the earliest finite one
        ])
    func timestampText(_ timestamp: Timestamp, _ text: String) {
        #expect(TemporalText.timestamp(timestamp) == text)
    }

    @Test func preEpochTimestampsFloorEveryMicrosecond() {
        // Day by day and microsecond by microsecond around midnight before 1970, the text must go forward.
        for day in Int64(-3)...(-1) {
            let midnight = day * Fixtures.microsPerDay
            #expect(TemporalText.timestamp(Timestamp(micros: midnight - 1, isUTC: true)).hasSuffix("T23:59:59.999999Z"))
            #expect(TemporalText.timestamp(Timestamp(micros: midnight, isUTC: true)).hasSuffix("T00:00:00.000000Z"))
            #expect(TemporalText.timestamp(Timestamp(micros: midnight + 1, isUTC: true)).hasSuffix("T00:00:00.000001Z"))
        }
    }

    @Test(
        "interval text",
        arguments: [
            (Interval(months: 0, days: 0, micros: 0), "PT0S"),
            (Interval(months: 14, days: 3, micros: 14_706_000_007), "P1Y2M3DT4H5M6.000007S"),
            (Interval(months: 14, days: -3, micros: 3_723_000_007), "P1Y2M-3DT1H2M3.000007S"),
            (Interval(months: -14, days: 0, micros: 0), "P-1Y-2M"),
            (Interval(months: 0, days: 0, micros: -3_723_000_000), "PT-1H-2M-3S"),
            (Interval(months: 1, days: -1, micros: -500_000), "P1M-1DT-0.500000S"),
            (Interval(months: 12, days: 0, micros: 60_000_000), "P1YT1M"),
        ])
    func intervalText(_ interval: Interval, _ text: String) {
        #expect(TemporalText.interval(interval) == text)
    }
}
