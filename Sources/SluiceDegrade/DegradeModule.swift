import SluiceGuards
import SluiceIO
import SluicePolicy
import SluiceSharedRedis

/// The degrade guard's entry in the server's guard registry. It puts two guards in a route's
/// chain: the gate at the chain's very start (every route: in-flight count, core latency, and
/// shedding non-core routes at `shed` before any other work), and, on non-core routes, the
/// fallback guard right after auth (throttle and fallback answers, which must know the merchant).
/// The registry lists this module after auth for that reason.
///
/// The engine (readings, ladder, manual pin) lives as long as the module; each route's fallback
/// cache is kept across reloads while the route's settings are unchanged.
public final class DegradeModule: GuardModule {
    public static let moduleName = "degrade"
    public let name = DegradeModule.moduleName
    public var policySection: (any GuardPolicySection)? { DegradePolicySection() }
    private let loops: [EventLoop]
    /// The instance's pressure and level; `pin` is the operator's manual control.
    public let engine: DegradeEngine

    public init(loops: [EventLoop], gauges: PressureGauges? = nil) {
        self.loops = loops
        engine = DegradeEngine(loops: loops, gauges: gauges)
    }

    public func compile(_ policy: PolicySnapshot, state: GuardStateStage) throws(GuardCompileError) -> any GuardGeneration {
        guard let degrade = policy.guardPolicy(name, as: DegradePolicy.self) else {
            return DegradeGeneration(gates: [:], fallbacks: [:], engine: engine, policy: nil, redis: nil)
        }
        let redis = degrade.fleet == nil ? nil : SharedRedis.settings(in: policy).map { SharedRedis.connections($0, loops: loops, state: state) }
        var gates: [String: DegradeGate] = [:]
        var fallbacks: [String: FallbackGuard] = [:]
        for route in policy.routes {
            let isCore = route.routeClass == .core
            gates[route.name] = DegradeGate(engine: engine, isCore: isCore, loops: loops.count)
            guard !isCore else { continue }
            let settings = degrade.routes[route.name] ?? RouteDegrade()
            let cache = settings.cachedFallback
                ? state.state(name, "cache:" + route.name, configuration: route.name) { FallbackCache() } : nil
            fallbacks[route.name] = FallbackGuard(engine: engine, settings: settings, cache: cache)
        }
        return DegradeGeneration(gates: gates, fallbacks: fallbacks, engine: engine, policy: degrade, redis: redis)
    }
}

final class DegradeGeneration: GuardGeneration {
    private let gates: [String: DegradeGate]
    private let fallbacks: [String: FallbackGuard]
    private let engine: DegradeEngine
    private let policy: DegradePolicy?
    /// The shared Redis the fleet pin lives in (nil: no `fleet`).
    private let redis: RedisConnections?

    init(gates: [String: DegradeGate], fallbacks: [String: FallbackGuard], engine: DegradeEngine, policy: DegradePolicy?,
         redis: RedisConnections?) {
        self.gates = gates
        self.fallbacks = fallbacks
        self.engine = engine
        self.policy = policy
        self.redis = redis
    }

    func earlyGuards(forRoute route: String) -> [any RequestGuard] {
        gates[route].map { [$0] } ?? []
    }

    func guards(forRoute route: String) -> [any RequestGuard] {
        fallbacks[route].map { [$0] } ?? []
    }

    func activate() {
        guard let policy else {
            // No degrade section: no signal is read, so a level left from before steps down.
            engine.configure(DegradePolicy.disabled)
            engine.configureFleet(nil)
            return
        }
        engine.configure(policy)
        redis?.startIfNew()
        if let redis, let fleet = policy.fleet {
            engine.configureFleet(DegradeEngine.FleetLink(redis: redis.set, key: fleet.key, pollNanoseconds: fleet.poll.nanosecondsClamped))
        } else {
            engine.configureFleet(nil)
        }
        engine.start()
    }
}
