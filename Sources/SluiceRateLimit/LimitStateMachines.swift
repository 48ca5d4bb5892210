/// The limit algorithms as pure state machines over an injected clock (microseconds). The Lua
/// scripts in `LimitScripts` do the same arithmetic inside Redis; these serve the `local`
/// failure mode and the unit tests.

/// GCRA token bucket: the state is the theoretical arrival time (TAT) of the next token. A
/// bucket holding `burst` tokens has TAT ≤ now; each token taken moves TAT on by one emission
/// interval; a request fits when TAT + cost·T − burst·T ≤ now.
public struct TokenBucketMachine: Sendable, Equatable {
    public let emissionMicros: Double
    public let burst: Int
    public private(set) var tat: Double = 0

    public init(emissionMicros: Double, burst: Int) {
        self.emissionMicros = emissionMicros
        self.burst = burst
    }

    /// Takes `cost` tokens, or up to `want` (≥ cost) when that many are there (leases).
    public mutating func take(now: Double, cost: Int, want: Int? = nil) -> LimitDecision {
        let current = max(tat, now)
        let tau = Double(burst) * emissionMicros
        let available = Int(((now + tau - current) / emissionMicros).rounded(.down))
        guard available >= cost else {
            return LimitDecision(granted: 0, remaining: available,
                                 retryAfterMicros: current + Double(cost) * emissionMicros - tau - now,
                                 resetMicros: current - now)
        }
        let taken = min(max(want ?? cost, cost), available)
        tat = current + Double(taken) * emissionMicros
        return LimitDecision(granted: taken, remaining: available - taken, retryAfterMicros: 0, resetMicros: tat - now)
    }

    /// Gives tokens back (a later rule denied the request).
    public mutating func refund(_ tokens: Int) {
        tat -= Double(tokens) * emissionMicros
    }
}

/// Sliding window in sub-window buckets: the window W is cut into N = `LimitRule.subWindowBuckets`
/// buckets of width ≥ W/N, and a check counts the current bucket and the N before it: admitted
/// when that sum plus the cost fits the limit. The Lua script `LimitScripts.subWindow` is the
/// same arithmetic in Redis.
///
/// The bound, over-admission: no window (t − W, t] ever holds more than `limit`. Take the last
/// admission in it, at s in bucket k: the buckets counted at s start at (k − N)·width ≤ s − W
/// (N·width ≥ W), so every admission in (t − W, s] was counted at s, and s was admitted only
/// because they and it fitted the limit. Refunds go back to the bucket their admission was
/// counted in (or an older one), so no count ever drops below the admissions it stands for.
///
/// The price, under-admission: the counted span is up to W + width long. A client that keeps
/// asking (denied at least once in every bucket) gets at least `limit` − cost + 1 in every N + 1
/// consecutive buckets, N/(N+1) of the limit per window in the long run; after a burst that took
/// the whole limit at once, nothing more for up to W + width.
public struct SubWindowMachine: Sendable, Equatable {
    public let limit: Int
    public let windowMicros: Double
    public let bucketMicros: Double
    /// Admissions in buckets `newest` − N ... `newest`; bucket i is at slot i mod (N + 1).
    private var counts = [Int](repeating: 0, count: LimitRule.subWindowBuckets + 1)
    /// The newest bucket index counted (`.min`: none yet).
    public private(set) var newest = Int.min

    public init(limit: Int, windowMicros: Double) {
        self.limit = limit
        self.windowMicros = windowMicros
        self.bucketMicros = LimitRule.subWindowBucketMicros(window: windowMicros)
    }

    public mutating func take(now: Double, cost: Int) -> LimitDecision {
        advance(to: bucket(at: now))
        let used = counts.reduce(0, +)
        guard used + cost <= limit else {
            let retry = untilFreed(used + cost - limit, now: now)
            return LimitDecision(granted: 0, remaining: limit - used, retryAfterMicros: retry, resetMicros: retry)
        }
        counts[slot(newest)] += cost
        // Reset: when this admission (and so every one) has left the span.
        return LimitDecision(granted: cost, remaining: limit - used - cost, retryAfterMicros: 0,
                             resetMicros: Double(newest + LimitRule.subWindowBuckets + 1) * bucketMicros - now)
    }

    /// Gives `tokens` back to the bucket of the admission taken at `takenAt`, if it is still
    /// counted (a later rule denied the request).
    public mutating func refund(_ tokens: Int, takenAt: Double) {
        let index = bucket(at: takenAt)
        guard index <= newest, index >= newest - LimitRule.subWindowBuckets else { return }
        counts[slot(index)] = max(0, counts[slot(index)] - tokens)
    }

    /// True when no admission is counted any more at `now`.
    func isIdle(now: Double) -> Bool { bucket(at: now) > newest + LimitRule.subWindowBuckets }

    private func bucket(at time: Double) -> Int { Int((time / bucketMicros).rounded(.down)) }

    private func slot(_ index: Int) -> Int {
        let buckets = LimitRule.subWindowBuckets + 1
        return (index % buckets + buckets) % buckets
    }

    /// Moves the span on to end at bucket `index`, zeroing the buckets that left it. A clock
    /// that went back counts in the newest bucket (never forgets early).
    private mutating func advance(to index: Int) {
        guard index > newest else { return }
        if index > newest + LimitRule.subWindowBuckets {
            for i in counts.indices { counts[i] = 0 }
        } else {
            for gone in (newest + 1)...index { counts[slot(gone)] = 0 }
        }
        newest = index
    }

