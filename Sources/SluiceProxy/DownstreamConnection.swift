import SluiceHTTP2
import SluicePolicy

/// A served client connection, as the loop's drain sees it.
protocol DownstreamConnection: AnyObject {
    /// Stop taking new requests: close now if idle, otherwise after the requests in flight
    /// (HTTP/2: a graceful GOAWAY).
    func drain()
}

extension HTTP2Settings {
    init(_ limits: HTTP2Limits) {
        self.init()
        maxConcurrentStreams = limits.maxConcurrentStreams
        maxHeaderListSize = limits.maxHeaderListBytes
        initialWindowSize = limits.initialWindowBytes
    }
}
