import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Crashes injected at named steps of a staging sink's commit protocol, for the recovery tests. Compiled into debug
/// builds only: in a release build `check` does nothing and no environment variable is read.
///
/// `SLUICE_STAGING_CRASH_AT=<step>` in the environment of a debug `sluice` makes the process SIGKILL itself at that
/// step (the `count`-th time it is reached with `SLUICE_STAGING_CRASH_AFTER=<count>`, default 1). Tests in the same
/// process bind `CrashPoints.injected` (a task-local, so concurrent tests do not see it) to throw instead.
public enum CrashPoints {
    #if DEBUG
        /// The error a bound injection throws.
        public struct InjectedFailure: Error, CustomStringConvertible {
            public var step: String
            public var description: String { "injected failure at \(step)" }
        }

        /// A step to fail at once, after passing it `countdown` times.
        // @unchecked: the mutable countdown and flag are only touched under `lock`.
        public final class Injection: @unchecked Sendable {
            public let step: String
            private let lock = NSLock()
            private var countdown: Int
            private var fired = false

            public init(step: String, countdown: Int) {
                self.step = step
                self.countdown = countdown
            }

            /// True when the step is reached for the failing time.
            func reach() -> Bool {
                lock.withLock {
                    if fired { return false }
                    if countdown > 0 {
                        countdown -= 1
                        return false
                    }
                    fired = true
                    return true
                }
            }
        }

        /// The injection of the current task (tests).
        @TaskLocal public static var injected: Injection?
        private static let environmentStep = ProcessInfo.processInfo.environment["SLUICE_STAGING_CRASH_AT"]
        private static let environmentInjection = environmentStep.map {
            Injection(
                step: $0,
                countdown: max(
                    0, (Int(ProcessInfo.processInfo.environment["SLUICE_STAGING_CRASH_AFTER"] ?? "") ?? 1) - 1))
        }

        /// Fails here when this step is the one chosen: throws for a bound injection, SIGKILLs the process for the
        /// environment's.
        public static func check(_ step: String) throws {
            if let injected, injected.step == step, injected.reach() {
                throw InjectedFailure(step: step)
            }
            if let environmentInjection, environmentInjection.step == step, environmentInjection.reach() {
                kill(getpid(), SIGKILL)
            }
        }
    #else
        /// Does nothing: crash injection exists in debug builds only.
        @inlinable @inline(__always)
        public static func check(_ step: String) throws {}
    #endif
}
