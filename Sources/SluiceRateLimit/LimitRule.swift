import SluicePolicy

/// A policy rule compiled for the request path: times in microseconds, header items formatted
/// once. Immutable; a reload compiles new ones (counters carry over by name).
public struct LimitRule: Sendable {
    public enum Algorithm: Sendable, Hashable {
        /// GCRA: one token every `emissionMicros`, at most `burst` banked.
        case tokenBucket(emissionMicros: Double, burst: Int)
        /// Exact log (sorted set): every admission is a member; exact in every window position.
        case slidingLog(limit: Int, windowMicros: Double)
        /// Counts in `subWindowBuckets` + 1 buckets of window / `subWindowBuckets` each, all of
        /// them counted: never more than `limit` in any window position, at the price of
        /// counting up to one bucket more than the window (see `subWindowBuckets`).
        case subWindow(limit: Int, windowMicros: Double)

        /// The start of its counters' keys, up to their hash tag: each algorithm keeps another
        /// Redis type (see `LimitKey`).
        var keyPrefix: String {
            switch self {
            case .tokenBucket: return "rl:tb:{"
            case .slidingLog: return "rl:sl:{"
            case .subWindow: return "rl:sw:{"
            }
        }
    }

    /// Up to this limit a sliding window keeps the exact log; above it, the sub-window buckets.
    /// Why 1000: the log costs one sorted-set member (~60-100 bytes in Redis) per admission in the
    /// window and O(log n) per check; at 1000 that is under 100 KB per key and still cheap. The
    /// buckets never over-admit either, but they under-admit (up to 1/21 of the limit, see
    /// `subWindowBuckets`): exact matters most when a limit is small.
    public static let exactLogThreshold = 1000

    /// N, the buckets a window is split into; a check counts the current bucket and the N before
    /// it, a span of W to W + W/N that holds every window (t − W, t] ending at the check.
    ///
    /// The bound, proved in `SubWindowMachine`: at most `limit` admitted in any window of length W
    /// (no over-admission); a client that keeps asking gets at least `limit` − cost + 1 in every
    /// N + 1 consecutive buckets, N/(N+1) ≈ 95.2% of the limit per window in the long run (the
    /// counted span is up to one bucket longer than W). Why 20: the under-admission is 1/(N+1), and
    /// each check reads up to N + 1 hash fields, so larger N buys little accuracy for a linear
    /// cost (N = 20: ~4.8% under; N = 50 would be ~2% under at 2.5x the fields); 21 fields keep the
    /// hash a small listpack in Redis.
    public static let subWindowBuckets = 20

    /// A sub-window bucket's width: whole microseconds, rounded up so that N buckets span at least
    /// the window (the Lua script computes the same).
    public static func subWindowBucketMicros(window: Double) -> Double {
        (window / Double(subWindowBuckets)).rounded(.up)
    }

    public let name: String
    public let algorithm: Algorithm
    public let cost: Int
    public let costHeader: String?
    public let key: [LimitRulePolicy.KeyPart]
    public let onRedisFailure: LimitRulePolicy.FailureMode
    public let expectedInstances: Int
    public let shadow: Bool
    public let responseHeaders: Bool
    /// Runs at the chain's start, before auth (see `LimitRulePolicy.beforeAuth`).
    public let beforeAuth: Bool
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
                                                        : .subWindow(limit: limit, windowMicros: micros)
            policyItem = "\"\(policy.name)\";q=\(limit);w=\(max(1, Int((micros / 1e6).rounded(.up))))"
        }
        cost = policy.cost
        costHeader = policy.costHeader
        key = policy.key
        onRedisFailure = policy.onRedisFailure
        expectedInstances = policy.expectedInstances
        shadow = policy.shadow
        responseHeaders = policy.responseHeaders
        beforeAuth = policy.beforeAuth
        leaseTokens = policy.leaseTokens
    }

    /// The most one request may cost and ever pass: the bucket's burst, the window's limit.
    var capacity: Int {
        switch algorithm {
        case .tokenBucket(_, let burst): return burst
        case .slidingLog(let limit, _), .subWindow(let limit, _): return limit
        }
    }

    /// The same rule with its quota divided among `expectedInstances` gateways: what `local`
    /// enforces in-process while Redis cannot be asked.
    var localAlgorithm: Algorithm {
        let share = Double(expectedInstances)
        switch algorithm {
        case .tokenBucket(let emission, let burst):
            return .tokenBucket(emissionMicros: emission * share, burst: max(1, Int(Double(burst) / share)))
        case .slidingLog(let limit, let window), .subWindow(let limit, let window):
            return .subWindow(limit: max(1, Int(Double(limit) / share)), windowMicros: window)
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
