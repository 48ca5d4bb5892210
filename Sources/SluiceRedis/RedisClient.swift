import SluiceIO

/// One event loop's client of the shared Redis, whichever its shape: one node (one pipelined
/// `RedisConnection`) or a Redis Cluster (`RedisClusterClient`: a connection per primary, calls
/// routed by their key's slot). Guards use only this API, so they work unchanged on both.
/// Loop-confined: use it on its loop only.
public final class RedisClient: @unchecked Sendable {
    public let loop: EventLoop
    public let configuration: RedisClientConfiguration

    private enum Backend {
        case single(RedisConnection)
        case cluster(RedisClusterClient)
    }
    private let backend: Backend

    public init(loop: EventLoop, configuration: RedisClientConfiguration) {
        self.loop = loop
        self.configuration = configuration
        let connector = RedisConnector(configuration: configuration)
        backend = configuration.clusterSeeds.isEmpty ? .single(RedisConnection(loop: loop, connector: connector))
                                                     : .cluster(RedisClusterClient(loop: loop, connector: connector))
    }

    /// Starts connecting (loop thread); in cluster mode, learning the slot map first.
    public func start() {
        switch backend {
        case .single(let connection): connection.start()
        case .cluster(let cluster): cluster.start()
        }
    }

    /// Closes for good (loop thread): pending calls fail, no reconnect.
    public func close() {
        switch backend {
        case .single(let connection): connection.close()
        case .cluster(let cluster): cluster.close()
        }
    }

    // MARK: - Calls

    /// Queues a command; the reply is awaited separately, so several calls can be pipelined.
    public func send(_ command: [UInt8]) -> RedisPendingReply {
        let call = RedisCall()
        call.command = command
        dispatch(call)
        return RedisPendingReply(call: call)
    }

    public func send(_ arguments: [String]) -> RedisPendingReply { send(RESPWriter.command(arguments)) }

    /// EVALSHA, falling back to EVAL once if the node has lost the script.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) -> RedisPendingReply {
        evaluate(script, evalsha: script.command(keys: keys, arguments: arguments))
    }

    /// EVALSHA formatted by the caller (`script.evalshaHead(...)`, then keys and arguments as
    /// bulk strings). Falls back to EVAL once if the node has lost the script. `timeout`: the
    /// time Redis has to answer, when not the configured deadline.
    public func evaluate(_ script: RedisScript, evalsha: [UInt8], timeout: Duration? = nil) -> RedisPendingReply {
        let call = RedisCall()
        call.script = script
        call.command = evalsha
        if let timeout { call.timeout = max(1, timeout.nanosecondsClamped) }
        dispatch(call)
        return RedisPendingReply(call: call)
    }

    public func execute(_ arguments: [String]) async -> Result<RedisReply, RedisError> {
        await send(arguments).reply()
    }

    private func dispatch(_ call: RedisCall) {
        switch backend {
        case .single(let connection): connection.enqueue(call)
        case .cluster(let cluster): cluster.route(call)
        }
    }

    // MARK: - State and counters (loop thread)

    /// Single node: connected. Cluster: the slot map covers every slot and every primary's
    /// connection is up.
    public var isConnected: Bool {
        switch backend {
        case .single(let connection): return connection.isConnected
        case .cluster(let cluster): return cluster.isHealthy
        }
    }

    /// Connected, and its breakers closed: a Redis that stopped answering (a stalled or frozen
    /// server keeps its TCP connections up) reads as not answering once its breaker opens, and
    /// until a probe closes it again. (A breaker half-open to probe read as answering: the
    /// `redis_unreachable` alert resolved every few seconds while Redis was still frozen.)
    public var isAnswering: Bool {
        guard isConnected else { return false }
        switch backend {
        case .single(let connection): return connection.breaker.isClosed
        case .cluster(let cluster): return cluster.primaryConnections.allSatisfy { $0.breaker.isClosed }
        }
    }

    /// Calls, replies and reply time, over every connection this client has had.
    public var counts: RedisCallCounts {
        switch backend {
        case .single(let connection):
            return connection.counts
        case .cluster(let cluster):
            var total = cluster.retired
            for connection in cluster.primaryConnections { total.add(connection.counts) }
            return total
        }
    }

    public var repliesReceived: Int { counts.replies }
    public var replyNanosecondsTotal: UInt64 { counts.replyNanoseconds }
    public var scriptReloads: Int { counts.scriptReloads }

    /// Cluster mode only (0 otherwise): slot maps learnt, MOVED and ASK redirects followed.
    public var clusterRefreshes: Int { if case .cluster(let cluster) = backend { cluster.refreshes } else { 0 } }
    public var movedRedirects: Int { if case .cluster(let cluster) = backend { cluster.movedRedirects } else { 0 } }
    public var askRedirects: Int { if case .cluster(let cluster) = backend { cluster.askRedirects } else { 0 } }
}
