import SluiceCore

extension TableWriter {
    /// The table schema for a source schema version, evolved from `current` (nil: a new table).
    static func evolvedSchema(
        current: IcebergSchema?, lastColumnId: Int, source: TableSchema, mode: IcebergSinkConfiguration.Mode
    ) throws -> IcebergSchema {
        var fields = current?.fields ?? []
        var nextId = max(lastColumnId, current?.highestFieldId ?? 0) + 1
        let isNew = current == nil
        let keys = Set(mode == .upsert ? source.primaryKey : [])
        for column in source.columns {
            var probeId = nextId
            let wanted = IcebergTypeMapping.icebergType(for: column, nextId: &probeId)
            if let index = fields.firstIndex(where: { $0.name == column.name }) {
                let existing = fields[index].type
                if existing == wanted || wanted.canWiden(to: existing) || (existing == .time && column.kind == .time) {
                    // Same type, or the source narrowed: keep the table's wider type. A `time` column of a table
                    // created before times became text keeps its type.
                } else if existing.canWiden(to: wanted) {
                    fields[index].type = wanted
                } else if case .list(let elementId, let oldElement, let required) = existing,
                    case .list(_, let newElement, _) = wanted, oldElement.canWiden(to: newElement)
                {
                    fields[index].type = .list(elementId: elementId, element: newElement, elementRequired: required)
                } else {
                    throw IcebergError(
                        .incompatibleSchema,
                        "column \(column.name) of \(source.table) changed from \(existing) to \(wanted), "
                            + "which Iceberg cannot promote",
                        hint: "write to a new table (change the sink's table template) or rewrite the table")
                }
                if fields[index].required && !keys.contains(column.name) { fields[index].required = false }
            } else {
                let id = nextId
                nextId += 1
                var type = wanted
                if case .list(_, let element, let required) = wanted {
                    type = .list(elementId: nextId, element: element, elementRequired: required)
                    nextId += 1
                }
                fields.append(
                    IcebergField(
                        id: id, name: column.name, required: isNew && keys.contains(column.name), type: type))
            }
        }
        let sourceNames = Set(source.columns.map(\.name))
        for index in fields.indices where !sourceNames.contains(fields[index].name) {
            if mode == .append && changelogColumns.contains(fields[index].name) { continue }
            if fields[index].required { fields[index].required = false }
        }
        if mode == .append && !fields.contains(where: { $0.name == TableWriter.unchangedColumn }) {
            // The names of columns the source did not send (unchanged TOASTed values) and no before image held;
            // added to append tables created before it existed, too.
            fields.append(IcebergField(
                id: nextId, name: TableWriter.unchangedColumn, required: false,
                type: .list(elementId: nextId + 1, element: .string, elementRequired: true)))
            nextId += 2
        }
        if mode == .append && isNew {
            let extra: [(String, IcebergType, Bool)] = [
                ("_op", .string, true), ("_position", .string, false), ("_commit_ts", .timestamptz, false),
                ("_tx_id", .string, false), ("_offset", .long, true),
            ]
            for (name, type, required) in extra where !fields.contains(where: { $0.name == name }) {
                fields.append(IcebergField(id: nextId, name: name, required: required, type: type))
                nextId += 1
            }
        }
        let identifiers =
            mode == .upsert
            ? source.primaryKey.compactMap { name in fields.first { $0.name == name && $0.required }?.id }
            : []
        return IcebergSchema(
            schemaId: current?.schemaId ?? 0, fields: fields,
            identifierFieldIds: identifiers.count == source.primaryKey.count ? identifiers : [])
    }
}
