import Synchronization
import SluiceHTTP
import SluiceHTTP1
import SluiceIO
import SluicePolicy
import SluiceTLS

/// Active health checks of one configuration's clusters (those with `health_check`), run from
/// one loop: every interval each endpoint gets `GET <path>` on a fresh connection (TLS when the
/// cluster uses it; HTTP/2 for `protocol: h2` clusters, so h2-only backends can be checked); a
/// 2xx or 3xx head within the timeout passes. Results feed the cluster's
/// `EndpointHealth`, which balancing reads. A reload stops this checker and starts the new
/// configuration's.
public final class HealthChecker: Sendable {
    private let clusters: [UpstreamCluster]
    private let loop: EventLoop
    private let stopped = Atomic<Bool>(false)

    public init(configuration: ProxyConfiguration, loop: EventLoop) {
        clusters = configuration.clusters.values.filter { $0.policy.healthCheck != nil }.sorted { $0.policy.name < $1.policy.name }
        self.loop = loop
    }

    public var isEmpty: Bool { clusters.isEmpty }

    public func start() {
        for cluster in clusters {
            guard let policy = cluster.policy.healthCheck else { continue }
            loop.spawn { [self] in
                while !stopped.load(ordering: .relaxed) {
                    for endpoint in cluster.addresses.indices {
                        loop.spawn { [self] in
                            let (passed, detail) = await check(cluster, endpoint: endpoint, policy: policy)
                            // No verdict when the gateway could not even open a socket (EMFILE):
                            // its own shortage says nothing of the endpoint.
                            guard !stopped.load(ordering: .relaxed), let passed else { return }
                            cluster.health.recordCheck(endpoint, passed: passed, detail: detail)
                        }
                    }
                    await loop.sleep(until: .after(policy.interval))
                }
            }
        }
    }

    public func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    private func check(_ cluster: UpstreamCluster, endpoint: Int, policy: HealthCheckPolicy) async -> (Bool?, String) {
        let deadline = Deadline.after(policy.timeout)
        let connection: UpstreamConnection
        do {
            connection = try await SocketConnector().connect(to: cluster, endpoint: endpoint, on: loop, deadline: deadline)
        } catch {
            return (error.isLocalResourceShortage ? nil : false, "\(policy.path): cannot connect: \(error)")
        }
        if cluster.policy.protocol == .h2 {
            let (passed, detail) = await checkHTTP2(connection, cluster, endpoint: endpoint, policy: policy, deadline: deadline)
            return (passed, detail)
        }
        defer { connection.stream.close() }
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "host", value: cluster.names[endpoint])
        headers.appendLowercased(name: "user-agent", value: "sluice-health-check")
        headers.appendLowercased(name: "connection", value: "close")
        var request: [UInt8] = []
        HTTP1Serializer.appendRequestHead(HTTPRequestHead(method: "GET", target: policy.path, version: .http1_1, headers: headers), to: &request)
        do {
            try await connection.stream.write(request, deadline: deadline)
            let response = try await HeadReader.readResponse(from: connection.stream, buffer: connection.buffer, parser: &connection.parser,
                                                             requestMethod: "GET", deadline: deadline)
            let status = response.head.status
            return ((200..<400).contains(status), "\(policy.path) answered \(status)")
        } catch {
            return (false, "\(policy.path): \(error)")
        }
    }

    /// The same check as one stream on its own HTTP/2 connection.
    private func checkHTTP2(_ dialed: UpstreamConnection, _ cluster: UpstreamCluster, endpoint: Int, policy: HealthCheckPolicy,
                            deadline: Deadline) async -> (Bool, String) {
        if let tls = dialed.stream as? TLSConnection, tls.negotiatedALPN != "h2" {
            dialed.stream.close()
            return (false, "\(policy.path): ALPN chose \(tls.negotiatedALPN ?? "nothing"), not h2")
        }
        guard let connection = try? HTTP2UpstreamConnection(stream: dialed.stream, endpointIndex: endpoint, loop: loop) else {
            dialed.stream.close()
            return (false, "\(policy.path): no HTTP/2 session")
        }
        connection.start()
        defer { connection.close() }
        guard let stream = connection.open(method: "GET", scheme: cluster.tls == nil ? "http" : "https", authority: cluster.names[endpoint],
                                           path: policy.path, fields: HTTPHeaders([("user-agent", "sluice-health-check")]),
                                           endStream: true) else {
            return (false, "\(policy.path): no HTTP/2 stream")
        }
        do {
            while true {
                switch try await stream.next(deadline: deadline) {
                case .response(_, let head, _):
                    return ((200..<400).contains(head.status), "\(policy.path) answered \(head.status)")
                case .streamClosed(_, let code):
                    return (false, "\(policy.path): stream closed (HTTP/2 error \(code))")
                default:
                    continue
                }
            }
        } catch {
            return (false, "\(policy.path): \(error)")
        }
    }
}
