import SluiceCore
import SluicePostgresClient

/// Looks up types and table metadata on a regular (non-replication) connection, with caches.
///
/// Resolves domains to their base types, arrays to their element types and composites to their
/// attributes, so that every column gets an exact `PgValueType`.
// @unchecked: the caches and the connection are used by the source's one task at a time (see
// `PostgresSourceSession`); no other thread reaches the catalog.
final class PgCatalog: @unchecked Sendable {
    let connection: PostgresConnection
    private var types: [UInt32: PgValueType] = [:]
    private var typeNames: [UInt32: String] = [:]

    init(connection: PostgresConnection) {
        self.connection = connection
    }

    private struct TypeRow {
        var name: String
        var typtype: String
        var baseType: UInt32
        var element: UInt32
        var isArray: Bool
        var delimiter: UInt8
        var relid: UInt32
    }

    /// The value type of a type OID (resolving and caching it and everything it refers to).
    func valueType(_ oid: UInt32) throws -> PgValueType {
        if let known = types[oid] { return known }
        try resolve([oid])
        return types[oid] ?? .other
    }

    /// Resolves several OIDs with as few round trips as possible.
    func resolve(_ oids: [UInt32]) throws {
        var rows: [UInt32: TypeRow] = [:]
        var attributes: [UInt32: [(String, UInt32)]] = [:]  // relid → fields
        var pending = Set(oids.filter { types[$0] == nil && PgValueType.builtin(oid: $0) == nil })
        for oid in oids where types[oid] == nil {
            if let builtin = PgValueType.builtin(oid: oid) { types[oid] = builtin }
        }
        while !pending.isEmpty {
            let list = "{" + pending.map(String.init).joined(separator: ",") + "}"
            pending.removeAll()
            let result = try connection.execute(
                """
                SELECT oid, typname, typtype, typbasetype, typelem, typinput = 'array_in'::regproc, typdelim, typrelid
                FROM pg_type WHERE oid = ANY($1::oid[])
                """, parameters: [list], context: "reading column types")
            var relids: [UInt32] = []
            for r in 0..<result.rowCount {
                let row = TypeRow(
                    name: result.string(r, 1) ?? "", typtype: result.string(r, 2) ?? "b",
                    baseType: UInt32(result.string(r, 3) ?? "0") ?? 0, element: UInt32(result.string(r, 4) ?? "0") ?? 0,
                    isArray: result.string(r, 5) == "t", delimiter: result.string(r, 6)?.utf8.first ?? UInt8(ascii: ","),
                    relid: UInt32(result.string(r, 7) ?? "0") ?? 0)
                let oid = UInt32(result.string(r, 0) ?? "0") ?? 0
                rows[oid] = row
                var needs: [UInt32] = []
                if row.isArray { needs.append(row.element) }
                if row.typtype == "d" { needs.append(row.baseType) }
                if row.typtype == "c" && row.relid != 0 { relids.append(row.relid) }
                for need in needs where rows[need] == nil && types[need] == nil {
                    if let builtin = PgValueType.builtin(oid: need) { types[need] = builtin } else { pending.insert(need) }
                }
            }
            if !relids.isEmpty {
                let relList = "{" + relids.map(String.init).joined(separator: ",") + "}"
                let fields = try connection.execute(
                    """
                    SELECT attrelid, attname, atttypid FROM pg_attribute
                    WHERE attrelid = ANY($1::oid[]) AND attnum > 0 AND NOT attisdropped ORDER BY attrelid, attnum
                    """, parameters: [relList], context: "reading composite types")
                for r in 0..<fields.rowCount {
                    let relid = UInt32(fields.string(r, 0) ?? "0") ?? 0
                    let type = UInt32(fields.string(r, 2) ?? "0") ?? 0
                    attributes[relid, default: []].append((fields.string(r, 1) ?? "", type))
                    if rows[type] == nil && types[type] == nil {
                        if let builtin = PgValueType.builtin(oid: type) { types[type] = builtin } else { pending.insert(type) }
                    }
                }
            }
        }
        func build(_ oid: UInt32, depth: Int) -> PgValueType {
            if let known = types[oid] { return known }
            guard depth < 16, let row = rows[oid] else { return .other }
            let type: PgValueType
            if row.isArray {
                let element = build(row.element, depth: depth + 1)
                type = .array(element: element, delimiter: rows[row.element]?.delimiter ?? UInt8(ascii: ","))
            } else if row.typtype == "d" {
                type = build(row.baseType, depth: depth + 1)
            } else if row.typtype == "c" {
                type = .composite((attributes[row.relid] ?? []).map {
                    CompositeField(name: $0.0, type: build($0.1, depth: depth + 1))
                })
            } else {
                type = .other
            }
            types[oid] = type
            return type
        }
        for oid in rows.keys { _ = build(oid, depth: 0) }
    }

