/// The whole validated policy, as one immutable value. The server swaps snapshots atomically on
/// reload, so nothing here may change after `PolicyLoader` has built it.
public struct PolicySnapshot: Sendable {
    public let server: ServerSettings
    public let listeners: [ListenerPolicy]
    public let clusters: [ClusterPolicy]
    /// In declaration order (file-name order, then order within each file): the router's
    /// tie-break depends on it.
    public let routes: [RoutePolicy]
    /// Each guard module's own policy (read by its `GuardPolicySection`), by module name.
    public let guardPolicies: [String: any Sendable]
    /// The files the snapshot was built from, in the order they were merged.
    public let sourceFiles: [String]

    public init(server: ServerSettings, listeners: [ListenerPolicy], clusters: [ClusterPolicy],
                routes: [RoutePolicy], guardPolicies: [String: any Sendable] = [:], sourceFiles: [String]) {
        self.guardPolicies = guardPolicies
        self.server = server
        self.listeners = listeners
        self.clusters = clusters
        self.routes = routes
        self.sourceFiles = sourceFiles
    }

    /// The policy the guard module `module` read, nil when the files hold none of it.
    public func guardPolicy<Policy: Sendable>(_ module: String, as _: Policy.Type) -> Policy? {
        guardPolicies[module] as? Policy
    }

    public func cluster(named name: String) -> ClusterPolicy? {
        clusters.first { $0.name == name }
    }
}
