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

    /// Connections to the shared Redis that are up, and how many there are (each read on its
    /// own loop); nil when the policy has no Redis.
    func redisConnections() async -> (up: Int, total: Int, replies: Int, replyNanoseconds: UInt64)? {
        guard let set = guards.state.state(SharedRedis.sectionName, "connections", as: RedisConnectionSet.self) else { return nil }
        var up = 0, replies = 0
        var replyNanoseconds: UInt64 = 0
        for index in 0..<set.count {
            let connection = set[index]
            let (connected, count, nanoseconds) = await withCheckedContinuation { continuation in
                connection.loop.execute {
                    continuation.resume(returning: (connection.isConnected, connection.repliesReceived, connection.replyNanosecondsTotal))
                }
            }
            if connected { up += 1 }
            replies += count
            replyNanoseconds &+= nanoseconds
        }
        return (up, set.count, replies, replyNanoseconds)
    }

    var breakers: [CircuitBreaker] { guards.module(BreakerModule.self)?.breakers ?? [] }
    var bulkheads: [Bulkhead] { guards.module(BulkheadModule.self)?.bulkheads ?? [] }
    var degrade: DegradeEngine? { guards.module(DegradeModule.self)?.engine }
}
