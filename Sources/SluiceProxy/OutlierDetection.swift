import Synchronization
import SluiceIO
import SluicePolicy

/// Passive outlier ejection of one cluster's endpoints: pure state, time passed in (nanoseconds).
///
/// An endpoint that fails `consecutive_failures` tries in a row is ejected for `ejection_time` ×
/// the number of times it has been ejected (at most `max_ejection_time`); a success resets its
/// count and its ejection history. No more than `max_ejected_share` of the endpoints (rounded
/// down) are ejected at once, so a cluster of one is never emptied by it.
struct OutlierLedger {
    let policy: OutlierDetectionPolicy
    private(set) var consecutiveFailures: [Int]
    private(set) var ejectedUntil: [UInt64]
    private(set) var ejections: [Int]

    init(policy: OutlierDetectionPolicy, endpoints: Int) {
        self.policy = policy
        consecutiveFailures = Array(repeating: 0, count: endpoints)
        ejectedUntil = Array(repeating: 0, count: endpoints)
        ejections = Array(repeating: 0, count: endpoints)
    }

    func isEjected(_ endpoint: Int, now: UInt64) -> Bool { ejectedUntil[endpoint] > now }

    /// One try's result; returns the ejection's end when this result ejected the endpoint.
    mutating func record(_ endpoint: Int, failed: Bool, now: UInt64) -> UInt64? {
        guard failed else {
            consecutiveFailures[endpoint] = 0
            ejections[endpoint] = 0
            return nil
        }
        consecutiveFailures[endpoint] += 1
        guard consecutiveFailures[endpoint] >= policy.consecutiveFailures, !isEjected(endpoint, now: now) else { return nil }
        let ejectedNow = ejectedUntil.indices.filter { isEjected($0, now: now) }.count
        guard ejectedNow + 1 <= Int(Double(ejectedUntil.count) * policy.maxEjectedShare) else { return nil }
        ejections[endpoint] += 1
        consecutiveFailures[endpoint] = 0
        let time = min(policy.ejectionTime.nanosecondsClamped &* UInt64(ejections[endpoint]), policy.maxEjectionTime.nanosecondsClamped)
        ejectedUntil[endpoint] = now + time
        return ejectedUntil[endpoint]
    }
}

/// A cluster's endpoint health, shared by every loop of one configuration (a reload starts it
/// afresh). Without `outlier_detection` nothing is recorded and nothing is ever ejected.
final class EndpointHealth: Sendable {
    private let ledger: Mutex<OutlierLedger>
    let isEnabled: Bool
    private let names: [String]
    private let cluster: String

    init(cluster: ClusterPolicy, names: [String]) {
        isEnabled = cluster.outlierDetection != nil
        ledger = Mutex(OutlierLedger(policy: cluster.outlierDetection ?? OutlierDetectionPolicy(), endpoints: names.count))
        self.names = names
        self.cluster = cluster.name
    }

    func record(_ endpoint: Int, failed: Bool, now: UInt64) {
        guard isEnabled else { return }
        if let until = ledger.withLock({ $0.record(endpoint, failed: failed, now: now) }) {
            printError("sluice: cluster \(cluster) ejects \(names[endpoint]) for \((until - now) / 1_000_000) ms (consecutive failures)")
        }
    }

    /// Which endpoints balancing may use now (all when none is ejected).
    func ejected(now: UInt64) -> [Bool]? {
        guard isEnabled else { return nil }
        return ledger.withLock { ledger in ledger.ejectedUntil.indices.map { ledger.isEjected($0, now: now) } }
    }
}
