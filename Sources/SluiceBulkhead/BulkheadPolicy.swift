/// One concurrency bulkhead as the policy gives it (`bulkheads:` list; routes name it with
/// `bulkhead: <name>`, and every route naming it shares its permits).
public struct BulkheadPolicy: Sendable, Hashable {
    public var name: String
    /// In-flight upstream requests of the group's routes, on this instance.
    public var maxConcurrent: Int
    /// Requests that may wait for a permit beyond that; more are refused at once (503).
    public var queue = 0
    /// How long a request waits for a permit before it is refused (503).
    public var queueTimeout: Duration = .milliseconds(100)
    /// The share of the permits one merchant may hold or wait for (0 < share ≤ 1); nil: no
    /// per-merchant limit. A merchant over its share is refused with 429.
    public var merchantShare: Double?
    /// The limit follows the backend's answer times between a minimum and `maxConcurrent`
    /// (see `AdaptiveLimit`); nil: the limit is `maxConcurrent`.
    public var adaptive: AdaptivePolicy?

    public struct AdaptivePolicy: Sendable, Hashable {
        /// The answer time (request sent to response head, 90th percentile of a window) above
        /// which the limit comes down.
        public var latencyTarget: Duration
        public var minConcurrent = 1
        public var window: Duration = .seconds(1)

        public init(latencyTarget: Duration) { self.latencyTarget = latencyTarget }
    }

    public init(name: String, maxConcurrent: Int) {
        self.name = name
        self.maxConcurrent = maxConcurrent
    }

    /// Permits (held and waiting together) one merchant may have: the share of the permits,
    /// rounded up, at least 1.
    public var merchantCap: Int? {
        merchantShare.map { Self.capFor(limit: maxConcurrent, share: $0) }
    }

    static func capFor(limit: Int, share: Double) -> Int {
        max(1, Int((Double(limit) * share).rounded(.up)))
    }
}

/// The bulkhead module's policy: the bulkheads, and which route uses which.
public struct BulkheadsPolicy: Sendable {
    public var bulkheads: [BulkheadPolicy]
    /// Route name → its bulkhead's name.
    public var routeBulkheads: [String: String]

    public func bulkhead(named name: String) -> BulkheadPolicy? { bulkheads.first { $0.name == name } }
}
