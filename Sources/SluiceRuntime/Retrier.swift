import Logging
import SluiceCore

/// Retries one component's transient failures: waits with a doubling backoff, logs each retry at warning with the
/// error, and gives up once the component has kept failing for `runtime.max_retry_duration` without a success.
///
/// A failure that cannot heal (wrong password, missing privilege, purged position) is rethrown at once, as is any
/// failure once a stop was requested.
struct Retrier {
    let component: String
    let settings: RuntimeSettings
    let logger: Logger
    let stop: StopSignal
    private var backoff: Double
    private var attempt = 0
    private var failingSince: ContinuousClock.Instant?

    init(_ component: String, settings: RuntimeSettings, logger: Logger, stop: StopSignal) {
        self.component = component
        self.settings = settings
        self.logger = logger
        self.stop = stop
        self.backoff = settings.retryInitialBackoff
    }

    /// True for failures worth retrying.
    static func isTransient(_ error: any Error) -> Bool {
        (error as? any RetryableError)?.isTransient == true
    }

    /// The component worked again: the next failure starts a new round of retries at the initial backoff.
    mutating func recovered() {
        backoff = settings.retryInitialBackoff
        attempt = 0
        failingSince = nil
    }

    /// Waits before the next attempt, or throws: `error` itself when it is not transient or a stop was requested,
    /// a give-up error naming it once retries have lasted `max_retry_duration`.
    mutating func failed(_ error: any Error) async throws {
        guard Self.isTransient(error), !stop.isRequested else { throw error }
        let now = ContinuousClock.now
        let since = failingSince ?? now
        failingSince = since
        attempt += 1
        let limit = settings.maxRetryDuration
        if limit > 0, now - since >= .seconds(limit) {
            throw SluiceError(
                (error as? SluiceError)?.code ?? .log, "\(component) kept failing for \(PipelineRunner.seconds(limit)) (\(attempt) attempts); giving up",
                hint: "fix the cause and run again: nothing acknowledged is lost, the next run resumes "
                    + "(runtime.max_retry_duration sets how long transient failures are retried)",
                underlying: error)
        }
        logger.warning("\(component) failed, retrying in \(PipelineRunner.seconds(backoff)) (attempt \(attempt)): \(error)")
        await stop.wait(timeout: .seconds(backoff))
        backoff = min(backoff * 2, settings.retryMaxBackoff)
        if stop.isRequested { throw error }
        try Task.checkCancellation()
    }

    /// Runs `body` until it succeeds, retrying its transient failures.
    static func run<T>(
        _ component: String, settings: RuntimeSettings, logger: Logger, stop: StopSignal, _ body: () async throws -> T
    ) async throws -> T {
        var retrier = Retrier(component, settings: settings, logger: logger, stop: stop)
        while true {
            do {
                return try await body()
            } catch {
                try await retrier.failed(error)
            }
        }
    }
}
