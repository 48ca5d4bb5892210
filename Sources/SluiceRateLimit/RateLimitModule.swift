import SluiceGuards
import SluiceIO
import SluicePolicy
import SluiceRedis

/// The rate-limit guard's entry in the server's guard registry.
///
/// What outlives a generation goes through the guard state registry: the Redis connection set
/// (one connection per loop; a new set only when the `redis` settings change), and per rule its
/// counters and its local limiter (kept while the rule's algorithm is unchanged). Each loop's
/// leases live as long as the module.
public final class RateLimitModule: GuardModule {
    public static let moduleName = "ratelimit"
    public let name = RateLimitModule.moduleName
    public var policySection: (any GuardPolicySection)? { RateLimitPolicySection() }
    private let loops: [EventLoop]
    private let loopStates: [LoopLimitState]
    /// Makes sliding-log members unique across gateway processes.
    private let nonce: String
    private let clock: GuardClock

    public init(loops: [EventLoop], clock: GuardClock = .monotonic) {
        self.loops = loops
        self.clock = clock
        loopStates = loops.map { _ in LoopLimitState() }
        nonce = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    public func compile(_ policy: PolicySnapshot, state: GuardStateStage) throws(GuardCompileError) -> any GuardGeneration {
        guard let limits = policy.guardPolicy(name, as: RateLimitPolicy.self), let settings = limits.redis,
              limits.routeRules.values.contains(where: { !$0.isEmpty }) else {
            return RateLimitGeneration(guardsByRoute: [:], redisToStart: nil)
        }
        let configuration = RedisClientConfiguration(
            host: settings.address.host, port: settings.address.port, password: settings.password, database: settings.database,
            deadline: settings.deadline, breakerFailures: settings.breakerFailures, breakerOpenFor: settings.breakerOpenFor)
        let redis = state.state(name, "redis", configuration: configuration) {
            RedisConnectionSet(loops: loops, configuration: configuration)
        }
        var bound: [String: BoundRule] = [:]
        for policyRule in limits.rules {
            let rule = LimitRule(policyRule)
            let counters = state.state(name, "counters:" + rule.name, configuration: rule.name) { LimitRuleCounters() }
            let local = state.state(name, "local:" + rule.name, configuration: rule.localAlgorithm) {
                LocalLimiter(algorithm: rule.localAlgorithm)
            }
            bound[rule.name] = BoundRule(rule: rule, counters: counters, local: local)
        }
        var guards: [String: RateLimitGuard] = [:]
        for (route, ruleNames) in limits.routeRules where !ruleNames.isEmpty {
            guards[route] = RateLimitGuard(rules: ruleNames.compactMap { bound[$0] }, redis: redis,
                                                loopStates: loopStates, nonce: nonce, clock: clock)
        }
        return RateLimitGeneration(guardsByRoute: guards,
                                   redisToStart: state.isRunning(name, "redis", redis) ? nil : redis)
    }
}

/// One generation's rate-limit guards. Its Redis connection set, when the generation made it,
/// is started by `activate` and closed when the last generation holding it is gone.
final class RateLimitGeneration: GuardGeneration {
    let guardsByRoute: [String: RateLimitGuard]
    private let redisToStart: RedisConnectionSet?

    init(guardsByRoute: [String: RateLimitGuard], redisToStart: RedisConnectionSet?) {
        self.guardsByRoute = guardsByRoute
        self.redisToStart = redisToStart
    }

    func guards(forRoute route: String) -> [any RequestGuard] {
        guardsByRoute[route].map { [$0] } ?? []
    }

    func activate() {
        redisToStart?.start()
    }
}
