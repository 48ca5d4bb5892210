import SluiceBreaker
import SluiceBulkhead
import SluiceDegrade
import SluiceIO
import SluiceProxy
import SluiceRedis
import SluiceSharedRedis

/// What the admin endpoint and the alerts read of the running server, each value taken where it
/// lives: per-loop counters on their own loop, the rest through the modules' own accessors.
struct ServerView: Sendable {
    let contexts: [LoopContext]
    let store: ConfigurationStore
    let guards: GuardRegistry
    let status: ServerStatus

    /// One value read on every loop, each on its own thread, in loop order.
    func onEachLoop<Value: Sendable>(_ read: @escaping @Sendable (LoopContext) -> Value) async -> [Value] {
        var values: [Value] = []
        for context in contexts {
            values.append(await withCheckedContinuation { continuation in
                context.loop.execute { continuation.resume(returning: read(context)) }
            })
        }
        return values
    }

    /// Each loop's request counters, added up.
    func requestTotals() async -> [String: [String: RequestMetrics.Series]] {
        RequestMetrics.sum(await onEachLoop { $0.metrics.snapshot() })
    }

    /// Each loop's upstream counters, added up.
    func upstreamTotals() async -> [String: [String: RequestMetrics.UpstreamSeries]] {
        RequestMetrics.sum(await onEachLoop { $0.metrics.upstreamSnapshot() })
    }

    /// Each cluster's upstream connections open, and requests refused by its `max_connections`,
    /// added up over the loops.
    func upstreamConnections() async -> [String: (open: Int, refused: Int)] {
        var totals: [String: (open: Int, refused: Int)] = [:]
        for loop in await onEachLoop({ $0.upstreamConnections() }) {
            for (cluster, counts) in loop {
                let sum = totals[cluster] ?? (0, 0)
                totals[cluster] = (sum.open + counts.open, sum.refused + counts.refused)
            }
        }
        return totals
    }

    /// The shared Redis as the loops' clients see it, added up.
    struct RedisTotals {
        /// Loops whose client is up (one node: connected; a cluster: every slot has a primary
        /// and every primary's connection is up), of how many.
        var up = 0, total = 0
        /// Loops whose client is up and whose breakers let calls through (`isAnswering`).
        var answering = 0
        var calls = RedisCallCounts()
        /// Cluster only: slot maps learnt, MOVED and ASK redirects followed.
        var refreshes = 0, moved = 0, asked = 0
        var isCluster = false
        var replies: Int { calls.replies }
        var replyNanoseconds: UInt64 { calls.replyNanoseconds }
    }

    /// Each loop's client read on its own loop; nil when the policy has no Redis.
    func redisConnections() async -> RedisTotals? {
        guard let set = guards.state.state(SharedRedis.sectionName, "connections", as: RedisConnectionSet.self) else { return nil }
        var totals = RedisTotals(total: set.count, isCluster: !set.configuration.clusterSeeds.isEmpty)
        for index in 0..<set.count {
            let client = set[index]
            let (connected, answering, calls, cluster) = await withCheckedContinuation { continuation in
                client.loop.execute {
                    continuation.resume(returning: (client.isConnected, client.isAnswering, client.counts,
                                                    (client.clusterRefreshes, client.movedRedirects, client.askRedirects)))
                }
            }
            if connected { totals.up += 1 }
            if answering { totals.answering += 1 }
            totals.calls.add(calls)
            totals.refreshes += cluster.0
            totals.moved += cluster.1
            totals.asked += cluster.2
        }
        return totals
    }

    var breakers: [CircuitBreaker] { guards.module(BreakerModule.self)?.breakers ?? [] }
    var bulkheads: [Bulkhead] { guards.module(BulkheadModule.self)?.bulkheads ?? [] }
    var degrade: DegradeEngine? { guards.module(DegradeModule.self)?.engine }
}
