// SluiceParquetSink: the `parquet` sink: change files per table, rolled by size and time, named by their offset
// range so a replay rewrites the same files.

import SluiceCore
import SluiceParquet
import SluiceConnectorKit

/// The columns of the files written for one table-schema version, and how one change becomes one row of them.
///
/// Columns, in file order:
/// - one per source column, mapped by `ParquetColumn(source:)` (SluiceParquet's `ValueColumnMapping`), always
///   nullable: the after image, or for a delete (changelog layout) the before image of the deleted row;
/// - changelog layout: `_op`, `_position`, `_commit_ts`, `_tx_id`, `_offset`, then with `include_before` one
///   `_before_<column>` per source column;
/// - `_unchanged`: the names of the columns written as null because the source did not send their value
///   (`Value.unchanged`, an unchanged TOASTed value) and no before image had it; null when there are none.
struct ChangeRowLayout {
    /// The metadata columns of the changelog layout.
    static let operationColumn = "_op"
    static let positionColumn = "_position"
    static let commitTimeColumn = "_commit_ts"
    static let transactionColumn = "_tx_id"
    static let offsetColumn = "_offset"
    static let unchangedColumn = "_unchanged"
    static let beforePrefix = "_before_"

    let tableSchema: TableSchema
    let layout: ParquetSinkConfiguration.Layout
    let includeBefore: Bool
    let parquetSchema: ParquetSchema
    private let columnNames: [String]
    private let metadataStart: Int
    private let beforeStart: Int
    private let unchangedIndex: Int

    /// Builds the file schema; throws a `SluiceError` naming the table and column when a column cannot be
    /// written or its name collides with a column the sink adds.
    init(tableSchema: TableSchema, layout: ParquetSinkConfiguration.Layout, includeBefore: Bool) throws {
        self.tableSchema = tableSchema
        self.layout = layout
        self.includeBefore = includeBefore && layout == .changelog
        columnNames = tableSchema.columns.map(\.name)
        let table = tableSchema.table.qualifiedName
        var added: [ParquetColumn] = []
        if layout == .changelog {
            added += [
                ParquetColumn(name: Self.operationColumn, type: .string, isNullable: false),
                ParquetColumn(name: Self.positionColumn, type: .string, isNullable: false),
                ParquetColumn(name: Self.commitTimeColumn, type: .timestamp(isAdjustedToUTC: true), isNullable: false),
                ParquetColumn(name: Self.transactionColumn, type: .string, isNullable: true),
                ParquetColumn(name: Self.offsetColumn, type: .int64, isNullable: false),
            ]
        }
        var columns: [ParquetColumn] = []
        var beforeColumns: [ParquetColumn] = []
        for source in tableSchema.columns {
            var nullable = source
            nullable.nullable = true
            do {
                columns.append(try ParquetColumn(source: nullable))
                if self.includeBefore {
                    var before = try ParquetColumn(source: nullable)
                    before.name = Self.beforePrefix + source.name
                    beforeColumns.append(before)
                }
            } catch {
                throw SluiceError(
                    .sink,
                    "column \(source.name) (\(source.sourceType)) of table \(table) cannot be written to Parquet",
                    location: "table \(table), schema version \(tableSchema.version)",
                    hint: "exclude the column from capture or change its type", underlying: error)
            }
        }
        let reserved = Set(added.map(\.name) + [Self.unchangedColumn] + beforeColumns.map(\.name))
        if let clash = columnNames.first(where: reserved.contains) {
            throw SluiceError(
                .sink, "column \(clash) of table \(table) has the name of a column the parquet sink adds",
                location: "table \(table), schema version \(tableSchema.version)",
                hint: "rename the column at the source, or use layout: append without include_before")
        }
        metadataStart = columns.count
        beforeStart = metadataStart + added.count
        unchangedIndex = beforeStart + beforeColumns.count
        let unchanged = ParquetColumn.list(
            name: Self.unchangedColumn, elementType: .string, isNullable: true,
            element: ParquetColumn.ListElement(isNullable: false))
        do {
            parquetSchema = try ParquetSchema(columns: columns + added + beforeColumns + [unchanged])
        } catch {
            throw SluiceError(
                .sink, "the Parquet schema for table \(table) is invalid",
                location: "table \(table), schema version \(tableSchema.version)", underlying: error)
        }
    }

    /// Whether a change becomes a row: the append layout keeps inserts, updates and snapshot reads; the changelog
    /// layout keeps every row change and truncates. Messages (`m`) and transaction markers are never written.
    func writesRow(for operation: ChangeOperation) -> Bool {
        switch operation {
        case .insert, .update, .read: return true
        case .delete, .truncate: return layout == .changelog
        case .message, .begin, .commit: return false
        }
    }

    /// Appends one change as one row; returns about how many bytes its values take. After a throw the buffers
    /// hold part of a row and must be discarded.
    func appendRow(_ record: SinkRecord, to buffers: inout [ColumnValues]) throws(ParquetError) -> Int {
        let event = record.event
        var unchanged: [String] = []
        var bytes = 0
        let image = event.after ?? (event.op == .delete ? event.before : nil)
        let imageIsPositional = image.map { $0.columns == columnNames } ?? false
        for (index, name) in columnNames.enumerated() {
            var value: Value = .null
            if let image {
                value = (imageIsPositional ? image.values[index] : image[name]) ?? .null
            }
            if case .unchanged = value {
                // The source did not send it (unchanged TOASTed value): the before image may hold it.
                if let known = event.before?[name], known != .unchanged {
                    value = known
                } else {
                    value = .null
                    unchanged.append(name)
                }
            }
            bytes += Self.approximateSize(value)
            try buffers[index].append(value)
        }
        if layout == .changelog {
            try buffers[metadataStart].append(event.op.rawValue)
            try buffers[metadataStart + 1].append(event.position.text)
            try buffers[metadataStart + 2].append(event.commitTimeMicros)
            if let transaction = event.transactionID {
                try buffers[metadataStart + 3].append(transaction)
            } else {
                try buffers[metadataStart + 3].appendNull()
            }
            try buffers[metadataStart + 4].append(record.offset)
            bytes += 24 + event.position.text.utf8.count + (event.transactionID?.utf8.count ?? 0)
        }
        if includeBefore {
            let before = event.before
            let beforeIsPositional = before.map { $0.columns == columnNames } ?? false
            for (index, name) in columnNames.enumerated() {
                var value: Value = .null
                if let before {
                    value = (beforeIsPositional ? before.values[index] : before[name]) ?? .null
                }
                if case .unchanged = value {
                    value = .null
                    unchanged.append(Self.beforePrefix + name)
                }
                bytes += Self.approximateSize(value)
                try buffers[beforeStart + index].append(value)
            }
        }
        if unchanged.isEmpty {
            try buffers[unchangedIndex].appendNull()
        } else {
            try buffers[unchangedIndex].beginList()
            for name in unchanged {
                try buffers[unchangedIndex].append(name)
                bytes += name.utf8.count
            }
            try buffers[unchangedIndex].endList()
        }
        return bytes
    }

    /// About how many bytes a value takes in a column buffer (to bound buffered memory).
    static func approximateSize(_ value: Value) -> Int {
        switch value {
        case .null, .unchanged: return 1
        case .string(let text), .json(let text): return text.utf8.count + 4
        case .bytes(let bytes): return bytes.count + 4
        case .decimal(let decimal): return decimal.unscaledDigits.utf8.count / 2 + 4
        case .array(let elements): return elements.reduce(4) { $0 + approximateSize($1) }
        case .uuid: return 16
        default: return 8
        }
    }
}
