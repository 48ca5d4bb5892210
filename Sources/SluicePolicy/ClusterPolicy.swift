/// A named group of interchangeable upstream endpoints that routes forward to.
public struct ClusterPolicy: Sendable {
    public var name: String
    /// Never empty.
    public var endpoints: [EndpointAddress]
    /// HTTP/1.1 (default) or HTTP/2 to the endpoints.
    public var `protocol` = UpstreamProtocol.http1
    public var balance: LoadBalancing
    public var connectTimeout: Duration
    /// Idle upstream connections kept per endpoint, per event loop.
    public var maxIdlePerEndpoint: Int
    /// Connections open to the cluster's endpoints at once (in use, idle or being dialled), shared
    /// evenly by the event loops. A request that finds no room waits for one
    /// within the cluster's connect timeout, then gets 503 `upstream_connection_limit`.
    public var maxConnections = ClusterPolicy.defaultMaxConnections
    /// How long an idle upstream connection is kept before it is closed.
    public var idleTimeout: Duration
    /// A request that is never sent twice (POST, PATCH, ...) takes a pooled connection only if it
    /// has been idle less than this, else a new one: a backend whose keep-alive timeout fires
    /// just as the connection is reused closes it unread, and such a request cannot be retried
    /// (it got 502, and its idempotency record `unknown`). Backends' keep-alive timeouts are
    /// seconds (gunicorn 2 s, Node and Apache 5 s); under load connections idle far less.
    public var unsafeReuseIdle = ClusterPolicy.defaultUnsafeReuseIdle
    /// TLS to the endpoints; nil = cleartext.
    public var tls: ClusterTLSPolicy?
    /// Passive outlier ejection; nil = endpoints are never ejected.
    public var outlierDetection: OutlierDetectionPolicy?
    /// Safe retries; nil = one try per request.
    public var retries: RetryPolicy?
    /// Active HTTP health checks; nil = none.
    public var healthCheck: HealthCheckPolicy?

    public static let defaultBalance = LoadBalancing.roundRobin
    public static let defaultConnectTimeout = Duration.seconds(1)
    public static let defaultMaxIdlePerEndpoint = 64
    /// Envoy's default for a cluster's connections.
    public static let defaultMaxConnections = 1024
    public static let defaultIdleTimeout = Duration.seconds(60)
    public static let defaultUnsafeReuseIdle = Duration.seconds(1)

    public init(name: String, endpoints: [EndpointAddress],
                balance: LoadBalancing = ClusterPolicy.defaultBalance,
                connectTimeout: Duration = ClusterPolicy.defaultConnectTimeout,
                maxIdlePerEndpoint: Int = ClusterPolicy.defaultMaxIdlePerEndpoint,
                idleTimeout: Duration = ClusterPolicy.defaultIdleTimeout) {
        self.name = name
        self.endpoints = endpoints
        self.balance = balance
        self.connectTimeout = connectTimeout
        self.maxIdlePerEndpoint = maxIdlePerEndpoint
        self.idleTimeout = idleTimeout
    }
}

/// Endpoints that fail `consecutiveFailures` times in a row (connect failures, timeouts,
/// resets, bad responses, any 5xx) are taken out of balancing for `ejectionTime` × the
/// number of times they were ejected, at most `maxEjectionTime`; never more than
/// `maxEjectedShare` of the cluster at once.
public struct OutlierDetectionPolicy: Sendable, Equatable {
    public var consecutiveFailures = 5
    public var ejectionTime: Duration = .seconds(10)
    public var maxEjectionTime: Duration = .seconds(300)
    public var maxEjectedShare = 0.5
    /// Success-rate ejection: every `interval`, endpoints with at least `minimumRequests` tries
    /// whose success rate is below the mean of those endpoints minus `stdevFactor` standard
    /// deviations are ejected (when at least `minimumEndpoints` qualify). Nil: off.
    public var successRate: SuccessRatePolicy?

    public init() {}
}

public struct SuccessRatePolicy: Sendable, Equatable {
    public var interval: Duration = .seconds(10)
    public var minimumRequests = 100
    public var minimumEndpoints = 3
    public var stdevFactor = 1.9

    public init() {}
}

/// Retries, only when they cannot repeat a payment: a try that failed before any request byte
/// was sent (connect failure), or a GET/HEAD/OPTIONS whose try failed without an answer or
/// with 502/503/504. At most `attempts` tries in all, each on another endpoint when there is
/// one, within the route's total timeout; retries are limited by a budget (`budget` retries per
/// request on average, plus `minimumRetries` to start with, per loop).
public struct RetryPolicy: Sendable, Equatable {
    public var attempts = 2
    public var budget = 0.2
    public var minimumRetries = 10

    public init() {}
}

/// Active health checks: every `interval`, a `GET path` to each endpoint (cleartext HTTP/1.1,
/// from one loop); a 2xx or 3xx within `timeout` passes. `unhealthy` failures in a row take an
/// endpoint out of balancing, `healthy` passes in a row bring it back. Endpoints start healthy.
public struct HealthCheckPolicy: Sendable, Equatable {
    public var path = "/health"
    public var interval: Duration = .seconds(5)
    public var timeout: Duration = .seconds(1)
    public var healthy = 2
    public var unhealthy = 3

    public init() {}
}
