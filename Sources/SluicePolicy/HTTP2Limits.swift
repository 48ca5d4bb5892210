/// A listener's HTTP/2 limits (`http2:` in the policy). The defaults are safe for payment
/// clients; raising them trades memory per connection for concurrency.
public struct HTTP2Limits: Sendable, Equatable {
    public var maxConcurrentStreams: Int
    public var maxHeaderListBytes: Int
    /// The per-stream flow-control window we advertise: how much request body a client may send
    /// ahead of what Sluice has forwarded upstream.
    public var initialWindowBytes: Int
    /// Check stream order and closed streams on the client's frame headers in front of nghttp2
    /// (h2spec 146/146). On by default; off only to get nghttp2's lenient behaviour back for a
    /// client that breaks those rules (and to measure what the check costs).
    public var streamChecks = true

    public static let defaultMaxConcurrentStreams = 128
    public static let defaultMaxHeaderListBytes = 32 * 1024
    public static let defaultInitialWindowBytes = 256 * 1024

    public init(maxConcurrentStreams: Int = HTTP2Limits.defaultMaxConcurrentStreams,
                maxHeaderListBytes: Int = HTTP2Limits.defaultMaxHeaderListBytes,
                initialWindowBytes: Int = HTTP2Limits.defaultInitialWindowBytes) {
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxHeaderListBytes = maxHeaderListBytes
        self.initialWindowBytes = initialWindowBytes
    }
}
