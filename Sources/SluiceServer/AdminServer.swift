internal import COpenSSL
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import SluiceBreaker
import SluiceBulkhead
import SluiceDegrade
import SluiceGuards
import SluiceHTTP
import SluiceHTTP1
import SluiceIO
import SluiceProxy
import SluiceRateLimit
import SluiceRedis
import SluiceSharedPools

/// What the admin endpoint knows of the server beyond the loops: the policy generation, reload
/// outcomes, whether it drains, and the current admin token. Shared with the control thread.
final class ServerStatus: Sendable {
    let generation = Atomic<Int>(1)
    let reloadsApplied = Atomic<Int>(0)
    let reloadsRejected = Atomic<Int>(0)
    let draining = Atomic<Bool>(false)
    /// Guard counts of replaced policy generations (metrics stay monotonic across reloads).
    let guardCountHistory = GuardCountHistory()
    private let state = Mutex<(token: [UInt8]?, loadedAt: Double, files: [String], hash: String)>((nil, 0, [], ""))

    /// `files`: the policy files read; their SHA-256 (over each path and text, in order) tells
    /// operators at a glance whether two gateways run the same policy.
    func policyLoaded(_ admin: AdminPolicy?, files: [String]) {
        var material: [UInt8] = []
        for file in files {
            material += Array(file.utf8) + [0]
            material += (FileManager.default.contents(atPath: file).map { [UInt8]($0) } ?? []) + [0]
        }
        let hash = Digests.sha256Hex(material)
        state.withLock { $0 = (admin?.token, Date().timeIntervalSince1970, files, hash) }
    }

    /// What the running policy says that the process keeps as it started until a restart
    /// (listener addresses, workers, log files): two gateways with one `source_sha256` may
    /// differ in these, and /admin/policy says so.
    let restartPending = Mutex<[String]>([])
    /// The access and transaction logs (set once at start), for their write-failure counters.
    let logFiles = Mutex<[LogFile]>([])

    var token: [UInt8]? { state.withLock { $0.token } }
    var loaded: (at: Double, files: [String], hash: String) { state.withLock { ($0.loadedAt, $0.files, $0.hash) } }
}

/// The admin listener (`admin:` in policy; loopback by default), served on loop 0:
///
/// - `GET /healthz` 200 while the process runs; `GET /readyz` 200 while it serves, 503 draining;
/// - `GET /metrics`: Prometheus text (per-loop counters summed at scrape, taken on each loop);
/// - `GET /admin/policy`, `GET /admin/state` (breakers, bulkheads, degradation);
/// - `POST /admin/breakers/<name>?state=open|closed|auto`, `POST /admin/degrade?level=…|auto`,
///   `POST /admin/drain`: only with `Authorization: Bearer <token>` (compared in constant time;
///   without a configured token they are refused).
final class AdminServer: @unchecked Sendable {
    private let listener: TCPListener
    private let view: ServerView
    private var contexts: [LoopContext] { view.contexts }
    private var store: ConfigurationStore { view.store }
    private var guards: GuardRegistry { view.guards }
    private var status: ServerStatus { view.status }

    init(listener: TCPListener, view: ServerView) {
        self.listener = listener
        self.view = view
    }

    func start() {
        let loop = listener.loop
        loop.execute { [self] in
            loop.spawn { [self] in
                while let connection = await listener.acceptRetrying() {
                    loop.spawn { [self] in await serve(connection) }
                }
            }
        }
    }

    struct Response {
        var status: Int
        var contentType = "application/json"
        var body: String
        var extraHeaders: [(name: String, value: String)] = []
    }

