// SluiceRuntime: runs a pipeline: parses and validates its YAML, starts sources and sinks, appends batches to the
// log, feeds sinks from it, commits offsets only once durable, and retries transient failures.

import SluiceConnectorKit
import SluiceCore

/// The bounded queue between sources and the log appender: sources wait when it is full (backpressure);
/// the appender takes everything queued at once, so that appends are grouped into few commits.
actor BatchQueue {
    struct Entry: Sendable {
        var source: String
        var batch: SourceBatch
    }

    private let capacity: Int
    private var entries: [Entry] = []
    private var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    private var itemWaiter: CheckedContinuation<Void, Never>?
    private var durableWaiters: [(target: Int, continuation: CheckedContinuation<Void, Never>)] = []
    private(set) var closed = false
    private var enqueued = 0
    private var completed = 0

    init(capacity: Int) { self.capacity = capacity }

    /// Queues a batch, waiting while the queue is full. Throws once the queue is closed.
    func put(_ entry: Entry) async throws {
        while entries.count >= capacity && !closed {
            await withCheckedContinuation { spaceWaiters.append($0) }
        }
        guard !closed else { throw CancellationError() }
        entries.append(entry)
        enqueued += 1
        itemWaiter?.resume()
        itemWaiter = nil
    }

    /// Everything queued (waiting for at least one entry); empty once closed and drained.
    func takeAll() async -> [Entry] {
        while entries.isEmpty && !closed {
            await withCheckedContinuation { itemWaiter = $0 }
        }
        let taken = entries
        entries.removeAll(keepingCapacity: true)
        for waiter in spaceWaiters { waiter.resume() }
        spaceWaiters.removeAll()
        return taken
    }

    /// Records that `count` taken entries are durable.
    func markDurable(_ count: Int) {
        completed += count
        durableWaiters.removeAll { waiter in
            guard waiter.target <= completed else { return false }
            waiter.continuation.resume()
            return true
        }
    }

    /// Waits until every entry queued so far is durable.
    func waitUntilDurable() async {
        let target = enqueued
        guard completed < target else { return }
        await withCheckedContinuation { durableWaiters.append((target, $0)) }
    }

    /// Number of batches queued but not yet taken.
    var depth: Int { entries.count }

    /// Stops accepting batches; the appender drains what is queued.
    func close() {
        closed = true
        itemWaiter?.resume()
        itemWaiter = nil
        for waiter in spaceWaiters { waiter.resume() }
        spaceWaiters.removeAll()
    }

    /// Releases everyone still waiting for durability (after a failure: the batches will never be durable).
    func failPending() {
        for waiter in durableWaiters { waiter.continuation.resume() }
        durableWaiters.removeAll()
    }
}
