import SluicePolicy

/// A policy rule compiled for the request path: times in microseconds, header items formatted
/// once. Immutable; a reload compiles new ones (counters carry over by name).
public struct LimitRule: Sendable {
    public enum Algorithm: Sendable, Hashable {
        /// GCRA: one token every `emissionMicros`, at most `burst` banked.
        case tokenBucket(emissionMicros: Double, burst: Int)
        /// Exact log (sorted set): every admission is a member; exact in every window position.
        case slidingLog(limit: Int, windowMicros: Double)
        /// Two fixed buckets, the previous one weighted by how much of it still overlaps the
        /// sliding window: O(1) memory, assumes even spread inside the previous bucket.
        case weightedWindow(limit: Int, windowMicros: Double)
    }

    /// Up to this limit a sliding window keeps the exact log; above it, the weighted counter.
    /// Why 1000: the log costs one sorted-set member (~60-100 bytes in Redis) per admission in the
    /// window and O(log n) per check; at 1000 that is under 100 KB per key and still cheap, while
    /// the weighted counter's error (it assumes the previous bucket's requests were evenly spread;
    /// a burst at the end of that bucket can let through up to `limit` x overlap extra in the worst
    /// case, typically well under 1%) matters least when a limit is large.
    public static let exactLogThreshold = 1000

    public let name: String
    public let algorithm: Algorithm
    public let cost: Int
    public let costHeader: String?
    public let key: [LimitRulePolicy.KeyPart]
    public let onRedisFailure: LimitRulePolicy.FailureMode
    public let expectedInstances: Int
    public let shadow: Bool
    public let responseHeaders: Bool
    public let leaseTokens: Int?
    /// `"name";q=200;w=2`: the RateLimit-Policy item.
    public let policyItem: String

    public init(_ policy: LimitRulePolicy) {
        name = policy.name
        switch policy.algorithm {
        case .tokenBucket(let rate, let burst):
            algorithm = .tokenBucket(emissionMicros: 1e6 / rate.perSecond, burst: burst)
            policyItem = "\"\(policy.name)\";q=\(burst);w=\(max(1, Int((Double(burst) / rate.perSecond).rounded(.up))))"
        case .slidingWindow(let limit, let window):
            let micros = Double(window.components.seconds) * 1e6 + Double(window.components.attoseconds / 1_000_000_000_000)
            algorithm = limit <= Self.exactLogThreshold ? .slidingLog(limit: limit, windowMicros: micros)
                                                        : .weightedWindow(limit: limit, windowMicros: micros)
            policyItem = "\"\(policy.name)\";q=\(limit);w=\(max(1, Int((micros / 1e6).rounded(.up))))"
        }
        cost = policy.cost
        costHeader = policy.costHeader
        key = policy.key
        onRedisFailure = policy.onRedisFailure
        expectedInstances = policy.expectedInstances
        shadow = policy.shadow
        responseHeaders = policy.responseHeaders
        leaseTokens = policy.leaseTokens
    }

    /// The same rule with its quota divided among `expectedInstances` gateways: what `local`
    /// enforces in-process while Redis cannot be asked.
    var localAlgorithm: Algorithm {
        let share = Double(expectedInstances)
        switch algorithm {
        case .tokenBucket(let emission, let burst):
            return .tokenBucket(emissionMicros: emission * share, burst: max(1, Int(Double(burst) / share)))
        case .slidingLog(let limit, let window), .weightedWindow(let limit, let window):
            return .weightedWindow(limit: max(1, Int(Double(limit) / share)), windowMicros: window)
        }
    }
}

/// The outcome of one check against one rule.
public struct LimitDecision: Sendable, Equatable {
    /// Tokens taken (0 = denied). A lease may take more than the request's cost.
    public var granted: Int
    /// What is left after this request (≥ 0).
    public var remaining: Int
    /// When denied: how long until the request could pass.
    public var retryAfterMicros: Double
    /// How long until the quota is whole again (token bucket) or the window moves on.
    public var resetMicros: Double

    public var allowed: Bool { granted > 0 }

    public init(granted: Int, remaining: Int, retryAfterMicros: Double, resetMicros: Double) {
        self.granted = granted
        self.remaining = max(0, remaining)
        self.retryAfterMicros = max(0, retryAfterMicros)
        self.resetMicros = max(0, resetMicros)
    }
}
