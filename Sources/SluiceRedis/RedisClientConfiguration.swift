/// Where and how a loop's Redis connection connects, and how it protects the request path.
public struct RedisClientConfiguration: Sendable, Hashable {
    /// The one node (single-node mode; ignored when `clusterSeeds` is not empty).
    public var host: String
    public var port: Int
    /// Redis Cluster mode when not empty: nodes to learn the cluster's slot map from (any of
    /// them will do; the client then talks to every primary the map names).
    public var clusterSeeds: [RedisNodeAddress]
    /// The ACL user AUTH names (empty: the `default` user).
    public var username: String
    /// Sent with AUTH when not empty.
    public var password: String
    /// TLS to every node when set.
    public var tls: RedisTLSSettings?
    /// Sent with SELECT when not 0.
    public var database: Int
    /// Each call's deadline, from the moment it is queued: a caller never waits longer.
    public var deadline: Duration
    /// Consecutive failures that open the breaker, how long they must have gone on (no success
    /// between them) so that one stall's batch of timeouts does not, and how long it stays open
    /// before a probe.
    public var breakerFailures: Int
    public var breakerFailingFor: Duration
    public var breakerOpenFor: Duration
    /// The bound on calls waiting for a reply on one connection; more fail at once.
    public var maxInFlight: Int
    /// Connect + handshake deadline; off the request path (calls fail fast while connecting).
    public var connectTimeout: Duration
    /// Reconnect backoff: doubles from `minimum` up to `maximum` after each failed attempt.
    public var reconnectMinimum: Duration
    public var reconnectMaximum: Duration

    public init(host: String, port: Int, clusterSeeds: [RedisNodeAddress] = [], username: String = "", password: String = "",
                tls: RedisTLSSettings? = nil, database: Int = 0,
                deadline: Duration = .milliseconds(5), breakerFailures: Int = 5, breakerFailingFor: Duration = .zero,
                breakerOpenFor: Duration = .seconds(2),
                maxInFlight: Int = 10_000, connectTimeout: Duration = .milliseconds(500),
                reconnectMinimum: Duration = .milliseconds(20), reconnectMaximum: Duration = .milliseconds(250)) {
        self.host = host
        self.port = port
        self.clusterSeeds = clusterSeeds
        self.username = username
        self.password = password
        self.tls = tls
        self.database = database
        self.deadline = deadline
        self.breakerFailures = breakerFailures
        self.breakerFailingFor = breakerFailingFor
        self.breakerOpenFor = breakerOpenFor
        self.maxInFlight = maxInFlight
        self.connectTimeout = connectTimeout
        self.reconnectMinimum = reconnectMinimum
        self.reconnectMaximum = reconnectMaximum
    }
}
