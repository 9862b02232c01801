import SluiceAvro

/// Where a live row of an upsert table is: data file and position.
struct RowLocation: Hashable {
    var file: Int32
    var position: Int64
}

/// A primary key: a single integer key (the common case) without an array allocation, or the key's cells.
enum RowKey: Hashable {
    case long(Int64)
    case cells([Cell])

    init(_ cells: [Cell]) {
        if cells.count == 1, case .long(let value) = cells[0] {
            self = .long(value)
        } else {
            self = .cells(cells)
        }
    }

    var cells: [Cell] {
        switch self {
        case .long(let value): return [.long(value)]
        case .cells(let cells): return cells
        }
    }
}

/// The upsert key index: primary key → where the row is in the table's current snapshot.
struct KeyIndex {
    var files: [String] = []
    var fileIds: [String: Int32] = [:]
    var partitions: [String: [AvroValue]] = [:]
    var locations: [RowKey: RowLocation] = [:]

    mutating func fileId(_ path: String, partition: [AvroValue]) -> Int32 {
        if let id = fileIds[path] { return id }
        let id = Int32(files.count)
        files.append(path)
        fileIds[path] = id
        partitions[path] = partition
        return id
    }
}
