import Synchronization

/// The in-process limiter of the `local` failure mode: the rule's quota divided by the expected
/// gateway count, one state per key, shared by the loops of this process (a Mutex: only used
/// while Redis cannot be asked). Idle keys are forgotten when the table is full.
final class LocalLimiter: Sendable {
    let algorithm: LimitRule.Algorithm
    private let states = Mutex<[String: LocalLimitState]>([:])
    static let maximumKeys = 100_000

    init(algorithm: LimitRule.Algorithm) { self.algorithm = algorithm }

    func take(_ key: String, cost: Int, now: Double) -> LimitDecision {
        states.withLock { states in
            if states.count >= Self.maximumKeys && states[key] == nil {
                states = states.filter { !$0.value.isIdle(now: now) }
                if states.count >= Self.maximumKeys { states.removeAll(keepingCapacity: true) }
            }
            var state = states[key] ?? LocalLimitState(algorithm)
            let decision = state.take(now: now, cost: cost)
            states[key] = state
            return decision
        }
    }

    /// Gives back the tokens of an admission `take` granted at `takenAt`.
    func refund(_ key: String, tokens: Int, takenAt: Double) {
        states.withLock { $0[key]?.refund(tokens, takenAt: takenAt) }
    }
}

/// What one loop keeps for rate limiting, touched by that loop's thread only: leases per rule,
/// and a sequence for unique sliding-log members.
final class LoopLimitState: @unchecked Sendable {
    var leases: [String: LeaseBook] = [:]
    var sequence = 0
}
