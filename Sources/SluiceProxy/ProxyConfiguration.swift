import SluiceIO
import SluiceGuards
import SluicePolicy
import SluiceTLS

/// Everything the proxy core needs from one policy snapshot, compiled once: the router, resolved
/// upstream addresses, and each route's guard chain. Immutable; a reload builds a new one and
/// swaps it in, and requests already running keep the one they started with.
public final class ProxyConfiguration: Sendable {
    public let policy: PolicySnapshot
    public let router: Router
    public let generation: Int
    let clusters: [String: UpstreamCluster]
    let guardChains: [String: GuardChain]
    /// One TLS context per TLS listener, by listener name, built from this snapshot's files:
    /// connections accepted after a reload get the new certificates, earlier ones keep theirs.
    let tlsContexts: [String: TLSServerContext]
    /// Per listener: what its established connections depend on (`ConnectionSettingsFingerprint`).
    let connectionSettings: [String: String]
    /// True when the policy names some routes core and others not: then a connection whose
    /// requests go to non-core routes is read after the others (`ReadPriority`).
    let prioritisesCoreRoutes: Bool

    /// Fails when an endpoint cannot be resolved (host names are resolved here, once per load),
    /// or a TLS listener's certificates cannot be loaded. `previous`: the configuration a reload
    /// replaces; a cluster whose endpoints and outlier and health-check settings are unchanged
    /// keeps what it learnt of its endpoints (ejections, failed checks).
    public init(policy: PolicySnapshot, generation: Int, guards: [String: [any RequestGuard]] = [:],
                previous: ProxyConfiguration? = nil) throws(ConfigurationError) {
        self.policy = policy
        self.generation = generation
        router = Router(routes: policy.routes)
        prioritisesCoreRoutes = policy.routes.contains { $0.routeClass == .core } && policy.routes.contains { $0.routeClass != .core }
        var clusters: [String: UpstreamCluster] = [:]
        for cluster in policy.clusters {
            var addresses: [SocketAddress] = []
            for endpoint in cluster.endpoints {
                guard let address = SocketAddress.resolve(host: endpoint.host, port: endpoint.port) else {
                    throw ConfigurationError(message: "cluster '\(cluster.name)': cannot resolve endpoint \(endpoint)")
                }
                addresses.append(address)
            }
            clusters[cluster.name] = UpstreamCluster(policy: cluster, addresses: addresses,
                                                     tls: try cluster.tls.map { tls throws(ConfigurationError) in
                                                         try UpstreamTLS.makeContext(for: cluster, tls: tls)
                                                     },
                                                     health: previous?.clusters[cluster.name]?.healthToKeep(for: cluster, addresses: addresses))
        }
        self.clusters = clusters
        var chains: [String: GuardChain] = [:]
        for route in policy.routes {
            chains[route.name] = GuardChain(guards: guards[route.name] ?? [])
        }
        guardChains = chains
        var tlsContexts: [String: TLSServerContext] = [:]
        for listener in policy.listeners {
            guard let tls = listener.tls else { continue }
            tlsContexts[listener.name] = try ListenerTLS.makeContext(for: listener, tls: tls)
        }
        self.tlsContexts = tlsContexts
        connectionSettings = Dictionary(uniqueKeysWithValues: policy.listeners.map { ($0.name, ConnectionSettingsFingerprint.of($0)) })
    }
}

extension ProxyConfiguration {
    /// Endpoints left out of balancing now (ejected, or failing their health checks).
    public var endpointsOut: [(cluster: String, endpoint: String)] {
        let now = Deadline.now.nanoseconds
        return clusters.values.sorted { $0.policy.name < $1.policy.name }.flatMap { cluster in
            (cluster.health.ejected(now: now) ?? []).enumerated().filter(\.element).map { (cluster.policy.name, cluster.names[$0.offset]) }
        }
    }

    /// Every guard's counters, by route, in chain order (metrics).
    public var guardCounters: [(route: String, guard: String, counters: GuardCounters)] {
        policy.routes.flatMap { route in
            (guardChains[route.name]?.guards ?? []).map { (route.name, $0.name, $0.counters) }
        }
    }
}

public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A cluster with its endpoints resolved.
struct UpstreamCluster: Sendable {
    let policy: ClusterPolicy
    let addresses: [SocketAddress]
    /// `addresses[i].description`, made once (logs and error bodies name the endpoint).
    let names: [String]
    /// Set when the cluster is reached over TLS; one per snapshot (a reload renews the pools).
    let tls: TLSClientContext?
    /// Outlier ejection, shared by the loops.
    let health: EndpointHealth

    /// `health`: a previous configuration's, when it still applies (`healthToKeep`).
    init(policy: ClusterPolicy, addresses: [SocketAddress], tls: TLSClientContext?, health: EndpointHealth? = nil) {
        self.policy = policy
        self.addresses = addresses
        self.tls = tls
        names = addresses.map(\.description)
        self.health = health ?? EndpointHealth(cluster: policy, names: names)
    }

    /// This cluster's endpoint health, for the same cluster in a reloaded policy, when it means
    /// the same there: the same endpoints in the same order, judged by the same outlier and
    /// health-check settings. A reload used to start every cluster afresh, so any reload (an
    /// editor's swap file was one) put an ejected or failing endpoint back into rotation.
    func healthToKeep(for next: ClusterPolicy, addresses nextAddresses: [SocketAddress]) -> EndpointHealth? {
        guard nextAddresses.map(\.description) == names, next.outlierDetection == policy.outlierDetection,
              next.healthCheck == policy.healthCheck else { return nil }
        return health
    }
}