    /// What the catalog says about a table's columns (nullability) and primary key.
    struct TableInfo: Sendable {
        var notNull: Set<String>
        var primaryKey: [String]
    }

    /// The live columns of table `oid` as a relation message describes them (none when the table is gone), keys
    /// marked from `info` (read when not given).
    func relationColumns(oid: UInt32, table: TableID, info: TableInfo? = nil) throws -> [RelationColumn] {
        let attributes = try connection.execute(
            "SELECT attname, atttypid, atttypmod FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 "
                + "AND NOT attisdropped ORDER BY attnum", parameters: [String(oid)], context: "reading columns of \(table)")
        guard attributes.rowCount > 0 else { return [] }
        let primaryKey = try (info ?? tableInfo(oid: oid)).primaryKey
        return (0..<attributes.rowCount).map { r in
            RelationColumn(isKey: primaryKey.contains(attributes.string(r, 0) ?? ""), name: attributes.string(r, 0) ?? "",
                           typeOID: UInt32(attributes.string(r, 1) ?? "0") ?? 0,
                           typeModifier: Int32(attributes.string(r, 2) ?? "-1") ?? -1)
        }
    }

    func tableInfo(oid: UInt32) throws -> TableInfo {
        let result = try connection.execute(
            """
            SELECT a.attname, a.attnotnull,
                   -- indkey is an int2vector: its array form is 0-based, so make positions 1-based.
                   COALESCE(array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1) + 1, 0)
            FROM pg_attribute a
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
            """, parameters: [String(oid)], context: "reading table metadata")
        var notNull = Set<String>()
        var keyed: [(Int, String)] = []
        for r in 0..<result.rowCount {
            let name = result.string(r, 0) ?? ""
            if result.string(r, 1) == "t" { notNull.insert(name) }
            if let position = Int(result.string(r, 2) ?? "0"), position > 0 { keyed.append((position, name)) }
        }
        return TableInfo(notNull: notNull, primaryKey: keyed.sorted { $0.0 < $1.0 }.map(\.1))
    }

    /// `format_type` for each (type OID, modifier) pair, in order.
    func formatTypes(_ columns: [(UInt32, Int32)]) throws -> [String] {
        guard !columns.isEmpty else { return [] }
        let oids = "{" + columns.map { String($0.0) }.joined(separator: ",") + "}"
        let mods = "{" + columns.map { String($0.1) }.joined(separator: ",") + "}"
        let result = try connection.execute(
            "SELECT format_type(t, m) FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS u(t, m, n) ORDER BY n",
            parameters: [oids, mods], context: "reading column type names")
        return (0..<result.rowCount).map { result.string($0, 0) ?? "unknown" }
    }

    /// Precision and scale (or length) from a type modifier.
    static func precisionAndScale(type oid: UInt32, modifier: Int32) -> (Int?, Int?) {
        guard modifier >= 0 else { return (nil, nil) }
        switch oid {
        case 1700:
            let m = Int(modifier) - 4
            return ((m >> 16) & 0xFFFF, m & 0xFFFF)
        case 1042, 1043: return (Int(modifier) - 4, nil)
        case 1083, 1114, 1184, 1266: return (nil, Int(modifier))
        case 1560, 1562: return (Int(modifier), nil)
        default: return (nil, nil)
        }
    }
}
