import SluiceGuards
import SluiceIO
import SluicePolicy
import SluiceSharedPools

/// The validation guard's entry in the server's guard registry (after auth, before idempotency).
public final class ValidationModule: GuardModule {
    public static let moduleName = "validation"
    public let name = ValidationModule.moduleName
    public var policySection: (any GuardPolicySection)? { ValidationPolicySection() }

    private let loops: [EventLoop]

    public init(loops: [EventLoop] = []) { self.loops = loops }

    public func compile(_ policy: PolicySnapshot, state: GuardStateStage) throws(GuardCompileError) -> any GuardGeneration {
        guard let validations = policy.guardPolicy(name, as: ValidationsPolicy.self) else { return ValidationGeneration(guardsByRoute: [:], pools: []) }
        var guards: [String: ValidationGuard] = [:]
        var pools: [WorkerPool] = []
        for route in policy.routes {
            guard let ruleName = validations.routeRules[route.name], let rule = validations.rule(named: ruleName) else { continue }
            var pool: WorkerPool?
            if let offload = rule.offload {
                guard let named = SharedThreadPools.pool(named: offload.pool, in: policy, state: state) else {
                    throw GuardCompileError("offload pool '\(offload.pool)' of validation '\(rule.name)' is not a thread pool (declare it under thread_pools)",
                                            at: offload.position)
                }
                pool = named
                pools.append(named)
            }
            guards[route.name] = ValidationGuard(rule: rule, pool: pool, loops: loops)
        }
        return ValidationGeneration(guardsByRoute: guards, pools: pools)
    }
}

final class ValidationGeneration: GuardGeneration {
    let guardsByRoute: [String: ValidationGuard]
    let pools: [WorkerPool]

    init(guardsByRoute: [String: ValidationGuard], pools: [WorkerPool]) {
        self.guardsByRoute = guardsByRoute
        self.pools = pools
    }

    func guards(forRoute route: String) -> [any RequestGuard] { guardsByRoute[route].map { [$0] } ?? [] }

    func activate() { pools.forEach { $0.start() } }
}