    private func serve(_ connection: TCPConnection) async {
        defer { connection.close() }
        let buffer = ByteBuffer(capacity: 4096)
        var parser = RequestHeadParser(limits: HTTP1Limits())
        while true {
            let request: ParsedRequestHead
            do {
                guard let read = try await HeadReader.readRequest(from: connection, buffer: buffer, parser: &parser,
                                                                  deadline: .after(.seconds(30))) else { return }
                request = read
            } catch let error as HTTP1Error {
                // As on the public listeners: a head too large is 431, a malformed one 400 (the
                // connection was just closed, which tells an operator's tool nothing).
                let body = "{\"error\":\"\(error.reason)\",\"detail\":\"\(jsonEscaped(error.message))\"}\n"
                var bytes: [UInt8] = []
                HTTP1Serializer.appendResponseHead(HTTPResponseHead(status: error.status, headers: HTTPHeaders([
                    ("content-type", "application/json"), ("content-length", String(body.utf8.count)), ("connection", "close")])), to: &bytes)
                bytes.append(contentsOf: body.utf8)
                _ = try? await connection.write(bytes, deadline: .after(.seconds(5)))
                return
            } catch {
                return
            }
            var body = BodyReader(framing: request.framing)
            do {
                while !body.isFinished {
                    try await body.readNext(from: connection, buffer: buffer, deadline: .after(.seconds(10))) { _ in }
                }
            } catch {
                return
            }
            // HEAD is GET without the body (load balancers and uptime probes check /healthz so).
            let isHead = request.head.method == "HEAD"
            var asked = request.head
            if isHead { asked.method = "GET" }
            let response = await respond(to: asked)
            var headers = HTTPHeaders()
            headers.appendLowercased(name: "content-type", value: response.contentType)
            headers.appendLowercased(name: "content-length", value: String(response.body.utf8.count))
            for (name, value) in response.extraHeaders { headers.appendLowercased(name: name, value: value) }
            if !request.keepAlive { headers.appendLowercased(name: "connection", value: "close") }
            var bytes: [UInt8] = []
            HTTP1Serializer.appendResponseHead(HTTPResponseHead(status: response.status, headers: headers), to: &bytes)
            if !isHead { bytes.append(contentsOf: response.body.utf8) }
            guard (try? await connection.write(bytes, deadline: .after(.seconds(10)))) != nil, request.keepAlive else { return }
        }
    }

