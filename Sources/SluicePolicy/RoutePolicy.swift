/// A named rule sending matching requests to a cluster, with its own class, timeouts and limits.
public struct RoutePolicy: Sendable {
    public var name: String
    public var match: RouteMatch
    /// The name of a cluster in the same snapshot (the loader rejects dangling references).
    public var cluster: String
    public var routeClass: RouteClass
    /// Deadline for one upstream attempt.
    public var perTryTimeout: Duration
    /// Deadline for the whole request, retries included; never shorter than `perTryTimeout`.
    public var totalTimeout: Duration
    public var maxBodyBytes: Int
    /// Read the whole request body (up to `maxBodyBytes`) before an upstream connection is taken,
    /// as nginx does: a slow or stalled upload then holds no backend connection and cannot be
    /// blamed on the backend. Off for routes meant for large uploads, which stream.
    public var requestBuffering = true
    /// How the gateway's own answers on this route look (`replies:`): problem+json, or WeChat
    /// Pay v2's XML for v2 clients, whose SDKs read `return_code` and not JSON.
    public var replies = ReplyShape.problem

    public enum ReplyShape: String, Sendable, CaseIterable {
        case problem
        case wechatpayV2 = "wechatpay_v2"
    }

    public static let defaultPerTryTimeout = Duration.seconds(15)
    public static let defaultTotalTimeout = Duration.seconds(30)
    public static let defaultMaxBodyBytes = 1024 * 1024

    public init(name: String, match: RouteMatch, cluster: String, routeClass: RouteClass,
                perTryTimeout: Duration = RoutePolicy.defaultPerTryTimeout,
                totalTimeout: Duration = RoutePolicy.defaultTotalTimeout,
                maxBodyBytes: Int = RoutePolicy.defaultMaxBodyBytes) {
        self.name = name
        self.match = match
        self.cluster = cluster
        self.routeClass = routeClass
        self.perTryTimeout = perTryTimeout
        self.totalTimeout = totalTimeout
        self.maxBodyBytes = maxBodyBytes
    }
}
