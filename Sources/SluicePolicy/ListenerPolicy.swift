/// One listening socket and the limits that protect it from slow or oversized requests.
public struct ListenerPolicy: Sendable {
    public var name: String
    /// Port 0 asks the kernel for a free port (tests).
    public var address: EndpointAddress
    public var `protocol`: ListenerProtocol
    /// Time allowed for a complete request head to arrive (slowloris protection).
    public var headerTimeout: Duration
    /// Time a keep-alive connection may sit between requests.
    public var idleTimeout: Duration
    public var maxHeaderBytes: Int
    public var maxURIBytes: Int
    public var http2: HTTP2Limits
    /// Open connections the listener holds at most (shared out across event loops).
    public var maxConnections: Int = ListenerPolicy.defaultMaxConnections
    /// TLS termination; nil = cleartext.
    public var tls: ListenerTLSPolicy?
    /// Peers (load balancers, CDNs) whose X-Forwarded-For chain is believed: from them the chain
    /// is extended and the client taken from it. From anyone else a client-sent
    /// X-Forwarded-For, Forwarded or X-Real-IP is replaced, never passed on.
    public var trustedProxies: [IPRange] = []
    /// Open connections one client address may hold on this listener (0: no cap), and new
    /// connections it may open per second (0: no rate). Excess ones are closed at accept.
    public var maxConnectionsPerClient = 0
    /// Longest pause allowed between two reads of a request body (the route's `total` bounds the
    /// whole upload too); a client that stalls longer gets 408 `client_body_timeout`.
    public var bodyTimeout = Duration.seconds(10)
    /// Slowest average a request body may arrive at, in bytes per second, once it has taken
    /// longer than `bodyTimeout` (a trickle that never pauses long enough for `bodyTimeout`);
    /// 0: off (the default: slow mobile uploads are real, and `bodyTimeout` and the route's
    /// `total` already bound them).
    public var bodyMinimumRate = 0
    /// Load balancers that send a PROXY protocol header (v1 or v2) naming the client: a
    /// connection from them must start with one within `proxyProtocolTimeout` (else it is
    /// closed). Empty: PROXY protocol off (a header is then just bad input).
    public var proxyProtocolFrom: [IPRange] = []
    public var proxyProtocolTimeout = Duration.seconds(5)
    public var newConnectionsPerClientPerSecond = 0

    public static let defaultHeaderTimeout = Duration.seconds(10)
    public static let defaultIdleTimeout = Duration.seconds(60)
    public static let defaultMaxHeaderBytes = 32 * 1024
    public static let defaultMaxURIBytes = 8 * 1024
    public static let defaultMaxConnections = 10_000

    public init(name: String, address: EndpointAddress, protocol: ListenerProtocol = .http1,
                headerTimeout: Duration = ListenerPolicy.defaultHeaderTimeout,
                idleTimeout: Duration = ListenerPolicy.defaultIdleTimeout,
                maxHeaderBytes: Int = ListenerPolicy.defaultMaxHeaderBytes,
                maxURIBytes: Int = ListenerPolicy.defaultMaxURIBytes,
                http2: HTTP2Limits = HTTP2Limits()) {
        self.name = name
        self.address = address
        self.protocol = `protocol`
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.maxHeaderBytes = maxHeaderBytes
        self.maxURIBytes = maxURIBytes
        self.http2 = http2
    }
}
