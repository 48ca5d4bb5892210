import SluiceHTTP2
import SluicePolicy

/// A served client connection, as the loop's drain sees it.
protocol DownstreamConnection: AnyObject {
    /// The listener that accepted it.
    var listenerName: String { get }
    /// Stop taking new requests: close now if idle, otherwise after the requests in flight
    /// (HTTP/2: a graceful GOAWAY). On shutdown, and when a reload changes what the
    /// connection was set up with (its listener's certificates or HTTP/2 settings).
    func drain()
}

extension HTTP2Settings {
    init(_ limits: HTTP2Limits) {
        self.init()
        maxConcurrentStreams = limits.maxConcurrentStreams
        maxHeaderListSize = limits.maxHeaderListBytes
        initialWindowSize = limits.initialWindowBytes
        streamChecks = limits.streamChecks
    }
}
