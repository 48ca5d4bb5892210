/// What a cleartext listener speaks. (On a TLS listener ALPN decides between h2 and http/1.1.)
public enum ListenerProtocol: String, Sendable, CaseIterable {
    /// HTTP/1.1 only.
    case http1
    /// HTTP/1.1, or HTTP/2 with prior knowledge (h2c) when a client opens with the HTTP/2
    /// connection preface.
    case auto
    /// HTTP/2 with prior knowledge only: a client that does not open with the connection preface
    /// gets a GOAWAY (PROTOCOL_ERROR), as RFC 9113 §3.4 asks, instead of being read as HTTP/1.1.
    case http2
}
