import Dispatch
import Synchronization

/// A bounded queue from a producer thread (a `BlockingExecutor` job reading a socket) to one async consumer, or from
/// async producers to a consumer thread (`receiveAllBlocking`).
///
/// Backpressure by suspension: while the queued elements weigh `capacity` or more, `sendBlocking` blocks the
/// producer's thread on a semaphore (it waits, it never sleeps or spins) until the consumer took them. The consumer
/// takes everything queued at once (`receiveAll`), so a handoff costs one lock, not one continuation per element.
/// An element heavier than `capacity` still goes through when the queue is empty.
public final class BoundedChannel<Element: Sendable>: Sendable {
    /// What `sendBlocking` did.
    public enum SendOutcome: Sendable {
        case sent
        /// The consumer closed the channel; the element was dropped.
        case closed
        /// The deadline passed while the channel was full; the element was not queued.
        case timedOut
    }

    private let capacity: Int
    private let state = Mutex(State())

    /// A consumer waiting for elements: a task, or a thread blocked in `receiveAllBlocking`.
    private enum Consumer {
        case task(id: UInt64, CheckedContinuation<Void, Never>)
        case thread(DispatchSemaphore)

        func wake() {
            switch self {
            case .task(_, let continuation): continuation.resume()
            case .thread(let semaphore): semaphore.signal()
            }
        }
    }

    private struct State: ~Copyable {
        var elements: [Element] = []
        var weight = 0
        /// The producer's end: nil while open; `.success` when finished normally.
        var end: Result<Void, any Error>?
        var isClosed = false
        var consumer: Consumer?
        var nextConsumerID: UInt64 = 0
        /// A timeout or cancellation that came before its consumer started waiting.
        var earlyWake: UInt64?
        /// Signalled when space frees up or the channel closes, while the producer waits for space.
        var blockedProducer: DispatchSemaphore?
    }

    /// - Parameter capacity: the weight (bytes, rows or elements, as the producer counts) the queue holds at most.
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    // MARK: Producer

    /// Queues `element`, blocking the calling thread while the channel is full (until `deadline`, when given).
    ///
    /// Call it from a dedicated thread only (a `BlockingExecutor` job), never from Swift's cooperative pool.
    @discardableResult
    public func sendBlocking(_ element: Element, weight: Int = 1, until deadline: DispatchTime? = nil) -> SendOutcome {
        while true {
            let (outcome, consumer, semaphore): (SendOutcome?, Consumer?, DispatchSemaphore?) = state.withLock { state in
                if state.isClosed { return (.closed, nil, nil) }
                guard state.weight == 0 || state.weight + weight <= capacity else {
                    let semaphore = DispatchSemaphore(value: 0)
                    state.blockedProducer = semaphore
                    return (nil, nil, semaphore)
                }
                state.elements.append(element)
                state.weight += weight
                defer { state.consumer = nil }
                return (.sent, state.consumer, nil)
            }
            guard let semaphore else {
                consumer?.wake()
                return outcome ?? .sent
            }
            if let deadline {
                if semaphore.wait(timeout: deadline) == .timedOut {
                    state.withLock { if $0.blockedProducer === semaphore { $0.blockedProducer = nil } }
                    return .timedOut
                }
            } else {
                semaphore.wait()
            }
        }
    }

    /// Queues `element` whatever the channel holds (a wake-up, a request to a consumer thread); returns false when
    /// the channel was closed or finished. `finishing`: `element` is the last one (as `finish()` right after it).
    @discardableResult
    public func sendWithoutWaiting(_ element: Element, weight: Int = 0, finishing: Bool = false) -> Bool {
        let (sent, consumer): (Bool, Consumer?) = state.withLock { state in
            if state.isClosed || state.end != nil { return (false, nil) }
            state.elements.append(element)
            state.weight += weight
            if finishing { state.end = .success(()) }
            defer { state.consumer = nil }
            return (true, state.consumer)
        }
        consumer?.wake()
        return sent
    }

    /// Ends the stream: the consumer takes what is queued, then gets nil (or `error`).
    public func finish(throwing error: (any Error)? = nil) {
        let consumer = state.withLock { state -> Consumer? in
            if state.end == nil { state.end = error.map { .failure($0) } ?? .success(()) }
            defer { state.consumer = nil }
            return state.consumer
        }
        consumer?.wake()
    }

    /// True once the consumer closed the channel (the producer should stop).
    public var isClosed: Bool { state.withLock { $0.isClosed } }

    // MARK: Consumer

    /// Stops the channel from the consumer's side: queued elements are dropped, a blocked producer wakes and every
    /// later send returns `.closed`.
    public func close() {
        let (producer, consumer) = state.withLock { state in
            state.isClosed = true
            state.elements.removeAll()
            state.weight = 0
            defer {
                state.blockedProducer = nil
                state.consumer = nil
            }
            return (state.blockedProducer, state.consumer)
        }
        producer?.signal()
        consumer?.wake()
    }

    /// True when nothing is queued.
    public var isEmpty: Bool { state.withLock { $0.elements.isEmpty } }

    /// Everything queued, in order, waiting for at least one element (or `timeout`, then returning `[]`).
    ///
    /// Returns nil once the producer finished and everything was taken (or the channel was closed); throws the
    /// producer's error after the elements queued before it, and `CancellationError` when the task is cancelled.
    public func receiveAll(timeout: Duration? = nil) async throws -> [Element]? {
        if let taken = try take() { return taken }
        let id = state.withLock { state in
            defer { state.nextConsumerID += 1 }
            return state.nextConsumerID
        }
        let timer = timeout.map { timeout in
            Task { [weak self] in
                try await Task.sleep(for: timeout)
                self?.wakeConsumer(id)
            }
        }
        defer { timer?.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state in
                    if !state.elements.isEmpty || state.end != nil || state.isClosed || state.earlyWake == id {
                        return true
                    }
                    state.consumer = .task(id: id, continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            wakeConsumer(id)
        }
        try Task.checkCancellation()
        if let taken = try take() { return taken }
        return []
    }

    /// Everything queued, in order, blocking the calling thread until there is something; nil at the end.
    ///
    /// For a consumer that is a dedicated thread (a `BlockingExecutor` job), never for Swift's cooperative pool.
    public func receiveAllBlocking() throws -> [Element]? {
        while true {
            if let taken = try take() { return taken }
            let semaphore = DispatchSemaphore(value: 0)
            let ready = state.withLock { state in
                if !state.elements.isEmpty || state.end != nil || state.isClosed { return true }
                state.consumer = .thread(semaphore)
                return false
            }
            if !ready { semaphore.wait() }
        }
    }

    private func wakeConsumer(_ id: UInt64) {
        let consumer = state.withLock { state -> Consumer? in
            guard case .task(id, _)? = state.consumer else {
                state.earlyWake = id
                return nil
            }
            defer { state.consumer = nil }
            return state.consumer
        }
        consumer?.wake()
    }

    /// The queued elements; `.some(nil)` at the end; nil when nothing is there yet.
    private func take() throws -> [Element]?? {
        let (taken, producer): ([Element]??, DispatchSemaphore?) = try state.withLock { state in
            if !state.elements.isEmpty {
                let taken = state.elements
                state.elements.removeAll(keepingCapacity: true)
                state.weight = 0
                defer { state.blockedProducer = nil }
                return (.some(taken), state.blockedProducer)
            }
            if state.isClosed { return (.some(nil), nil) }
            switch state.end {
            case .failure(let error)?: throw error
            case .success?: return (.some(nil), nil)
            case nil: return (nil, nil)
            }
        }
        producer?.signal()
        return taken
    }
}
