import Synchronization

/// The fixed counters every guard keeps, shared by all event loops.
public final class GuardCounters: Sendable {
    private let evaluatedCount = Atomic<Int>(0)
    private let rejectedCount = Atomic<Int>(0)
    private let shadowRejectedCount = Atomic<Int>(0)
    private let errorCount = Atomic<Int>(0)

    public init() {}

    public func record(_ verdict: GuardVerdict) {
        evaluatedCount.wrappingAdd(1, ordering: .relaxed)
        switch verdict {
        case .proceed, .annotate: break
        case .reject: rejectedCount.wrappingAdd(1, ordering: .relaxed)
        case .shadowReject: shadowRejectedCount.wrappingAdd(1, ordering: .relaxed)
        }
    }

    public func recordError() { errorCount.wrappingAdd(1, ordering: .relaxed) }

    public var evaluated: Int { evaluatedCount.load(ordering: .relaxed) }
    public var rejected: Int { rejectedCount.load(ordering: .relaxed) }
    public var shadowRejected: Int { shadowRejectedCount.load(ordering: .relaxed) }
    public var errors: Int { errorCount.load(ordering: .relaxed) }
}
