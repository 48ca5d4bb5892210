import Synchronization

/// Per-rule counters, shared by all loops and kept across reloads (by rule name), for the
/// metrics endpoint of a later issue.
public final class LimitRuleCounters: Sendable {
    private let allowedCount = Atomic<Int>(0)
    private let deniedCount = Atomic<Int>(0)
    private let shadowDeniedCount = Atomic<Int>(0)
    private let redisErrorCount = Atomic<Int>(0)
    private let fallbackCount = Atomic<Int>(0)
    private let redisCallCount = Atomic<Int>(0)
    private let leaseHitCount = Atomic<Int>(0)

    init() {}

    func countAllowed() { allowedCount.wrappingAdd(1, ordering: .relaxed) }
    func countDenied() { deniedCount.wrappingAdd(1, ordering: .relaxed) }
    func countShadowDenied() { shadowDeniedCount.wrappingAdd(1, ordering: .relaxed) }
    func countRedisError() { redisErrorCount.wrappingAdd(1, ordering: .relaxed) }
    func countFallback() { fallbackCount.wrappingAdd(1, ordering: .relaxed) }
    func countRedisCall() { redisCallCount.wrappingAdd(1, ordering: .relaxed) }
    func countLeaseHit() { leaseHitCount.wrappingAdd(1, ordering: .relaxed) }

    public var allowed: Int { allowedCount.load(ordering: .relaxed) }
    public var denied: Int { deniedCount.load(ordering: .relaxed) }
    public var shadowDenied: Int { shadowDeniedCount.load(ordering: .relaxed) }
    /// Redis calls that failed (timeout, connection, breaker open, error reply).
    public var redisErrors: Int { redisErrorCount.load(ordering: .relaxed) }
    /// Decisions made by the failure mode instead of Redis.
    public var fallbackDecisions: Int { fallbackCount.load(ordering: .relaxed) }
    /// Check-and-consume calls sent to Redis (leases make this smaller than the request count).
    public var redisCalls: Int { redisCallCount.load(ordering: .relaxed) }
    /// Requests served from a local lease without asking Redis.
    public var leaseHits: Int { leaseHitCount.load(ordering: .relaxed) }
}
