/// The breaker around Redis itself: after `failureThreshold` consecutive failed calls it opens,
/// and calls fail at once (no socket work, no waiting) for `openNanos`; then one probe call is let
/// through (half-open): success closes it, failure opens it again. A fresh connection whose
/// handshake (AUTH/SELECT/PING) succeeds also closes it: that is a successful probe too.
/// Pure state machine: the caller passes the time, so tests drive it without sleeping.
public struct RedisBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(consecutiveFailures: Int)
        case open(until: UInt64)
        case halfOpen(probeInFlight: Bool)
    }

    public let failureThreshold: Int
    public let openNanos: UInt64
    public private(set) var state: State = .closed(consecutiveFailures: 0)

    public init(failureThreshold: Int, openNanos: UInt64) {
        self.failureThreshold = max(1, failureThreshold)
        self.openNanos = openNanos
    }

    /// Whether a call may go to Redis now. In half-open, only one probe at a time.
    public mutating func allowCall(now: UInt64) -> Bool {
        switch state {
        case .closed: return true
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen(probeInFlight: true)
            return true
        case .halfOpen(let probeInFlight):
            if probeInFlight { return false }
            state = .halfOpen(probeInFlight: true)
            return true
        }
    }

    public mutating func recordSuccess() {
        state = .closed(consecutiveFailures: 0)
    }

    public mutating func recordFailure(now: UInt64) {
        switch state {
        case .closed(let failures):
            state = failures + 1 >= failureThreshold ? .open(until: now &+ openNanos) : .closed(consecutiveFailures: failures + 1)
        case .halfOpen, .open:
            state = .open(until: now &+ openNanos)
        }
    }

    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }
}
