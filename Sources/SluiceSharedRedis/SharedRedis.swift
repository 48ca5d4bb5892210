import SluiceGuards
import SluiceIO
import SluicePolicy
import SluiceRedis

/// The one Redis every guard that keeps state there shares (rate-limit counters, auth nonces,
/// idempotency records, the fleet degrade pin): one `redis` section in the policy, one client per
/// event loop (one pipelined connection, or one per cluster primary), whichever guard modules use it.
///
/// The connection set lives in the guard state registry under one name, so every module that
/// asks in the same policy generation gets the same set; it is replaced only when the `redis`
/// settings change, started by the generation that made it (`startIfNew`), and closed when the
/// last generation holding it is retired.
public enum SharedRedis {
    /// The policy section's name, also its key in `PolicySnapshot.guardPolicies`.
    public static let sectionName = "redis"

    /// The `redis` settings of a policy, nil when it has none.
    public static func settings(in policy: PolicySnapshot) -> RedisSettings? {
        policy.guardPolicy(sectionName, as: RedisSettings.self)
    }

    /// The connection set for `settings`: the running one when the settings are unchanged, else
    /// a new one (not started: nothing happens until the generation is activated).
    public static func connections(_ settings: RedisSettings, loops: [EventLoop], state: GuardStateStage) -> RedisConnections {
        let configuration = clientConfiguration(settings)
        let set = state.state(sectionName, "connections", configuration: configuration) {
            RedisConnectionSet(loops: loops, configuration: configuration)
        }
        return RedisConnections(set: set, isNew: !state.isRunning(sectionName, "connections", set))
    }
}

extension SharedRedis {
    /// What each loop's client is made with: one node, or a cluster's seeds.
    static func clientConfiguration(_ settings: RedisSettings) -> RedisClientConfiguration {
        let (single, seeds): (EndpointAddress?, [RedisNodeAddress])
        switch settings.nodes {
        case .single(let address): (single, seeds) = (address, [])
        case .cluster(let addresses): (single, seeds) = (nil, addresses.map { RedisNodeAddress(host: $0.host, port: $0.port) })
        }
        return RedisClientConfiguration(
            host: single?.host ?? "", port: single?.port ?? 0, clusterSeeds: seeds, username: settings.user, password: settings.password, tls: settings.tls,
            database: settings.database, deadline: settings.deadline, breakerFailures: settings.breakerFailures,
            breakerFailingFor: settings.breakerFailingFor, breakerOpenFor: settings.breakerOpenFor)
    }
}

/// A generation's view of the shared connection set.
public struct RedisConnections: Sendable {
    public let set: RedisConnectionSet
    /// True when this generation made the set (its settings changed, or it is the first).
    public let isNew: Bool

    /// Starts the set if this generation made it; a running set is left alone. Starting twice
    /// (two modules of one generation) is harmless.
    public func startIfNew() {
        if isNew { set.start() }
    }
}

/// Reads the `redis` section (at most one file may hold it).
public struct RedisPolicySection: GuardPolicySection {
    public let name = SharedRedis.sectionName
    public let topLevelKeys = ["redis"]
    public let routeKeys: [String] = []

    public init() {}

    public func read(_ input: GuardSectionInput) -> (any Sendable)? {
        input.single("redis").flatMap { $0.reader.readRedis($0.value) }
    }
}
