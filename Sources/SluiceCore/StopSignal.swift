import Synchronization

/// A one-way flag that tasks can wait on: `request()` wakes every `wait` at once, without polling.
public final class StopSignal: Sendable {
    private struct State {
        var requested = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// True once `request()` was called.
    public var isRequested: Bool { state.withLock { $0.requested } }

    /// Sets the flag and wakes the waiters; returns false when it was already set.
    @discardableResult
    public func request() -> Bool {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
            guard !state.requested else { return nil }
            state.requested = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        waiting?.forEach { $0.resume() }
        return waiting != nil
    }

    /// Returns once the flag is set, `timeout` passed (nil: no limit), or the task is cancelled.
    public func wait(timeout: Duration? = nil) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.requested() }
            if let timeout { group.addTask { try? await Task.sleep(for: timeout) } }
            await group.next()
            group.cancelAll()
        }
    }

    private func requested() async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.requested || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
