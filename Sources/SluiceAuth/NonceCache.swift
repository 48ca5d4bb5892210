import Synchronization

/// The nonces this process has seen, each until its expiry: the first line of replay
/// protection (a replay through the same gateway never costs a Redis call) and the whole of it
/// under the `local` failure mode. Bounded: at `capacity` the oldest entries go first (TTLs are
/// equal, so that is also the soonest to expire); the Redis record still holds them.
/// Deterministic under the injected clock (seconds).
struct NonceBook: Sendable {
    private var expiries: [String: Double] = [:]
    /// Keys in the order they were claimed, for eviction; may hold keys already gone.
    private var order: [String] = []
    private var orderStart = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    var count: Int { expiries.count }

    /// True if `key` is new (and now remembered until `now + ttl`); false if it is a replay.
    mutating func claim(_ key: String, now: Double, ttl: Double) -> Bool {
        if let expiry = expiries[key], expiry > now { return false }
        while expiries.count >= capacity, orderStart < order.count {
            expiries.removeValue(forKey: order[orderStart])
            orderStart += 1
        }
        expiries[key] = now + ttl
        order.append(key)
        if orderStart > 4096 && orderStart * 2 > order.count {
            order.removeFirst(orderStart)
            orderStart = 0
        }
        return true
    }

    /// Forgets a claim (the request it belonged to failed a later check before using it).
    mutating func release(_ key: String) {
        expiries.removeValue(forKey: key)
    }
}

/// One `NonceBook` shared by the loops of this process.
final class NonceCache: Sendable {
    private let book: Mutex<NonceBook>

    init(capacity: Int = 200_000) { book = Mutex(NonceBook(capacity: capacity)) }

    func claim(_ key: String, now: Double, ttl: Double) -> Bool {
        book.withLock { $0.claim(key, now: now, ttl: ttl) }
    }

    func release(_ key: String) {
        book.withLock { $0.release(key) }
    }
}
