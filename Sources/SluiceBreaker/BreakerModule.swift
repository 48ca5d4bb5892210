import SluiceGuards
import SluiceIO
import SluicePolicy
import Synchronization

/// The breaker guard's entry in the server's guard registry (the last in the chain: a request
/// refused by an earlier guard never reaches, or counts against, a backend).
///
/// A breaker is kept across reloads while its settings are unchanged (its window and state
/// stay); one whose settings changed continues from where the old one stood (open stays open,
/// forced stays forced); `breaker(named:)` finds one for the operator's manual control.
public final class BreakerModule: GuardModule {
    public static let moduleName = "breaker"
    public let name = BreakerModule.moduleName
    public var policySection: (any GuardPolicySection)? { BreakerPolicySection() }
    private let clock: @Sendable () -> UInt64
    private let current = CurrentBreakers()

    public init(clock: (@Sendable () -> UInt64)? = nil) {
        self.clock = clock ?? { Deadline.now.nanoseconds }
    }

    /// The running breaker of that name (the admin endpoint's force-open / force-close).
    public func breaker(named name: String) -> CircuitBreaker? { current.breaker(named: name) }

    /// The running breakers, by name.
    public var breakers: [CircuitBreaker] { current.all }

    public func compile(_ policy: PolicySnapshot, state: GuardStateStage) throws(GuardCompileError) -> any GuardGeneration {
        guard let breakers = policy.guardPolicy(name, as: BreakersPolicy.self) else {
            return BreakerGeneration(guardsByRoute: [:], breakers: [], current: current)
        }
        var shared: [String: CircuitBreaker] = [:]
        for settings in breakers.breakers {
            shared[settings.name] = state.state(name, "breaker:" + settings.name, configuration: settings) {
                CircuitBreaker(policy: settings, clock: clock)
            }
        }
        var guards: [String: BreakerGuard] = [:]
        for route in policy.routes {
            let chosen = breakers.routeBreakers[route.name] ?? breakers.breakers.first { $0.cluster == route.cluster }?.name
            guard let chosen, let breaker = shared[chosen] else { continue }
            guards[route.name] = BreakerGuard(breaker: breaker)
        }
        return BreakerGeneration(guardsByRoute: guards, breakers: Array(shared.values), current: current)
    }
}

/// The breakers of the active generation, by name.
final class CurrentBreakers: Sendable {
    private let byName = Mutex<[String: CircuitBreaker]>([:])

    /// The new generation's breakers become the running ones. A breaker made anew for changed
    /// settings continues from the one it replaces (an open breaker stays open).
    func replace(with breakers: [CircuitBreaker]) {
        byName.withLock { running in
            for breaker in breakers {
                if let previous = running[breaker.policy.name], previous !== breaker { breaker.continueFrom(previous) }
            }
            running = Dictionary(breakers.map { ($0.policy.name, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    func breaker(named name: String) -> CircuitBreaker? { byName.withLock { $0[name] } }

    var all: [CircuitBreaker] { byName.withLock { $0.values.sorted { $0.policy.name < $1.policy.name } } }
}

final class BreakerGeneration: GuardGeneration {
    let guardsByRoute: [String: BreakerGuard]
    private let breakers: [CircuitBreaker]
    private let current: CurrentBreakers

    init(guardsByRoute: [String: BreakerGuard], breakers: [CircuitBreaker], current: CurrentBreakers) {
        self.guardsByRoute = guardsByRoute
        self.breakers = breakers
        self.current = current
    }

    func guards(forRoute route: String) -> [any RequestGuard] {
        guardsByRoute[route].map { [$0] } ?? []
    }

    func activate() {
        current.replace(with: breakers)
    }
}
