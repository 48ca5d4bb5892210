import SluiceGuards
import SluiceIO
import SluicePolicy
import SluiceRedis
import Synchronization

/// What outlives a policy reload: the Redis connections (one per loop; replaced only when the
/// `redis` settings change), the per-rule counters and local limiters (by rule name), and each
/// loop's leases. `guards(for:)` compiles a policy's rules into one guard per route.
public final class RateLimitRuntime: Sendable {
    private let loops: [EventLoop]
    private let loopStates: [LoopLimitState]
    private let nonce: String
    private struct Shared {
        var redis: RedisConnectionSet?
        var counters: [String: LimitRuleCounters] = [:]
        var locals: [String: LocalLimiter] = [:]
    }
    private let shared = Mutex(Shared())

    public init(loops: [EventLoop]) {
        self.loops = loops
        loopStates = loops.map { _ in LoopLimitState() }
        nonce = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    /// The guards for each route that names limit rules. Starts (or keeps) the Redis connections.
    public func guards(for policy: PolicySnapshot) -> [String: [any RequestGuard]] {
        guard let settings = policy.redis, policy.routes.contains(where: { !$0.limits.isEmpty }) else { return [:] }
        let configuration = RedisClientConfiguration(
            host: settings.address.host, port: settings.address.port, password: settings.password, database: settings.database,
            deadline: settings.deadline, breakerFailures: settings.breakerFailures, breakerOpenFor: settings.breakerOpenFor)
        return shared.withLock { shared in
            if shared.redis?.configuration != configuration {
                shared.redis?.close()
                let connections = RedisConnectionSet(loops: loops, configuration: configuration)
                connections.start()
                shared.redis = connections
            }
            var bound: [String: BoundRule] = [:]
            for policyRule in policy.limits {
                let rule = LimitRule(policyRule)
                let counters = shared.counters[rule.name] ?? LimitRuleCounters()
                shared.counters[rule.name] = counters
                let local: LocalLimiter
                if let existing = shared.locals[rule.name], existing.algorithm == rule.localAlgorithm {
                    local = existing
                } else {
                    local = LocalLimiter(algorithm: rule.localAlgorithm)
                    shared.locals[rule.name] = local
                }
                bound[rule.name] = BoundRule(rule: rule, counters: counters, local: local)
            }
            var guards: [String: [any RequestGuard]] = [:]
            for route in policy.routes where !route.limits.isEmpty {
                guards[route.name] = [RateLimitGuard(rules: route.limits.compactMap { bound[$0] }, redis: shared.redis!,
                                                     loopStates: loopStates, nonce: nonce,
                                                     clock: { Double(Deadline.now.nanoseconds) / 1000 })]
            }
            return guards
        }
    }

    /// The counters of a rule (kept across reloads), nil for a name never configured.
    public func counters(for rule: String) -> LimitRuleCounters? {
        shared.withLock { $0.counters[rule] }
    }

    /// Closes the Redis connections (each on its loop).
    public func shutdown() {
        shared.withLock { $0.redis?.close() }
    }
}
