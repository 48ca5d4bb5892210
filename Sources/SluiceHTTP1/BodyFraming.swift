/// How the body after a head is delimited (RFC 9112 §6.3).
public enum BodyFraming: Sendable, Equatable {
    /// No body (a request without Content-Length or Transfer-Encoding; a 1xx/204/304 or HEAD response).
    case none
    case contentLength(Int)
    case chunked
    /// The body runs until the peer closes the connection. Responses only.
    case untilClose
}
