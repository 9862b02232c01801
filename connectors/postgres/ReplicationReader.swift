import Foundation
import SluiceCore
import SluicePostgresClient
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the CopyBoth replication stream on a dedicated thread (a `BlockingExecutor`, never Swift's cooperative
/// pool) and hands messages to the source's task in batches through a bounded channel.
///
/// The thread also owns all writes on the connection: it answers keepalives that request a reply at once, sends a
/// status update with the acknowledged (durable) LSN when it changes and at least every `statusInterval`, even while
/// the channel is full (backpressure), so the server never times the connection out. While idle it sleeps in
/// `poll` on the socket and a wake-up pipe (written by `acknowledge`, `requestKeepalive` and `stop`) until the next
/// status update is due: no periodic wake-ups in between.
final class ReplicationReader: Sendable {
    private let executor: BlockingExecutor<PostgresConnection>
    private let statusInterval: Double
    /// Batches of CopyData payloads, weighed in bytes.
    private let messages: BoundedChannel<[[UInt8]]>
    private let control: Mutex<Control>
    /// Written to wake the thread from `poll`; read end first.
    private let wakePipe: (read: Int32, write: Int32)

    private struct Control {
        var acknowledged: LSN
        var acknowledgementChanged = false
        var askForKeepalive = false
        var stopRequested = false
    }

    /// Payload bytes the thread reads ahead before it hands them over.
    private static let handoffBytes = 4 << 20

    /// - Parameters:
    ///   - connection: a replication connection on which START_REPLICATION succeeded.
    ///   - startLSN: the position already confirmed (reported until something newer is durable).
    init(connection: PostgresConnection, startLSN: LSN, statusInterval: Double, maxQueuedBytes: Int = 32 << 20) throws {
        self.statusInterval = max(0.2, statusInterval)
        messages = BoundedChannel(capacity: maxQueuedBytes)
        control = Mutex(Control(acknowledged: startLSN))
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw SluiceError(.internal, "cannot create the replication reader's wake-up pipe (errno \(errno))",
                              hint: "the process may be out of file descriptors (ulimit -n)")
        }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        wakePipe = (fds[0], fds[1])
        executor = BlockingExecutor(name: "sluice-pg-replication", handle: connection)
    }

    deinit {
        close(wakePipe.read)
        close(wakePipe.write)
    }

    /// Starts reading on the reader's thread.
    func start() {
        executor.execute { [self] connection in readLoop(connection) }
        executor.close()  // the thread ends with the read loop
    }

    /// Asks the thread to stop and waits until it has (the connection is then unused).
    func stop() {
        control.withLock { $0.stopRequested = true }
        wake()
        messages.close()
        executor.join()
    }

    /// Records that everything up to `lsn` is durable (or needs nothing): sent as the flush LSN.
    func acknowledge(_ lsn: LSN) {
        let changed = control.withLock { control in
            guard lsn > control.acknowledged else { return false }
            control.acknowledged = lsn
            control.acknowledgementChanged = true
            return true
        }
        if changed { wake() }
    }

    /// The position last acknowledged.
    var acknowledgedLSN: LSN { control.withLock { $0.acknowledged } }

    /// Asks the server for a keepalive (to learn its current WAL end) with the next status update.
    func requestKeepalive() {
        control.withLock { $0.askForKeepalive = true }
        wake()
    }

    /// True when no message is waiting.
    var isDrained: Bool { messages.isEmpty }

    /// Waits for messages (CopyData payloads, in order) or `timeout`; returns nil when the stream ended.
    func next(timeout: Double) async throws -> [[UInt8]]? {
        guard let batches = try await messages.receiveAll(timeout: .seconds(timeout)) else { return nil }
        return batches.count == 1 ? batches[0] : Array(batches.joined())
    }

    // MARK: The thread

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakePipe.write, &byte, 1)  // a full pipe already wakes the thread
    }

    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakePipe.read, &buffer, buffer.count) > 0 {}
    }

    private func readLoop(_ connection: PostgresConnection) {
        var lastStatus = ContinuousClock.now - .seconds(3600)
        var lastSentLSN = LSN.zero
        var pending: [[UInt8]] = []
        var pendingBytes = 0
        let interval = Duration.seconds(statusInterval)
        // Every status update that is due asks the server for an answer: a connection silent for three intervals
        // (at least 5 s) stalled (a network partition, a hung proxy); reconnecting beats waiting forever.
        let silenceLimit = Duration.seconds(max(5, 3 * statusInterval))
        var lastHeard = ContinuousClock.now
        do {
            /// Sends a status update when the acknowledged position changed, a keepalive was asked for, or one is due.
            func sendStatusIfNeeded() throws -> Bool {
                let (ack, ackChanged, wantKeepalive, stop) = control.withLock { control in
                    defer {
                        control.acknowledgementChanged = false
                        control.askForKeepalive = false
                    }
                    return (control.acknowledged, control.acknowledgementChanged, control.askForKeepalive,
                            control.stopRequested)
                }
                if stop {
                    // Report the last durable position before the connection goes.
                    if ack != lastSentLSN { try? sendStatus(ack, replyRequested: false, on: connection) }
                    return false
                }
                let due = ContinuousClock.now - lastStatus >= interval
                if (ackChanged && ack != lastSentLSN) || wantKeepalive || due {
                    try sendStatus(ack, replyRequested: wantKeepalive || due, on: connection)
                    lastStatus = .now
                    lastSentLSN = ack
                }
                return true
            }
            reading: while try sendStatusIfNeeded() {
                let untilStatus = lastStatus + interval - .now
                let timeoutMs = Int32(clamping: max(0, untilStatus.components.seconds * 1000
                    + untilStatus.components.attoseconds / 1_000_000_000_000_000) + 1)
                var descriptors = [pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0),
                                   pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0)]
                let ready = poll(&descriptors, 2, timeoutMs)
                if ready < 0 && errno != EINTR {
                    throw SluiceError(.connection, "waiting on the replication socket failed (errno \(errno))",
                                      isTransient: true)
                }
                if descriptors[1].revents != 0 { drainWakePipe() }
                if descriptors[0].revents != 0 {
                    guard connection.consumeInput() else {
                        throw SluiceError(.connection, "the replication connection was lost", isTransient: true,
                                          underlying: PostgresServerMessage(text: connection.lastError))
                    }
                    lastHeard = .now
                } else if ContinuousClock.now - lastHeard > silenceLimit {
                    throw SluiceError(.connection, "PostgreSQL sent nothing for \(silenceLimit) although asked to: the "
                                      + "replication connection stalled; reconnecting", isTransient: true)
                }
                var streamEnded = false
                drain: while pendingBytes < Self.handoffBytes {
                    switch try connection.readCopyData() {
                    case .message(let bytes):
                        if bytes.first == UInt8(ascii: "k"), bytes.count >= 18, bytes[17] != 0 {
                            // The server wants an answer now (wal_sender_timeout): send the durable position.
                            let current = acknowledgedLSN
                            try sendStatus(current, replyRequested: false, on: connection)
                            lastStatus = .now
                            lastSentLSN = current
                        }
                        pendingBytes += bytes.count
                        pending.append(bytes)
                    case .wouldBlock:
                        break drain
                    case .ended:
                        streamEnded = true
                        break drain
                    }
                }
                if !pending.isEmpty {
                    // Backpressure: wait for the consumer, waking up for the status updates that are due meanwhile.
                    while true {
                        let deadline = DispatchTime.now() + max(0.001, (lastStatus + interval - .now) / .seconds(1))
                        switch messages.sendBlocking(pending, weight: pendingBytes, until: deadline) {
                        case .sent:
                            break
                        case .closed:
                            _ = try sendStatusIfNeeded()
                            break reading
                        case .timedOut:
                            guard try sendStatusIfNeeded() else { break reading }
                            continue
                        }
                        break
                    }
                    pending.removeAll(keepingCapacity: true)
                    pendingBytes = 0
                    lastHeard = .now  // the socket was not read while the consumer applied backpressure
                }
                if streamEnded {
                    messages.finish()
                    return
                }
            }
            messages.finish()
        } catch {
            messages.finish(throwing: error)
        }
    }

    private func sendStatus(_ lsn: LSN, replyRequested: Bool, on connection: PostgresConnection) throws {
        // `written` equals `flushed`: reporting a higher write position would stop the server from
        // sending the keepalives (with its WAL end) that let an idle slot advance.
        let micros = Int64(Date().timeIntervalSince1970 * 1_000_000) - 946_684_800_000_000
        try connection.writeCopyData(ReplicationMessage.statusUpdate(
            written: lsn, flushed: lsn, applied: lsn, nowMicros: micros, replyRequested: replyRequested))
    }
}
