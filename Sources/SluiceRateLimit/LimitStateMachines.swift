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

/// Two-bucket weighted sliding window: `previous` counts the last full bucket, `current` this
/// one; the estimate for the window ending now is previous × (1 − elapsed fraction) + current.
public struct WeightedWindowMachine: Sendable, Equatable {
    public let limit: Int
    public let windowMicros: Double
    public private(set) var bucket: Double = -1
    public private(set) var current = 0
    public private(set) var previous = 0

    public init(limit: Int, windowMicros: Double) {
        self.limit = limit
        self.windowMicros = windowMicros
    }

    public mutating func take(now: Double, cost: Int) -> LimitDecision {
        let index = (now / windowMicros).rounded(.down)
        if index == bucket + 1 {
            previous = current
            current = 0
        } else if index != bucket {
            previous = 0
            current = 0
        }
        bucket = index
        let elapsed = (now - index * windowMicros) / windowMicros
        let used = Double(previous) * (1 - elapsed) + Double(current)
        let nextBucket = (index + 1) * windowMicros - now
        guard used + Double(cost) <= Double(limit) else {
            var retry = nextBucket
            if current + cost <= limit && previous > 0 {
                // When the previous bucket's weight has shrunk enough.
                retry = ((1 - Double(limit - current - cost) / Double(previous)) - elapsed) * windowMicros
            }
            return LimitDecision(granted: 0, remaining: Int(Double(limit) - used), retryAfterMicros: retry, resetMicros: retry)
        }
        current += cost
        return LimitDecision(granted: cost, remaining: Int(Double(limit) - used) - cost, retryAfterMicros: 0, resetMicros: nextBucket)
    }

    public mutating func refund(_ tokens: Int) {
        current = max(0, current - tokens)
    }
}

/// Either machine, chosen by the rule's (local) algorithm.
public enum LocalLimitState: Sendable, Equatable {
    case bucket(TokenBucketMachine)
    case window(WeightedWindowMachine)

    public init(_ algorithm: LimitRule.Algorithm) {
        switch algorithm {
        case .tokenBucket(let emission, let burst): self = .bucket(TokenBucketMachine(emissionMicros: emission, burst: burst))
        case .slidingLog(let limit, let window), .weightedWindow(let limit, let window):
            self = .window(WeightedWindowMachine(limit: limit, windowMicros: window))
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

    public mutating func refund(_ tokens: Int) {
        switch self {
        case .bucket(var machine): machine.refund(tokens); self = .bucket(machine)
        case .window(var machine): machine.refund(tokens); self = .window(machine)
        }
    }

    /// True when the state is back to "nothing used" at `now`, so it can be forgotten.
    func isIdle(now: Double) -> Bool {
        switch self {
        case .bucket(let machine): return machine.tat <= now
        case .window(let machine): return (now / machine.windowMicros).rounded(.down) > machine.bucket + 1
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
    /// Keys whose top-up is in flight: only one at a time per key.
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

    public mutating func endRefill(_ key: String) { refilling.remove(key) }

    /// Returns tokens to a live lease (a later rule denied the request).
    public mutating func refund(_ key: String, tokens: Int) {
        leases[key]?.tokens += tokens
    }

    public func tokens(for key: String) -> Int { leases[key]?.tokens ?? 0 }
}
