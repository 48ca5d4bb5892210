/// The whole validated policy, as one immutable value. The server swaps snapshots atomically on
/// reload, so nothing here may change after `PolicyLoader` has built it.
public struct PolicySnapshot: Sendable {
    public let server: ServerSettings
    public let listeners: [ListenerPolicy]
    public let clusters: [ClusterPolicy]
    /// In declaration order (file-name order, then order within each file): the router's
    /// tie-break depends on it.
    public let routes: [RoutePolicy]
    /// The shared Redis for rate limits; nil when the policy has no limit rules.
    public let redis: RedisSettings?
    /// Rate-limit rules by declaration order; routes refer to them by name.
    public let limits: [LimitRulePolicy]
    /// The files the snapshot was built from, in the order they were merged.
    public let sourceFiles: [String]

    public init(server: ServerSettings, listeners: [ListenerPolicy], clusters: [ClusterPolicy],
                routes: [RoutePolicy], redis: RedisSettings? = nil, limits: [LimitRulePolicy] = [], sourceFiles: [String]) {
        self.redis = redis
        self.limits = limits
        self.server = server
        self.listeners = listeners
        self.clusters = clusters
        self.routes = routes
        self.sourceFiles = sourceFiles
    }

    public func limit(named name: String) -> LimitRulePolicy? {
        limits.first { $0.name == name }
    }

    public func cluster(named name: String) -> ClusterPolicy? {
        clusters.first { $0.name == name }
    }
}
