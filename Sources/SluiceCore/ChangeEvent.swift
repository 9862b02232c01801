/// What happened to a row.
public enum ChangeOperation: String, Sendable, Hashable, Codable, CaseIterable {
    case insert = "c"
    case update = "u"
    case delete = "d"
    /// A row read by a snapshot.
    case read = "r"
    case truncate = "t"
    /// A message the source emitted into its change stream (PostgreSQL `pg_logical_emit_message`).
    case message = "m"
    /// Start of a source transaction (on `_transactions` when markers are enabled).
    case begin = "b"
    /// End (commit) of a source transaction.
    case commit = "e"
}

/// A row image: column names and values in the table's column order.
///
/// A row may name fewer columns than its table (a key-only before image).
public struct Row: Sendable, Hashable {
    public var columns: [String]
    public var values: [Value]

    public init(columns: [String], values: [Value]) {
        precondition(columns.count == values.count, "a row needs one value per column")
        self.columns = columns
        self.values = values
    }

    /// The value of a column, or nil when the row does not carry it.
    public subscript(column: String) -> Value? {
        guard let index = columns.firstIndex(of: column) else { return nil }
        return values[index]
    }

    /// Names of the columns whose value the source did not send.
    public var unchangedColumns: [String] {
        zip(columns, values).compactMap { name, value in
            if case .unchanged = value { return name }
            return nil
        }
    }
}

/// One change, in the model every connector speaks.
public struct ChangeEvent: Sendable, Hashable {
    public var op: ChangeOperation
    /// The connector that captured it (`postgres`, `mysql`, `generator`, …).
    public var connector: String
    public var table: TableID
    /// Version of the table's schema (see `_schemas`) the row images follow.
    public var schemaVersion: Int
    public var before: Row?
    public var after: Row?
    /// Where the change is in the source (the commit LSN and order for PostgreSQL).
    public var position: SourcePosition
    /// The source transaction (PostgreSQL xid, MySQL GTID), when there is one.
    public var transactionID: String?
    /// Order of the change within its transaction, from 0.
    public var orderInTransaction: Int?
    /// Commit time at the source, microseconds since 1970-01-01 UTC.
    public var commitTimeMicros: Int64
    /// True for rows read by a snapshot.
    public var isSnapshot: Bool

    public init(
        op: ChangeOperation, connector: String, table: TableID, schemaVersion: Int, before: Row?, after: Row?,
        position: SourcePosition, transactionID: String? = nil, orderInTransaction: Int? = nil,
        commitTimeMicros: Int64, isSnapshot: Bool = false
    ) {
        self.op = op
        self.connector = connector
        self.table = table
        self.schemaVersion = schemaVersion
        self.before = before
        self.after = after
        self.position = position
        self.transactionID = transactionID
        self.orderInTransaction = orderInTransaction
        self.commitTimeMicros = commitTimeMicros
        self.isSnapshot = isSnapshot
    }

    /// The primary-key values of the changed row (from the after image, else the before image).
    public func key(primaryKey: [String]) -> [Value]? {
        guard !primaryKey.isEmpty else { return nil }
        let image = after ?? before
        guard let image else { return nil }
        var key: [Value] = []
        key.reserveCapacity(primaryKey.count)
        for column in primaryKey {
            var value = image[column]
            if value == nil || value == .unchanged { value = before?[column] }
            guard let value, value != .unchanged else { return nil }
            key.append(value)
        }
        return key
    }

    /// For an update that changes the primary key (4 → 5): the delete of the old key — this change with op `d`, the
    /// before image and no after image, at the same position. Nil for any other change, or when either image lacks
    /// a key value. Changelog consumers that apply changes by key need it, else the old key stays alive.
    public func keyChangeDelete(primaryKey: [String]) -> ChangeEvent? {
        guard op == .update, !primaryKey.isEmpty, let before, let after else { return nil }
        var moved = false
        for column in primaryKey {
            guard let old = before[column], let new = after[column], old != .unchanged, new != .unchanged, !old.isNull
            else { return nil }
            if old != new { moved = true }
        }
        guard moved else { return nil }
        var delete = self
        delete.op = .delete
        delete.after = nil
        return delete
    }
}
