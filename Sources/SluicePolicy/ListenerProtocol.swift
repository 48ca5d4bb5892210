/// What a cleartext listener speaks. (On a TLS listener ALPN decides between h2 and http/1.1.)
public enum ListenerProtocol: String, Sendable, CaseIterable {
    /// HTTP/1.1 only.
    case http1
    /// HTTP/1.1, or HTTP/2 with prior knowledge (h2c) when a client opens with the HTTP/2
    /// connection preface.
    case auto
}