    /// Microseconds from `now` until the oldest counted buckets holding at least `amount` have
    /// left the span (or all of them, if they hold less): a denial's retry time.
    private func untilFreed(_ amount: Int, now: Double) -> Double {
        var freed = 0
        for left in 1...(LimitRule.subWindowBuckets + 1) {
            freed += counts[slot(newest - LimitRule.subWindowBuckets + left - 1)]
            if freed >= amount { return Double(newest + left) * bucketMicros - now }
        }
        return Double(newest + LimitRule.subWindowBuckets + 1) * bucketMicros - now
    }
}

/// Either machine, chosen by the rule's (local) algorithm.
public enum LocalLimitState: Sendable, Equatable {
    case bucket(TokenBucketMachine)
    case window(SubWindowMachine)

    public init(_ algorithm: LimitRule.Algorithm) {
        switch algorithm {
        case .tokenBucket(let emission, let burst): self = .bucket(TokenBucketMachine(emissionMicros: emission, burst: burst))
        case .slidingLog(let limit, let window), .subWindow(let limit, let window):
            self = .window(SubWindowMachine(limit: limit, windowMicros: window))
        }
    }

    public mutating func take(now: Double, cost: Int) -> LimitDecision {
        switch self {
        case .bucket(var machine):
            let decision = machine.take(now: now, cost: cost)
            self = .bucket(machine)
            return decision
        case .window(var machine):
            let decision = machine.take(now: now, cost: cost)
            self = .window(machine)
            return decision
        }
    }

    /// Gives back tokens of an admission taken at `takenAt` (the window returns them to that
    /// time's bucket).
    public mutating func refund(_ tokens: Int, takenAt: Double) {
        switch self {
        case .bucket(var machine): machine.refund(tokens); self = .bucket(machine)
        case .window(var machine): machine.refund(tokens, takenAt: takenAt); self = .window(machine)
        }
    }

    /// True when the state is back to "nothing used" at `now`, so it can be forgotten.
    func isIdle(now: Double) -> Bool {
        switch self {
        case .bucket(let machine): return machine.tat <= now
        case .window(let machine): return machine.isIdle(now: now)
        }
    }
}

/// Tokens a gateway (one loop) took from Redis in a batch and hands out locally, per key.
///
/// Accuracy cost: tokens are counted as used in Redis when leased, not when served, so the
/// fleet never admits more than Redis granted — but a lease's tokens can be served up to its
/// lifetime after Redis counted them, so over any interval the fleet can admit up to
/// holders × lease tokens more than the bucket alone would (holders = instances × loops that
/// hold a lease on that key), and leased tokens not served before the lease expires are lost
/// (under-admission by at most the same amount). The lifetime is the time the lease's tokens
/// take to refill (tokens × emission interval), clamped to 10 ms ... 1 s. A lease is topped up
/// in the background once it falls to half (so concurrent requests do not all miss at once),
/// so a holder keeps at most 1.5 × lease tokens: the bound above uses that figure.
public struct LeaseBook: Sendable {
    struct Lease: Sendable {
        var tokens: Int
        var expiresAt: Double
    }

    private var leases: [String: Lease] = [:]
    /// Keys whose lease fetch or top-up is in flight: only one at a time per key.
    public private(set) var refilling: Set<String> = []
    public let maximumKeys: Int

    public init(maximumKeys: Int = 10_000) { self.maximumKeys = maximumKeys }

    /// Serves `cost` tokens from the key's lease; nil when the lease is missing, spent or expired.
    public mutating func take(_ key: String, cost: Int, now: Double) -> Int? {
        guard var lease = leases[key], lease.expiresAt > now, lease.tokens >= cost else { return nil }
        lease.tokens -= cost
        leases[key] = lease
        return lease.tokens
    }

    /// Adds `tokens` (already counted in Redis) to the key's lease, which then lives
    /// `lifetimeMicros` from now; an expired lease's leftovers are dropped first.
    public mutating func store(_ key: String, tokens: Int, now: Double, lifetimeMicros: Double) {
        if leases.count >= maximumKeys && leases[key] == nil {
            leases = leases.filter { $0.value.expiresAt > now }
            if leases.count >= maximumKeys { leases.removeAll(keepingCapacity: true) }
        }
        let left = leases[key].map { $0.expiresAt > now ? $0.tokens : 0 } ?? 0
        leases[key] = Lease(tokens: left + tokens, expiresAt: now + min(max(lifetimeMicros, 10_000), 1_000_000))
    }

    /// Whether to start a top-up now: the live lease is down to half of `size` or less and no
    /// top-up for the key is in flight. Marks the top-up as started.
    public mutating func startRefill(_ key: String, size: Int, now: Double) -> Bool {
        guard let lease = leases[key], lease.expiresAt > now, lease.tokens * 2 <= size, !refilling.contains(key) else {
            return false
        }
        refilling.insert(key)
        return true
    }

    /// Whether a miss on `key` may ask Redis for a whole lease: none is being fetched or topped
    /// up for it. Marks the fetch as started (`endRefill` when its answer is in).
    public mutating func startFetch(_ key: String) -> Bool {
        refilling.insert(key).inserted
    }

    public mutating func endRefill(_ key: String) { refilling.remove(key) }

    /// Returns tokens to a live lease (a later rule denied the request).
    public mutating func refund(_ key: String, tokens: Int) {
        leases[key]?.tokens += tokens
    }

    public func tokens(for key: String) -> Int { leases[key]?.tokens ?? 0 }
}
