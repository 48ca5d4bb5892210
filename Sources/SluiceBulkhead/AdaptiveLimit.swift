/// A bulkhead's limit that follows its backend (`adaptive:`): additive increase, multiplicative
/// decrease over windows of answers, like TCP's congestion window or Netflix's AIMD limiter.
///
/// At the end of each window (checked as answers come in):
/// - when its answers' 90th percentile time is over the target (a request that timed out
///   counts as over), the limit drops by a fifth, not below the minimum: fewer requests in
///   flight let a backend that is queueing catch up;
/// - else, when the limit was reached in the window (every permit held, or a request waited or
///   was refused), it grows by a tenth (at least 1), not above the maximum;
/// - else it stays: answers are fast and there is room, so nothing says a higher limit is safe.
///
/// A window with fewer than `minimumAnswers` answers changes nothing (too little to judge) and
/// is carried on. Pure: the clock is the caller's (`now`, monotonic nanoseconds).
struct AdaptiveLimit {
    let minimum: Int
    let maximum: Int
    let targetNanoseconds: UInt64
    let windowNanoseconds: UInt64
    static let minimumAnswers = 5
    /// Answer times kept per window: the percentile of the first this many (a bounded cost per
    /// answer however busy the bulkhead is).
    static let keptAnswers = 256

    private(set) var limit: Int
    private var windowStart: UInt64?
    private var answers: [UInt64] = []
    private var saturated = false

    init(minimum: Int, maximum: Int, targetNanoseconds: UInt64, windowNanoseconds: UInt64) {
        self.minimum = max(1, min(minimum, maximum))
        self.maximum = max(maximum, 1)
        self.targetNanoseconds = targetNanoseconds
        self.windowNanoseconds = max(windowNanoseconds, 1)
        limit = self.maximum
        answers.reserveCapacity(Self.keptAnswers)
    }

    /// Goes on from where a replaced bulkhead's limit stood (within this one's bounds); the
    /// limit now.
    mutating func resume(at previous: Int) -> Int {
        limit = min(maximum, max(minimum, previous))
        return limit
    }

    /// Every permit is held, or a request had to wait or was refused.
    mutating func noteSaturated() { saturated = true }

    /// One answer's time (`nil`: the request timed out without one). Returns the new limit when
    /// this answer closed a window that changed it.
    mutating func record(answerNanoseconds: UInt64?, now: UInt64) -> Int? {
        if windowStart == nil { windowStart = now }
        if answers.count < Self.keptAnswers { answers.append(answerNanoseconds ?? .max) }
        guard let start = windowStart, now &- start >= windowNanoseconds, answers.count >= Self.minimumAnswers else { return nil }
        let before = limit
        if percentile90() > targetNanoseconds {
            limit = max(minimum, limit - max(1, limit / 5))
        } else if saturated {
            limit = min(maximum, limit + max(1, limit / 10))
        }
        windowStart = now
        answers.removeAll(keepingCapacity: true)
        saturated = false
        return limit == before ? nil : limit
    }

    private func percentile90() -> UInt64 {
        let sorted = answers.sorted()
        // Nearest rank: the smallest answer at least 90% of the window's are at or under.
        return sorted[(sorted.count * 9 + 9) / 10 - 1]
    }
}
