#if canImport(Glibc)
import Glibc
#endif
import SluiceIO
import SluiceHTTP1
import SluicePolicy
import SluiceTLS

/// A keep-alive connection to one upstream endpoint, with its own read buffer.
final class UpstreamConnection {
    /// What requests and responses go through: the TCP connection, or TLS over it.
    let stream: any ByteStream
    /// The socket underneath, for hang-up detection (nil for in-memory test streams).
    let tcp: TCPConnection?
    let endpointIndex: Int
    let buffer = ByteBuffer(capacity: 16 * 1024)
    var parser = ResponseHeadParser(limits: HTTP1Limits())
    /// When it went back to the pool (loop clock), for the idle timeout.
    var idleSince: UInt64 = 0
    var requestsServed = 0
    /// Request heads are written into this, one exchange at a time.
    var headScratch = ScratchBuffer(minimumCapacity: 1024)
    /// Its room in the loop's share of the cluster's `max_connections`, given back when this goes.
    var slot: UpstreamConnectionBudget.Slot?

    init(stream: any ByteStream, tcp: TCPConnection?, endpointIndex: Int) {
        self.stream = stream
        self.tcp = tcp
        self.endpointIndex = endpointIndex
    }

    /// The upstream closed its side while the connection sat idle.
    var peerHasHungUp: Bool { tcp?.peerHasHungUp ?? stream.isClosed }
}

/// Opens connections to a cluster's endpoints. The server dials sockets; the in-process
/// pipeline tests connect to an in-memory upstream instead.
protocol UpstreamConnector: Sendable {
    func connect(to cluster: UpstreamCluster, endpoint: Int, on loop: EventLoop, deadline: Deadline) async throws(IOError) -> UpstreamConnection
}

/// TCP, or TLS over TCP for clusters with `tls`.
struct SocketConnector: UpstreamConnector {
    func connect(to cluster: UpstreamCluster, endpoint: Int, on loop: EventLoop, deadline: Deadline) async throws(IOError) -> UpstreamConnection {
        let address = cluster.addresses[endpoint]
        if let tls = cluster.tls {
            let serverName = cluster.policy.tls?.sni ?? cluster.policy.endpoints[endpoint].host
            let connection = try await TLSConnection.connect(to: address, on: loop, context: tls, serverName: serverName,
                                                             deadline: deadline)
            return UpstreamConnection(stream: connection, tcp: connection.tcp, endpointIndex: endpoint)
        }
        let tcp = try await TCPConnection.connect(to: address, on: loop, deadline: deadline)
        return UpstreamConnection(stream: tcp, tcp: tcp, endpointIndex: endpoint)
    }
}

/// One loop's connections to one cluster: idle keep-alive connections per endpoint and the
/// requests outstanding per endpoint (for least-request balancing). Loop-confined: no locks.
final class UpstreamPool {
    /// The cluster as the latest policy has it (`adopt`): its settings and endpoint health.
    private(set) var cluster: UpstreamCluster
    let loop: EventLoop
    private let connector: any UpstreamConnector
    private var idle: [[UpstreamConnection]]
    /// HTTP/2 clusters: the multiplexed connections per endpoint.
    private var multiplexed: [[HTTP2UpstreamConnection]]
    /// HTTP/2 endpoints being dialled, with the requests waiting for that connection.
    private var dialsInFlight: [Int: [UnsafeContinuation<Result<Void, IOError>, Never>]] = [:]
    private(set) var outstanding: [Int]
    private var cursor = 0
    /// This loop's share of the cluster's `max_connections`.
    let budget: UpstreamConnectionBudget
    /// Closes idle HTTP/1.1 connections once they pass the cluster's idle timeout even when no
    /// request comes to take one (`acquire` checks only the ones it looks at): a quiet gateway
    /// must not hold the backend's sockets for ever. Armed while any connection is idle.
    private lazy var idleSweep = TimerNode { [weak self] in self?.closeExpiredIdle() }

    /// A reload's cluster, when its connections stay (same endpoints, protocol and TLS; see
    /// `LoopContext.adopt`): timeouts, retries, outlier and health-check settings, and the
    /// endpoint health the reloaded health checker feeds, apply from the next request on. The
    /// pool used to keep the cluster it was made with: a reload's new `retries` never applied,
    /// and the reloaded health checker marked endpoints in a cluster no pool read.
    func adopt(_ reloaded: UpstreamCluster, loops: Int) {
        precondition(reloaded.names == cluster.names, "a pool adopts only a cluster with its endpoints")
        cluster = reloaded
        budget.limit = Self.share(of: reloaded.policy.maxConnections, loops: loops)
        // Lowered: the idle connections over it close now, the busy ones when they come back
        // (`release`). Raised: every waiter may have room.
        while budget.isOverLimit, closeLongestIdle() || closeLongestIdleMultiplexed() {}
        budget.wakeAll()
    }

