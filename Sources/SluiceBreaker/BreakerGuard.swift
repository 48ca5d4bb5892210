import SluiceGuards
import SluiceResilience
import SluiceHTTP

/// The last guard in the chain: a request to a backend whose breaker is open is answered at
/// once (503 `circuit_open`, Retry-After), with no upstream work; an admitted one reports how
/// it ended. Only the backend's own failures count (connect failures, timeouts, resets, the
/// policy's statuses); a client that left or was too slow, or a local refusal, says nothing
/// about the backend and is not counted.
final class BreakerGuard: RequestGuard {
    let name = "breaker"
    let counters = GuardCounters()
    let breaker: CircuitBreaker
    private let slowNanoseconds: UInt64?

    init(breaker: CircuitBreaker) {
        self.breaker = breaker
        slowNanoseconds = breaker.policy.slowCall?.nanosecondsClamped
    }

    func explain(_ request: GuardRequest) -> String {
        let p = breaker.policy
        let window: String
        switch p.window {
        case .count(let calls): window = "the last \(calls) calls"
        case .time(let duration): window = "the calls of the last \(duration)"
        }
        return "\(p.name): opens when \(Int(p.failureRate * 100))% of \(window) fail (at least \(p.minimumCalls))"
            + (p.slowCall.map { " or \(Int(p.slowCallRate * 100))% take over \($0)" } ?? "") + ", for \(p.openFor) at first"
    }

    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        switch breaker.admit() {
        case .refused(let retryAfter):
            return .reject(BreakerReplies.open(breaker.policy.name, retryAfterNanoseconds: retryAfter))
        case .admitted(let epoch):
            request.observeOutcome(BreakerOutcome(breaker: breaker, epoch: epoch, slowNanoseconds: slowNanoseconds))
            return .proceed
        }
    }
}

/// Tells the breaker how an admitted request ended, with the epoch it was admitted in.
final class BreakerOutcome: OutcomeObserver {
    let breaker: CircuitBreaker
    let epoch: UInt64
    private let slowNanoseconds: UInt64?

    init(breaker: CircuitBreaker, epoch: UInt64, slowNanoseconds: UInt64?) {
        self.breaker = breaker
        self.epoch = epoch
        self.slowNanoseconds = slowNanoseconds
    }

    func requestFinished(_ outcome: RequestOutcome) {
        breaker.record(Self.classify(outcome, policy: breaker.policy, slowNanoseconds: slowNanoseconds), epoch: epoch)
    }

    static func classify(_ outcome: RequestOutcome, policy: BreakerPolicy, slowNanoseconds: UInt64?) -> BreakerMachine.Result {
        if let failure = outcome.failure {
            switch failure {
            case .upstreamConnectFailed, .upstreamConnectTimeout: return policy.failures.contains(.connect) ? .failure : .ignored
            case .upstreamTimeout: return policy.failures.contains(.timeout) ? .failure : .ignored
            case .upstreamReset, .upstreamBadResponse: return policy.failures.contains(.reset) ? .failure : .ignored
            case .clientGone, .clientTimeout, .clientBodyInvalid, .localReply:
                // Not the backend's doing; but an answer it already gave still counts.
                guard let head = outcome.responseHead else { return .ignored }
                return policy.failures.contains(.status(head.status)) ? .failure : .ignored
            }
        }
        guard outcome.attempt > 0, let head = outcome.responseHead else { return .ignored }
        if policy.failures.contains(.status(head.status)) { return .failure }
        // Slow is the backend's own answer time, not the client's upload or reading.
        return .success(slow: slowNanoseconds.map { (outcome.upstreamAnswerNanoseconds ?? 0) > $0 } ?? false)
    }
}

enum BreakerReplies {
    static func open(_ name: String, retryAfterNanoseconds: UInt64) -> LocalReply {
        let seconds = max(1, Int((Double(retryAfterNanoseconds) / 1e9).rounded(.up)))
        return LocalReply.problem(status: 503, type: LocalReply.reducedCapacityType, error: "circuit_open",
                                  detail: "the backend is failing; requests are refused for now without reaching it",
                                  members: ["\"breaker\":\"\(jsonEscaped(name))\""], retryAfter: seconds, reason: "circuit_open:" + name)
    }
}
