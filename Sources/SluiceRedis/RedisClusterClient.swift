import SluiceIO

/// What a node's connection tells the cluster client that owns it (loop thread).
protocol RedisClusterRouting: AnyObject {
    /// The node answered MOVED or ASK: the call is to go elsewhere (it is not resolved yet).
    func redirect(_ call: RedisCall, _ redirect: RedisRedirect)
    /// The connection was lost or could not be made, or the node said CLUSTERDOWN: the slot map
    /// may be stale (a failover under way).
    func nodeTrouble(_ connection: RedisConnection)
}

/// One event loop's client of a Redis Cluster: the slot map it learnt, and one pipelined
/// `RedisConnection` per primary (each with its own deadline timer, reconnect and breaker, so a
/// dead primary fails only its own slots' calls, in each rule's failure mode).
///
/// Routing: the slot of the command's first key (`RedisCommandSlot`) → the primary the map names
/// → that primary's connection. MOVED corrects the map for that slot at once, sends the call on
/// and asks for a full refresh; ASK sends `ASKING` + the call to the target once. Refreshes come
/// one at a time, at most every `minimumRefreshInterval`, and keep coming every
/// `degradedRefreshInterval` while a primary is unreachable or a slot has no primary: that is
/// how a failover is noticed (the promoted replica appears in the next map). A call's deadline is
/// the one it got when first queued, whatever redirects it follows.
final class RedisClusterClient: RedisClusterRouting, @unchecked Sendable {  // loop-confined
    let loop: EventLoop
    let configuration: RedisClientConfiguration
    private let connector: RedisConnector

    private var map = RedisSlotMap()
    /// `connections[i]` talks to `map.primaries[i]`; rebuilt whenever the map gains a primary.
    private var connections: [RedisConnection] = []
    /// Every open connection by node, including an ASK target that is not (yet) a primary in the map.
    private var byNode: [RedisNodeAddress: RedisConnection] = [:]
    private var refreshing = false
    private var refreshAgain = false
    private var lastRefreshStart: UInt64 = 0
    private var refreshTimer: TimerNode!
    private var closed = false

    static let minimumRefreshInterval = Duration.milliseconds(100)
    static let degradedRefreshInterval = Duration.milliseconds(200)

    /// Counters (loop thread): slot maps learnt, and redirects followed.
    private(set) var refreshes = 0
    private(set) var movedRedirects = 0
    private(set) var askRedirects = 0
    /// What connections closed since (a failed-over primary, a node that left) had counted, so
    /// that the client's totals never go down.
    private(set) var retired = RedisCallCounts()

    init(loop: EventLoop, connector: RedisConnector) {
        self.loop = loop
        self.connector = connector
        configuration = connector.configuration
        refreshTimer = TimerNode { [unowned self] in self.refresh() }
    }

    /// Learns the slot map (loop thread); calls fail fast until it is known.
    func start() {
        refresh()
    }

    /// Closes every node's connection for good (loop thread).
    func close() {
        closed = true
        loop.cancel(refreshTimer)
        for connection in byNode.values { connection.close() }
        byNode.removeAll()
        connections.removeAll()
    }

    /// Sends the call to its slot's primary, or fails it at once when none is known (yet).
    func route(_ call: RedisCall) {
        guard let slot = RedisCommandSlot.of(call.command) else {
            // No key: any primary will do (the first one connected, else the first one).
            guard let connection = connections.first(where: \.isConnected) ?? connections.first else {
                call.complete(.failure(.unavailable("no cluster node known yet")))
                return
            }
            connection.enqueue(call)
            return
        }
        guard let owner = map.owner(ofSlot: slot) else {
            call.complete(.failure(.unavailable("no cluster node known for slot \(slot)")))
            refresh()
            return
        }
        connections[owner].enqueue(call)
    }

    /// Every primary's connection is up and every slot has a primary.
    var isHealthy: Bool {
        !connections.isEmpty && map.coveredSlots == RedisHashSlot.count && connections.allSatisfy(\.isConnected)
    }

    /// The connections to the current primaries (for counters).
    var primaryConnections: [RedisConnection] { connections }

    // MARK: - RedisClusterRouting

    func redirect(_ call: RedisCall, _ redirect: RedisRedirect) {
        guard !closed else {
            call.complete(.failure(.unavailable("closed")))
            return
        }
        switch redirect.kind {
        case .moved:
            movedRedirects += 1
            map.assign(redirect.slot...redirect.slot, to: redirect.target)
            syncConnections()
            call.asking = false
            route(call)
            refresh()  // one slot moved: probably more did (resharding, failover)
        case .ask:
            askRedirects += 1
            call.asking = true
            connection(to: redirect.target).enqueue(call)
        }
    }

    func nodeTrouble(_ connection: RedisConnection) {
        refresh()
    }

    // MARK: - Slot map

    /// Asks for a new slot map: now, or when the last refresh is `minimumRefreshInterval` old,
    /// or after the one in flight.
    private func refresh() {
        guard !closed else { return }
        if refreshing {
            refreshAgain = true
            return
        }
        // The monotonic clock itself, not the loop's (read before this tick's events were
        // dispatched): the timer fires once `earliest` has passed on the real clock, and a stale
        // reading here would re-arm it for a time already due, to fire again at once, forever.
        let now = Deadline.now.nanoseconds
        let earliest = lastRefreshStart == 0 ? 0 : lastRefreshStart + UInt64(Self.minimumRefreshInterval.nanosecondsClamped)
        if now < earliest {
            if !refreshTimer.isScheduled { loop.schedule(refreshTimer, at: Deadline(nanoseconds: earliest)) }
            return
        }
        refreshing = true
        refreshAgain = false
        lastRefreshStart = now
        // Known primaries first (the seeds may be gone by now), then the seeds.
        var candidates = connections.filter(\.isConnected).map(\.node)
        for node in map.primaries + configuration.clusterSeeds where !candidates.contains(node) { candidates.append(node) }
        loop.spawn { [self, candidates] in
            let result = await RedisClusterDiscovery.slotMap(from: candidates, connector: connector, loop: loop)
            refreshing = false
            guard !closed else { return }
            if case .success(let learnt) = result, learnt.coveredSlots > 0 {
                refreshes += 1
                apply(learnt)
            }
            if refreshAgain {
                refresh()
            } else if !isHealthy, !refreshTimer.isScheduled {
                loop.schedule(refreshTimer, at: .after(Self.degradedRefreshInterval))
            }
        }
    }

    /// Takes a new map: connections to new primaries start, those to nodes that serve no slot
    /// any more close (their calls in flight fail: the rules' failure modes decide them).
    private func apply(_ learnt: RedisSlotMap) {
        map = learnt
        for (node, connection) in byNode where !map.primaries.contains(node) {
            connection.close()
            retired.add(connection.counts)
            byNode[node] = nil
        }
        syncConnections()
    }

    private func syncConnections() {
        if connections.count == map.primaries.count,
           zip(connections, map.primaries).allSatisfy({ $0.node == $1 }) { return }
        connections = map.primaries.map(connection(to:))
    }

    /// The connection to `node`, made (and started) when there is none.
    private func connection(to node: RedisNodeAddress) -> RedisConnection {
        if let known = byNode[node] { return known }
        let connection = RedisConnection(loop: loop, connector: connector.forNode(node))
        connection.cluster = self
        byNode[node] = connection
        connection.start()
        return connection
    }
}
