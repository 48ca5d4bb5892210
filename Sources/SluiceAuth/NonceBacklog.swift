import SluiceIO
import SluiceRedis

/// Nonces this gateway accepted while Redis could not be asked (`on_redis_failure: local` or
/// `allow`), waiting to be written there. Without this, a request accepted by one gateway while
/// Redis was away could be replayed once through another gateway after Redis came back: the
/// nonce was only ever in the first one's memory.
///
/// One per event loop, confined to it. Bounded (the oldest go first); written with the nonce's
/// own `SET NX PX` a second after the last one was added, and again after failures, for as long
/// as the nonce lives. A nonce Redis already holds (`SET NX` answers nil) is done as well.
final class NonceBacklog: @unchecked Sendable {
    private var pending: [(command: [UInt8], acceptedAt: Double)] = []
    private var flushScheduled = false
    static let capacity = 10_000
    static let retryAfter = Duration.seconds(1)

    var count: Int { pending.count }

    /// Keeps `command` (the nonce's SET) to write once Redis answers; loop thread.
    func record(_ command: [UInt8], acceptedAt: Double, ttl: Double, redis: RedisClient, clock: @escaping @Sendable () -> Double) {
        if pending.count >= Self.capacity { pending.removeFirst(pending.count - Self.capacity + 1) }
        pending.append((command, acceptedAt))
        scheduleFlush(ttl: ttl, redis: redis, clock: clock)
    }

    private func scheduleFlush(ttl: Double, redis: RedisClient, clock: @escaping @Sendable () -> Double) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let loop = redis.loop
        loop.spawn { [self] in
            await loop.sleep(until: .after(Self.retryAfter))
            flushScheduled = false
            let now = clock()
            let batch = pending.filter { $0.acceptedAt + ttl > now }
            pending.removeAll(keepingCapacity: true)
            let replies = batch.map { redis.send($0.command) }
            var failed: [(command: [UInt8], acceptedAt: Double)] = []
            for (entry, reply) in zip(batch, replies) {
                switch await reply.reply() {
                case .success(.status), .success(.null): continue
                default: failed.append(entry)
                }
            }
            guard !failed.isEmpty else { return }
            pending = failed + pending
            if pending.count > Self.capacity { pending.removeFirst(pending.count - Self.capacity) }
            scheduleFlush(ttl: ttl, redis: redis, clock: clock)
        }
    }
}
