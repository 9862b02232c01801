import Foundation
import SluiceCore

/// How far a snapshot of one table has come: what sources report through `SourceContext.reportProgress`, and what
/// the runtime logs and shows in its status line.
public struct SnapshotProgress: Sendable, Hashable, CustomStringConvertible {
    public var table: TableID
    /// Rows read so far, across restarts.
    public var rowsDone: Int64
    /// The table's estimated row count (the server's statistics), never below `rowsDone`.
    public var rowsEstimated: Int64
    /// Rows per second in this run.
    public var rowsPerSecond: Double

    /// - Parameters:
    ///   - rowsThisRun: rows read since this run started the table, over `elapsed`.
    public init(table: TableID, rowsDone: Int64, rowsEstimated: Int64, rowsThisRun: Int64, elapsed: Duration) {
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 0.001)
        self.table = table
        self.rowsDone = rowsDone
        self.rowsEstimated = max(rowsEstimated, rowsDone)
        self.rowsPerSecond = Double(rowsThisRun) / seconds
    }

    /// Done as a percentage of the estimate.
    public var percent: Double { rowsEstimated > 0 ? Double(rowsDone) * 100 / Double(rowsEstimated) : 100 }

    /// Seconds until the estimate is reached at the current rate (0 when unknown).
    public var secondsRemaining: Double {
        rowsPerSecond > 0 ? Double(rowsEstimated - rowsDone) / rowsPerSecond : 0
    }

    public var description: String {
        String(format: "snapshot %@: %lld of ~%lld rows (%.0f%%), %.0f rows/s, ETA %.0fs",
               table.description, rowsDone, rowsEstimated, percent, rowsPerSecond, secondsRemaining)
    }
}
