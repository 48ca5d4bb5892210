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

    /// Each loop's request counters, read on that loop, added up.
    func requestTotals() async -> [String: [String: RequestMetrics.Series]] {
        var snapshots: [[String: [String: RequestMetrics.Series]]] = []
        for context in contexts {
            snapshots.append(await withCheckedContinuation { continuation in
                context.loop.execute { continuation.resume(returning: context.metrics.snapshot()) }
            })
        }
        return RequestMetrics.sum(snapshots)
    }

    /// Connections to the shared Redis that are up, and how many there are (each read on its
    /// own loop); nil when the policy has no Redis.
    func redisConnections() async -> (up: Int, total: Int)? {
        guard let set = guards.state.state(SharedRedis.sectionName, "connections", as: RedisConnectionSet.self) else { return nil }
        var up = 0
        for index in 0..<set.count {
            let connection = set[index]
            let connected = await withCheckedContinuation { continuation in
                connection.loop.execute { continuation.resume(returning: connection.isConnected) }
            }
            if connected { up += 1 }
        }
        return (up, set.count)
    }

    var breakers: [CircuitBreaker] { guards.module(BreakerModule.self)?.breakers ?? [] }
    var bulkheads: [Bulkhead] { guards.module(BulkheadModule.self)?.bulkheads ?? [] }
    var degrade: DegradeEngine? { guards.module(DegradeModule.self)?.engine }
}
