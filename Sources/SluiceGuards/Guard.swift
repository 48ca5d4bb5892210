import SluiceHTTP

/// What a guard decides about one request. A guard never writes to a socket: the proxy core
/// turns the verdict into a response.
public enum GuardVerdict: Sendable, Equatable {
    /// Let the request go on to the next guard.
    case proceed
    /// Answer with this reply; the request goes no further.
    case reject(LocalReply)
    /// A rule in shadow mode would have rejected: count and log it, and let the request proceed.
    case shadowReject(reason: String)
}

/// What a guard may look at. Built once per request by the proxy core.
public struct GuardRequest: Sendable {
    public var head: HTTPRequestHead
    public var routeName: String
    public var routeIsCore: Bool
    public var clientAddress: String

    public init(head: HTTPRequestHead, routeName: String, routeIsCore: Bool, clientAddress: String) {
        self.head = head
        self.routeName = routeName
        self.routeIsCore = routeIsCore
        self.clientAddress = clientAddress
    }
}

/// One step of a route's guard chain (degrade, auth, idempotency, rate limit, bulkhead, breaker).
public protocol RequestGuard: Sendable {
    /// The rule's name as the policy gives it: used in metrics, headers and logs.
    var name: String { get }
    var counters: GuardCounters { get }
    func evaluate(_ request: GuardRequest) async -> GuardVerdict
}
