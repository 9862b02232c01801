import Foundation
import SluiceCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the CopyBoth replication stream on a dedicated thread (never blocking Swift's cooperative pool)
/// and hands messages to the source's task through a bounded queue.
///
/// The thread also owns all writes on the connection: it answers keepalives that request a reply at
/// once, and sends a status update with the acknowledged (durable) LSN at least every `statusInterval`,
/// even while the queue is full (backpressure), so the server never times the connection out.
final class ReplicationReader: @unchecked Sendable {
    private let connection: PostgresConnection
    private let statusInterval: Double
    private let maxQueuedBytes: Int
    private let condition = NSCondition()

    // Guarded by `condition`.
    private var queue: [[UInt8]] = []
    private var queuedBytes = 0
    private var failure: (any Error)?
    private var ended = false
    private var stopRequested = false
    private var stopped = false
    private var waiter: CheckedContinuation<Void, Never>?
    private var acknowledged: LSN
    private var acknowledgementChanged = false
    private var askForKeepalive = false

    /// - Parameters:
    ///   - connection: a replication connection on which START_REPLICATION succeeded.
    ///   - startLSN: the position already confirmed (reported until something newer is durable).
    init(connection: PostgresConnection, startLSN: LSN, statusInterval: Double, maxQueuedBytes: Int = 32 << 20) {
        self.connection = connection
        self.acknowledged = startLSN
        self.statusInterval = max(0.2, statusInterval)
        self.maxQueuedBytes = maxQueuedBytes
    }

    /// Starts the reader thread.
    func start() {
        let thread = Thread { [self] in readLoop() }
        thread.name = "sluice-pg-replication"
        thread.start()
    }

    /// Asks the thread to stop and waits until it has (the connection is then unused).
    func stop() {
        condition.lock()
        stopRequested = true
        condition.broadcast()
        while !stopped { _ = condition.wait(until: Date().addingTimeInterval(0.2)) }
        let waiting = waiter
        waiter = nil
        condition.unlock()
        waiting?.resume()
    }

    /// Records that everything up to `lsn` is durable (or needs nothing): sent as the flush LSN.
    func acknowledge(_ lsn: LSN) {
        condition.lock()
        if lsn > acknowledged {
            acknowledged = lsn
            acknowledgementChanged = true
        }
        condition.unlock()
    }

    /// The position last acknowledged.
    var acknowledgedLSN: LSN {
        condition.lock()
        defer { condition.unlock() }
        return acknowledged
    }

    /// Asks the server for a keepalive (to learn its current WAL end) with the next status update.
    func requestKeepalive() {
        condition.lock()
        askForKeepalive = true
        condition.unlock()
    }

    /// True when no message is waiting.
    var isDrained: Bool {
        condition.lock()
        defer { condition.unlock() }
        return queue.isEmpty
    }

    /// Waits for messages (CopyData payloads, in order) or `timeout`; returns nil when the stream ended.
    func next(timeout: Double) async throws -> [[UInt8]]? {
        switch try takeIfReady() {
        case .messages(let ready): return ready
        case .ended: return nil
        case .nothing: break
        }
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    condition.lock()
                    if !queue.isEmpty || failure != nil || ended || stopped {
                        condition.unlock()
                        continuation.resume()
                    } else {
                        waiter = continuation
                        condition.unlock()
                    }
                }
            } onCancel: {
                condition.lock()
                let waiting = waiter
                waiter = nil
                condition.unlock()
                waiting?.resume()
            }
            switch try takeIfReady() {
            case .messages(let ready): return ready
            case .ended: return nil
            case .nothing: continue
            }
        }
        return []
    }

    private enum Taken {
        case messages([[UInt8]])
        /// The stream ended (or the thread stopped) and every message was taken.
        case ended
        case nothing
    }

    private func takeIfReady() throws -> Taken {
        condition.lock()
        defer { condition.unlock() }
        if !queue.isEmpty {
            let taken = queue
            queue.removeAll(keepingCapacity: true)
            queuedBytes = 0
            condition.broadcast()
            return .messages(taken)
        }
        if let failure { throw failure }
        // Before this fix the end of the stream looked like "nothing yet": the source spun without noticing a
        // server restart.
        if ended || stopped { return .ended }
        return .nothing
    }

    // MARK: The thread

    private func wake() {
        // Called with the lock held.
        let waiting = waiter
        waiter = nil
        waiting?.resume()
    }

    private func readLoop() {
        var lastStatus = Date.distantPast
        var lastSentLSN = LSN.zero
        var pending: [[UInt8]] = []
        var pendingBytes = 0
        let wakeInterval: Int32 = 100  // ms: how often the thread looks at acknowledgements while idle
        do {
            while true {
                condition.lock()
                if stopRequested {
                    let final = acknowledged
                    condition.unlock()
                    // Report the last durable position before the connection goes.
                    if final != lastSentLSN { try? sendStatus(final, replyRequested: false) }
                    break
                }
                let full = queuedBytes >= maxQueuedBytes
                if full { _ = condition.wait(until: Date().addingTimeInterval(0.1)) }
                let ack = acknowledged
                let ackChanged = acknowledgementChanged
                let wantKeepalive = askForKeepalive
                acknowledgementChanged = false
                askForKeepalive = false
                condition.unlock()

                let now = Date()
                if ackChanged || wantKeepalive || now.timeIntervalSince(lastStatus) >= statusInterval {
                    if ack != lastSentLSN || wantKeepalive || now.timeIntervalSince(lastStatus) >= statusInterval {
                        try sendStatus(ack, replyRequested: wantKeepalive || now.timeIntervalSince(lastStatus) >= statusInterval)
                        lastStatus = now
                        lastSentLSN = ack
                    }
                }
                if full { continue }

                var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, wakeInterval)
                if ready < 0 && errno != EINTR {
                    throw SluiceError(.connection, "waiting on the replication socket failed (errno \(errno))",
                                      isTransient: true)
                }
                if ready > 0 {
                    guard connection.consumeInput() else {
                        throw SluiceError(.connection, "the replication connection was lost", isTransient: true,
                                          underlying: PostgresServerMessage(text: connection.lastError))
                    }
                }
                var streamEnded = false
                drain: while pendingBytes < 4 << 20 {
                    switch try connection.readCopyData() {
                    case .message(let bytes):
                        if bytes.first == UInt8(ascii: "k"), bytes.count >= 18, bytes[17] != 0 {
                            // The server wants an answer now (wal_sender_timeout): send the durable position.
                            condition.lock()
                            let current = acknowledged
                            condition.unlock()
                            try sendStatus(current, replyRequested: false)
                            lastStatus = Date()
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
                if !pending.isEmpty || streamEnded {
                    condition.lock()
                    queue.append(contentsOf: pending)
                    queuedBytes += pendingBytes
                    if streamEnded { ended = true }
                    wake()
                    condition.unlock()
                    pending.removeAll(keepingCapacity: true)
                    pendingBytes = 0
                }
                if streamEnded { break }
            }
        } catch {
            condition.lock()
            failure = error
            wake()
            condition.unlock()
        }
        condition.lock()
        stopped = true
        condition.broadcast()
        wake()
        condition.unlock()
    }

    private func sendStatus(_ lsn: LSN, replyRequested: Bool) throws {
        // `written` equals `flushed`: reporting a higher write position would stop the server from
        // sending the keepalives (with its WAL end) that let an idle slot advance.
        let micros = Int64(Date().timeIntervalSince1970 * 1_000_000) - 946_684_800_000_000
        try connection.writeCopyData(ReplicationMessage.statusUpdate(
            written: lsn, flushed: lsn, applied: lsn, nowMicros: micros, replyRequested: replyRequested))
    }
}
