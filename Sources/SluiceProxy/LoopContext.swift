import SluiceIO
import SluicePolicy
import SluiceHTTP2
import SluiceTLS
import Synchronization

/// Everything one event loop owns for proxying: its view of the configuration, its upstream
/// pools, its access log, and its live downstream sessions (for drain). Loop thread only,
/// except the counters read by the server while draining.
public final class LoopContext: @unchecked Sendable {
    public let loop: EventLoop
    let store: ConfigurationStore
    private(set) var configuration: ProxyConfiguration
    private var pools: [String: UpstreamPool] = [:]
    var requestIDs = RequestIDGenerator()
    var traceIDs = TraceIDGenerator()
    let accessLog: AccessLogWriter?
    let transactionLog: AccessLogWriter?
    private let connector: any UpstreamConnector
    /// Request bodies held in memory on this loop right now (the body phase), against the
    /// policy's `body_buffer_per_loop`.
    private(set) var bufferedBodyBytes = 0
    /// The same, per client (its address as `ClientIdentity` has it): one client may hold at
    /// most a quarter of the budget, so that no client alone can make the others' payments 503.
    private var bufferedBodyBytesByClient: [String: Int] = [:]
    private var sessions: [ObjectIdentifier: any DownstreamConnection] = [:]
    /// Sessions parked since the heap was last trimmed (see `continueParked`).
    private var parkedSinceTrim = 0
    private var trimScheduled = false
    private var lastHeapTrim: UInt64 = 0
    private var listeners: [TCPListener] = []
    public private(set) var draining = false
    /// Open downstream connections on this loop; read by the drain supervisor on another thread.
    private let openSessions = Atomic<Int>(0)
    /// Connections closed on accept because the listener's connection limit was reached.
    public let connectionsRefused = Atomic<Int>(0)
    /// TLS handshakes on this loop: completed, failed (protocol error, refused version, missing
    /// client certificate, peer gone) and timed out. Read by metrics from other threads.
    public let tlsHandshakesCompleted = Atomic<Int>(0)
    public let tlsHandshakesFailed = Atomic<Int>(0)
    public let tlsHandshakesTimedOut = Atomic<Int>(0)
    /// Requests answered on this loop, by listener and route (loop thread only; read with
    /// `snapshot()` on the loop).
    public let metrics = RequestMetrics()
    /// The loops serving with this one.
    let loopCount: Int

    /// `accessLog` nil = no access log. `loops`: how many loops serve (they share each cluster's
    /// `max_connections` evenly).
    public convenience init(loop: EventLoop, loops: Int, store: ConfigurationStore, accessLog: LogFile?, transactionLog: LogFile? = nil) {
        self.init(loop: loop, loops: loops, store: store, accessLog: accessLog, transactionLog: transactionLog, connector: SocketConnector())
    }

    /// With another way to reach upstreams (the in-process pipeline tests' in-memory one).
    init(loop: EventLoop, loops: Int = 1, store: ConfigurationStore, accessLog: LogFile?, transactionLog: LogFile? = nil,
         connector: any UpstreamConnector) {
        self.loop = loop
        loopCount = loops
        self.store = store
        self.connector = connector
        configuration = store.configuration
        self.accessLog = accessLog.map { AccessLogWriter(file: $0, loop: loop) }
        self.transactionLog = transactionLog.map { AccessLogWriter(file: $0, loop: loop) }
    }

    public var openSessionCount: Int { openSessions.load(ordering: .relaxed) }

    /// A request refused before it became one (unparseable, a head too large, a slow head, an
    /// HTTP/2 stream the session refused): counted under route "" and access-logged like any
    /// answer, so a flood of malformed requests shows in `sluice_requests_total` too.
    func recordRefusedBeforeRouting(listener: String, client: String, requestID: String, status: Int, reason: String?, bytesOut: Int) {
        if currentConfiguration().policy.server.metrics {
            metrics.record(listener: listener, route: nil, status: status, nanoseconds: 0)
        }
        accessLog?.append(AccessLogRecord(
            requestID: requestID, listener: listener, client: client, method: "-", path: "-", route: nil,
            status: status, upstream: nil, reason: reason, durationNanos: 0, bytesIn: 0, bytesOut: bytesOut))
    }

    /// The configuration for a new request: the newest one, picked up with one atomic load.
    /// Takes up the store's configuration now (loop thread), instead of at the next request:
    /// a quiet loop must not keep a replaced generation (and what it alone holds) alive.
    public func adoptLatestConfiguration() {
        _ = currentConfiguration()
    }

    func currentConfiguration() -> ProxyConfiguration {
        if store.generation != configuration.generation {
            adopt(store.configuration)
        }
        return configuration
    }

