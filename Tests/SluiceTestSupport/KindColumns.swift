import SluiceCore

extension ColumnSchema {
    /// One PostgreSQL column of each value kind beyond the numbers (`name` text through `doc` jsonb: bytes, date,
    /// time with and without zone, timestamp with and without zone, interval, uuid, json), for every-kind tables.
    public static let postgresNonNumericKinds: [ColumnSchema] = [
        ColumnSchema(name: "name", sourceType: "text", kind: .string),
        ColumnSchema(name: "raw", sourceType: "bytea", kind: .bytes),
        ColumnSchema(name: "day", sourceType: "date", kind: .date),
        ColumnSchema(name: "clock", sourceType: "time", kind: .time),
        ColumnSchema(name: "clock_tz", sourceType: "timetz", kind: .timeTZ),
        ColumnSchema(name: "local", sourceType: "timestamp", kind: .timestamp),
        ColumnSchema(name: "at", sourceType: "timestamptz", kind: .timestampTZ),
        ColumnSchema(name: "span", sourceType: "interval", kind: .interval),
        ColumnSchema(name: "uid", sourceType: "uuid", kind: .uuid),
        ColumnSchema(name: "doc", sourceType: "jsonb", kind: .json),
    ]
}
