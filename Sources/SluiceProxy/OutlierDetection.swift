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
    /// This interval's tries and successes per endpoint (success-rate ejection).
    private var tries: [Int]
    private var successes: [Int]
    private var intervalStart: UInt64?

    init(policy: OutlierDetectionPolicy, endpoints: Int) {
        self.policy = policy
        consecutiveFailures = Array(repeating: 0, count: endpoints)
        ejectedUntil = Array(repeating: 0, count: endpoints)
        ejections = Array(repeating: 0, count: endpoints)
        tries = Array(repeating: 0, count: endpoints)
        successes = Array(repeating: 0, count: endpoints)
    }

    /// Success-rate ejection, at the end of each interval: the endpoints with enough tries, whose
    /// rate is below their mean minus `stdev_factor` standard deviations. Returns those ejected,
    /// with the ejection's end and why.
    mutating func closeIntervalIfDue(now: UInt64) -> [(endpoint: Int, until: UInt64, detail: String)] {
        guard let rule = policy.successRate else { return [] }
        guard let start = intervalStart else {
            intervalStart = now
            return []
        }
        guard now &- start >= rule.interval.nanosecondsClamped else { return [] }
        defer {
            intervalStart = now
            tries = tries.map { _ in 0 }
            successes = successes.map { _ in 0 }
        }
        let qualifying = tries.indices.filter { tries[$0] >= rule.minimumRequests }
        guard qualifying.count >= rule.minimumEndpoints else { return [] }
        let rates = qualifying.map { Double(successes[$0]) / Double(tries[$0]) }
        let mean = rates.reduce(0, +) / Double(rates.count)
        let stdev = (rates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(rates.count)).squareRoot()
        let threshold = mean - rule.stdevFactor * stdev
        var ejected: [(Int, UInt64, String)] = []
        for (endpoint, rate) in zip(qualifying, rates) where rate < threshold && !isEjected(endpoint, now: now) {
            guard let until = eject(endpoint, now: now) else { continue }
            ejected.append((endpoint, until, "success rate \(Int((rate * 100).rounded()))% against the cluster's \(Int((mean * 100).rounded()))%"))
        }
        return ejected
    }

    func isEjected(_ endpoint: Int, now: UInt64) -> Bool { ejectedUntil[endpoint] > now }

    /// One try's result; returns the ejection's end when this result ejected the endpoint.
    mutating func record(_ endpoint: Int, failed: Bool, now: UInt64) -> UInt64? {
        tries[endpoint] += 1
        if !failed { successes[endpoint] += 1 }
        guard failed else {
            consecutiveFailures[endpoint] = 0
            ejections[endpoint] = 0
            return nil
        }
        consecutiveFailures[endpoint] += 1
        guard consecutiveFailures[endpoint] >= policy.consecutiveFailures, !isEjected(endpoint, now: now) else { return nil }
        return eject(endpoint, now: now)
    }

    /// Ejects `endpoint` unless the share cap forbids it; returns when the ejection ends.
    private mutating func eject(_ endpoint: Int, now: UInt64) -> UInt64? {
        let ejectedNow = ejectedUntil.indices.filter { isEjected($0, now: now) }.count
        guard ejectedNow + 1 <= Int(Double(ejectedUntil.count) * policy.maxEjectedShare) else { return nil }
        ejections[endpoint] += 1
        consecutiveFailures[endpoint] = 0
        let time = min(policy.ejectionTime.nanosecondsClamped &* UInt64(ejections[endpoint]), policy.maxEjectionTime.nanosecondsClamped)
        ejectedUntil[endpoint] = now + time
        return ejectedUntil[endpoint]
    }
}

/// The active health checks' view of one cluster's endpoints: consecutive passes and failures,
/// and whether each endpoint is in. Pure.
struct HealthCheckLedger {
    let policy: HealthCheckPolicy
    private(set) var healthy: [Bool]
    private var passes: [Int]
    private var failures: [Int]

