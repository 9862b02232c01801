import Foundation
import SluiceCore
import Synchronization

/// Reads binlog packets on a dedicated thread (libmariadb reads block) and hands them to the async side,
/// pausing while too many bytes wait to be decoded.
final class BinlogPacketStream: Sendable {
    /// Binlog packets; an empty one is a wake-up (see `wake`), not a packet from the server.
    let packets: AsyncThrowingStream<[UInt8], any Error>
    private let output: AsyncThrowingStream<[UInt8], any Error>.Continuation
    private let connection: MySQLConnection
    private let queuedBytes = Atomic<Int>(0)
    private let queuedCount = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    /// Packets read ahead of the decoder: enough to keep it busy, small enough to stay in cache and not hold memory.
    static let maxQueuedBytes = 8 << 20

    private init(connection: MySQLConnection) {
        self.connection = connection
        (packets, output) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
    }

    /// Packets received but not yet taken by the consumer.
    var queuedPackets: Int { queuedCount.load(ordering: .relaxed) }

    /// The consumer took a packet of `size` bytes.
    func consumed(_ size: Int) {
        queuedBytes.subtract(size, ordering: .relaxed)
        queuedCount.subtract(1, ordering: .relaxed)
    }

    /// Hands the consumer an empty packet, so that it looks at other work (a finished snapshot chunk read).
    func wake() {
        queuedCount.add(1, ordering: .relaxed)
        output.yield([])
    }

    /// Ends the stream and the reader thread.
    func stop() {
        if !stopped.exchange(true, ordering: .sequentiallyConsistent) { connection.interrupt() }
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
        stream.output.onTermination = { [weak stream] _ in stream?.stop() }
        let thread = Thread { [stream] in stream.readLoop() }
        thread.name = "sluice-binlog-reader"
        thread.start()
        return stream
    }

    private func readLoop() {
        defer { connection.close() }
        while !stopped.load(ordering: .relaxed) {
            while queuedBytes.load(ordering: .relaxed) > Self.maxQueuedBytes && !stopped.load(ordering: .relaxed) {
                usleep(1000)
            }
            do {
                switch try connection.readBinlogPacket() {
                case .event(let bytes):
                    queuedBytes.add(bytes.count, ordering: .relaxed)
                    queuedCount.add(1, ordering: .relaxed)
                    output.yield(bytes)
                case .end:
                    output.finish()
                    return
                }
            } catch {
                if stopped.load(ordering: .relaxed) { output.finish() } else { output.finish(throwing: error) }
                return
            }
        }
        output.finish()
    }

    static func le(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) }
    }
}
