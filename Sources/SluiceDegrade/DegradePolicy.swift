/// The instance's degradation settings (`degrade:`, one file) and each non-core route's
/// behaviour under pressure (route `degrade:`).
public struct DegradePolicy: Sendable, Equatable {
    /// What reads as pressure 1.0 for each signal (nil: the signal is not used).
    public var loopLagLimit: Duration? = .milliseconds(50)
    public var inFlightLimit: Int? = nil
    public var coreLatencyLimit: Duration? = nil
    /// What a full bulkhead queue reads as (0: bulkheads are not read). Below the shed level
    /// (e.g. 0.9), a full queue moves non-core routes to their fallback, not to shedding: the
    /// bulkhead already contains them.
    public var bulkheadQueues = 1.0
    /// The pressure at which each level starts.
    public var throttleAt = 0.7
    public var fallbackAt = 0.85
    public var shedAt = 1.0
    /// A level is left, one at a time, once the pressure stayed below its start minus
    /// `hysteresis` for this long.
    public var cooldown: Duration = .seconds(5)
    public var hysteresis = 0.1
    public var sampleEvery: Duration = .milliseconds(100)
    /// Route name → its settings; non-core routes not listed get the defaults.
    public var routes: [String: RouteDegrade] = [:]
    /// A level pinned for the whole fleet through the shared Redis (nil: this instance only).
    public var fleet: FleetPinPolicy?

    public init() {}

    public var thresholds: [Double] { [throttleAt, fallbackAt, shedAt] }

    /// No signal read: the ladder stays at normal (a policy without `degrade`).
    static var disabled: DegradePolicy {
        var policy = DegradePolicy()
        policy.loopLagLimit = nil
        policy.bulkheadQueues = 0
        return policy
    }
}

/// Where the fleet-wide pin lives in Redis and how often each instance reads it.
public struct FleetPinPolicy: Sendable, Equatable {
    public var key = "sluice:degrade:pin"
    public var poll: Duration = .seconds(1)
}

/// How one non-core route degrades.
public struct RouteDegrade: Sendable, Equatable {
    /// At `throttle`, the share of requests still forwarded (the others get the fallback).
    public var throttleShare = 0.5
    /// Serve the most recent 2xx answer to the same GET (same merchant, same path and query),
    /// when no older than `maxStale`, at `throttle` (for the throttled share) and `fallback`.
    public var cachedFallback = false
    public var maxStale: Duration = .seconds(30)
    /// A fixed answer when there is no cached one.
    public var staticFallback: StaticFallback?

    public init() {}
}

public struct StaticFallback: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: String
}

/// The levels of the ladder, in order.
public enum DegradeLevel: Int, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case normal, throttle, fallback, shed

    public static func < (a: DegradeLevel, b: DegradeLevel) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .normal: return "normal"
        case .throttle: return "throttle"
        case .fallback: return "fallback"
        case .shed: return "shed"
        }
    }
}
