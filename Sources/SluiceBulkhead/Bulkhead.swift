import Synchronization
import SluiceIO

/// One bulkhead shared by every loop: the `PermitLedger` under a lock, and the waiters'
/// wake-ups. A waiter sleeps on its own loop; a permit given back on another loop wakes it there
/// (`EventLoop.execute`), and its queue timeout is a timer on its own loop, so a request never
/// waits longer than `queue_timeout` whatever the other loops do.
///
/// A reload that changes a bulkhead's settings makes a new one that takes over from the old
/// (`takeOver`, when the reload takes effect): it counts the permits the old one's requests
/// still hold (and keeps an adaptive limit where it stood), the old one's waiters queue again on
/// it, and the old one passes every permit given back on to it. Before, the new bulkhead started
/// empty: a reload that changed only `queue_timeout` let twice `max_concurrent` reach the backend.
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
        /// Waiters' wake-ups (from any loop; they hop to their own).
        var wakeUps: [UInt64: @Sendable (Wake) -> Void] = [:]
        /// The bulkhead this one replaces, until it took over (`takeOver`).
        var predecessor: Bulkhead?
        /// The bulkhead that took over from this one: permits go back to it, requests queue on it.
        var successor: Bulkhead?
    }

    /// How a request's wait for a permit ended.
    private enum Wake { case granted, full, merchantShareExceeded, timedOut, moved }
    private let state: Mutex<State>
    private let queueTimeoutNanoseconds: UInt64
    private let refusals = Atomic<Int>(0)
    private let timeouts = Atomic<Int>(0)

    /// `replacing`: the running bulkhead of the same name, whose settings a reload changed.
    public init(policy: BulkheadPolicy, replacing predecessor: Bulkhead? = nil) {
        self.policy = policy
        let adaptive = policy.adaptive.map {
            AdaptiveLimit(minimum: $0.minConcurrent, maximum: policy.maxConcurrent, targetNanoseconds: $0.latencyTarget.nanosecondsClamped,
                          windowNanoseconds: $0.window.nanosecondsClamped)
        }
        state = Mutex(State(ledger: PermitLedger(limit: policy.maxConcurrent, queueLimit: policy.queue, merchantCap: policy.merchantCap),
                            adaptive: adaptive, predecessor: predecessor))
        queueTimeoutNanoseconds = policy.queueTimeout.nanosecondsClamped
    }

    /// A permit for one request on `loop` (the caller's), waiting up to the queue timeout.
    /// Every `.granted` must be given back with `release(merchant:)`, exactly once.
    public func acquire(merchant: String?, on loop: EventLoop) async -> Outcome {
        // The common case, without a continuation: a permit is free and nobody waits.
        let immediate = state.withLock { state -> Bool? in
            if state.successor != nil { return nil }
            guard state.ledger.wouldGrant(merchant: merchant) else { return false }
            state.nextID &+= 1
            let granted = state.ledger.acquire(id: state.nextID, merchant: merchant) == .granted
            if state.ledger.held >= state.ledger.limit { state.adaptive?.noteSaturated() }
            return granted
        }
        guard let immediate else { return await successorNow.acquire(merchant: merchant, on: loop) }
        if immediate { return .granted }
        var timer: TimerNode?
        let woken = await suspendOnLoop { (continuation: UnsafeContinuation<Wake, Never>) in
            let admission = state.withLock { state -> (PermitLedger.Admission, UInt64)? in
                if state.successor != nil { return nil }
                state.nextID &+= 1
                let id = state.nextID
                let admission = state.ledger.acquire(id: id, merchant: merchant)
                if admission != .merchantShareExceeded { state.adaptive?.noteSaturated() }
                if admission == .queued {
                    state.wakeUps[id] = { wake in loop.execute { continuation.resume(returning: wake) } }
                }
                return (admission, id)
            }
            guard let admission else { return continuation.resume(returning: .moved) }
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
                    wakeUp?(.timedOut)
                }
                loop.schedule(node, at: loop.deadline(afterNanoseconds: queueTimeoutNanoseconds))
                timer = node
            }
        }
        if let timer { loop.cancel(timer) }
        switch woken {
        case .granted:
            return .granted
        case .moved:
            // Taken over while it waited (or before it came): it queues on the new bulkhead.
            return await successorNow.acquire(merchant: merchant, on: loop)
        case .timedOut:
            timeouts.wrappingAdd(1, ordering: .relaxed)
            return .timedOut
        case .full:
            refusals.wrappingAdd(1, ordering: .relaxed)
            return .full
        case .merchantShareExceeded:
            refusals.wrappingAdd(1, ordering: .relaxed)
            return .merchantShareExceeded
        }
    }

    private var successorNow: Bulkhead { state.withLock { $0.successor! } }

    /// Takes over from the bulkhead this one replaces, when the reload that made it takes
    /// effect (once; nothing for a bulkhead that replaces none).
    public func takeOver() {
        guard let predecessor = state.withLock({ state -> Bulkhead? in
            defer { state.predecessor = nil }
            return state.predecessor
        }) else { return }
        let (held, merchantLoad, adaptiveLimit, moved) = predecessor.handOver(to: self)
        let granted = state.withLock { state -> [@Sendable (Wake) -> Void] in
            state.ledger.count(held: held, merchantLoad: merchantLoad)
            guard let adaptiveLimit, let limit = state.adaptive?.resume(at: adaptiveLimit) else { return [] }
            return state.ledger.setLimit(limit).compactMap { state.wakeUps.removeValue(forKey: $0) }
        }
        for wakeUp in granted { wakeUp(.granted) }
        for wakeUp in moved { wakeUp(.moved) }
    }

    /// What a successor takes over: the permits held (per merchant too), where an adaptive limit
    /// stood, and the waiters' wake-ups (they queue again on the successor). From now on every
    /// permit given back here goes to it.
    private func handOver(to successor: Bulkhead) -> (Int, [String: Int], Int?, [@Sendable (Wake) -> Void]) {
        state.withLock { state in
            var moved: [@Sendable (Wake) -> Void] = []
            for waiter in state.ledger.waiting where state.ledger.cancel(id: waiter.id) {
                if let wakeUp = state.wakeUps.removeValue(forKey: waiter.id) { moved.append(wakeUp) }
            }
            state.successor = successor
            return (state.ledger.held, state.ledger.merchantLoad, state.adaptive?.limit, moved)
        }
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
        let (successor, wakeUps) = state.withLock { state -> (Bulkhead?, [@Sendable (Wake) -> Void]) in
            if let successor = state.successor { return (successor, []) }
            var granted = state.ledger.release(merchant: merchant)
            if let answer, state.adaptive != nil {
                let nanoseconds: UInt64? = if case .answered(let value) = answer { value } else { nil }
                if let newLimit = state.adaptive?.record(answerNanoseconds: nanoseconds, now: now) {
                    granted += state.ledger.setLimit(newLimit)
                }
            }
            return (nil, granted.compactMap { state.wakeUps.removeValue(forKey: $0) })
        }
        if let successor { return successor.release(merchant: merchant, answer: answer, now: now) }
        for wakeUp in wakeUps { wakeUp(.granted) }
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