    private func adopt(_ newConfiguration: ProxyConfiguration) {
        let changedListeners = Set(configuration.connectionSettings.keys.filter {
            configuration.connectionSettings[$0] != newConfiguration.connectionSettings[$0]
        })
        configuration = newConfiguration
        if !changedListeners.isEmpty {
            for session in sessions.values where changedListeners.contains(session.listenerName) { session.drain() }
        }
        // Pools of clusters whose endpoints or connection settings changed start afresh; the
        // others keep their warm connections and take the reloaded cluster.
        for (name, pool) in pools {
            guard let cluster = newConfiguration.clusters[name],
                  cluster.addresses == pool.cluster.addresses,
                  cluster.policy.protocol == pool.cluster.policy.protocol,
                  cluster.tls === pool.cluster.tls,
                  cluster.policy.maxIdlePerEndpoint == pool.cluster.policy.maxIdlePerEndpoint,
                  cluster.policy.balance == pool.cluster.policy.balance,
                  cluster.policy.idleTimeout == pool.cluster.policy.idleTimeout else {
                pool.closeIdle()
                pools[name] = nil
                continue
            }
            pool.adopt(cluster, loops: loopCount)
        }
    }

    /// Takes `bytes` of the loop's body buffer budget; false (nothing taken) when it would go over.
    /// Whether `bytes` more fit the loop's budget and the client's share of it (taken if so).
    /// One hash of the client's address per call, and none to check the share while the whole
    /// loop holds less than it (a client holds no more than the loop): bench/instructions
    /// counted ~1.6k instructions a request for five lookups.
    func reserveBodyBuffer(_ bytes: Int, client: String) -> Bool {
        let budget = configuration.policy.server.bodyBufferPerLoop
        let share = max(budget / 4, 1)
        guard bufferedBodyBytes + bytes <= budget else { return false }
        if bufferedBodyBytes + bytes <= share {
            bufferedBodyBytesByClient[client, default: 0] += bytes
        } else if let index = bufferedBodyBytesByClient.index(forKey: client) {
            guard bufferedBodyBytesByClient.values[index] + bytes <= share else { return false }
            bufferedBodyBytesByClient.values[index] += bytes
        } else {
            guard bytes <= share else { return false }
            bufferedBodyBytesByClient[client] = bytes
        }
        bufferedBodyBytes += bytes
        return true
    }

    /// Whether `bytes` would fit now (nothing taken): a declared length that cannot is refused
    /// before the body is read.
    func bodyBufferHasRoom(for bytes: Int, client: String) -> Bool {
        let budget = configuration.policy.server.bodyBufferPerLoop
        let share = max(budget / 4, 1)
        guard bufferedBodyBytes + bytes <= budget else { return false }
        return bufferedBodyBytes + bytes <= share || bufferedBodyBytesByClient[client, default: 0] + bytes <= share
    }

    func releaseBodyBuffer(_ bytes: Int, client: String) {
        bufferedBodyBytes -= bytes
        guard let index = bufferedBodyBytesByClient.index(forKey: client) else { return }
        if bufferedBodyBytesByClient.values[index] > bytes {
            bufferedBodyBytesByClient.values[index] -= bytes
        } else {
            bufferedBodyBytesByClient.remove(at: index)
        }
    }

    /// Per cluster: this loop's connections open to it, and the requests its `max_connections`
    /// turned away (since its pool was made). For metrics; loop thread only.
    public func upstreamConnections() -> [String: (open: Int, refused: Int)] {
        pools.mapValues { ($0.budget.open, $0.budget.refused) }
    }

    func pool(for clusterName: String) -> UpstreamPool? {
        if let pool = pools[clusterName] { return pool }
        guard let cluster = configuration.clusters[clusterName] else { return nil }
        let pool = UpstreamPool(cluster: cluster, loop: loop, loops: loopCount, connector: connector)
        pools[clusterName] = pool
        return pool
    }

    /// Serves connections from `listener` until it is closed, at most `connectionLimit` at a
    /// time on this loop (further ones are closed at once: a flood of idle or slow connections
    /// must not grow memory without bound). Loop thread.
    public func serve(_ listener: TCPListener, policy: ListenerPolicy, connectionLimit: Int,
                      perClient: ClientConnectionLimiter? = nil) {
        listeners.append(listener)
        let budget = ConnectionBudget(limit: connectionLimit)
        loop.spawn { [self] in
            while let connection = await listener.acceptRetrying() {
                if draining || !budget.take() {
                    if !draining { connectionsRefused.wrappingAdd(1, ordering: .relaxed) }
                    connection.abort()
                    continue
                }
                let client = connection.peer?.host ?? "unknown"
                if let perClient, !perClient.admit(client, now: loop.now) {
                    budget.giveBack()
                    connectionsRefused.wrappingAdd(1, ordering: .relaxed)
                    connection.abort()
                    continue
                }
                var release: (@Sendable () -> Void)?
                if let perClient { release = { perClient.release(client) } }
                startSession(connection, listener: policy, budget: budget, release: release)
            }
        }
    }

