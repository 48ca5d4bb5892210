import Synchronization

/// The nonces this process has seen, each until its expiry: the first line of replay
/// protection (a replay through the same gateway never costs a Redis call) and the whole of it
/// under the `local` failure mode. Bounded: at `capacity` the oldest entries go first (TTLs are
/// equal, so that is also the soonest to expire); the Redis record still holds them.
/// Deterministic under the injected clock (seconds).
///
/// Keys are 64-bit digests of (merchant, nonce) (`NonceCache.key`): cheap to hash and store. Two
/// nonces sharing a digest would make the second look replayed; at 200,000 remembered nonces the
/// chance of any such pair is about 1 in 10^9, and only requests with valid signatures get here.
struct NonceBook: Sendable {
    private struct Entry {
        var expiry: Double
        /// Its slot in `ring`: a key claimed again after expiring sits in the ring twice, and
        /// only the slot it holds now may evict it.
        var slot: Int
    }

    private var entries: [UInt64: Entry]
    /// Keys in the order they were claimed, oldest overwritten first. Fixed size, and the table
    /// is reserved up front: no rehash or shift ever stalls the loop that holds the lock.
    private var ring: [UInt64?]
    private var next = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        entries = Dictionary(minimumCapacity: self.capacity)
        ring = Array(repeating: nil, count: self.capacity)
    }

    var count: Int { entries.count }

    /// True if `key` is new (and now remembered until `now + ttl`); false if it is a replay.
    mutating func claim(_ key: UInt64, now: Double, ttl: Double) -> Bool {
        if let entry = entries[key], entry.expiry > now { return false }
        if let oldest = ring[next], entries[oldest]?.slot == next { entries.removeValue(forKey: oldest) }
        ring[next] = key
        entries[key] = Entry(expiry: now + ttl, slot: next)
        next = (next + 1) % capacity
        return true
    }

    /// Forgets a claim (the request it belonged to failed a later check before using it).
    mutating func release(_ key: UInt64) {
        entries.removeValue(forKey: key)
    }
}

/// One `NonceBook` shared by the loops of this process.
final class NonceCache: Sendable {
    private let book: Mutex<NonceBook>

    init(capacity: Int = 200_000) { book = Mutex(NonceBook(capacity: capacity)) }

    func claim(_ key: UInt64, now: Double, ttl: Double) -> Bool {
        book.withLock { $0.claim(key, now: now, ttl: ttl) }
    }

    func release(_ key: UInt64) {
        book.withLock { $0.release(key) }
    }

    /// The 64-bit digest of (scope, nonce), with this process's random hash seed. Scopes are
    /// UTF-8, which never holds 0xff: the separator keeps ("ab", "c") and ("a", "bc") apart.
    static func key(scope: UnsafeBufferPointer<UInt8>, nonce: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(scope))
        hasher.combine(UInt8(0xff))
        hasher.combine(bytes: UnsafeRawBufferPointer(nonce))
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }

    static func key(scope: String, nonce: String) -> UInt64 {
        var (scope, nonce) = (scope, nonce)
        return scope.withUTF8 { scope in nonce.withUTF8 { key(scope: scope, nonce: $0) } }
    }
}
