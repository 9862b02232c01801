import Foundation
import SluiceTestSupport
import Testing

@testable import SluiceParquet

/// pyarrow reads the min/max/null_count statistics Sluice writes, in each type's order.
@Suite struct StatisticsTests {
    /// The expected min and max of a column's cells in the column type's order, rendered like the reader script.
    static func expectedMinMax(_ type: ParquetColumnType, _ cells: [TestCell]) -> (Any, Any)? {
        func extremes<T>(_ values: [T], _ less: (T, T) -> Bool) -> (T, T)? {
            guard var low = values.first, var high = values.first else { return nil }
            for value in values {
                if less(value, low) { low = value }
                if less(high, value) { high = value }
            }
            return (low, high)
        }
        let present = cells.filter { if case .null = $0 { return false } else { return true } }
        let pair: (TestCell, TestCell)?
        switch type {
        case .boolean:
            pair = extremes(present) {
                if case .bool(let a) = $0, case .bool(let b) = $1 { return !a && b }
                return false
            }
        case .uint8, .uint16, .uint32, .uint64:
            pair = extremes(present) {
                if case .uint(let a) = $0, case .uint(let b) = $1 { return a < b }
                return false
            }
        case .float, .double:
            let ordered = present.filter {
                if case .double(let value) = $0 { return !value.isNaN }
                if case .float(let value) = $0 { return !value.isNaN }
                return false
            }
            pair = extremes(ordered) { a, b in
                func number(_ cell: TestCell) -> Double {
                    if case .double(let value) = cell { return value }
                    if case .float(let value) = cell { return Double(value) }
                    return 0
                }
                return number(a) < number(b)
            }
        case .string, .json:
            pair = extremes(present) {
                if case .text(let a) = $0, case .text(let b) = $1 {
                    return Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8))
                }
                return false
            }
        case .bytes:
            pair = extremes(present) {
                if case .bytes(let a) = $0, case .bytes(let b) = $1 { return a.lexicographicallyPrecedes(b) }
                return false
            }
        case .uuid:
            pair = extremes(present) {
                if case .uuid(let a) = $0, case .uuid(let b) = $1 {
                    return withUnsafeBytes(of: a.uuid) { x in
                        withUnsafeBytes(of: b.uuid) { y in x.lexicographicallyPrecedes(y) }
                    }
                }
                return false
            }
        case .decimal:
            pair = extremes(present) {
                if case .decimal(let a) = $0, case .decimal(let b) = $1 {
                    return Decimal(string: a)! < Decimal(string: b)!
                }
                return false
            }
        default:
            pair = extremes(present) { if case .int(let a) = $0, case .int(let b) = $1 { return a < b }; return false }
        }
        // pyarrow reports JSON statistics as bytes (the reader script renders them as hex).
        func rendered(_ cell: TestCell) -> Any {
            if type == .json, case .text(let text) = cell {
                return TestTable.rendered(.bytes(Array(text.utf8)))
            }
            return TestTable.rendered(cell)
        }
        return pair.map { (rendered($0.0), rendered($0.1)) }
    }

    @Test func pyarrowReadsMinMaxAndNullCountOfEveryType() throws {
        let table = SampleTables.allTypes(rows: 3000)
        var options = ParquetWriterOptions()
        options.maxRowsPerRowGroup = 1200
        let (_, read) = try table.roundTrip(options: options, batchRows: 500)
        let groups = read["row_groups"] as? [[String: Any]] ?? []
        #expect(groups.count == 3)
        for (groupIndex, group) in groups.enumerated() {
            let columns = group["columns"] as? [String: [String: Any]] ?? [:]
            let rows = (groupIndex * 1200)..<min(groupIndex * 1200 + 1200, 3000)
            for (index, column) in table.columns.enumerated() {
                let cells = Array(table.cells[index][rows])
                let statistics = columns[column.name] ?? [:]
                let nulls = cells.filter { if case .null = $0 { return true } else { return false } }.count
                #expect(statistics["null_count"] as? Int == nulls, "null_count of \(column.name)")
                guard let (minimum, maximum) = Self.expectedMinMax(column.type, cells) else { continue }
                #expect(statistics["has_min_max"] as? Bool == true, "has_min_max of \(column.name)")
                #expect(jsonEqual(statistics["min"], minimum),
                        "min of \(column.name): \(String(describing: statistics["min"])) vs \(minimum)")
                #expect(jsonEqual(statistics["max"], maximum),
                        "max of \(column.name): \(String(describing: statistics["max"])) vs \(maximum)")
            }
        }
    }

    @Test func zeroMinimumAndMaximumAreWrittenAsSignedZeros() throws {
        let table = TestTable(
            columns: [ParquetColumn(name: "x", type: .double)], cells: [[.double(0), .double(-0.0), .double(0)]])
        let (summary, _) = try table.roundTrip()
        let statistics = summary.metadata.rowGroups[0].columns[0].metaData?.statistics
        #expect(statistics?.minValue == withUnsafeBytes(of: (-0.0).bitPattern.littleEndian) { Array($0) })
        #expect(statistics?.maxValue == [UInt8](repeating: 0, count: 8))
    }

    @Test func longBinaryStatisticsAreTruncatedAndMarkedInexact() throws {
        let long = String(repeating: "m", count: 300)
        let allDelete = String(repeating: "\u{7F}", count: 100)
        let table = TestTable(
            columns: [ParquetColumn(name: "s", type: .string), ParquetColumn(name: "d", type: .string)],
            cells: [
                [.text(long + "a"), .text("b" + long), .text("\u{7F}" + long)],
                [.text(allDelete), .text(allDelete + "x"), .null],
            ])
        let (summary, read) = try table.roundTrip()
        let statistics = summary.metadata.rowGroups[0].columns[0].metaData?.statistics
        #expect(statistics?.minValue == Array(("b" + long).utf8.prefix(64)))
        #expect(statistics?.isMinValueExact == false)
        #expect(statistics?.maxValue == Array(("\u{7F}" + long).utf8.prefix(63)) + [UInt8(ascii: "n")])
        #expect(statistics?.isMaxValueExact == false)
        // A prefix of DEL bytes cannot be rounded up within ASCII: no max is written rather than a wrong one.
        let deleteStatistics = summary.metadata.rowGroups[0].columns[1].metaData?.statistics
        #expect(deleteStatistics?.maxValue == nil)
        #expect(deleteStatistics?.nullCount == 1)
        let columns = (read["row_groups"] as? [[String: Any]])?.first?["columns"] as? [String: [String: Any]]
        #expect(columns?["s"]?["null_count"] as? Int == 0)
        #expect(columns?["s"]?["has_min_max"] as? Bool == true)
    }
}
