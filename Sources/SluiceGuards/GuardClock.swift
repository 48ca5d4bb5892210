#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The one clock every guard reads: monotonic microseconds, injected so that state machines
/// and guards run deterministically in tests (`GuardClock.manual`) and on the real monotonic
/// clock in the server.
public struct GuardClock: Sendable {
    private let read: @Sendable () -> Double

    public init(_ read: @escaping @Sendable () -> Double) { self.read = read }

    /// Microseconds since an arbitrary start; only differences mean something.
    public var microseconds: Double { read() }

    /// CLOCK_MONOTONIC, in microseconds.
    public static let monotonic = GuardClock {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) * 1_000_000 + Double(now.tv_nsec) / 1000
    }

    /// A clock that moves only when told to, for tests.
    public static func manual(startingAt start: Double = 0) -> (clock: GuardClock, advance: @Sendable (Double) -> Void) {
        let now = Mutex(start)
        return (GuardClock { now.withLock { $0 } }, { step in now.withLock { $0 += step } })
    }
}
