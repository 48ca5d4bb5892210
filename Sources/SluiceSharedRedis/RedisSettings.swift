import SluicePolicy
import SluiceRedis

/// The shared Redis that holds guard state (rate-limit counters, nonces, idempotency records):
/// the `redis` section, which at most one policy file may hold.
public struct RedisSettings: Sendable, Equatable {
    /// One node, or a Redis Cluster known by its seed nodes (the client learns the rest).
    public enum Nodes: Sendable, Equatable {
        case single(EndpointAddress)
        case cluster(seeds: [EndpointAddress])
    }

    public var nodes: Nodes
    /// The ACL user AUTH names (empty: the `default` user).
    public var user: String
    /// Sent with AUTH when not empty (from `password` or `password_file`).
    public var password: String
    /// TLS to every node when set (`tls:`).
    public var tls: RedisTLSSettings?
    /// Single node only (a cluster has database 0 only).
    public var database: Int
    /// Each Redis call's deadline: no request waits longer for a rate-limit decision.
    public var deadline: Duration
    /// Consecutive failures that open the breaker around Redis (around each primary, in a
    /// cluster), how long they must have gone on, and how long it stays open.
    public var breakerFailures: Int
    public var breakerFailingFor: Duration
    public var breakerOpenFor: Duration

    public static let defaultDeadline = Duration.milliseconds(5)
    public static let defaultBreakerFailures = 5
    /// A Redis that stalls for a moment (a latency spike of a few ms: an expire cycle, a fork
    /// for a snapshot) times out every call waiting at the time, more than `failures` at once
    /// under load; only failures going on this long without a success open the breaker.
    public static let defaultBreakerFailingFor = Duration.milliseconds(100)
    public static let defaultBreakerOpenFor = Duration.seconds(2)

    public init(nodes: Nodes, user: String = "", password: String = "", tls: RedisTLSSettings? = nil, database: Int = 0,
                deadline: Duration = RedisSettings.defaultDeadline,
                breakerFailures: Int = RedisSettings.defaultBreakerFailures,
                breakerFailingFor: Duration = RedisSettings.defaultBreakerFailingFor,
                breakerOpenFor: Duration = RedisSettings.defaultBreakerOpenFor) {
        self.nodes = nodes
        self.user = user
        self.password = password
        self.tls = tls
        self.database = database
        self.deadline = deadline
        self.breakerFailures = breakerFailures
        self.breakerFailingFor = breakerFailingFor
        self.breakerOpenFor = breakerOpenFor
    }

    /// One node at `address`.
    public init(address: EndpointAddress, password: String = "", database: Int = 0,
                deadline: Duration = RedisSettings.defaultDeadline,
                breakerFailures: Int = RedisSettings.defaultBreakerFailures,
                breakerFailingFor: Duration = RedisSettings.defaultBreakerFailingFor,
                breakerOpenFor: Duration = RedisSettings.defaultBreakerOpenFor) {
        self.init(nodes: .single(address), password: password, database: database, deadline: deadline,
                  breakerFailures: breakerFailures, breakerFailingFor: breakerFailingFor, breakerOpenFor: breakerOpenFor)
    }

    public var isCluster: Bool {
        if case .cluster = nodes { return true }
        return false
    }
}