    init(policy: HealthCheckPolicy, endpoints: Int) {
        self.policy = policy
        healthy = Array(repeating: true, count: endpoints)
        passes = Array(repeating: 0, count: endpoints)
        failures = Array(repeating: 0, count: endpoints)
    }

    /// One check's result; returns the endpoint's new state when it changed.
    mutating func record(_ endpoint: Int, passed: Bool) -> Bool? {
        if passed {
            passes[endpoint] += 1
            failures[endpoint] = 0
            guard !healthy[endpoint], passes[endpoint] >= policy.healthy else { return nil }
        } else {
            failures[endpoint] += 1
            passes[endpoint] = 0
            guard healthy[endpoint], failures[endpoint] >= policy.unhealthy else { return nil }
        }
        healthy[endpoint] = passed
        return passed
    }
}

/// A cluster's endpoint health, shared by every loop of one configuration (a reload starts it
/// afresh): passive outlier ejection, and active health checks when the cluster has them.
/// Without either, nothing is recorded and balancing uses every endpoint.
final class EndpointHealth: Sendable {
    private let ledger: Mutex<OutlierLedger>
    private let checks: Mutex<HealthCheckLedger>
    let isEnabled: Bool
    let isChecked: Bool
    private let names: [String]
    private let cluster: String
    /// When the latest ejection ends, and how many endpoints fail their checks: balancing asks
    /// these two atomics on every request, and takes the locks only while something is out.
    private let lastEjectionEnd = Atomic<UInt64>(0)
    private let unhealthyCount = Atomic<Int>(0)

    init(cluster: ClusterPolicy, names: [String]) {
        isEnabled = cluster.outlierDetection != nil
        ledger = Mutex(OutlierLedger(policy: cluster.outlierDetection ?? OutlierDetectionPolicy(), endpoints: names.count))
        isChecked = cluster.healthCheck != nil
        checks = Mutex(HealthCheckLedger(policy: cluster.healthCheck ?? HealthCheckPolicy(), endpoints: names.count))
        self.names = names
        self.cluster = cluster.name
    }

    func record(_ endpoint: Int, failed: Bool, now: UInt64) {
        guard isEnabled else { return }
        let (until, byRate) = ledger.withLock { ledger in
            (ledger.record(endpoint, failed: failed, now: now), ledger.closeIntervalIfDue(now: now))
        }
        if let until {
            lastEjectionEnd.max(until, ordering: .relaxed)
            printError("sluice: cluster \(cluster) ejects \(names[endpoint]) for \((until - now) / 1_000_000) ms (consecutive failures)")
        }
        for ejection in byRate {
            lastEjectionEnd.max(ejection.until, ordering: .relaxed)
            printError("sluice: cluster \(cluster) ejects \(names[ejection.endpoint]) for \((ejection.until - now) / 1_000_000) ms (\(ejection.detail))")
        }
    }

    /// An active check's result.
    func recordCheck(_ endpoint: Int, passed: Bool, detail: String) {
        guard isChecked, let changed = checks.withLock({ $0.record(endpoint, passed: passed) }) else { return }
        unhealthyCount.wrappingAdd(changed ? -1 : 1, ordering: .relaxed)
        printError("sluice: cluster \(cluster) endpoint \(names[endpoint]) is \(changed ? "healthy again" : "unhealthy") (\(detail))")
    }

    /// Which endpoints balancing must leave out now (ejected or failing their checks); nil when
    /// none is (always, without outlier detection and health checks).
    func ejected(now: UInt64) -> [Bool]? {
        guard isEnabled || isChecked,
              now < lastEjectionEnd.load(ordering: .relaxed) || unhealthyCount.load(ordering: .relaxed) > 0 else { return nil }
        let healthy = isChecked ? checks.withLock { $0.healthy } : nil
        let ejected = isEnabled ? ledger.withLock { ledger in ledger.ejectedUntil.indices.map { ledger.isEjected($0, now: now) } } : nil
        return names.indices.map { (ejected?[$0] ?? false) || !(healthy?[$0] ?? true) }
    }
}
