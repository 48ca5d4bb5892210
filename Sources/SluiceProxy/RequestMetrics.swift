/// One loop's request counters, by listener and route: answers by status class and a latency
/// histogram. Loop-confined (no atomics, no locks on the request path); the admin endpoint sums
/// the loops' snapshots, taken on each loop.
public final class RequestMetrics: @unchecked Sendable {
    /// Upper bounds of the latency buckets, in seconds (Prometheus `le`), the last is +Inf.
    public static let bucketBounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    private static let boundNanoseconds: [UInt64] = bucketBounds.map { UInt64($0 * 1e9) }

    /// The counters of one (listener, route).
    public struct Series: Summable {
        /// 1xx … 5xx at 0 … 4; anything else at 5.
        public var byClass = [Int](repeating: 0, count: 6)
        /// Not cumulative: bucket i counts requests in (bound i−1, bound i]; the last is above all.
        public var buckets = [Int](repeating: 0, count: RequestMetrics.bucketBounds.count + 1)
        public var sumNanoseconds: UInt64 = 0

        public init() {}

        public mutating func add(_ other: Series) {
            for i in byClass.indices { byClass[i] += other.byClass[i] }
            for i in buckets.indices { buckets[i] += other.buckets[i] }
            sumNanoseconds &+= other.sumNanoseconds
        }
    }

    /// listener → route → series. A request without a route counts under route "".
    private final class Box { var value = Series() }
    private var boxes: [String: [String: Box]] = [:]
    private var lastBox: (listener: String, route: String, box: Box)?

    public init() {}

    /// The latency bucket `nanoseconds` falls in (bounds are inclusive); the last is above all.
    static func bucket(of nanoseconds: UInt64) -> Int {
        for (index, bound) in boundNanoseconds.enumerated() where nanoseconds <= bound { return index }
        return boundNanoseconds.count
    }

    func record(listener: String, route: String?, status: Int, nanoseconds: UInt64) {
        let classIndex = (100...599).contains(status) ? status / 100 - 1 : 5
        let bucket = Self.bucket(of: nanoseconds)
        let routeName = route ?? ""
        let box: Box
        // The last series used: requests come in runs of one route, and comparing strings that
        // share their storage (route names come from one policy snapshot) costs next to nothing,
        // where hashing them twice shows in the profile.
        if let last = lastBox, last.listener == listener, last.route == routeName {
            box = last.box
        } else if let found = boxes[listener]?[routeName] {
            box = found
            lastBox = (listener, routeName, found)
        } else {
            box = Box()
            boxes[listener, default: [:]][routeName] = box
            lastBox = (listener, routeName, box)
        }
        box.value.byClass[classIndex] += 1
        box.value.buckets[bucket] += 1
        box.value.sumNanoseconds &+= nanoseconds
    }

    /// Connections and HTTP/2 on this loop: accepted connections by protocol and TLS, TLS
    /// sessions resumed, HTTP/2 streams opened, and GOAWAYs sent by error code.
    public struct ConnectionCounts: Sendable {
        public var accepted: [String: Int] = [:]
        public var tlsResumptions = 0
        public var http2Streams = 0
        public var goaways: [String: Int] = [:]
        /// Failed downstream TLS handshakes, by `TLSHandshakeFailure` (its raw value).
        public var tlsHandshakeFailures: [String: Int] = [:]

        public init() {}

        public mutating func add(_ other: ConnectionCounts) {
            for (key, count) in other.accepted { accepted[key, default: 0] += count }
            for (key, count) in other.goaways { goaways[key, default: 0] += count }
            for (key, count) in other.tlsHandshakeFailures { tlsHandshakeFailures[key, default: 0] += count }
            tlsResumptions += other.tlsResumptions
            http2Streams += other.http2Streams
        }
    }

    public private(set) var connections = ConnectionCounts()

    func countConnection(http2: Bool, tls: Bool) {
        connections.accepted[(http2 ? "h2" : "http/1.1") + (tls ? " tls" : " cleartext"), default: 0] += 1
    }

