import SluiceIO
import SluiceHTTP

/// The client side of one request, whatever protocol carries it. The request pipeline (route,
/// guards, forward) talks only to this; HTTP/1.1 connections and HTTP/2 streams implement it, so
/// both feed the same pipeline. Every call runs on the loop of the connection it belongs to.
protocol DownstreamExchange: AnyObject, Sendable {
    var head: HTTPRequestHead { get }
    var clientAddress: String { get }
    /// `http` or `https`, for X-Forwarded-Proto.
    var scheme: String { get }
    /// The verified client certificate's subject on mTLS listeners.
    var clientCertificateSubject: String? { get }
    /// The request body length when the client declared it (Content-Length).
    var declaredBodyLength: Int? { get }
    var requestBodyFinished: Bool { get }
    /// True when the rest of the request body has already arrived and sits in memory (the
    /// connection's read buffer, or the stream's DATA frames): forwarding it cannot stall on the
    /// client, so request buffering need not copy it.
    var requestBodyArrived: Bool { get }
    var requestBodyBytes: Int { get }
    var responseBytesSent: Int { get }
    /// The client is gone (closed its connection, reset its stream): a request still waiting to
    /// go upstream is not sent (nginx's 499).
    var clientHasLeft: Bool { get }

    /// The request's route is known: an HTTP/1.1 connection serving non-core routes is read after
    /// the others while many are ready (`ReadPriority`); an HTTP/2 stream shares its connection
    /// with others, so it leaves the priority alone.
    func routed(core: Bool)

    /// Called once routing and guards let the request through, before its body is read
    /// (HTTP/1 answers `Expect: 100-continue` here).
    nonisolated(nonsending) func willReadBody() async throws
    /// Delivers the next piece(s) of the request body. The slices are valid only during `deliver`.
    nonisolated(nonsending) func readRequestBody(deadline: Deadline, deliver: (UnsafeRawBufferPointer) async throws -> Void) async throws
    /// When the whole body of `length` bytes is already buffered, hands it to `body` (and marks
    /// it read) and returns true; small bodies then go upstream with the head in one write.
    nonisolated(nonsending) func withBufferedBody(length: Int, _ body: (UnsafeRawBufferPointer) async throws -> Void) async throws -> Bool

    /// Sends the response head; the body (if any) follows through `sendResponseBody`.
    nonisolated(nonsending) func sendResponseHead(_ head: HTTPResponseHead, body: ResponseBodyLength, deadline: Deadline) async throws
    /// Sends a response whose whole body is at hand, in as few writes as the protocol allows.
    nonisolated(nonsending) func sendResponse(_ head: HTTPResponseHead, completeBody: UnsafeRawBufferPointer, deadline: Deadline) async throws
    nonisolated(nonsending) func sendResponseBody(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) async throws
    /// Ends the response body; `trailers` (already filtered for downstream) follow it where the
    /// framing allows them (HTTP/2; HTTP/1.1 chunked).
    nonisolated(nonsending) func finishResponse(trailers: HTTPHeaders, deadline: Deadline) async throws
    /// Answers with a reply Sluice made itself. Never throws: a client that is gone is gone.
    nonisolated(nonsending) func sendLocalReply(_ reply: LocalReply, requestID: String) async
    /// The response could not be completed after its head went out: the client must see the
    /// stream end abnormally (HTTP/1: close; HTTP/2: RST_STREAM), never a truncated success.
    func abortResponse()
}

/// What the client will be told about the response body.
enum ResponseBodyLength: Equatable {
    /// No body: HEAD, 1xx, 204, 304. A HEAD or 304 response keeps the length it describes.
    case none(describedLength: String?)
    case known(Int)
    /// Chunked or close-delimited upstream: the downstream protocol picks its own framing.
    case unknown

    /// No body, with the length a HEAD or 304 response describes; a 204 or 1xx carries no
    /// Content-Length at all (RFC 9110 §8.6), whatever the upstream sent (a client trusting it
    /// would take the next response's bytes for this one's body).
    static func none(status: Int, contentLength: String?) -> ResponseBodyLength {
        .none(describedLength: status == 204 || status < 200 ? nil : contentLength)
    }
}