    /// A loop's share of `max_connections`: an even split, rounded up.
    static func share(of maxConnections: Int, loops: Int) -> Int {
        let loops = max(loops, 1)
        return max((maxConnections + loops - 1) / loops, 1)
    }

    init(cluster: UpstreamCluster, loop: EventLoop, loops: Int, connector: any UpstreamConnector) {
        self.cluster = cluster
        self.loop = loop
        self.connector = connector
        budget = UpstreamConnectionBudget(limit: Self.share(of: cluster.policy.maxConnections, loops: loops), loop: loop)
        idle = Array(repeating: [], count: cluster.addresses.count)
        multiplexed = Array(repeating: [], count: cluster.addresses.count)
        outstanding = Array(repeating: 0, count: cluster.addresses.count)
        // Loops start at different endpoints so that N loops do not all hit endpoint 0 first.
        cursor = loop.index
    }

    var connectionsIdle: Int { idle.reduce(0) { $0 + $1.count } }

    /// The endpoint for the next try: balanced over the endpoints that are neither ejected
    /// (outlier detection) nor in `tried` (this request's earlier tries); when that leaves none,
    /// over those not tried; then over all (panic mode: better a doubtful endpoint than none).
    func pickEndpoint(excluding tried: [Int] = []) -> Int {
        guard let ejected = cluster.health.ejected(now: loop.now) else {
            return tried.isEmpty ? balanced { _ in true } ?? 0 : balanced { !tried.contains($0) } ?? balanced { _ in true } ?? 0
        }
        return balanced { !ejected[$0] && !tried.contains($0) } ?? balanced { !tried.contains($0) } ?? balanced { _ in true } ?? 0
    }

    /// Round robin or least request over the endpoints `allowed` accepts; nil when it accepts none.
    private func balanced(_ allowed: (Int) -> Bool) -> Int? {
        let count = cluster.addresses.count
        for _ in 0..<count {
            cursor = (cursor + 1) % count
            guard allowed(cursor) else { continue }
            switch cluster.policy.balance {
            case .roundRobin:
                return cursor
            case .leastRequest:
                // Fewest outstanding on this loop; ties go round-robin from the cursor.
                var best = cursor
                for step in 1..<max(count, 1) {
                    let candidate = (cursor + step) % count
                    if allowed(candidate) && outstanding[candidate] < outstanding[best] { best = candidate }
                }
                return best
            }
        }
        return nil
    }

    /// Retry budget (loop-confined): every request earns `budget` of a retry, a retry spends a
    /// whole one; the pool starts with, and holds at most, `minimum_retries` spare.
    private var retryTokens: Double = -1

    func noteRequest() {
        guard let retries = cluster.policy.retries else { return }
        if retryTokens < 0 { retryTokens = Double(retries.minimumRetries) }
        retryTokens = min(retryTokens + retries.budget, Double(max(retries.minimumRetries, 1)))
    }

    var canRetry: Bool { retryTokens >= 1 }

    func spendRetry() { retryTokens -= 1 }

    func markStarted(_ endpoint: Int) { outstanding[endpoint] += 1 }
    func markFinished(_ endpoint: Int) { outstanding[endpoint] -= 1 }

    /// An idle connection to `endpoint` that is still alive, or a new one when the newest idle
    /// one has been idle `maxIdle` or longer (0: always; the others are older still and stay for
    /// requests that may take them).
    ///
    /// A new one needs room in the loop's share of `max_connections`: an idle connection to
    /// another endpoint is closed to make it, else the request waits (until `deadline`) for a
    /// connection to end or come back idle; none by then is `IOError.limitReached`.
    ///
    /// `clientLeft` is asked after each wait: a request whose client left meanwhile is never
    /// sent (`IOError.closed`), and the room it was woken for goes to the next waiter.
    func acquire(endpoint: Int, deadline: Deadline, maxIdle: UInt64 = .max,
                 clientLeft: () -> Bool = { false }) async throws(IOError) -> (UpstreamConnection, reused: Bool) {
        while true {
            let idleLimit = cluster.policy.idleTimeout.nanosecondsClamped
            let now = loop.now
            while let newest = idle[endpoint].last, now &- newest.idleSince < maxIdle, let candidate = idle[endpoint].popLast() {
                // Bytes that came after its last exchange ended (a backend writing past its response,
                // a body to a HEAD) would be read as the next request's response: never reused.
                if candidate.peerHasHungUp || now &- candidate.idleSince > idleLimit || !candidate.buffer.isEmpty
                    || candidate.stream.hasUnreadInput() {
                    candidate.stream.close()
                    continue
                }
                return (candidate, true)
            }
            if budget.isFull { closeLongestIdle() }
            if let slot = budget.take() {
                let connection = try await connector.connect(to: cluster, endpoint: endpoint, on: loop, deadline: deadline)
                connection.slot = slot
                return (connection, false)
            }
            try await waitForRoom(until: deadline, clientLeft: clientLeft)
        }
    }

