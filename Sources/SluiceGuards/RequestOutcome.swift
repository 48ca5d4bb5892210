import SluiceHTTP

/// How one request ended, as the proxy core tells it to every observer the guards registered:
/// breakers, outlier ejection, bulkhead permits and idempotency records hang on this.
public struct RequestOutcome: Sendable {
    public var route: String
    /// The cluster and endpoint the request was sent to; nil when it never went upstream.
    public var cluster: String?
    public var endpoint: String?
    /// 1 for the first try; 0 when nothing was sent upstream.
    public var attempt: Int
    /// The status the client was answered with (upstream's or a local reply's); 499 when the
    /// client went away before any answer (nginx's convention).
    public var status: Int
    /// Nil when the upstream response was relayed completely.
    public var failure: RequestFailure?
    /// From the request head's arrival to the end of the response: the client's experience,
    /// its own upload and reading included.
    public var latencyNanoseconds: UInt64
    /// The upstream's own time: from the request's last byte sent to the response head (nil
    /// when none came). Breakers and the degrade signal judge a backend by this, never by
    /// `latencyNanoseconds`: a client that uploads slowly must not count against a backend.
    public var upstreamAnswerNanoseconds: UInt64?
    /// The upstream response head, when one arrived.
    public var responseHead: HTTPResponseHead?
    /// The first bytes of the upstream response body, up to the largest `responseBodyCapture`
    /// any observer of the request asked for; nil when none asked.
    public var responseBody: [UInt8]?

    public init(route: String, cluster: String? = nil, endpoint: String? = nil, attempt: Int = 0, status: Int = 0,
                failure: RequestFailure? = nil, latencyNanoseconds: UInt64 = 0, upstreamAnswerNanoseconds: UInt64? = nil,
                responseHead: HTTPResponseHead? = nil, responseBody: [UInt8]? = nil) {
        self.route = route
        self.cluster = cluster
        self.endpoint = endpoint
        self.attempt = attempt
        self.status = status
        self.failure = failure
        self.latencyNanoseconds = latencyNanoseconds
        self.upstreamAnswerNanoseconds = upstreamAnswerNanoseconds
        self.responseHead = responseHead
        self.responseBody = responseBody
    }
}

/// Why a request did not end with a complete upstream response, and whose doing it was. Only
/// upstream failures may count against a backend (breakers, outlier ejection): a slow or
/// vanished client, or the gateway's own refusal, says nothing about the backend's health.
public enum RequestFailure: String, Sendable, CaseIterable {
    /// The client went away (closed, reset, HTTP/2 RST_STREAM) before the response was complete.
    case clientGone = "client_gone"
    /// The client was too slow: its request body stalled, or it read the response too slowly.
    case clientTimeout = "client_timeout"
    /// The client's request body ended early or was malformed.
    case clientBodyInvalid = "client_body_invalid"
    /// The gateway answered by itself (a guard's rejection, no route, body too large, bad path).
    case localReply = "local_reply"
    case upstreamConnectFailed = "upstream_connect_failed"
    case upstreamConnectTimeout = "upstream_connect_timeout"
    /// No response head within the per-try timeout, or the response body stalled.
    case upstreamTimeout = "upstream_timeout"
    /// The upstream closed or reset the connection mid-exchange.
    case upstreamReset = "upstream_reset"
    case upstreamBadResponse = "upstream_bad_response"

    /// True when the backend is to blame.
    public var isUpstreamFailure: Bool {
        switch self {
        case .upstreamConnectFailed, .upstreamConnectTimeout, .upstreamTimeout, .upstreamReset, .upstreamBadResponse: return true
        case .clientGone, .clientTimeout, .clientBodyInvalid, .localReply: return false
        }
    }
}

/// Told how a request ended, exactly once, on every exit path. Registered by a guard while it
/// evaluates the request (`GuardRequest.observeOutcome`), also when a later guard rejects it.
/// Called on the request's event loop: keep it short, and hop elsewhere for anything slow.
public protocol OutcomeObserver: Sendable {
    /// Bytes of the upstream response body this observer wants to see (0: none).
    var responseBodyCapture: Int { get }
    func requestFinished(_ outcome: RequestOutcome)
    /// A try's request has gone upstream in full and its answer is awaited, since `since` (the
    /// loop's monotonic clock). Followed by `answerWaitEnded(since:)` with the same value when the
    /// response head arrives or the try ends without one. A request still waiting is how a hung
    /// backend shows before any answer or timeout does.
    func answerAwaited(since: UInt64)
    func answerWaitEnded(since: UInt64)
    /// The upstream's whole answer is in hand (its head, and its body up to `responseBodyCapture`)
    /// and about to be relayed: called before the client can have read its last byte, so that
    /// what a client does next, having read it, finds the answer known. `requestFinished` follows
    /// with how the relay went. (An answer of known length that took more than one read from an
    /// HTTP/1.1 backend is the exception: its last bytes may reach the client just before.)
    func answerComplete(head: HTTPResponseHead, body: [UInt8]?)
}

extension OutcomeObserver {
    public var responseBodyCapture: Int { 0 }
    public func answerAwaited(since: UInt64) {}
    public func answerWaitEnded(since: UInt64) {}
    public func answerComplete(head: HTTPResponseHead, body: [UInt8]?) {}
}
