/// A named group of interchangeable upstream endpoints that routes forward to.
public struct ClusterPolicy: Sendable {
    public var name: String
    /// Never empty.
    public var endpoints: [EndpointAddress]
    public var balance: LoadBalancing
    public var connectTimeout: Duration
    /// Idle upstream connections kept per endpoint, per event loop.
    public var maxIdlePerEndpoint: Int
    /// How long an idle upstream connection is kept before it is closed.
    public var idleTimeout: Duration
    /// TLS to the endpoints; nil = cleartext.
    public var tls: ClusterTLSPolicy?

    public static let defaultBalance = LoadBalancing.roundRobin
    public static let defaultConnectTimeout = Duration.seconds(1)
    public static let defaultMaxIdlePerEndpoint = 64
    public static let defaultIdleTimeout = Duration.seconds(60)

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
