/// The ladder: which level a pressure reading puts the instance in, with hysteresis so it does
/// not flap. Pure, deterministic under the clock the caller passes (nanoseconds).
///
/// - Up at once: a reading at or above a level's start moves to the highest level it reaches.
/// - Down one level at a time: once every reading for `cooldown` was below the current level's
///   start minus `hysteresis` (each step down waits a full cooldown again).
/// - A pinned level (operator's manual control) overrides the readings until unpinned; this
///   instance's own pin overrides a fleet-wide one (shared through Redis), which overrides the
///   readings.
struct DegradeLadder {
    let thresholds: [Double]  // throttle, fallback, shed
    let hysteresis: Double
    let cooldownNanoseconds: UInt64
    private(set) var computed = DegradeLevel.normal
    private(set) var pinned: DegradeLevel?
    private(set) var fleetPinned: DegradeLevel?
    /// Since when the readings have been low enough to step down (nil: not now).
    private var calmSince: UInt64?

    init(thresholds: [Double], hysteresis: Double, cooldownNanoseconds: UInt64) {
        self.thresholds = thresholds
        self.hysteresis = hysteresis
        self.cooldownNanoseconds = cooldownNanoseconds
    }

    var level: DegradeLevel { pinned ?? fleetPinned ?? computed }

    /// The level `pressure` alone reaches.
    func reached(by pressure: Double) -> DegradeLevel {
        var level = DegradeLevel.normal
        for (index, threshold) in thresholds.enumerated() where pressure >= threshold {
            level = DegradeLevel(rawValue: index + 1) ?? .shed
        }
        return level
    }

    /// Takes one reading; returns the effective level when it changed.
    mutating func observe(_ pressure: Double, now: UInt64) -> DegradeLevel? {
        let before = level
        let target = reached(by: pressure)
        if target > computed {
            computed = target
            calmSince = nil
        } else if computed > .normal, pressure < thresholds[computed.rawValue - 1] - hysteresis {
            if let since = calmSince {
                if now &- since >= cooldownNanoseconds {
                    computed = DegradeLevel(rawValue: computed.rawValue - 1) ?? .normal
                    calmSince = computed > .normal ? now : nil
                }
            } else {
                calmSince = now
            }
        } else {
            calmSince = nil
        }
        return level != before ? level : nil
    }

    /// Pins a level (nil: back to the readings); returns the effective level when it changed.
    mutating func pin(_ level: DegradeLevel?) -> DegradeLevel? {
        let before = self.level
        pinned = level
        return self.level != before ? self.level : nil
    }

    /// The fleet-wide pin as last read from Redis (nil: none); returns the effective level when
    /// it changed.
    mutating func pinFleet(_ level: DegradeLevel?) -> DegradeLevel? {
        let before = self.level
        fleetPinned = level
        return self.level != before ? self.level : nil
    }
}

/// The pressure of one reading: the highest of the signals, each already divided by what reads
/// as 1.0 for it (so 1.0 means "at the configured capacity" whichever signal says so).
struct PressureReading: Equatable {
    var loopLag = 0.0
    var inFlight = 0.0
    var coreLatency = 0.0
    var bulkheadQueues = 0.0

    var pressure: Double { max(loopLag, inFlight, coreLatency, bulkheadQueues) }

    var description: String {
        func f(_ value: Double) -> String { String(Double(Int(value * 100)) / 100) }
        return "pressure \(f(pressure)): loop_lag \(f(loopLag)), in_flight \(f(inFlight)), core_latency \(f(coreLatency)), "
            + "bulkhead_queues \(f(bulkheadQueues))"
    }
}
