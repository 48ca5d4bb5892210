internal import CSys

/// A point on the monotonic clock, in nanoseconds. Timeouts in Sluice are deadlines: a request's
/// overall deadline is fixed when it arrives, and each wait is bounded by the nearest one.
public struct Deadline: Sendable, Hashable, Comparable {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static var now: Deadline { Deadline(nanoseconds: sluice_monotonic_nanos()) }

    public static func after(_ duration: Duration) -> Deadline {
        now.adding(duration)
    }

    public static let distantFuture = Deadline(nanoseconds: UInt64.max)

    public func adding(_ duration: Duration) -> Deadline {
        adding(nanoseconds: duration.nanosecondsClamped)
    }

    /// Saturates at the distant future instead of wrapping.
    public func adding(nanoseconds delta: UInt64) -> Deadline {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(delta)
        return Deadline(nanoseconds: overflow ? .max : sum)
    }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// The earlier of two optional deadlines.
    public static func earliest(_ a: Deadline?, _ b: Deadline?) -> Deadline? {
        switch (a, b) {
        case (nil, nil): return nil
        case (let x?, nil), (nil, let x?): return x
        case (let x?, let y?): return min(x, y)
        }
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to 0...UInt64.max.
    public var nanosecondsClamped: UInt64 {
        // Every timeout a request sets goes through here (three per proxied request).
        // `components` split the 128-bit count of attoseconds into seconds and a rest (two
        // 128-bit divisions, ~200 instructions); one division does: in 64 bits up to 18 s.
        let total = attoseconds
        if total <= 0 { return 0 }
        if total <= Int128(UInt64.max) { return UInt64(total) / 1_000_000_000 }
        let nanoseconds = total / 1_000_000_000
        return nanoseconds > Int128(UInt64.max) ? .max : UInt64(nanoseconds)
    }

    /// Milliseconds as a Double, for logs.
    public var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