    /// Waits for room under the budget; throws when none came by `deadline`, or when the
    /// request's client left meanwhile (its wake-up goes on to the next waiter).
    private func waitForRoom(until deadline: Deadline, clientLeft: () -> Bool) async throws(IOError) {
        guard await budget.waitForRoom(until: deadline) else {
            throw IOError(.limitReached, operation: "max_connections of cluster \(cluster.policy.name) (\(budget.limit) on this loop)")
        }
        if clientLeft() {
            budget.wakeOne()
            throw IOError(.closed, operation: "the client left while its request waited for a connection")
        }
    }

    /// The idle connection unused for longest, of any endpoint, closed (its room goes back);
    /// false when none is idle.
    @discardableResult
    private func closeLongestIdle() -> Bool {
        var oldest: (endpoint: Int, since: UInt64)?
        for index in idle.indices {
            if let first = idle[index].first, oldest.map({ first.idleSince < $0.since }) ?? true { oldest = (index, first.idleSince) }
        }
        guard let oldest else { return false }
        idle[oldest.endpoint].removeFirst().stream.close()
        return true
    }

    /// Puts a connection whose last exchange ended cleanly back in the pool.
    ///
    /// Up to `max_idle_per_endpoint` idle connections stay until the idle timeout. Beyond that a
    /// returned connection is kept too, and the excess is closed oldest first once it has been
    /// idle for `excessIdleGraceNanoseconds` (never more than `excessIdleFactor` times the limit,
    /// or the limit + 16 for small limits): closing it at once, as nginx's `keepalive` does, makes
    /// a load whose concurrency exceeds the limit close and reopen connections all the time
    /// (measured: h2load with 256 streams in flight against a limit of 64 left 27,000 sockets in
    /// TIME_WAIT after 8 s and cost ~40% of the throughput).
    func release(_ connection: UpstreamConnection) {
        guard !connection.stream.isClosed else { return }
        let endpoint = connection.endpointIndex
        let limit = cluster.policy.maxIdlePerEndpoint
        if connection.peerHasHungUp || idle[endpoint].count >= max(limit * Self.excessIdleFactor, limit + 16) || budget.isOverLimit {
            connection.stream.close()
            return
        }
        let now = loop.now
        connection.idleSince = now
        idle[endpoint].append(connection)
        budget.wakeOne()
        if !idleSweep.isScheduled {
            loop.schedule(idleSweep, at: Deadline(nanoseconds: now &+ cluster.policy.idleTimeout.nanosecondsClamped &+ Self.sweepSlackNanoseconds))
        }
        // The longest idle sit at the bottom (acquire takes from the top): close those of the
        // excess that nobody needed for a while.
        while idle[endpoint].count > limit, let oldest = idle[endpoint].first, now &- oldest.idleSince > Self.excessIdleGraceNanoseconds {
            idle[endpoint].removeFirst().stream.close()
        }
    }

    /// The sweep runs this long after the first connection's idle timeout ends, so that one pass
    /// closes those that expire together.
    static let sweepSlackNanoseconds: UInt64 = 100_000_000

    /// The idle sweep: closes the connections idle past the timeout (or hung up by the
    /// upstream), and re-arms for the oldest one left.
    private func closeExpiredIdle() {
        let limit = cluster.policy.idleTimeout.nanosecondsClamped
        let now = loop.now
        var next = UInt64.max
        for index in idle.indices {
            idle[index].removeAll { connection in
                let expired = connection.peerHasHungUp || now &- connection.idleSince > limit
                if expired { connection.stream.close() }
                return expired
            }
            if let oldest = idle[index].first { next = min(next, oldest.idleSince &+ limit) }
        }
        if next != .max { loop.schedule(idleSweep, at: Deadline(nanoseconds: next &+ Self.sweepSlackNanoseconds)) }
    }

    /// How long an idle connection beyond `max_idle_per_endpoint` may wait for reuse.
    static let excessIdleGraceNanoseconds: UInt64 = 1_000_000_000
    /// At most this many times `max_idle_per_endpoint` idle connections per endpoint (or the
    /// limit + 16, whichever is more).
    static let excessIdleFactor = 4