    /// Serves one accepted connection: TLS first on TLS listeners; then HTTP/2 when ALPN chose
    /// it, on an `http2` cleartext listener always, or (on an `auto` cleartext listener) when the
    /// client opens with the HTTP/2 preface; HTTP/1.1 otherwise.
    private func startSession(_ accepted: TCPConnection, listener acceptedBy: ListenerPolicy, budget: ConnectionBudget,
                              release: (@Sendable () -> Void)? = nil) {
        openSessions.wrappingAdd(1, ordering: .relaxed)
        loop.spawn { [self] in
            // The newest policy's settings for this listener (timeouts, HTTP/2 settings, TLS): the
            // accept loop was started with the policy of its time.
            let listener = currentConfiguration().policy.listeners.first { $0.name == acceptedBy.name } ?? acceptedBy
            // The session's end, run once by whichever task ends it (an HTTP/1.1 session that
            // parks continues in other tasks).
            var handedOff = false
            let sessionEnded: @Sendable () -> Void = { [self] in
                openSessions.wrappingSubtract(1, ordering: .relaxed)
                budget.giveBack()
                release?()
            }
            defer { if !handedOff { sessionEnded() } }
            // From a load balancer the listener trusts for it: the PROXY header names the client.
            var clientAddress: String?
            if !listener.proxyProtocolFrom.isEmpty, let peer = accepted.peer?.host,
               listener.proxyProtocolFrom.contains(where: { $0.contains(peer) }) {
                guard let header = await readProxyHeader(accepted, timeout: listener.proxyProtocolTimeout) else {
                    accepted.close()
                    return
                }
                clientAddress = header.client
            }
            let connection: any ByteStream
            var scheme = "http"
            var alpn: String?
            var clientCertificateSubject: String?
            if listener.tls != nil {
                guard let tls = await handshake(accepted, listener: listener) else { return }
                connection = tls
                scheme = "https"
                alpn = tls.negotiatedALPN
                clientCertificateSubject = tls.peerCertificateSubject
            } else {
                connection = accepted
            }
            let buffer = ByteBuffer(capacity: 4096)
            var speaksHTTP2 = alpn == "h2" || (listener.tls == nil && listener.protocol == .http2)
            if listener.tls == nil && listener.protocol == .auto {
                guard let isPreface = try? await PrefaceSniffer.startsWithHTTP2Preface(
                    connection, buffer: buffer, deadline: loop.deadline(after: listener.headerTimeout)) else {
                    connection.close()
                    return
                }
                speaksHTTP2 = isPreface
            }
            metrics.countConnection(http2: speaksHTTP2, tls: scheme == "https")
            let session: any ParkableSession
            if speaksHTTP2 {
                guard let h2 = try? HTTP2Session(context: self, connection: connection, listener: listener, scheme: scheme,
                                                 clientCertificateSubject: clientCertificateSubject,
                                                 settings: HTTP2Settings(listener.http2), clientAddress: clientAddress) else {
                    connection.close()
                    return
                }
                session = h2
            } else {
                session = HTTP1Session(context: self, connection: connection, listener: listener, scheme: scheme,
                                       clientCertificateSubject: clientCertificateSubject, buffer: buffer, clientAddress: clientAddress)
            }
            let key = ObjectIdentifier(session)
            sessions[key] = session
            defer { if !handedOff { sessions[key] = nil } }
            if draining { session.drain() }
            // HTTP/2 starts with the bytes read while telling it from HTTP/1 (HTTP/1.1 has them
            // in its buffer already).
            let end = if let h2 = session as? HTTP2Session { await h2.run(initialBytes: Array(buffer.readableBytes)) }
                      else { await session.run() }
            if end == .parked {
                handedOff = true
                continueParked(session) { [self] in
                    sessions[key] = nil
                    sessionEnded()
                }
            }
        }
    }

    /// A parked session waits for its next bytes with no task (its last task has ended, and its
    /// stack with it), then runs in a new one, for as long as it keeps parking; `ended` when the
    /// connection closes (the idle timeout passing while parked closes it).
    private func continueParked(_ session: any ParkableSession, ended: @escaping @Sendable () -> Void) {
        parkedSinceTrim += 1
        if parkedSinceTrim >= Self.parkedSessionsPerTrim && !trimScheduled { scheduleHeapTrim() }
        session.connection.whenReadable(deadline: session.idleDeadline) { [self] readable in
            guard readable else {
                session.closeIdle()
                ended()
                return
            }
            loop.spawn { [self] in
                if await session.run() == .parked {
                    continueParked(session, ended: ended)
                } else {
                    ended()
                }
            }
        }
    }

