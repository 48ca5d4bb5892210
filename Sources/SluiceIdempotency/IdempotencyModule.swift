import SluiceGuards
import SluiceIO
import SluicePolicy
import SluiceRedis
import SluiceSharedRedis

/// The idempotency guard's entry in the server's guard registry (third in the chain: after
/// auth, whose merchant scopes every key; before rate limits, so a replayed retry costs no quota).
///
/// Records live in the shared Redis (`SharedRedis`), so they outlive reloads and are shared by
/// every gateway; per rule the decision counters are kept while the rule's name is.
public final class IdempotencyModule: GuardModule {
    public static let moduleName = "idempotency"
    public let name = IdempotencyModule.moduleName
    public var policySection: (any GuardPolicySection)? { IdempotencyPolicySection() }
    private let loops: [EventLoop]
    private let owners = OwnerTokens()
    private let pending = PendingCompletions()
    /// Claims to release after a failed claim call (shared by every rule and generation).
    let uncertainClaims = UncertainClaims()

    public init(loops: [EventLoop]) {
        self.loops = loops
    }

    public func compile(_ policy: PolicySnapshot, state: GuardStateStage) throws(GuardCompileError) -> any GuardGeneration {
        guard let idempotency = policy.guardPolicy(name, as: IdempotencyPolicy.self), !idempotency.routeRules.isEmpty,
              let settings = SharedRedis.settings(in: policy) else {
            return IdempotencyGeneration(guardsByRoute: [:], redis: nil)
        }
        if settings.isCluster {
            // A claim and its completion name every key of the request in one script: on a
            // cluster they must share a slot, for every request.
            for rule in idempotency.rules where rule.keys.count > 1 {
                if let problem = RedisKeyShape.spanProblem(Array(repeating: IdempotencyKey.recordKeyShape, count: rule.keys.count)) {
                    throw GuardCompileError("idempotency rule '\(rule.name)': its keys could span Redis Cluster slots (\(problem))")
                }
            }
        }
        let redis = SharedRedis.connections(settings, loops: loops, state: state)
        var guards: [String: IdempotencyGuard] = [:]
        for route in policy.routes {
            guard let ruleName = idempotency.routeRules[route.name], let rule = idempotency.rule(named: ruleName) else { continue }
            let decisions = state.state(name, "counters:" + rule.name, configuration: rule.name) { IdempotencyCounters() }
            guards[route.name] = IdempotencyGuard(rule: rule, routeTimeout: route.totalTimeout, redis: redis.set, loops: loops,
                                                  decisions: decisions, owners: owners, pending: pending,
                                                  uncertainClaims: uncertainClaims)
        }
        return IdempotencyGeneration(guardsByRoute: guards, redis: redis)
    }
}

final class IdempotencyGeneration: GuardGeneration {
    let guardsByRoute: [String: IdempotencyGuard]
    private let redis: RedisConnections?

    init(guardsByRoute: [String: IdempotencyGuard], redis: RedisConnections?) {
        self.guardsByRoute = guardsByRoute
        self.redis = redis
    }

    func guards(forRoute route: String) -> [any RequestGuard] {
        guardsByRoute[route].map { [$0] } ?? []
    }

    func activate() {
        redis?.startIfNew()
    }
}
