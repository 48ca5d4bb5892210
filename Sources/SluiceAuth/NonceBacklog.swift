import SluiceIO
import SluiceRedis

/// Nonces this gateway accepted while Redis could not be asked (`on_redis_failure: local` or
/// `allow`), waiting to be written there. Without this, a request accepted by one gateway while
/// Redis was away could be replayed once through another gateway after Redis came back: the
/// nonce was only ever in the first one's memory.
///
/// One per event loop, confined to it. A ring of `capacity` entries (the oldest, the soonest to
/// expire, give way): recording costs O(1) on every request of an outage. Written with each
/// nonce's own `SET NX PX` once the connection is up, a second after the last one was added and
/// again after failures, for as long as the nonce lives; a nonce Redis already holds (`SET NX`
/// answers nil) is done as well.
final class NonceBacklog: @unchecked Sendable {
    private struct Entry {
        var command: [UInt8]
        var acceptedAt: Double
    }

    private var ring: [Entry?]
    private var next = 0
    private(set) var count = 0
    private var flushScheduled = false
    static let capacity = 10_000
    static let retryAfter = Duration.seconds(1)

    init(capacity: Int = NonceBacklog.capacity) {
        ring = Array(repeating: nil, count: max(1, capacity))
    }

    /// Keeps `command` (the nonce's SET) to write once Redis answers; loop thread.
    func record(_ command: [UInt8], acceptedAt: Double, ttl: Double, redis: RedisClient, clock: @escaping @Sendable () -> Double) {
        append(Entry(command: command, acceptedAt: acceptedAt))
        scheduleFlush(ttl: ttl, redis: redis, clock: clock)
    }

    private func append(_ entry: Entry) {
        if ring[next] == nil { count += 1 }
        ring[next] = entry
        next = (next + 1) % ring.count
    }

    /// Every entry, oldest first; the ring is left empty.
    private func takeAll() -> [Entry] {
        var taken: [Entry] = []
        taken.reserveCapacity(count)
        for offset in 0..<ring.count {
            let index = (next + offset) % ring.count
            if let entry = ring[index] { taken.append(entry) }
            ring[index] = nil
        }
        count = 0
        return taken
    }

    private func scheduleFlush(ttl: Double, redis: RedisClient, clock: @escaping @Sendable () -> Double) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let loop = redis.loop
        loop.spawn { [self] in
            await loop.sleep(until: .after(Self.retryAfter))
            flushScheduled = false
            // Not connected: nothing to try yet (each SET would fail at once); look again later.
            guard redis.isConnected else {
                if count > 0 { scheduleFlush(ttl: ttl, redis: redis, clock: clock) }
                return
            }
            let now = clock()
            let batch = takeAll().filter { $0.acceptedAt + ttl > now }
            let replies = batch.map { redis.send($0.command) }
            var failed = false
            for (entry, reply) in zip(batch, replies) {
                switch await reply.reply() {
                case .success(.status), .success(.null): continue
                default:
                    append(entry)
                    failed = true
                }
            }
            if failed || count > 0 { scheduleFlush(ttl: ttl, redis: redis, clock: clock) }
        }
    }
}
