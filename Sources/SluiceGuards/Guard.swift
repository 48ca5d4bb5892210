import SluiceHTTP

/// What a guard decides about one request. A guard never writes to a socket: the proxy core
/// turns the verdict into a response.
public enum GuardVerdict: Sendable, Equatable {
    /// Let the request go on to the next guard.
    case proceed
    /// Let the request go on, and add these fields to its response (e.g. `RateLimit` fields on
    /// an allowed request, when the rule asks for them).
    case annotate(HTTPHeaders)
    /// Answer with this reply; the request goes no further.
    case reject(LocalReply)
    /// A rule in shadow mode would have rejected: count and log it, and let the request proceed.
    case shadowReject(reason: String)
}

/// What a guard may look at. Built once per request by the proxy core and passed along the
/// chain, so an earlier guard can tell later ones what it learned (auth sets the merchant id that
/// a rate-limit key may use).
public struct GuardRequest: Sendable {
    public var head: HTTPRequestHead
    public var routeName: String
    public var routeIsCore: Bool
    public var clientAddress: String
    /// The event loop the request runs on, so a guard can use that loop's own resources (its
    /// Redis connection, its local counters) without locks.
    public var loopIndex: Int
    /// Set by the auth guard once the request's signature is verified.
    public var merchantID: String?
    /// The subject (RFC 2253, e.g. "CN=client-1,O=Acme") of the client certificate the TLS
    /// listener verified (mTLS); nil on cleartext listeners or without a client certificate.
    public var clientCertificateSubject: String?
    /// The whole request body, read before the first guard that `needsBody` runs; nil on
    /// routes whose guards do not ask for it (their bodies stream to the backend).
    public var body: RequestBody?
    /// Said in the access log's `reason` of a request that went on anyway: a rule that failed
    /// open (Redis unreachable under `on_redis_failure: allow`), so operators can count them.
    public var logNotes: [String] = []
    /// Who is told how the request ended (`observeOutcome`), in registration order.
    public private(set) var outcomeObservers: [any OutcomeObserver] = []

    public init(head: HTTPRequestHead, routeName: String, routeIsCore: Bool, clientAddress: String,
                loopIndex: Int = 0, merchantID: String? = nil, clientCertificateSubject: String? = nil) {
        self.head = head
        self.routeName = routeName
        self.routeIsCore = routeIsCore
        self.clientAddress = clientAddress
        self.loopIndex = loopIndex
        self.merchantID = merchantID
        self.clientCertificateSubject = clientCertificateSubject
    }

    /// Asks to be told how this request ends: exactly once, whatever the exit path (response
    /// relayed, upstream failure, timeout, client gone, stream reset, a later guard's rejection).
    public mutating func observeOutcome(_ observer: any OutcomeObserver) {
        outcomeObservers.append(observer)
    }

    /// The most response-body bytes any observer asked to see.
    public var responseBodyCapture: Int {
        outcomeObservers.reduce(0) { max($0, $1.responseBodyCapture) }
    }
}

/// One step of a route's guard chain (degrade, auth, idempotency, rate limit, bulkhead, breaker).
public protocol RequestGuard: Sendable {
    /// The rule's name as the policy gives it: used in metrics, headers and logs.
    var name: String { get }
    var counters: GuardCounters { get }
    /// True when the guard reads the request body (`GuardRequest.body`): the proxy then reads
    /// the whole body (up to the route's `max_body`) before this guard runs.
    var needsBody: Bool { get }
    /// For a guard that `needsBody`: the refusal it can give from the head alone, before the
    /// body is read (nil: it needs the body to decide). A request refused here never makes the
    /// gateway read, buffer or ask for (`100 Continue`) its body.
    func refusalBeforeBody(_ request: GuardRequest) -> LocalReply?
    /// Runs on the request's event loop. May record what it learned in `request` for later guards.
    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict
    /// What this guard would check for `request`, in a line for `sluice explain`: its settings,
    /// and what it can compute from the request alone (keys, the body's verdict). Touches no
    /// Redis, socket or shared state.
    func explain(_ request: GuardRequest) -> String
}

extension RequestGuard {
    public var needsBody: Bool { false }
    public func refusalBeforeBody(_ request: GuardRequest) -> LocalReply? { nil }
    public func explain(_ request: GuardRequest) -> String { "" }
}

/// A guard that only rewrites the request head, at once, and never refuses (a client-sent header
/// no backend may take on trust, removed). A route whose guards are all of this kind runs them
/// on the head alone, with no `GuardRequest` made: a route without real guards pays for the
/// rewrite and nothing else.
public protocol HeadRewritingGuard: RequestGuard {
    func rewrite(_ head: inout HTTPRequestHead)
}

extension HeadRewritingGuard {
    public func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        rewrite(&request.head)
        return .proceed
    }
}
