import SluiceIO

/// How a breaker machine decides: its window, thresholds, open time and probes (the policy's
/// breakers and the Redis client's own breaker are both configured with one).
public struct BreakerSettings: Sendable, Hashable {
    /// What counts towards a trip: the last `size` calls, or the calls of the last `duration`.
    public enum Window: Sendable, Hashable {
        case count(Int)
        case time(Duration)
    }

    public var window = Window.count(50)
    public var minimumCalls = 20
    public var failureRate = 0.5
    public var slowCall: Duration?
    public var slowCallRate = 1.0
    public var openFor: Duration = .seconds(5)
    public var maxOpenFor: Duration = .seconds(60)
    public var halfOpenCalls = 3
    /// A trip by failure rate also needs the failures to have gone on this long without a success
    /// between them: calls that fail together in one stall (all those waiting when it began)
    /// are one event, not a dead server. Zero: no such wait.
    public var failingFor: Duration = .zero

    public init() {}

    /// N failures in a row, over at least `failingFor`, open it for `openFor` (always the same);
    /// one probe. The Redis client's breaker.
    public static func consecutiveFailures(_ failures: Int, failingFor: Duration = .zero, openFor: Duration) -> BreakerSettings {
        var settings = BreakerSettings()
        settings.window = .count(max(failures, 1))
        settings.minimumCalls = max(failures, 1)
        settings.failureRate = 1.0
        settings.failingFor = failingFor
        settings.openFor = openFor
        settings.maxOpenFor = openFor
        settings.halfOpenCalls = 1
        return settings
    }
}

/// One breaker's state machine: pure, deterministic under the clock the caller passes
/// (nanoseconds).
///
/// - closed: every call passes; each result goes into the window. Once the window holds
///   `minimumCalls`, a failure rate or a slow-call rate at or above its threshold trips it.
/// - open: every call is refused (at once, no upstream work) until the open time ends; the open
///   time is `openFor` × 2^(trips − 1), at most `maxOpenFor`.
/// - half-open: `halfOpenCalls` probes pass; a failed (or slow) probe opens it again for a
///   longer time; when all succeed it closes, with an empty window and the trip count reset.
/// - forced open or closed by an operator, it stays so until released.
/// A call whose result says nothing about the backend (the client left, a local refusal) is
/// `ignored`: it only gives back a half-open probe slot.
///
/// Every call is admitted in an epoch (`allow` says which), and the epoch changes with every
/// state change: a result counts only in the epoch it was admitted in. A call admitted while
/// closed that ends after the trip (it can outlast `open_for`) never decides a half-open probe,
/// and never lands in the window of the next closed period.
public struct BreakerMachine: Sendable {
    public enum State: Sendable, Equatable {
        case closed
        case open(until: UInt64)
        case halfOpen(started: Int, succeeded: Int)
    }

    public enum Result: Sendable, Equatable {
        case success(slow: Bool)
        case failure
        case ignored
    }

    public enum Forced: Sendable, Equatable { case open, closed }

    /// A state change, for the log line and the counters.
    public struct Transition: Sendable, Equatable {
        public var from: String
        public var to: String
        public var reason: String
    }

    public let policy: BreakerSettings
    public private(set) var state = State.closed
    public private(set) var forced: Forced?
    /// Trips since the breaker last closed (the open time grows with it).
    public private(set) var trips = 0
    /// Changes with every state change; results of calls admitted in another epoch are stale.
    public private(set) var epoch: UInt64 = 0
    private var window: OutcomeWindow
    /// While closed: when the current run of failures began (nil after a success).
    private var failingSince: UInt64?

    public init(policy: BreakerSettings) {
        self.policy = policy
        window = OutcomeWindow(policy.window)
    }

    /// The state as of `now`: an open breaker whose open time is over reads `half_open` (it
    /// becomes so at the next call; a state read for metrics or alerts must not lag behind).
    public func stateName(at now: UInt64) -> String {
        if forced == nil, case .open(let until) = state, now >= until { return "half_open" }
        return stateName
    }

    public var stateName: String {
        if let forced { return forced == .open ? "forced_open" : "forced_closed" }
        switch state {
        case .closed: return "closed"
        case .open: return "open"
        case .halfOpen: return "half_open"
        }
    }

