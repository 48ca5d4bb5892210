import SluiceAuth
import SluiceBreaker
import SluiceBulkhead
import SluiceDegrade
import SluiceGuards
import SluiceIdempotency
import SluiceIO
import SluicePolicy
import SluiceRateLimit
import SluiceSharedRedis
import SluiceSharedPools
import SluiceValidation

/// The guard modules in chain order, and the state they keep across reloads. Adding a guard
/// is one module and one line in `standard`.
struct GuardRegistry {
    let modules: [any GuardModule]
    let state = GuardStateRegistry()

    /// The chain order of ../DESIGN.md §1: degrade, auth, idempotency, ratelimit, bulkhead,
    /// breaker (each added here as it lands). `loops` may be empty for `sluice check`, which
    /// compiles but never activates.
    static func standard(loops: [EventLoop]) -> GuardRegistry {
        let gauges = PressureGauges()
        // Degrade is listed after auth: its gate runs at the chain's start anyway (an early
        // guard), and its fallback guard must run after auth (cached answers are per merchant).
        return GuardRegistry(modules: [
            AuthModule(loops: loops),
            DegradeModule(loops: loops, gauges: gauges),
            ValidationModule(loops: loops),
            IdempotencyModule(loops: loops),
            RateLimitModule(loops: loops),
            BulkheadModule(loops: loops, gauges: gauges),
            BreakerModule(),
        ])
    }

    /// The policy format's guard parts, for the loader: the shared `redis` section, then each
    /// module's own.
    var policySections: [any GuardPolicySection] { [RedisPolicySection(), ThreadPoolsPolicySection(), AdminPolicySection(), AlertPolicySection()] + modules.compactMap(\.policySection) }

    /// The module of a kind (the admin endpoint reads breakers, bulkheads and the degrade engine).
    func module<Module: GuardModule>(_ type: Module.Type) -> Module? {
        modules.lazy.compactMap { $0 as? Module }.first
    }

    /// Phase 1: every module's guards for `policy`, with no side effects. Nothing runs and
    /// nothing shared changes until `activate`.
    func compile(_ policy: PolicySnapshot) -> Result<CompiledGuards, Server.ValidationFailure> {
        let stage = state.stage()
        var generations: [any GuardGeneration] = []
        var problems: [String] = []
        for module in modules {
            do {
                generations.append(try module.compile(policy, state: stage))
            } catch {
                problems.append(error.description)
            }
        }
        guard problems.isEmpty else { return .failure(Server.ValidationFailure(description: problems.joined(separator: "\n"))) }
        var byRoute: [String: [any RequestGuard]] = [:]
        for route in policy.routes {
            let chain = generations.flatMap { $0.earlyGuards(forRoute: route.name) } + generations.flatMap { $0.guards(forRoute: route.name) }
            if !chain.isEmpty { byRoute[route.name] = chain }
        }
        return .success(CompiledGuards(stage: stage, generations: generations, byRoute: byRoute))
    }

    /// Phase 2, once the whole policy is accepted: the staged state becomes the registry's and
    /// each module starts what its new generation needs.
    func activate(_ compiled: CompiledGuards) {
        state.commit(compiled.stage)
        for generation in compiled.generations { generation.activate() }
    }
}

/// One policy's guards, compiled and not yet active.
struct CompiledGuards {
    let stage: GuardStateStage
    let generations: [any GuardGeneration]
    /// Each route's guards in chain order (routes without guards are absent).
    let byRoute: [String: [any RequestGuard]]
}
