import SluiceGuards
import SluiceIO
import SluicePolicy

/// The bulkhead guard's entry in the server's guard registry (fifth in the chain, after rate
/// limits: a request refused there never takes a permit).
///
/// Across reloads a bulkhead is kept while its settings are unchanged, so the permits in-flight
/// requests hold stay counted; a changed bulkhead starts fresh (its old requests give their
/// permits back to the old one).
public final class BulkheadModule: GuardModule {
    public static let moduleName = "bulkhead"
    public let name = BulkheadModule.moduleName
    public var policySection: (any GuardPolicySection)? { BulkheadPolicySection() }
    private let loops: [EventLoop]

    public init(loops: [EventLoop]) {
        self.loops = loops
    }

    public func compile(_ policy: PolicySnapshot, state: GuardStateStage) throws(GuardCompileError) -> any GuardGeneration {
        guard let bulkheads = policy.guardPolicy(name, as: BulkheadsPolicy.self) else { return BulkheadGeneration(guardsByRoute: [:]) }
        var shared: [String: Bulkhead] = [:]
        for settings in bulkheads.bulkheads {
            shared[settings.name] = state.state(name, "bulkhead:" + settings.name, configuration: settings) { Bulkhead(policy: settings) }
        }
        var guards: [String: BulkheadGuard] = [:]
        for route in policy.routes {
            guard let bulkheadName = bulkheads.routeBulkheads[route.name], let bulkhead = shared[bulkheadName] else { continue }
            guards[route.name] = BulkheadGuard(bulkhead: bulkhead, loops: loops)
        }
        return BulkheadGeneration(guardsByRoute: guards)
    }
}

final class BulkheadGeneration: GuardGeneration {
    let guardsByRoute: [String: BulkheadGuard]

    init(guardsByRoute: [String: BulkheadGuard]) {
        self.guardsByRoute = guardsByRoute
    }

    func guards(forRoute route: String) -> [any RequestGuard] {
        guardsByRoute[route].map { [$0] } ?? []
    }

    func activate() {}
}
