import Synchronization
import SluiceGuards
import SluiceIO
import SluicePolicy
import SluiceRedis
import SluiceSharedRedis

/// The rate-limit guard's entry in the server's guard registry.
///
/// What outlives a generation goes through the guard state registry: the shared Redis
/// connection set (`SharedRedis`: a new set only when the `redis` settings change), and per rule its
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
    private let current = CurrentRuleCounters()

    /// The running rules' counters, by rule name (metrics).
    public var ruleCounters: [(rule: String, counters: LimitRuleCounters)] { current.list.withLock { $0 } }

    public init(loops: [EventLoop], clock: GuardClock = .monotonic) {
        self.loops = loops
        self.clock = clock
        loopStates = loops.map { _ in LoopLimitState() }
        nonce = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    public func compile(_ policy: PolicySnapshot, state: GuardStateStage) throws(GuardCompileError) -> any GuardGeneration {
        guard let limits = policy.guardPolicy(name, as: RateLimitPolicy.self), let settings = SharedRedis.settings(in: policy),
              limits.routeRules.values.contains(where: { !$0.isEmpty }) else {
            return RateLimitGeneration(guardsByRoute: [:], earlyGuardsByRoute: [:], redis: nil, counters: [], current: current)
        }
        let redis = SharedRedis.connections(settings, loops: loops, state: state)
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
        var early: [String: RateLimitGuard] = [:]
        for (route, ruleNames) in limits.routeRules where !ruleNames.isEmpty {
            let rules = ruleNames.compactMap { bound[$0] }
            // Rules marked before_auth form a guard of their own at the chain's start; a denial
            // there refunds within that guard only (the rules behind auth have not run yet).
            let (before, after) = (rules.filter(\.rule.beforeAuth), rules.filter { !$0.rule.beforeAuth })
            if !before.isEmpty {
                early[route] = RateLimitGuard(rules: before, redis: redis.set, loopStates: loopStates, nonce: nonce, clock: clock)
            }
            if !after.isEmpty {
                guards[route] = RateLimitGuard(rules: after, redis: redis.set, loopStates: loopStates, nonce: nonce, clock: clock)
            }
        }
        return RateLimitGeneration(guardsByRoute: guards, earlyGuardsByRoute: early, redis: redis,
                                   counters: bound.values.map { ($0.rule.name, $0.counters) }.sorted { $0.0 < $1.0 }, current: current)
    }
}

/// One generation's rate-limit guards. The shared Redis connection set, when the generation
/// made it, is started by `activate` and closed when the last generation holding it is gone.
final class RateLimitGeneration: GuardGeneration {
    let guardsByRoute: [String: RateLimitGuard]
    let earlyGuardsByRoute: [String: RateLimitGuard]
    private let redis: RedisConnections?
    private let counters: [(rule: String, counters: LimitRuleCounters)]
    private let current: CurrentRuleCounters

    init(guardsByRoute: [String: RateLimitGuard], earlyGuardsByRoute: [String: RateLimitGuard], redis: RedisConnections?,
         counters: [(rule: String, counters: LimitRuleCounters)], current: CurrentRuleCounters) {
        self.guardsByRoute = guardsByRoute
        self.earlyGuardsByRoute = earlyGuardsByRoute
        self.redis = redis
        self.counters = counters
        self.current = current
    }

    func guards(forRoute route: String) -> [any RequestGuard] {
        guardsByRoute[route].map { [$0] } ?? []
    }

    func earlyGuards(forRoute route: String) -> [any RequestGuard] {
        earlyGuardsByRoute[route].map { [$0] } ?? []
    }

    func activate() {
        redis?.startIfNew()
        current.list.withLock { $0 = counters }
    }
}

/// The rule counters of the active generation.
final class CurrentRuleCounters: Sendable {
    let list = Mutex<[(rule: String, counters: LimitRuleCounters)]>([])
}