    /// After many sessions parked, the stacks their old tasks freed sit in malloc's free lists:
    /// reusable by this process, but still counted in its RSS. A trim (half a second after, at
    /// most every 5 s) gives the free pages back to the system, so that memory
    /// after a burst of connections that went idle shows what they still hold.
    private static let parkedSessionsPerTrim = 256

    private func scheduleHeapTrim() {
        trimScheduled = true
        // Half a second for the parked tasks to end; at most one trim per 5 s.
        let at = max(loop.deadline(after: .milliseconds(500)).nanoseconds, lastHeapTrim &+ 5_000_000_000)
        loop.schedule(TimerNode { [self] in
            trimScheduled = false
            parkedSinceTrim = 0
            lastHeapTrim = loop.now
            Heap.releaseFreePages()
        }, at: Deadline(nanoseconds: at))
    }

    /// Reads exactly a PROXY protocol header (peeking until it is complete, so TLS or HTTP bytes
    /// behind it stay in the socket), within `timeout`. Nil: no valid header in time (the
    /// connection is refused); `client` nil: a LOCAL / UNKNOWN header (the balancer's own).
    private func readProxyHeader(_ connection: TCPConnection, timeout: Duration) async -> ProxyProtocol.Header? {
        let deadline = loop.deadline(after: timeout)
        let space = UnsafeMutableRawBufferPointer.allocate(byteCount: ProxyProtocol.maximumLength, alignment: 1)
        defer { space.deallocate() }
        while true {
            guard let peeked = try? await connection.peek(into: space, deadline: deadline), peeked > 0 else { return nil }
            switch ProxyProtocol.parse(UnsafeRawBufferPointer(rebasing: space[0..<peeked])) {
            case .invalid:
                return nil
            case .incomplete:
                guard peeked < space.count, (try? await connection.waitReadableAfterWouldBlock(deadline: deadline)) != nil else { return nil }
            case .complete(let length, let client):
                var consumed = 0
                while consumed < length {
                    guard let count = try? await connection.read(into: UnsafeMutableRawBufferPointer(rebasing: space[consumed..<length]),
                                                                 deadline: deadline), count > 0 else { return nil }
                    consumed += count
                }
                return ProxyProtocol.Header(client: client)
            }
        }
    }

    /// The TLS handshake of an accepted connection, with the newest policy's certificates and
    /// handshake timeout. A failed or slow handshake is counted and the connection closed.
    private func handshake(_ connection: TCPConnection, listener: ListenerPolicy) async -> TLSConnection? {
        let configuration = currentConfiguration()
        guard let context = configuration.tlsContexts[listener.name], let tlsPolicy = listener.tls,
              let tls = try? TLSConnection(accepted: connection, context: context) else {
            tlsHandshakesFailed.wrappingAdd(1, ordering: .relaxed)
            connection.close()
            return nil
        }
        do throws(IOError) {
            try await tls.handshake(deadline: .after(tlsPolicy.handshakeTimeout))
        } catch {
            if error.isTimeout {
                tlsHandshakesTimedOut.wrappingAdd(1, ordering: .relaxed)
            } else {
                tlsHandshakesFailed.wrappingAdd(1, ordering: .relaxed)
                metrics.countTLSHandshakeFailure((tls.handshakeFailure ?? .other).rawValue)
            }
            tls.close()
            return nil
        }
        tlsHandshakesCompleted.wrappingAdd(1, ordering: .relaxed)
        if tls.sessionReused { metrics.countTLSResumption() }
        return tls
    }

    /// Stops accepting, closes idle keep-alive connections now and the busy ones after their
    /// current response. Loop thread.
    public func startDrain() {
        draining = true
        listeners.forEach { $0.close() }
        listeners.removeAll()
        for session in sessions.values {
            session.drain()
        }
    }

    /// Writes out buffered access log lines and drops pooled upstream connections. Loop thread.
    public func shutdown() {
        accessLog?.flush()
        transactionLog?.flush()
        pools.values.forEach { $0.closeIdle() }
    }

    public func flushAccessLog() {
        accessLog?.flush()
        transactionLog?.flush()
    }
}

/// How many connections one listener may hold open on one loop. Loop-confined.
final class ConnectionBudget: @unchecked Sendable {
    private let limit: Int
    private var open = 0

    init(limit: Int) { self.limit = max(1, limit) }

    func take() -> Bool {
        guard open < limit else { return false }
        open += 1
        return true
    }

    func giveBack() { open -= 1 }
}