    /// Closes every idle connection (on reload or shutdown); HTTP/2 connections with streams in
    /// flight close once those have ended.
    func closeIdle() {
        if idleSweep.isScheduled { loop.cancel(idleSweep) }
        for index in idle.indices {
            idle[index].forEach { $0.stream.close() }
            idle[index].removeAll()
            multiplexed[index].forEach { $0.retire() }
            multiplexed[index].removeAll()
        }
    }

    /// A new stream to `endpoint` (HTTP/2 clusters): on a connection with room for it, or on a
    /// new connection when every one is full. Connections idle past the idle timeout are closed.
    /// Requests that find no room while a connection to the endpoint is being dialled wait for
    /// that one instead of dialling their own: a burst of streams shares one new connection.
    ///
    /// A new connection needs room in the loop's share of `max_connections`, as in `acquire`: an
    /// idle connection to another endpoint is closed to make it, else the request waits (until
    /// `deadline`) for a connection to close or a stream to end.
    func openStream(endpoint: Int, deadline: Deadline, clientLeft: () -> Bool = { false },
                    open: (HTTP2UpstreamConnection) -> HTTP2UpstreamStream?) async throws(IOError) -> HTTP2UpstreamStream {
        let idleLimit = cluster.policy.idleTimeout.nanosecondsClamped
        while true {
            let now = loop.now
            multiplexed[endpoint].removeAll { connection in
                let expired = connection.isIdle && now &- connection.idleSince > idleLimit
                if expired { connection.close() }
                return connection.closed
            }
            for connection in multiplexed[endpoint] where connection.canOpenStream {
                if let stream = open(connection) { return stream }
            }
            if dialsInFlight[endpoint] != nil {
                // The dial's outcome is this request's too: a refused connect is not tried again
                // by every request that queued behind it.
                let outcome = await suspendOnLoop { waiter in
                    if dialsInFlight[endpoint] != nil { dialsInFlight[endpoint]?.append(waiter) } else { waiter.resume(returning: .success(())) }
                }
                if case .failure(let error) = outcome { throw error }
                continue
            }
            if budget.isFull { closeLongestIdleMultiplexed() }
            if let slot = budget.take() {
                dialsInFlight[endpoint] = []
                do {
                    let stream = try await dial(endpoint: endpoint, slot: slot, deadline: deadline, open: open)
                    finishDial(endpoint, .success(()))
                    return stream
                } catch {
                    finishDial(endpoint, .failure(error))
                    throw error
                }
            }
            try await waitForRoom(until: deadline, clientLeft: clientLeft)
        }
    }

    /// The HTTP/2 connection with no stream that has been idle longest, of any endpoint, closed
    /// (its room goes back).
    @discardableResult
    private func closeLongestIdleMultiplexed() -> Bool {
        var oldest: HTTP2UpstreamConnection?
        for connections in multiplexed {
            for connection in connections where connection.isIdle && !connection.closed {
                if oldest.map({ connection.idleSince < $0.idleSince }) ?? true { oldest = connection }
            }
        }
        oldest?.close()
        return oldest != nil
    }

    private func finishDial(_ endpoint: Int, _ outcome: Result<Void, IOError>) {
        let waiters = dialsInFlight.removeValue(forKey: endpoint) ?? []
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    private func dial(endpoint: Int, slot: UpstreamConnectionBudget.Slot, deadline: Deadline,
                      open: (HTTP2UpstreamConnection) -> HTTP2UpstreamStream?) async throws(IOError) -> HTTP2UpstreamStream {
        let dialed = try await connector.connect(to: cluster, endpoint: endpoint, on: loop, deadline: deadline)
        if let tls = dialed.stream as? TLSConnection, tls.negotiatedALPN != "h2" {
            dialed.stream.close()
            throw IOError(.system(EPROTO), operation: "upstream ALPN: \(tls.negotiatedALPN ?? "none") instead of h2")
        }
        let connection: HTTP2UpstreamConnection
        do {
            connection = try HTTP2UpstreamConnection(stream: dialed.stream, endpointIndex: endpoint, loop: loop)
        } catch {
            dialed.stream.close()
            throw IOError(.system(EPROTO), operation: "h2 session: \(error.reason)")
        }
        connection.slot = slot
        connection.budget = budget
        connection.start()
        multiplexed[endpoint].append(connection)
        guard let stream = open(connection) else { throw IOError(.closed, operation: "h2 upstream") }
        return stream
    }
}
