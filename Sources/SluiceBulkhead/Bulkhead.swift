import Synchronization
import SluiceIO

/// One bulkhead shared by every loop: the `PermitLedger` under a lock, and the waiters'
/// wake-ups. A waiter sleeps on its own loop; a permit given back on another loop wakes it there
/// (`EventLoop.execute`), and its queue timeout is a timer on its own loop, so a request never
/// waits longer than `queue_timeout` whatever the other loops do.
public final class Bulkhead: Sendable {
    public enum Outcome: Equatable, Sendable {
        case granted
        /// No permit and no room to wait, or the wait timed out.
        case full
        case timedOut
        case merchantShareExceeded
    }

    public let policy: BulkheadPolicy
    private struct State {
        var ledger: PermitLedger
        var adaptive: AdaptiveLimit?
        var nextID: UInt64 = 0
        /// Waiters' wake-ups: called with true when granted (from any loop; they hop to their own).
        var wakeUps: [UInt64: @Sendable (Bool) -> Void] = [:]
    }
    private let state: Mutex<State>
    private let queueTimeoutNanoseconds: UInt64
    private let refusals = Atomic<Int>(0)
    private let timeouts = Atomic<Int>(0)

    public init(policy: BulkheadPolicy) {
        self.policy = policy
        let adaptive = policy.adaptive.map {
            AdaptiveLimit(minimum: $0.minConcurrent, maximum: policy.maxConcurrent, targetNanoseconds: $0.latencyTarget.nanosecondsClamped,
                          windowNanoseconds: $0.window.nanosecondsClamped)
        }
        state = Mutex(State(ledger: PermitLedger(limit: policy.maxConcurrent, queueLimit: policy.queue, merchantCap: policy.merchantCap),
                            adaptive: adaptive))
        queueTimeoutNanoseconds = policy.queueTimeout.nanosecondsClamped
    }

    /// A permit for one request on `loop` (the caller's), waiting up to the queue timeout.
    /// Every `.granted` must be given back with `release(merchant:)`, exactly once.
    public func acquire(merchant: String?, on loop: EventLoop) async -> Outcome {
        // The common case, without a continuation: a permit is free and nobody waits.
        let immediate = state.withLock { state -> Bool in
            guard state.ledger.wouldGrant(merchant: merchant) else { return false }
            state.nextID &+= 1
            let granted = state.ledger.acquire(id: state.nextID, merchant: merchant) == .granted
            if state.ledger.held >= state.ledger.limit { state.adaptive?.noteSaturated() }
            return granted
        }
        if immediate { return .granted }
        var timer: TimerNode?
        let outcome = await suspendOnLoop { (continuation: UnsafeContinuation<Outcome, Never>) in
            let admission = state.withLock { state -> (PermitLedger.Admission, UInt64) in
                state.nextID &+= 1
                let id = state.nextID
                let admission = state.ledger.acquire(id: id, merchant: merchant)
                if admission != .merchantShareExceeded { state.adaptive?.noteSaturated() }
                if admission == .queued {
                    state.wakeUps[id] = { granted in loop.execute { continuation.resume(returning: granted ? .granted : .timedOut) } }
                }
                return (admission, id)
            }
            switch admission.0 {
            case .granted: continuation.resume(returning: .granted)
            case .full: continuation.resume(returning: .full)
            case .merchantShareExceeded: continuation.resume(returning: .merchantShareExceeded)
            case .queued:
                let id = admission.1
                let node = TimerNode { [self] in
                    // On this loop: still waiting → out of the queue, refused; else a permit is
                    // already on its way (its wake-up resumes the continuation).
                    let wakeUp = state.withLock { state in state.ledger.cancel(id: id) ? state.wakeUps.removeValue(forKey: id) : nil }
                    wakeUp?(false)
                }
                loop.schedule(node, at: loop.deadline(afterNanoseconds: queueTimeoutNanoseconds))
                timer = node
            }
        }
        if let timer { loop.cancel(timer) }
        switch outcome {
        case .full, .merchantShareExceeded: refusals.wrappingAdd(1, ordering: .relaxed)
        case .timedOut: timeouts.wrappingAdd(1, ordering: .relaxed)
        case .granted: break
        }
        return outcome
    }

    /// How a request that held a permit ended, for an adaptive limit.
    public enum Answer: Sendable {
        /// The backend answered, this long after the request was sent.
        case answered(nanoseconds: UInt64)
        /// No answer within the route's time.
        case timedOut
    }

    /// Gives a permit back; the longest waiter gets it. `answer`: how the backend did (nil when
    /// the request says nothing about it: never sent, the client gone, refused by a later guard).
    public func release(merchant: String?, answer: Answer? = nil, now: UInt64 = 0) {
        let wakeUps = state.withLock { state in
            var granted = state.ledger.release(merchant: merchant)
            if let answer, state.adaptive != nil {
                let nanoseconds: UInt64? = if case .answered(let value) = answer { value } else { nil }
                if let newLimit = state.adaptive?.record(answerNanoseconds: nanoseconds, now: now) {
                    granted += state.ledger.setLimit(newLimit)
                }
            }
            return granted.compactMap { state.wakeUps.removeValue(forKey: $0) }
        }
        for wakeUp in wakeUps { wakeUp(true) }
    }

    /// The limit now: `max_concurrent`, or where an adaptive limit stands.
    public var limit: Int { state.withLock { $0.ledger.limit } }

    /// Permits held and requests waiting now (metrics, tests, the degrade guard's pressure).
    public var occupancy: (held: Int, waiting: Int) {
        state.withLock { ($0.ledger.held, $0.ledger.waiting.count) }
    }

    public var refused: Int { refusals.load(ordering: .relaxed) }
    public var timedOut: Int { timeouts.load(ordering: .relaxed) }
}