    /// Whether a call may go upstream now; when not, how long until it may (nanoseconds).
    public mutating func allow(now: UInt64) -> (allowed: Bool, retryAfterNanoseconds: UInt64, transition: Transition?, epoch: UInt64) {
        let (allowed, retryAfter, transition) = decide(now: now)
        return (allowed, retryAfter, transition, epoch)
    }

    private mutating func decide(now: UInt64) -> (allowed: Bool, retryAfterNanoseconds: UInt64, transition: Transition?) {
        switch forced {
        case .open?: return (false, policy.openFor.nanosecondsClamped, nil)
        case .closed?: return (true, 0, nil)
        case nil: break
        }
        switch state {
        case .closed:
            return (true, 0, nil)
        case .open(let until):
            guard now >= until else { return (false, until - now, nil) }
            state = .halfOpen(started: 1, succeeded: 0)
            epoch &+= 1
            return (true, 0, Transition(from: "open", to: "half_open", reason: "open time over; probing"))
        case .halfOpen(let started, let succeeded):
            guard started < policy.halfOpenCalls else { return (false, policy.openFor.nanosecondsClamped / 10, nil) }
            state = .halfOpen(started: started + 1, succeeded: succeeded)
            return (true, 0, nil)
        }
    }

    /// A call's result; returns the transition it caused.
    public mutating func record(_ result: Result, epoch admitted: UInt64, now: UInt64) -> Transition? {
        guard forced == nil, admitted == epoch else { return nil }
        switch state {
        case .closed:
            guard result != .ignored else { return nil }
            window.add(failed: result == .failure, slow: result == .success(slow: true), now: now)
            if result == .failure {
                if failingSince == nil { failingSince = now }
            } else {
                failingSince = nil
            }
            let counts = window.counts(now: now)
            guard counts.calls >= policy.minimumCalls else { return nil }
            let failureRate = Double(counts.failures) / Double(counts.calls)
            let slowRate = Double(counts.slow) / Double(counts.calls)
            if failureRate >= policy.failureRate && hasBeenFailingLongEnough(now: now) {
                return trip(now: now, from: "closed", reason: "failure rate \(percent(failureRate)) of \(counts.calls) calls")
            }
            if policy.slowCall != nil && slowRate >= policy.slowCallRate {
                return trip(now: now, from: "closed", reason: "slow-call rate \(percent(slowRate)) of \(counts.calls) calls")
            }
            return nil
        case .open:
            return nil
        case .halfOpen(let started, let succeeded):
            switch result {
            case .ignored:
                state = .halfOpen(started: max(started - 1, 0), succeeded: succeeded)
                return nil
            case .failure, .success(slow: true):
                return trip(now: now, from: "half_open", reason: result == .failure ? "a probe failed" : "a probe was slow")
            case .success(slow: false):
                guard succeeded + 1 >= policy.halfOpenCalls else {
                    state = .halfOpen(started: started, succeeded: succeeded + 1)
                    return nil
                }
                state = .closed
                epoch &+= 1
                trips = 0
                window = OutcomeWindow(policy.window)
                failingSince = nil
                return Transition(from: "half_open", to: "closed", reason: "\(policy.halfOpenCalls) probes succeeded")
            }
        }
    }

    private func hasBeenFailingLongEnough(now: UInt64) -> Bool {
        guard policy.failingFor > .zero else { return true }
        guard let failingSince else { return false }
        return now &- failingSince >= policy.failingFor.nanosecondsClamped
    }

    /// Manual control: force open or closed (nil: back to the machine, closed and empty).
    public mutating func force(_ forced: Forced?) -> Transition? {
        let before = stateName
        self.forced = forced
        epoch &+= 1
        if forced == nil {
            state = .closed
            trips = 0
            window = OutcomeWindow(policy.window)
            failingSince = nil
        }
        return before == stateName ? nil : Transition(from: before, to: stateName, reason: "operator")
    }

