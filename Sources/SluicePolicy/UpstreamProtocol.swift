/// What a cluster's endpoints speak.
public enum UpstreamProtocol: String, Sendable, CaseIterable {
    /// HTTP/1.1 on keep-alive connections, one request at a time per connection.
    case http1
    /// HTTP/2: over TLS chosen by ALPN (`h2`), in cleartext with prior knowledge (h2c); many
    /// requests multiplexed on few connections per endpoint and loop.
    case h2
}
