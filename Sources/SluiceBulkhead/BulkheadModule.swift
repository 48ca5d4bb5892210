import Synchronization
import SluiceGuards
import SluiceIO
import SluicePolicy

/// The bulkhead guard's entry in the server's guard registry (fifth in the chain, after rate
/// limits: a request refused there never takes a permit).
///
/// Across reloads a bulkhead is kept while its settings are unchanged; a changed one is made
/// anew and takes over from the old (`Bulkhead.takeOver`): the permits in-flight requests hold
/// stay counted either way.
public final class BulkheadModule: GuardModule {
    public static let moduleName = "bulkhead"
    public let name = BulkheadModule.moduleName
    public var policySection: (any GuardPolicySection)? { BulkheadPolicySection() }
    private let loops: [EventLoop]
    private let gauges: PressureGauges?
    private let current = CurrentBulkheads()

    /// The running bulkheads (metrics and the admin state).
    public var bulkheads: [Bulkhead] { current.list.withLock { $0 } }

    /// `gauges`: where each bulkhead's queue occupancy is published (the degrade guard's pressure).
    public init(loops: [EventLoop], gauges: PressureGauges? = nil) {
        self.loops = loops
        self.gauges = gauges
    }


    public func compile(_ policy: PolicySnapshot, state: GuardStateStage) throws(GuardCompileError) -> any GuardGeneration {
        guard let bulkheads = policy.guardPolicy(name, as: BulkheadsPolicy.self) else {
            return BulkheadGeneration(guardsByRoute: [:], bulkheads: [], gauges: gauges, current: current)
        }
        var shared: [String: Bulkhead] = [:]
        for settings in bulkheads.bulkheads {
            let key = "bulkhead:" + settings.name
            shared[settings.name] = state.state(name, key, configuration: settings) {
                Bulkhead(policy: settings, replacing: state.running(name, key, as: Bulkhead.self))
            }
        }
        var guards: [String: BulkheadGuard] = [:]
        for route in policy.routes {
            guard let bulkheadName = bulkheads.routeBulkheads[route.name], let bulkhead = shared[bulkheadName] else { continue }
            guards[route.name] = BulkheadGuard(bulkhead: bulkhead, loops: loops)
        }
        return BulkheadGeneration(guardsByRoute: guards, bulkheads: shared.values.sorted { $0.policy.name < $1.policy.name },
                                  gauges: gauges, current: current)
    }
}

final class BulkheadGeneration: GuardGeneration {
    let guardsByRoute: [String: BulkheadGuard]
    private let bulkheads: [Bulkhead]
    private let gauges: PressureGauges?
    private let current: CurrentBulkheads

    init(guardsByRoute: [String: BulkheadGuard], bulkheads: [Bulkhead], gauges: PressureGauges?, current: CurrentBulkheads) {
        self.guardsByRoute = guardsByRoute
        self.bulkheads = bulkheads
        self.gauges = gauges
        self.current = current
    }

    func guards(forRoute route: String) -> [any RequestGuard] {
        guardsByRoute[route].map { [$0] } ?? []
    }

    /// Publishes each bulkhead's queue occupancy: waiting over the queue's length, or, without a
    /// queue, permits held over the limit now (1.0: requests are being refused).
    func activate() {
        for bulkhead in bulkheads { bulkhead.takeOver() }
        current.list.withLock { $0 = bulkheads }
        gauges?.replace(group: PressureGauges.bulkheadQueues, with: bulkheads.map { bulkhead in
            { @Sendable in
                let (held, waiting) = bulkhead.occupancy
                let policy = bulkhead.policy
                return policy.queue > 0 ? Double(waiting) / Double(policy.queue) : Double(held) / Double(bulkhead.limit)
            }
        })
    }
}

/// The bulkheads of the active generation.
final class CurrentBulkheads: Sendable {
    let list = Mutex<[Bulkhead]>([])
}