    /// This breaker under new settings (a reload that changed them), from where it stands: an
    /// open breaker stays open until its time (closing it would send traffic back onto the
    /// failing backend the moment an operator tuned a threshold), a forced one stays forced, and
    /// the trip count (the next open time) is kept. The window is kept when its shape is the
    /// same. A half-open breaker probes again from the start: its probes in flight report to the
    /// breaker that admitted them.
    public func continued(under settings: BreakerSettings) -> BreakerMachine {
        var next = BreakerMachine(policy: settings)
        next.forced = forced
        next.trips = trips
        next.epoch = epoch &+ 1
        switch state {
        case .closed:
            if settings.window == policy.window {
                next.window = window
                next.failingSince = failingSince
            }
        case .open:
            next.state = state
        case .halfOpen:
            next.state = .open(until: 0)
        }
        return next
    }

    /// Back to closed with an empty window (a fresh Redis connection proved the server answers).
    @discardableResult
    public mutating func reset() -> Transition? {
        guard forced == nil, state != .closed else { return nil }
        let before = stateName
        state = .closed
        epoch &+= 1
        trips = 0
        window = OutcomeWindow(policy.window)
        failingSince = nil
        return Transition(from: before, to: "closed", reason: "a new connection answered")
    }

    /// Closed (or forced closed): calls go through and the last ones did not fail it. Open and
    /// half-open are not: a probe let through is not the thing it probes being back.
    public var isClosed: Bool {
        if let forced { return forced == .closed }
        if case .closed = state { return true }
        return false
    }

    private mutating func trip(now: UInt64, from: String, reason: String) -> Transition {
        trips += 1
        epoch &+= 1
        let base = Double(policy.openFor.nanosecondsClamped)
        let open = min(base * Double(1 << min(trips - 1, 30)), Double(policy.maxOpenFor.nanosecondsClamped))
        state = .open(until: now + UInt64(open))
        window = OutcomeWindow(policy.window)
        failingSince = nil
        return Transition(from: from, to: "open", reason: reason + ", open for \(Int(open / 1e6)) ms")
    }

    private func percent(_ rate: Double) -> String { "\(Int((rate * 100).rounded()))%" }
}

/// The calls a breaker decides on: the last N (a ring), or those of the last duration (ten
/// buckets, each a tenth of it).
struct OutcomeWindow {
    private enum Storage {
        case count(ring: [UInt8], next: Int, filled: Int)
        case time(bucketNanoseconds: UInt64, buckets: [(start: UInt64, calls: Int, failures: Int, slow: Int)])
    }

    private var storage: Storage

    init(_ window: BreakerSettings.Window) {
        switch window {
        case .count(let size):
            storage = .count(ring: Array(repeating: 0, count: max(size, 1)), next: 0, filled: 0)
        case .time(let duration):
            storage = .time(bucketNanoseconds: max(duration.nanosecondsClamped / 10, 1), buckets: Array(repeating: (0, 0, 0, 0), count: 10))
        }
    }

    /// Bit 0: failed; bit 1: slow.
    mutating func add(failed: Bool, slow: Bool, now: UInt64) {
        switch storage {
        case .count(var ring, let next, let filled):
            ring[next] = (failed ? 1 : 0) | (slow ? 2 : 0)
            storage = .count(ring: ring, next: (next + 1) % ring.count, filled: min(filled + 1, ring.count))
        case .time(let width, var buckets):
            let start = now / width * width
            let index = Int(now / width % UInt64(buckets.count))
            if buckets[index].start != start { buckets[index] = (start, 0, 0, 0) }
            buckets[index].calls += 1
            if failed { buckets[index].failures += 1 }
            if slow { buckets[index].slow += 1 }
            storage = .time(bucketNanoseconds: width, buckets: buckets)
        }
    }

    func counts(now: UInt64) -> (calls: Int, failures: Int, slow: Int) {
        switch storage {
        case .count(let ring, _, let filled):
            var failures = 0, slow = 0
            for entry in ring.prefix(filled) {
                if entry & 1 != 0 { failures += 1 }
                if entry & 2 != 0 { slow += 1 }
            }
            return (filled, failures, slow)
        case .time(let width, let buckets):
            let oldest = now / width * width &- width * UInt64(buckets.count - 1)
            var total = (calls: 0, failures: 0, slow: 0)
            for bucket in buckets where bucket.calls > 0 && bucket.start >= oldest && bucket.start <= now {
                total.calls += bucket.calls
                total.failures += bucket.failures
                total.slow += bucket.slow
            }
            return total
        }
    }
}
