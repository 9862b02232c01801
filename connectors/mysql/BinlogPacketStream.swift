import Foundation
import SluiceCore
import Synchronization

/// Reads binlog packets on a dedicated thread (a `BlockingExecutor`: libmariadb reads block) and hands them to the
/// async side in batches, blocking the thread while too many bytes wait to be decoded.
final class BinlogPacketStream: Sendable {
    /// Binlog packets; an empty one is a wake-up (see `wake`), not a packet from the server.
    private let packets = BoundedChannel<[UInt8]>(capacity: BinlogPacketStream.maxQueuedBytes)
    private let connection: MySQLConnection
    private let executor: BlockingExecutor<MySQLConnection>
    private let stopped = Atomic<Bool>(false)
    /// Packets read ahead of the decoder: enough to keep it busy, small enough to stay in cache and not hold memory.
    static let maxQueuedBytes = 8 << 20

    private init(connection: MySQLConnection) {
        self.connection = connection
        executor = BlockingExecutor(name: "sluice-binlog-reader", handle: connection)
    }

    /// The packets received since the last call, in order, waiting for at least one; nil at the end of the binlog
    /// (`nonBlocking`), after `stop()`, or when the task is cancelled.
    func next() async throws -> [[UInt8]]? {
        do {
            return try await packets.receiveAll()
        } catch is CancellationError {
            return nil
        }
    }

    /// True when no packet waits to be taken.
    var isDrained: Bool { packets.isEmpty }

    /// Hands the consumer an empty packet, so that it looks at other work (a finished snapshot chunk read).
    func wake() {
        packets.sendWithoutWaiting([])
    }

    /// Ends the stream and the reader thread (the blocked read is interrupted; the thread closes the connection).
    func stop() {
        if !stopped.exchange(true, ordering: .sequentiallyConsistent) {
            connection.interrupt()
            packets.close()
        }
    }

    /// Sets up the replication session, asks for the binlog from a position (or MariaDB GTID / MySQL GTID set),
    /// and starts reading.
    static func open(_ connection: MySQLConnection, settings: MySQLSourceSettings, server: ServerSettings, file: String,
                     position: UInt64, gtid: String?, nonBlocking: Bool) throws -> BinlogPacketStream {
        try connection.execute("SET @master_binlog_checksum = @@global.binlog_checksum")
        try connection.execute("SET @master_heartbeat_period = \(UInt64(settings.heartbeatSeconds * 1e9))")
        if server.isMariaDB {
            try connection.execute("SET @mariadb_slave_capability = 4")
        }
        var serverID = settings.serverID.littleEndian
        let serverIDBytes = withUnsafeBytes(of: &serverID) { Array($0) }
        let flags: UInt16 = nonBlocking ? 1 : 0  // BINLOG_DUMP_NON_BLOCK: EOF at the end instead of waiting
        if let gtid, server.isMariaDB {
            try connection.execute("SET @slave_connect_state = \(connection.quoted(gtid))")
            try connection.execute("SET @slave_gtid_strict_mode = 0")
            try connection.execute("SET @slave_gtid_ignore_duplicates = 0")
            try connection.sendBinlogDump(command: 0x12, payload: Self.le(4, 4) + Self.le(UInt64(flags), 2) + serverIDBytes)
        } else if let gtid {
            let set = try MySQLGTIDSet(gtid).encoded()
            var payload = Self.le(UInt64(flags | 0x04), 2) + serverIDBytes + Self.le(0, 4) + Self.le(4, 8)
            payload += Self.le(UInt64(set.count), 4) + set
            try connection.sendBinlogDump(command: 0x1E, payload: payload)
        } else {
            let payload = Self.le(position, 4) + Self.le(UInt64(flags), 2) + serverIDBytes + Array(file.utf8)
            try connection.sendBinlogDump(command: 0x12, payload: payload)
        }
        let stream = BinlogPacketStream(connection: connection)
        stream.executor.execute { [stream] connection in stream.readLoop(connection) }
        stream.executor.close()  // the thread ends with the read loop
        return stream
    }

    private func readLoop(_ connection: MySQLConnection) {
        defer { connection.close() }
        while !stopped.load(ordering: .relaxed) {
            do {
                switch try connection.readBinlogPacket() {
                case .event(let bytes):
                    if packets.sendBlocking(bytes, weight: bytes.count) == .closed { return }
                case .end:
                    packets.finish()
                    return
                }
            } catch {
                packets.finish(throwing: stopped.load(ordering: .relaxed) ? nil : error)
                return
            }
        }
        packets.finish()
    }

    static func le(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) }
    }
}
