import SluiceCore

/// Table descriptions from information_schema, cached per table until a DDL invalidates them.
struct MySQLCatalog {
    let connection: MySQLConnection
    private var columnsCache: [String: [ColumnCatalogInfo]?] = [:]
    private var keyCache: [String: [String]?] = [:]

    init(connection: MySQLConnection) { self.connection = connection }

    mutating func invalidateAll() {
        columnsCache.removeAll()
        keyCache.removeAll()
    }

    /// The table's columns in ordinal order, or nil when information_schema does not know the table.
    mutating func columns(database: String, table: String) throws -> [ColumnCatalogInfo]? {
        let key = "\(database).\(table)"
        if let cached = columnsCache[key] { return cached }
        let rows = try connection.query("""
            SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, CHARACTER_SET_NAME
            FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \(connection.quoted(database))
            AND TABLE_NAME = \(connection.quoted(table)) ORDER BY ORDINAL_POSITION
            """)
        var jsonColumns = Set<String>()
        if connection.serverVersion.contains("MariaDB") {
            // MariaDB's JSON is LONGTEXT with a CHECK (json_valid(`column`)) constraint.
            let checks = (try? connection.query("""
                SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
                WHERE CONSTRAINT_SCHEMA = \(connection.quoted(database)) AND TABLE_NAME = \(connection.quoted(table))
                """)) ?? []
            for row in checks {
                guard let clause = row[0], clause.lowercased().hasPrefix("json_valid(") else { continue }
                jsonColumns.insert(clause.dropFirst("json_valid(".count).dropLast().replacingOccurrences(of: "`", with: ""))
            }
        }
        let columns: [ColumnCatalogInfo]? = rows.isEmpty ? nil : rows.map { row in
            let name = row[0] ?? "", columnType = row[1] ?? "", dataType = (row[2] ?? "").lowercased()
            var info = ColumnCatalogInfo(
                name: name, columnType: columnType, dataType: dataType,
                isUnsigned: columnType.lowercased().contains("unsigned"),
                charset: row[4].map { MySQLCharset(name: $0) } ?? (Self.isBinaryType(dataType) ? .binary : nil),
                isJSONText: jsonColumns.contains(name) || (dataType == "json" && connection.serverVersion.contains("MariaDB")),
                nullable: row[3] == "YES")
            if dataType == "enum" { info.enumValues = Self.quotedList(columnType) }
            if dataType == "set" { info.setValues = Self.quotedList(columnType) }
            return info
        }
        columnsCache[key] = .some(columns)
        return columns
    }

    /// The primary-key column names in key order (empty when the table has none).
    mutating func primaryKey(database: String, table: String) throws -> [String]? {
        let key = "\(database).\(table)"
        if let cached = keyCache[key] { return cached }
        let rows = try connection.query("""
            SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
            WHERE TABLE_SCHEMA = \(connection.quoted(database)) AND TABLE_NAME = \(connection.quoted(table))
            AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION
            """)
        let names = rows.compactMap { $0[0] }
        keyCache[key] = .some(names)
        return names
    }

    static func isBinaryType(_ dataType: String) -> Bool {
        ["binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"].contains(dataType)
    }

    /// `enum('a','b''c')` → ["a", "b'c"].
    static func quotedList(_ columnType: String) -> [String] {
        var values: [String] = []
        var current = ""
        var inQuote = false
        let chars = Array(columnType)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if inQuote {
                if c == "'" {
                    if i + 1 < chars.count && chars[i + 1] == "'" {
                        current.append("'")
                        i += 1
                    } else {
                        inQuote = false
                        values.append(current)
                        current = ""
                    }
                } else if c == "\\" && i + 1 < chars.count {
                    current.append(chars[i + 1])
                    i += 1
                } else {
                    current.append(c)
                }
            } else if c == "'" {
                inQuote = true
            }
            i += 1
        }
        return values
    }
}

/// Names of binlog types for schemas when the catalog does not describe the column.
enum MySQLTypeNames {
    static func name(_ column: BinlogColumn) -> String {
        switch MySQLColumnType(rawValue: column.realType) {
        case .tiny: return column.isUnsigned == true ? "tinyint unsigned" : "tinyint"
        case .short: return column.isUnsigned == true ? "smallint unsigned" : "smallint"
        case .int24: return column.isUnsigned == true ? "mediumint unsigned" : "mediumint"
        case .long: return column.isUnsigned == true ? "int unsigned" : "int"
        case .longlong: return column.isUnsigned == true ? "bigint unsigned" : "bigint"
        case .float: return "float"
        case .double: return "double"
        case .newdecimal: return "decimal(\(column.meta1),\(column.meta2))"
        case .date, .newdate: return "date"
        case .time, .time2: return column.meta1 > 0 ? "time(\(column.meta1))" : "time"
        case .datetime, .datetime2: return column.meta1 > 0 ? "datetime(\(column.meta1))" : "datetime"
        case .timestamp, .timestamp2: return column.meta1 > 0 ? "timestamp(\(column.meta1))" : "timestamp"
        case .year: return "year"
        case .bit: return "bit(\(column.meta1 * 8 + column.meta2))"
        case .enumeration: return "enum"
        case .set: return "set"
        case .varchar, .varString: return column.collation == 63 ? "varbinary" : "varchar"
        case .string: return column.collation == 63 ? "binary" : "char"
        case .tinyBlob, .mediumBlob, .longBlob, .blob: return column.collation == 63 ? "blob" : "text"
        case .json: return "json"
        case .geometry: return "geometry"
        case .vector: return "vector"
        default: return "type\(column.realType)"
        }
    }
}