    func respond(to head: HTTPRequestHead) async -> Response {
        let path = String(head.path)
        switch (head.method, path) {
        case ("GET", "/healthz"):
            return Response(status: 200, contentType: "text/plain", body: "ok\n")
        case ("GET", "/readyz"):
            return status.draining.load(ordering: .relaxed)
                ? Response(status: 503, contentType: "text/plain", body: "draining\n")
                : Response(status: 200, contentType: "text/plain", body: "ready\n")
        case ("GET", "/metrics"):
            return Response(status: 200, contentType: "text/plain; version=0.0.4", body: await metrics())
        case ("GET", "/admin/policy"):
            let (loadedAt, files, hash) = status.loaded
            return Response(status: 200, body: "{\"generation\":\(status.generation.load(ordering: .relaxed)),\"loaded_at\":\(Int(loadedAt)),"
                + "\"source_sha256\":\"\(hash)\","
                + "\"restart_pending\":[\(status.restartPending.withLock { $0 }.map { "\"\(jsonEscaped($0))\"" }.joined(separator: ","))],"
                + "\"files\":[\(files.map { "\"\(jsonEscaped($0))\"" }.joined(separator: ","))]}\n")
        case ("GET", "/admin/state"):
            return Response(status: 200, body: await state())
        case ("POST", _) where Self.isControlPath(path):
            if let refusal = authorize(head) { return refusal }
            guard let query = Self.query(head) else {
                // `level=shed&level=auto` took the last and lifted a pin: a script that appends
                // parameters must not change an order by accident.
                return Response(status: 400, body: "{\"error\":\"repeated_parameter\",\"detail\":\"each parameter may be given once\"}\n")
            }
            return await control(path: path, query: query)
        case (_, _) where Self.readPaths.contains(path) || Self.isControlPath(path):
            let allowed = Self.isControlPath(path) ? "POST" : "GET, HEAD"
            return Response(status: 405, body: "{\"error\":\"method_not_allowed\",\"detail\":\"\(path) takes \(allowed)\"}\n",
                            extraHeaders: [("allow", allowed)])
        default:
            return Response(status: 404, body: "{\"error\":\"not_found\"}\n")
        }
    }

    private static let readPaths: Set<String> = ["/healthz", "/readyz", "/metrics", "/admin/policy", "/admin/state"]

    private static func isControlPath(_ path: String) -> Bool {
        path == "/admin/drain" || path == "/admin/degrade" || path.hasPrefix("/admin/breakers/")
    }

    /// Nil when the request carries the admin token.
    private func authorize(_ head: HTTPRequestHead) -> Response? {
        guard let token = status.token else {
            return Response(status: 403, body: "{\"error\":\"admin_token_not_configured\",\"detail\":\"set admin.token_file to enable this endpoint\"}\n")
        }
        // The scheme is case-insensitive (RFC 9110 §11.1); the token is compared in constant time.
        let presented = Array((head.headers["authorization"] ?? "").utf8)
        let scheme = Array("bearer ".utf8)
        let schemeMatches = presented.count >= scheme.count && zip(presented, scheme).allSatisfy { $0 | 0x20 == $1 | 0x20 }
        let credential = presented.dropFirst(scheme.count)
        // Exactly one Authorization field, as on the public listener: with two, which one a
        // proxy in front of the admin port checked is anyone's guess.
        let single = head.headers.count(of: "authorization") == 1
        let equal = single && schemeMatches && credential.count == token.count && Array(credential).withUnsafeBytes { a in
            token.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, token.count) == 0 }
        }
        return equal ? nil : Response(status: 401, body: "{\"error\":\"unauthorized\"}\n",
                                      extraHeaders: [("www-authenticate", "Bearer realm=\"sluice-admin\"")])
    }

    private func control(path: String, query: [String: String]) async -> Response {
        if path == "/admin/drain" {
            kill(getpid(), SIGTERM)  // the control thread drains, as on SIGTERM
            return Response(status: 202, body: "{\"draining\":true}\n")
        }
        if path == "/admin/degrade", let engine = guards.module(DegradeModule.self)?.engine {
            let wanted = query["level"] ?? ""
            guard wanted == "auto" || DegradeLevel.allCases.contains(where: { $0.description == wanted }) else {
                return Response(status: 400, body: "{\"error\":\"bad_level\",\"detail\":\"level is normal, throttle, fallback, shed or auto\"}\n")
            }
            let level = DegradeLevel.allCases.first { $0.description == wanted }
            switch query["scope"] ?? "instance" {
            case "instance":
                // An instance pin lasts until lifted; a ttl given with it was ignored (shed kept
                // on long after the operator meant it to end).
                guard query["ttl"] == nil else {
                    return Response(status: 400, body: "{\"error\":\"bad_ttl\",\"detail\":\"ttl applies to scope=fleet; "
                                    + "an instance pin lasts until level=auto\"}\n")
                }
                engine.pin(level)
            case "fleet":
                var ttl: Duration?
                if let text = query["ttl"] {
                    guard let parsed = Duration.policySpelling(text) else {
                        return Response(status: 400, body: "{\"error\":\"bad_ttl\",\"detail\":\"ttl is a duration like 10m\"}\n")
                    }
                    ttl = parsed
                }
                switch await engine.pinFleet(level, ttl: ttl) {
                case .applied:
                    break
                case .refused(let problem):
                    return Response(status: 503, body: "{\"error\":\"fleet_pin_failed\",\"detail\":\"\(jsonEscaped(problem))\"}\n")
                case .pending(let problem):
                    return Response(status: 202, body: "{\"fleet_pin\":\"pending\",\"detail\":\"\(jsonEscaped(problem)): "
                                    + "the write is retried for \(DegradeEngine.fleetPinRetryFor) and applies when Redis answers; "
                                    + "GET /admin/state shows degrade_fleet_pin\"}\n")
                }
            default:
                return Response(status: 400, body: "{\"error\":\"bad_scope\",\"detail\":\"scope is instance or fleet\"}\n")
            }
            return Response(status: 200, body: "{\"level\":\"\(engine.level)\",\"pinned\":\(wanted != "auto"),\"scope\":\"\(query["scope"] ?? "instance")\","
                            + "\"fleet_pinned\":\(engine.fleetPinned.map { "\"\($0)\"" } ?? "null")}\n")
        }
        let prefix = "/admin/breakers/"
        if path.hasPrefix(prefix), let module = guards.module(BreakerModule.self) {
            let name = String(path.dropFirst(prefix.count))
            guard let breaker = module.breaker(named: name) else { return Response(status: 404, body: "{\"error\":\"no_such_breaker\"}\n") }
            switch query["state"] {
            case "open": breaker.force(.open)
            case "closed": breaker.force(.closed)
            case "auto": breaker.force(nil)
            default: return Response(status: 400, body: "{\"error\":\"bad_state\",\"detail\":\"state is open, closed or auto\"}\n")
            }
            return Response(status: 200, body: "{\"breaker\":\"\(jsonEscaped(name))\",\"state\":\"\(breaker.state)\"}\n")
        }
        return Response(status: 404, body: "{\"error\":\"not_found\"}\n")
    }

    private func state() async -> String {
        let breakers = (guards.module(BreakerModule.self)?.breakers ?? []).map {
            "{\"name\":\"\(jsonEscaped($0.policy.name))\",\"state\":\"\($0.state)\",\"transitions\":\($0.transitionCount)}"
        }
        let bulkheads = (guards.module(BulkheadModule.self)?.bulkheads ?? []).map { bulkhead in
            let (held, waiting) = bulkhead.occupancy
            return "{\"name\":\"\(jsonEscaped(bulkhead.policy.name))\",\"in_use\":\(held),\"waiting\":\(waiting),\"limit\":\(bulkhead.limit)}"
        }
        let engine = guards.module(DegradeModule.self)?.engine
        let level = engine?.level.description ?? "normal"
        let fleetPinned = engine?.fleetPinned.map { "\"\($0)\"" } ?? "null"
        let endpoints = store.configuration.endpointsOut.map { "{\"cluster\":\"\(jsonEscaped($0.cluster))\",\"endpoint\":\"\($0.endpoint)\"}" }
        let redis = await view.redisConnections().map { "{\"connections_up\":\($0.up),\"connections\":\($0.total)}" } ?? "null"
        return "{\"generation\":\(status.generation.load(ordering: .relaxed)),\"draining\":\(status.draining.load(ordering: .relaxed)),"
            + "\"degrade_level\":\"\(level)\",\"degrade_fleet_pin\":\(fleetPinned),\"breakers\":[\(breakers.joined(separator: ","))],"
            + "\"bulkheads\":[\(bulkheads.joined(separator: ","))],\"endpoints_out\":[\(endpoints.joined(separator: ","))],"
            + "\"redis\":\(redis)}\n"
    }

    private func metrics() async -> String {
        var out = MetricsText()
        let requests = await view.requestTotals()
        let classes = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"]
        out.family("sluice_requests_total", "counter", "Requests answered, by listener, route and status class.")
        for (listener, routes) in requests.sorted(by: { $0.key < $1.key }) {
            for (route, series) in routes.sorted(by: { $0.key < $1.key }) {
                for (index, count) in series.byClass.enumerated() where count > 0 {
                    out.sample("sluice_requests_total", [("listener", listener), ("route", route), ("class", classes[index])], count)
                }
            }
        }
        out.family("sluice_request_duration_seconds", "histogram", "Time from a request's head to the end of its answer, by route.")
        for (listener, routes) in requests.sorted(by: { $0.key < $1.key }) {
            for (route, series) in routes.sorted(by: { $0.key < $1.key }) {
                out.histogram("sluice_request_duration_seconds", [("listener", listener), ("route", route)],
                              buckets: series.buckets, sumNanoseconds: series.sumNanoseconds)
            }
        }
        let upstreams = await view.upstreamTotals()
        out.family("sluice_upstream_requests_total", "counter", "Requests sent upstream, by cluster, endpoint (of the last try) and result.")
        for (cluster, endpoints) in upstreams.sorted(by: { $0.key < $1.key }) {
            for (endpoint, series) in endpoints.sorted(by: { $0.key < $1.key }) {
                out.sample("sluice_upstream_requests_total", [("cluster", cluster), ("endpoint", endpoint), ("result", "answered")], series.answered)
                for (kind, count) in series.failures.sorted(by: { $0.key < $1.key }) {
                    out.sample("sluice_upstream_requests_total", [("cluster", cluster), ("endpoint", endpoint), ("result", kind)], count)
                }
            }
        }
        out.family("sluice_upstream_request_seconds_total", "counter", "Time spent on requests that went upstream, by cluster and endpoint.")
        for (cluster, endpoints) in upstreams.sorted(by: { $0.key < $1.key }) {
            for (endpoint, series) in endpoints.sorted(by: { $0.key < $1.key }) {
                out.sample("sluice_upstream_request_seconds_total", [("cluster", cluster), ("endpoint", endpoint)], Double(series.sumNanoseconds) / 1e9)
            }
        }
        out.family("sluice_upstream_response_seconds", "histogram",
                   "Time a backend took to answer (request sent to response head), by cluster and endpoint.")
        for (cluster, endpoints) in upstreams.sorted(by: { $0.key < $1.key }) {
            for (endpoint, series) in endpoints.sorted(by: { $0.key < $1.key }) {
                out.histogram("sluice_upstream_response_seconds", [("cluster", cluster), ("endpoint", endpoint)],
                              buckets: series.answerBuckets, sumNanoseconds: series.answerSumNanoseconds)
            }
        }
        let upstreamConnections = await view.upstreamConnections().sorted(by: { $0.key < $1.key })
        out.family("sluice_upstream_connections", "gauge", "Connections open to each cluster (in use, idle or being dialled), against its max_connections.")
        for (cluster, counts) in upstreamConnections { out.sample("sluice_upstream_connections", [("cluster", cluster)], counts.open) }
        out.family("sluice_upstream_connection_limit_total", "counter",
                   "Requests answered 503 upstream_connection_limit: no room under the cluster's max_connections within its connect timeout.")
        for (cluster, counts) in upstreamConnections { out.sample("sluice_upstream_connection_limit_total", [("cluster", cluster)], counts.refused) }
        if let engine = view.degrade, let lag = engine.loopLagSeconds {
            out.family("sluice_event_loop_lag_seconds", "gauge", "How late each event loop ran its last timer (measured when degradation is configured).")
            for (index, seconds) in lag.enumerated() { out.sample("sluice_event_loop_lag_seconds", [("loop", String(index))], seconds) }
        }
        var connections = RequestMetrics.ConnectionCounts()
        for counts in await view.onEachLoop({ $0.metrics.connections }) { connections.add(counts) }
        out.family("sluice_connections_accepted_total", "counter", "Downstream connections served, by protocol and TLS.")
        for (key, count) in connections.accepted.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: " ")
            out.sample("sluice_connections_accepted_total", [("protocol", String(parts[0])), ("tls", parts[1] == "tls" ? "yes" : "no")], count)
        }
        out.family("sluice_tls_resumptions_total", "counter", "TLS handshakes that resumed a session (tickets).")
        out.sample("sluice_tls_resumptions_total", [], connections.tlsResumptions)
        out.family("sluice_http2_streams_total", "counter", "HTTP/2 streams (requests) opened by clients.")
        out.sample("sluice_http2_streams_total", [], connections.http2Streams)
        out.family("sluice_http2_goaways_total", "counter", "GOAWAY frames sent, by error code.")
        for (code, count) in connections.goaways.sorted(by: { $0.key < $1.key }) {
            out.sample("sluice_http2_goaways_total", [("reason", code)], count)
        }
        out.family("sluice_connections_open", "gauge", "Downstream connections open.")
        out.sample("sluice_connections_open", [], contexts.reduce(0) { $0 + $1.openSessionCount })
        out.family("sluice_connections_refused_total", "counter", "Connections closed at accept: the listener's limit was reached.")
        out.sample("sluice_connections_refused_total", [], contexts.reduce(0) { $0 + $1.connectionsRefused.load(ordering: .relaxed) })
        out.family("sluice_tls_handshakes_total", "counter", "TLS handshakes on downstream connections, by result.")
        for (result, read) in [("completed", { (c: LoopContext) in c.tlsHandshakesCompleted.load(ordering: .relaxed) }),
                               ("failed", { $0.tlsHandshakesFailed.load(ordering: .relaxed) }),
                               ("timed_out", { $0.tlsHandshakesTimedOut.load(ordering: .relaxed) })] {
            out.sample("sluice_tls_handshakes_total", [("result", result)], contexts.reduce(0) { $0 + read($1) })
        }
        out.family("sluice_tls_handshake_failures_total", "counter",
                   "Failed downstream TLS handshakes, by reason (protocol_version, not_tls, no_shared_cipher, plain_http, client_certificate, "
                   + "certificate_rejected_by_client, no_application_protocol, closed, other).")
        for (reason, count) in connections.tlsHandshakeFailures.sorted(by: { $0.key < $1.key }) {
            out.sample("sluice_tls_handshake_failures_total", [("reason", reason)], count)
        }
        let guardTotals = status.guardCountHistory.totals()
        out.family("sluice_guard_decisions_total", "counter", "Guard verdicts, by route, guard and decision.")
        for (key, counts) in guardTotals {
            let (route, name) = (key.route, key.guardName)
            let rejected = counts.rejected, shadow = counts.shadowRejected
            out.sample("sluice_guard_decisions_total", [("route", route), ("guard", name), ("decision", "pass")],
                       max(counts.evaluated - rejected - shadow, 0))
            out.sample("sluice_guard_decisions_total", [("route", route), ("guard", name), ("decision", "reject")], rejected)
            out.sample("sluice_guard_decisions_total", [("route", route), ("guard", name), ("decision", "shadow_reject")], shadow)
        }
        out.family("sluice_guard_errors_total", "counter", "Guard calls that could not decide as configured (Redis unreachable, ...).")
        for (key, counts) in guardTotals {
            out.sample("sluice_guard_errors_total", [("route", key.route), ("guard", key.guardName)], counts.errors)
        }
        let limits = guards.module(RateLimitModule.self)?.ruleCounters ?? []
        out.family("sluice_ratelimit_decisions_total", "counter", "Rate-limit decisions, by rule and decision.")
        for (rule, counters) in limits {
            for (decision, count) in [("allowed", counters.allowed), ("denied", counters.denied), ("shadow_denied", counters.shadowDenied),
                                      ("failure_mode", counters.fallbackDecisions)] {
                out.sample("sluice_ratelimit_decisions_total", [("rule", rule), ("decision", decision)], count)
            }
        }
        out.family("sluice_ratelimit_redis_calls_total", "counter", "Rate-limit calls to Redis, by rule and result.")
        for (rule, counters) in limits {
            out.sample("sluice_ratelimit_redis_calls_total", [("rule", rule), ("result", "sent")], counters.redisCalls)
            out.sample("sluice_ratelimit_redis_calls_total", [("rule", rule), ("result", "error")], counters.redisErrors)
        }
        let breakers = guards.module(BreakerModule.self)?.breakers ?? []
        out.family("sluice_breaker_state", "gauge", "1 for the state each breaker is in.")
        for breaker in breakers {
            for state in ["closed", "open", "half_open", "forced_open", "forced_closed"] {
                out.sample("sluice_breaker_state", [("breaker", breaker.policy.name), ("state", state)], breaker.state == state ? 1 : 0)
            }
        }
        out.family("sluice_breaker_transitions_total", "counter", "Breaker state changes.")
        for breaker in breakers { out.sample("sluice_breaker_transitions_total", [("breaker", breaker.policy.name)], breaker.transitionCount) }
        out.family("sluice_breaker_refused_total", "counter", "Requests answered 503 circuit_open.")
        for breaker in breakers { out.sample("sluice_breaker_refused_total", [("breaker", breaker.policy.name)], breaker.refusedCount) }
        let pools = SharedThreadPools.policies(in: store.configuration.policy).keys.sorted().compactMap { name in
            guards.state.state(SharedThreadPools.sectionName, "pool:" + name, as: WorkerPool.self).map { (name, $0) }
        }
        if !pools.isEmpty {
            out.family("sluice_thread_pool_waiting", "gauge", "Jobs queued for a thread pool's threads.")
            for (name, pool) in pools { out.sample("sluice_thread_pool_waiting", [("pool", name)], pool.waitingCount) }
            out.family("sluice_thread_pool_completed_total", "counter", "Jobs a thread pool ran.")
            for (name, pool) in pools { out.sample("sluice_thread_pool_completed_total", [("pool", name)], pool.completedCount) }
            out.family("sluice_thread_pool_refused_total", "counter", "Jobs refused because the queue was full (503 bulkhead_full).")
            for (name, pool) in pools { out.sample("sluice_thread_pool_refused_total", [("pool", name)], pool.refusedCount) }
            out.family("sluice_thread_pool_expired_total", "counter", "Jobs dropped after waiting past queue_timeout (503 bulkhead_full).")
            for (name, pool) in pools { out.sample("sluice_thread_pool_expired_total", [("pool", name)], pool.expiredCount) }
        }
        let bulkheads = guards.module(BulkheadModule.self)?.bulkheads ?? []
        out.family("sluice_bulkhead_in_use", "gauge", "Permits held, by bulkhead.")
        for bulkhead in bulkheads { out.sample("sluice_bulkhead_in_use", [("bulkhead", bulkhead.policy.name)], bulkhead.occupancy.held) }
        out.family("sluice_bulkhead_waiting", "gauge", "Requests waiting for a permit, by bulkhead.")
        for bulkhead in bulkheads { out.sample("sluice_bulkhead_waiting", [("bulkhead", bulkhead.policy.name)], bulkhead.occupancy.waiting) }
        out.family("sluice_bulkhead_limit", "gauge", "Permits a bulkhead grants at once: max_concurrent, or where an adaptive limit stands.")
        for bulkhead in bulkheads { out.sample("sluice_bulkhead_limit", [("bulkhead", bulkhead.policy.name)], bulkhead.limit) }
        out.family("sluice_bulkhead_refused_total", "counter", "Requests refused by a bulkhead (full, timed out or over a merchant's share).")
        for bulkhead in bulkheads {
            out.sample("sluice_bulkhead_refused_total", [("bulkhead", bulkhead.policy.name)], bulkhead.refused + bulkhead.timedOut)
        }
        if let engine = guards.module(DegradeModule.self)?.engine {
            out.family("sluice_degrade_level", "gauge", "Degradation level: 0 normal, 1 throttle, 2 fallback, 3 shed.")
            out.sample("sluice_degrade_level", [], engine.level.rawValue)
            out.family("sluice_degrade_level_changes_total", "counter", "Degradation level changes.")
            out.sample("sluice_degrade_level_changes_total", [], engine.levelChanges)
        }
        if let redis = await view.redisConnections() {
            out.family("sluice_redis_connections_up", "gauge", "Connections to the shared Redis that are up (one per loop).")
            out.sample("sluice_redis_connections_up", [], redis.up)
            out.family("sluice_redis_connections_answering", "gauge",
                       "Connections to the shared Redis that are up and whose breaker is closed (a frozen Redis keeps its connections up; a breaker probing it is not closed yet).")
            out.sample("sluice_redis_connections_answering", [], redis.answering)
            out.family("sluice_redis_connections", "gauge", "Connections to the shared Redis (one per loop).")
            out.sample("sluice_redis_connections", [], redis.total)
            out.family("sluice_redis_data_lost_total", "counter",
                       "Times the shared Redis was found to have lost its data (restarted empty or flushed): idempotency records and nonces started over.")
            out.sample("sluice_redis_data_lost_total", [], RedisDataCanary.shared.lossesNoticed)
            out.family("sluice_redis_replies_total", "counter", "Replies from the shared Redis.")
            out.sample("sluice_redis_replies_total", [], redis.replies)
            out.family("sluice_redis_reply_seconds_total", "counter",
                       "Time Redis replies took in all (divide its rate by the replies' rate for the mean latency).")
            out.sample("sluice_redis_reply_seconds_total", [], Double(redis.replyNanoseconds) / 1e9)
            if redis.isCluster {
                out.family("sluice_redis_cluster_slot_maps_total", "counter", "Redis Cluster slot maps learnt (CLUSTER SHARDS), all loops.")
                out.sample("sluice_redis_cluster_slot_maps_total", [], redis.refreshes)
                out.family("sluice_redis_cluster_redirects_total", "counter",
                           "Redis Cluster redirects followed: MOVED (a slot moved for good), ASK (a slot mid-migration).")
                out.sample("sluice_redis_cluster_redirects_total", [("kind", "moved")], redis.moved)
                out.sample("sluice_redis_cluster_redirects_total", [("kind", "ask")], redis.asked)
            }
        }
        out.family("sluice_policy_generation", "gauge", "The running policy's generation (1 at start, +1 per applied reload).")
        out.sample("sluice_policy_generation", [], status.generation.load(ordering: .relaxed))
        out.family("sluice_log_write_failures_total", "counter", "Batches of log lines the access or transaction log could not take (a full disk); kept and tried again.")
        let logFiles = status.logFiles.withLock { $0 }
        for file in logFiles { out.sample("sluice_log_write_failures_total", [("log", file.label)], file.failures) }
        out.family("sluice_log_records_dropped_total", "counter", "Log lines given up: a loop's backlog passed 1 MiB while its log could not be written.")
        for file in logFiles { out.sample("sluice_log_records_dropped_total", [("log", file.label)], file.dropped) }
        out.family("sluice_reloads_total", "counter", "Policy reloads, by result.")
        out.sample("sluice_reloads_total", [("result", "applied")], status.reloadsApplied.load(ordering: .relaxed))
        out.sample("sluice_reloads_total", [("result", "rejected")], status.reloadsRejected.load(ordering: .relaxed))
        return out.text
    }

    /// The query's parameters; nil when one is given twice.
    static func query(_ head: HTTPRequestHead) -> [String: String]? {
        var values: [String: String] = [:]
        for pair in (head.query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            // Percent-decoded: `level=%73hed` is `shed`.
            guard parts.count == 2 else { continue }
            let name = PercentEncoding.decoded(parts[0])
            guard values[name] == nil else { return nil }
            values[name] = PercentEncoding.decoded(parts[1])
        }
        return values
    }
}
