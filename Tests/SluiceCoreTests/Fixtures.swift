import Foundation
import SluiceCore

/// Values and events shared by the SluiceCore tests.
enum Fixtures {
    static let microsPerSecond: Int64 = 1_000_000
    static let microsPerDay: Int64 = 86_400_000_000

    static func decimal(_ text: String) -> Value {
        guard let d = ExactDecimal(text) else { fatalError("bad decimal fixture \(text)") }
        return .decimal(d)
    }

    /// Microseconds since the epoch for a civil date and time.
    static func micros(
        _ year: Int64, _ month: Int, _ day: Int, _ hour: Int64 = 0, _ minute: Int64 = 0, _ second: Int64 = 0,
        _ fraction: Int64 = 0
    ) -> Int64 {
        TemporalText.days(year: year, month: month, day: day) * microsPerDay
            + ((hour * 60 + minute) * 60 + second) * microsPerSecond + fraction
    }

    static let hundredDigits = String(repeating: "1234567890", count: 10)

    /// A signalling NaN with a payload: the bits must survive the log.
    static let payloadNaN = Double(bitPattern: 0x7FF4_0000_0000_1234)

    static let uuid = UUID(uuidString: "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6")!

    /// One or more values of every kind, with their edge cases (small enough to print in a test name).
    static let values: [Value] = [
        .null, .unchanged, .bool(false), .bool(true),
        .int(0), .int(1), .int(-1), .int(63), .int(-64), .int(64), .int(Int64.max), .int(Int64.min),
        .double(0), .double(-0.0), .double(1.5), .double(-.pi), .double(.nan), .double(-.nan), .double(payloadNaN),
        .double(.infinity), .double(-.infinity), .double(.leastNonzeroMagnitude), .double(-.leastNonzeroMagnitude),
        .double(Double.leastNormalMagnitude.nextDown), .double(.greatestFiniteMagnitude),
        .double(-.greatestFiniteMagnitude),
        decimal("0"), decimal("-0"), decimal("0.00"), decimal("12.50"), decimal("-123.4500"), decimal("0.005"),
        decimal("-0.005"), decimal("12345678901234567890.0123456789"),
        decimal("123456789012345678901234567890123456789"),
        decimal("-99999999999999999999999999999999999999.99999999999999999999"),
        decimal(hundredDigits), decimal("-0." + hundredDigits), decimal(hundredDigits + "." + hundredDigits),
        decimal("NaN"), decimal("Infinity"), decimal("-Infinity"),
        .string(""), .string("plain"), .string("\"quoted\" \\ back"), .string("👩‍👩‍👧‍👦 family"),
        .string("e\u{301} combining"), .string("nul\u{0}inside"), .string("\u{1}\u{1F}\u{7F}"),
        .string("\u{2028}\u{FEFF}\u{10FFFF}"), .string("日本語"),
        .bytes([]), .bytes([0]), .bytes([0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF]),
        .date(0), .date(-1), .date(1), .date(Value.dateInfinity), .date(Value.dateNegativeInfinity),
        .date(Value.dateInfinity - 1), .date(Value.dateNegativeInfinity + 1), .date(-719_528), .date(2_932_896),
        .time(TimeOfDay(micros: 0)), .time(TimeOfDay(micros: 86_399_999_999)),
        .time(TimeOfDay(micros: -(838 * 3600 + 59 * 60 + 59) * 1_000_000)),
        .time(TimeOfDay(micros: (838 * 3600 + 59 * 60 + 59) * 1_000_000)),
        .time(TimeOfDay(micros: -1)), .time(TimeOfDay(micros: 90_000_000_000)),
        .time(TimeOfDay(micros: 45_296_000_001, utcOffsetSeconds: 0)),
        .time(TimeOfDay(micros: 45_296_000_001, utcOffsetSeconds: 5 * 3600 + 1800)),
        .time(TimeOfDay(micros: 45_296_000_001, utcOffsetSeconds: -(9 * 3600 + 30 * 60 + 15))),
        .time(TimeOfDay(micros: 0, utcOffsetSeconds: Int32.max)),
        .time(TimeOfDay(micros: 0, utcOffsetSeconds: Int32.min)),
        .timestamp(Timestamp(micros: 0, isUTC: true)), .timestamp(Timestamp(micros: 0, isUTC: false)),
        .timestamp(Timestamp(micros: -1, isUTC: true)), .timestamp(Timestamp(micros: -1_500_000, isUTC: false)),
        .timestamp(Timestamp(micros: micros(1900, 1, 1, 0, 0, 0, 500_000), isUTC: true)),
        .timestamp(Timestamp(micros: micros(-4713, 11, 24), isUTC: true)),
        .timestamp(Timestamp(micros: micros(294_246, 12, 31, 23, 59, 59, 999_999), isUTC: false)),
        .timestamp(.infinity(isUTC: true)), .timestamp(.negativeInfinity(isUTC: true)),
        .timestamp(.infinity(isUTC: false)), .timestamp(.negativeInfinity(isUTC: false)),
        .timestamp(Timestamp(micros: Int64.min + 1, isUTC: true)),
        .timestamp(Timestamp(micros: Int64.max - 1, isUTC: true)),
        .interval(Interval(months: 0, days: 0, micros: 0)),
        .interval(Interval(months: 14, days: -3, micros: 3_723_000_007)),
        .interval(Interval(months: -1, days: 1, micros: -1)),
        .interval(Interval(months: Int32.min, days: Int32.max, micros: Int64.min)),
        .uuid(uuid), .uuid(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))),
        .uuid(UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))),
        .json("{}"), .json("null"), .json(""), .json("{\"a\": [1, 2.5, null, {\"b\": \"x  y\"}]}"), .json("\"str\""),
        .array([]), .array([.null]), .array([.int(1), .null, .int(3)]),
        .array([.array([.string("a"), .null]), .array([]), .array([.null, .null])]),
        .array([.decimal(ExactDecimal("1.10")!), .unchanged, .double(.nan), .json("[1]"), .bytes([9])]),
    ]

    static let table = TableID(database: "app", schema: "public", name: "orders")
    static let position = SourcePosition(sortKey: SourcePosition.sortKey(0x16B_3748, 2), text: "0/16B3748")

    /// A row carrying every fixture value, one column each.
    static var everyKindRow: Row {
        Row(columns: values.indices.map { "c\($0)" }, values: values)
    }

    /// Events covering every operation and every optional field, present and absent.
    static var events: [ChangeEvent] {
        let key = Row(columns: ["id"], values: [.int(7)])
        return [
            ChangeEvent(
                op: .insert, connector: "postgres", table: table, schemaVersion: 1, before: nil, after: everyKindRow,
                position: position, transactionID: "731", orderInTransaction: 0, commitTimeMicros: 1_700_000_000_123_456
            ),
            ChangeEvent(
                op: .update, connector: "mysql", table: TableID(database: "", schema: "shop", name: "t"),
                schemaVersion: 42, before: everyKindRow, after: everyKindRow, position: position,
                transactionID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:23", orderInTransaction: 12_345,
                commitTimeMicros: -1),
            ChangeEvent(
                op: .delete, connector: "postgres", table: table, schemaVersion: 3, before: key, after: nil,
                position: .origin, commitTimeMicros: Int64.min),
            ChangeEvent(
                op: .read, connector: "generator", table: table, schemaVersion: 1, before: nil,
                after: Row(columns: [], values: []), position: position, commitTimeMicros: Int64.max, isSnapshot: true),
            ChangeEvent(
                op: .truncate, connector: "postgres", table: table, schemaVersion: 1, before: nil, after: nil,
                position: position, transactionID: "", commitTimeMicros: 0),
            ChangeEvent(
                op: .message, connector: "postgres", table: TableID(database: "d", schema: "s", name: "👀 \"t\""),
                schemaVersion: 0, before: nil, after: Row(columns: ["content"], values: [.bytes([1, 2])]),
                position: SourcePosition(sortKey: [0xFF], text: "ff"), orderInTransaction: 0, commitTimeMicros: 5),
            ChangeEvent(
                op: .begin, connector: "postgres", table: table, schemaVersion: 1, before: nil, after: nil,
                position: position, transactionID: "9", commitTimeMicros: 5),
            ChangeEvent(
                op: .commit, connector: "postgres", table: table, schemaVersion: Int(Int32.max), before: nil,
                after: nil,
                position: position, transactionID: "9", commitTimeMicros: 5),
        ]
    }
}