    func countTLSResumption() { connections.tlsResumptions += 1 }
    func countTLSHandshakeFailure(_ reason: String) { connections.tlsHandshakeFailures[reason, default: 0] += 1 }
    func countHTTP2Stream() { connections.http2Streams += 1 }
    func countGoAway(_ code: UInt32) { connections.goaways[Self.http2ErrorName(code), default: 0] += 1 }

    static func http2ErrorName(_ code: UInt32) -> String {
        let names = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
                     "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
                     "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
        return Int(code) < names.count ? names[Int(code)] : "UNKNOWN"
    }

    /// One (cluster, endpoint)'s tries: answered (any status), failed by kind, the time to the
    /// end of the exchange, and a histogram of the time the backend took to answer (request sent
    /// to response head: its own latency, without the client's upload or reading).
    public struct UpstreamSeries: Summable {
        public var answered = 0
        public var failures: [String: Int] = [:]
        public var sumNanoseconds: UInt64 = 0
        /// Not cumulative, as `Series.buckets`: answers by the backend's answer time.
        public var answerBuckets = [Int](repeating: 0, count: RequestMetrics.bucketBounds.count + 1)
        public var answerSumNanoseconds: UInt64 = 0

        public init() {}

        public mutating func add(_ other: UpstreamSeries) {
            answered += other.answered
            for (kind, count) in other.failures { failures[kind, default: 0] += count }
            sumNanoseconds &+= other.sumNanoseconds
            for i in answerBuckets.indices { answerBuckets[i] += other.answerBuckets[i] }
            answerSumNanoseconds &+= other.answerSumNanoseconds
        }
    }

    private final class UpstreamBox { var value = UpstreamSeries() }
    private var upstreams: [String: [String: UpstreamBox]] = [:]
    private var lastUpstreamBox: (cluster: String, endpoint: String, box: UpstreamBox)?

    /// A request that went upstream: its cluster, the endpoint of its last try, and how it ended
    /// (nil failure: answered). The last series used is tried first, as in `record`.
    func recordUpstream(cluster: String, endpoint: String, failure: String?, nanoseconds: UInt64, answerNanoseconds: UInt64? = nil) {
        let box: UpstreamBox
        if let last = lastUpstreamBox, last.cluster == cluster, last.endpoint == endpoint {
            box = last.box
        } else if let found = upstreams[cluster]?[endpoint] {
            box = found
            lastUpstreamBox = (cluster, endpoint, found)
        } else {
            box = UpstreamBox()
            upstreams[cluster, default: [:]][endpoint] = box
            lastUpstreamBox = (cluster, endpoint, box)
        }
        if let failure { box.value.failures[failure, default: 0] += 1 } else { box.value.answered += 1 }
        box.value.sumNanoseconds &+= nanoseconds
        if let answerNanoseconds {
            box.value.answerBuckets[Self.bucket(of: answerNanoseconds)] += 1
            box.value.answerSumNanoseconds &+= answerNanoseconds
        }
    }

    public func upstreamSnapshot() -> [String: [String: UpstreamSeries]] { upstreams.mapValues { $0.mapValues(\.value) } }


    /// A copy of the counters (take it on the loop).
    public func snapshot() -> [String: [String: Series]] { boxes.mapValues { $0.mapValues(\.value) } }

    /// Several loops' snapshots added up.
    public static func sum<Value: Summable>(_ snapshots: [[String: [String: Value]]]) -> [String: [String: Value]] {
        var total: [String: [String: Value]] = [:]
        for snapshot in snapshots {
            for (outer, inner) in snapshot {
                for (key, value) in inner { total[outer, default: [:]][key, default: Value()].add(value) }
            }
        }
        return total
    }
}

/// Counters that several loops' copies add up into one.
public protocol Summable: Sendable {
    init()
    mutating func add(_ other: Self)
}
