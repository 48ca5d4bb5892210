/// A token bucket over a caller-supplied clock: `capacity` tokens, refilled evenly over
/// `window`. Used for the per-connection abuse limits; deterministic under a test clock.
struct AbuseBudget {
    private let capacity: Double
    private let refillPerSecond: Double
    private var tokens: Double
    private var last: Duration

    init(capacity: Int, window: Duration, now: Duration) {
        self.capacity = Double(max(capacity, 1))
        let seconds = window.seconds
        refillPerSecond = seconds > 0 ? self.capacity / seconds : .infinity
        tokens = self.capacity
        last = now
    }

    /// Takes `count` tokens (one by default); false when the budget has fewer.
    mutating func spend(_ count: Int = 1, now: Duration) -> Bool {
        if now > last {
            tokens = min(capacity, tokens + (now - last).seconds * refillPerSecond)
            last = now
        }
        guard tokens >= Double(count) else { return false }
        tokens -= Double(count)
        return true
    }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}
