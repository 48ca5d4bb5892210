import Synchronization

/// Readings of load that guard modules publish for one another without knowing each other
/// (the bulkheads' queue occupancy, read by the degrade guard's pressure signal). Each reading is
/// 0 (idle) to 1 (at capacity) or more. Shared by the whole process; a module replaces its own
/// group of gauges when its generation activates.
public final class PressureGauges: Sendable {
    private let groups = Mutex<[String: [@Sendable () -> Double]]>([:])

    public init() {}

    /// The bulkheads' queue occupancy, read by the degrade guard.
    public static let bulkheadQueues = "bulkhead_queues"

    /// Replaces every gauge `group` published before (empty: withdraws them).
    public func replace(group: String, with gauges: [@Sendable () -> Double]) {
        groups.withLock { $0[group] = gauges.isEmpty ? nil : gauges }
    }

    /// The highest reading of a group (0 when it has none).
    public func highest(in group: String) -> Double {
        let gauges = groups.withLock { $0[group] ?? [] }
        return gauges.reduce(0) { max($0, $1()) }
    }
}
