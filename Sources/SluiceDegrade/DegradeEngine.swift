import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import SluiceGuards
import SluiceIO
import SluiceRedis

/// The instance's pressure and its level on the ladder, shared by every route's degrade guards
/// and kept for the module's lifetime (a reload changes its settings, not its readings).
///
/// Signals, each cheap to measure:
/// - event-loop lag: every loop re-arms a timer each `sample_every` and records how late it
///   fired (the worst loop counts);
/// - in-flight requests of this instance (counted by the gate at the chain's start);
/// - core routes' latency: an exponentially weighted mean (weight 0.2 per request) per loop,
///   the worst loop counting; core requests still waiting for their answer count as if they
///   answered now (see `LoopSignals.coreLatency`), so a hung backend raises it at once;
/// - bulkhead queue occupancy, from the bulkhead module's gauges.
/// Loop 0's timer turns them into one reading (`PressureReading`) and steps the ladder.
public final class DegradeEngine: Sendable {
    final class LoopSignals: Sendable {
        let lagNanoseconds = Atomic<UInt64>(0)
        /// Bits of a Double: written by its loop only, read by the sampler.
        let coreLatencyBits = Atomic<UInt64>(0)
        /// When the last core answer was recorded (monotonic nanoseconds).
        let coreLatencyRecordedAt = Atomic<UInt64>(0)
        /// Core requests on this loop whose answer is awaited, and the sum of when they were sent
        /// (microseconds after `epoch`, so that a sum of many cannot overflow): their mean wait.
        let awaitingAnswers = Atomic<Int>(0)
        let awaitingSinceSum = Atomic<UInt64>(0)
        let epoch: UInt64

        init(epoch: UInt64) { self.epoch = epoch }

        func answerAwaited(since: UInt64) {
            awaitingAnswers.wrappingAdd(1, ordering: .relaxed)
            awaitingSinceSum.wrappingAdd(microsecondsAfterEpoch(since), ordering: .relaxed)
        }

        func answerWaitEnded(since: UInt64) {
            awaitingAnswers.wrappingAdd(-1, ordering: .relaxed)
            awaitingSinceSum.wrappingSubtract(microsecondsAfterEpoch(since), ordering: .relaxed)
        }

        private func microsecondsAfterEpoch(_ time: UInt64) -> UInt64 { (max(time, epoch) - epoch) / 1000 }

        /// The loop's core latency now, in nanoseconds: the moving mean of answers (faded when
        /// none came for a while), or, when higher, what the requests still waiting would add to
        /// it if they all answered now: their mean wait, weighted as that many answers would be
        /// (1 − 0.8ⁿ). Without them a hung backend looked healthy: no answer came, and the mean of
        /// the last ones faded while every payment waited. One straggler in a quiet hour counts
        /// a fifth, as one slow answer does.
        func coreLatency(now: UInt64) -> Double {
            let answered = DegradeEngine.faded(Double(bitPattern: coreLatencyBits.load(ordering: .relaxed)),
                                               since: coreLatencyRecordedAt.load(ordering: .relaxed), now: now)
            // Two loads, not one snapshot: a request starting or ending in between skews one
            // reading slightly, and the next reading is right again.
            let waiting = awaitingAnswers.load(ordering: .relaxed)
            guard waiting > 0 else { return answered }
            let meanSince = epoch + awaitingSinceSum.load(ordering: .relaxed) / UInt64(waiting) * 1000
            let meanWait = Double(now > meanSince ? now - meanSince : 0)
            return max(answered, meanWait * (1 - pow(0.8, Double(waiting))))
        }
    }

    /// A core-latency average with no new answer for this long starts to fade, halving every
    /// such period: it is only renewed when core requests end, and one slow payment in a quiet
    /// hour held the level at shed for as long as no other payment came.
    static let coreLatencyHalfLifeNanoseconds: UInt64 = 1_000_000_000

    private struct State {
        var policy = DegradePolicy()
        var ladder = DegradeLadder(thresholds: DegradePolicy().thresholds, hysteresis: 0.1, cooldownNanoseconds: 5_000_000_000)
        var lastReading = PressureReading()
    }

    private let loops: [EventLoop]
    private let gauges: PressureGauges?
    let signals: [LoopSignals]
    let inFlight = Atomic<Int>(0)
    private let levelValue = Atomic<Int>(0)
    private let changes = Atomic<Int>(0)
    private let state = Mutex(State())
    private let started = Atomic<Bool>(false)
    private let sampleNanoseconds = Atomic<UInt64>(100_000_000)
    /// Where the fleet-wide pin is read from (nil: no `fleet` in the policy).
    private let fleet = Mutex<FleetLink?>(nil)
    /// Loop 0's clock when the fleet pin is next read; a read in flight is not doubled.
    private let nextFleetPoll = Atomic<UInt64>(0)
    private let fleetPollInFlight = Atomic<Bool>(false)
    /// When the fleet pin this instance holds ends by its ttl (monotonic ns; 0: it has none).
    private let fleetPinExpiresAt = Atomic<UInt64>(0)

    struct FleetLink: Sendable {
        let redis: RedisConnectionSet
        let key: String
        let pollNanoseconds: UInt64
    }

    public init(loops: [EventLoop], gauges: PressureGauges?) {
        self.loops = loops
        self.gauges = gauges
        let epoch = Deadline.now.nanoseconds
        signals = loops.map { _ in LoopSignals(epoch: epoch) }
    }

    /// The effective level (pinned, or from the readings).
    public var level: DegradeLevel { DegradeLevel(rawValue: levelValue.load(ordering: .relaxed)) ?? .normal }
    /// Level changes since start (logged, one line each).
    public var levelChanges: Int { changes.load(ordering: .relaxed) }

    /// Takes a policy's settings (on activation). The ladder is rebuilt only when its settings
    /// change; a pinned level stays pinned.
    func configure(_ policy: DegradePolicy) {
        sampleNanoseconds.store(policy.sampleEvery.nanosecondsClamped, ordering: .relaxed)
        state.withLock { state in
            let ladderChanged = policy.thresholds != state.policy.thresholds || policy.hysteresis != state.policy.hysteresis
                || policy.cooldown != state.policy.cooldown
            state.policy = policy
            if ladderChanged {
                let pinned = state.ladder.pinned
                state.ladder = DegradeLadder(thresholds: policy.thresholds, hysteresis: policy.hysteresis,
                                             cooldownNanoseconds: policy.cooldown.nanosecondsClamped)
                _ = state.ladder.pin(pinned)
            }
        }
    }

    /// Starts each loop's timer (once).
    func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for (index, loop) in loops.enumerated() {
            loop.execute { [self] in
                var due = loop.deadline(afterNanoseconds: sampleNanoseconds.load(ordering: .relaxed))
                var node: TimerNode?
                node = TimerNode { [self] in
                    let now = loop.now
                    signals[index].lagNanoseconds.store(now > due.nanoseconds ? now - due.nanoseconds : 0, ordering: .relaxed)
                    if index == 0 {
                        _ = sample(now: now)
                        pollFleetPin(now: now)
                    }
                    due = loop.deadline(afterNanoseconds: sampleNanoseconds.load(ordering: .relaxed))
                    if let node { loop.schedule(node, at: due) }
                }
                if let node { loop.schedule(node, at: due) }
            }
        }
    }

    /// The reading now, and the ladder stepped by it; returns the level when it changed.
    @discardableResult
    func sample(now: UInt64) -> DegradeLevel? {
        let (changed, reading) = state.withLock { state -> (DegradeLevel?, PressureReading) in
            let reading = read(state.policy)
            state.lastReading = reading
            return (state.ladder.observe(reading.pressure, now: now), reading)
        }
        if let changed { publish(changed, because: reading.description) }
        return changed
    }

    /// The operator's manual control: holds `level` whatever the readings say (nil: back to them).
    public func pin(_ level: DegradeLevel?) {
        let changed = state.withLock { $0.ladder.pin(level) }
        if let changed { publish(changed, because: level.map { "pinned by the operator at \($0)" } ?? "unpinned by the operator") }
    }

    /// The level pinned for the whole fleet, as this instance last read it.
    public var fleetPinned: DegradeLevel? { state.withLock { $0.ladder.fleetPinned } }

    /// Where the fleet pin lives (on activation; nil: the policy has none, and a pin read
    /// before is dropped).
    func configureFleet(_ link: FleetLink?) {
        fleet.withLock { $0 = link }
        nextFleetPoll.store(0, ordering: .relaxed)
        if link == nil { applyFleetPin(nil) }
    }

    /// How a fleet pin went.
    public enum FleetPinOutcome: Equatable, Sendable {
        /// Written to Redis and applied here.
        case applied
        /// Redis did not answer in time: the write may still run when a stalled Redis catches
        /// up, so it is not reported as failed; it is retried until Redis answers (at most
        /// `fleetPinRetryFor`) and applied here then.
        case pending(String)
        /// Not written: Redis refused it (an error reply) or was not reached.
        case refused(String)
    }

    /// Retries of a pin whose write got no answer: the newest pin wins (an older one's retries stop).
    private let fleetPinGeneration = Atomic<Int>(0)
    public static let fleetPinRetryFor = Duration.seconds(60)

    /// Pins `level` (nil: unpins) for every instance sharing the Redis: written there (with an
    /// expiry when `ttl` is given), applied here once Redis confirms; the others read it within
    /// their poll interval.
    public func pinFleet(_ level: DegradeLevel?, ttl: Duration?) async -> FleetPinOutcome {
        guard let link = fleet.withLock({ $0 }) else { return .refused("degrade has no fleet section") }
        // Stamped now: a retry of this write never lands over a pin asked for later.
        let arguments = FleetPinScripts.writeArguments(level, ttl: ttl, tombstone: Self.fleetPinRetryFor * 2)
        let generation = fleetPinGeneration.wrappingAdd(1, ordering: .relaxed).newValue
        let loop = loops[0]
        let reply = await withCheckedContinuation { (done: CheckedContinuation<Result<RedisReply, RedisError>, Never>) in
            loop.execute {
                loop.spawn { done.resume(returning: await link.redis[0].evaluate(FleetPinScripts.write, keys: [link.key], arguments: arguments).reply()) }
            }
        }
        switch reply {
        case .success(.error(let message)):
            return .refused("redis: \(message)")
        case .success(.integer(0)):
            return .refused("a newer fleet pin is in Redis")
        case .success:
            applyFleetPin(level, expiresIn: ttl)
            return .applied
        case .failure(.timedOut):
            // Sent, and no answer: a stalled Redis may still run it.
            loop.execute { [self] in retryFleetPin(level, arguments, link: link, generation: generation) }
            return .pending(RedisError.timedOut.description)
        case .failure(let error):
            return .refused(error.description)
        }
    }

    /// Writes a pin again until Redis answers (backing off, at most `fleetPinRetryFor`), unless a
    /// newer pin was asked for meanwhile, here or (by its stamp, in Redis) on another instance.
    /// Loop 0.
    private func retryFleetPin(_ level: DegradeLevel?, _ arguments: [String], link: FleetLink, generation: Int) {
        let loop = loops[0]
        loop.spawn { [self] in
            let giveUp = loop.deadline(after: Self.fleetPinRetryFor)
            var pause = Duration.milliseconds(100)
            while Deadline.now < giveUp, fleetPinGeneration.load(ordering: .relaxed) == generation {
                await loop.sleep(until: min(Deadline.now.adding(pause), giveUp))
                pause = min(pause * 2, .seconds(5))
                guard fleetPinGeneration.load(ordering: .relaxed) == generation else { return }
                switch await link.redis[0].evaluate(FleetPinScripts.write, keys: [link.key], arguments: arguments).reply() {
                case .success(.error(let message)):
                    printError("sluice: fleet degrade pin \(level?.description ?? "lift") refused by Redis: \(message)")
                    return
                case .success(.integer(0)):
                    printStatus("sluice: fleet degrade pin \(level?.description ?? "lift") not written: a newer pin is in Redis")
                    return
                case .success:
                    applyFleetPin(level)
                    printStatus("sluice: fleet degrade pin \(level?.description ?? "lift") written (Redis answered late)")
                    return
                case .failure:
                    continue
                }
            }
            if fleetPinGeneration.load(ordering: .relaxed) == generation {
                printError("sluice: fleet degrade pin \(level?.description ?? "lift") not confirmed: Redis did not answer for "
                           + "\(Self.fleetPinRetryFor) (it applies if a stalled Redis runs the queued write)")
            }
        }
    }

    /// Reads the fleet pin every poll interval (loop 0). An unreadable Redis keeps the last pin
    /// read: an operator's shed order must not lapse because Redis blinked.
    private func pollFleetPin(now: UInt64) {
        guard let link = fleet.withLock({ $0 }), now >= nextFleetPoll.load(ordering: .relaxed),
              !fleetPollInFlight.exchange(true, ordering: .acquiringAndReleasing) else { return }
        nextFleetPoll.store(now + link.pollNanoseconds, ordering: .relaxed)
        loops[0].spawn { [self] in
            defer { fleetPollInFlight.store(false, ordering: .releasing) }
            switch await link.redis[0].evaluate(FleetPinScripts.read, keys: [link.key], arguments: []).reply() {
            case .success(let reply):
                guard let read = FleetPinScripts.readResult(reply) else { break }
                applyFleetPin(read.level, expiresIn: read.leftMs.map { Duration.milliseconds($0) })
            case .failure:
                // Redis away: the pin last read holds (an operator's order does not lapse because
                // Redis blinked), but not past its own ttl: a `shed` for 10 minutes went on
                // shedding for as long as the outage lasted.
                let expiresAt = fleetPinExpiresAt.load(ordering: .relaxed)
                if expiresAt != 0 && Deadline.now.nanoseconds >= expiresAt { applyFleetPin(nil) }
            }
        }
    }

    /// `expiresIn`: what is left of the pin's ttl (nil: none), after which this instance lifts it
    /// even if Redis cannot be read.
    private func applyFleetPin(_ level: DegradeLevel?, expiresIn: Duration? = nil) {
        fleetPinExpiresAt.store(level == nil ? 0 : expiresIn.map { Deadline.now.adding($0).nanoseconds } ?? 0, ordering: .relaxed)
        let changed = state.withLock { $0.ladder.pinFleet(level) }
        if let changed { publish(changed, because: level.map { "pinned fleet-wide at \($0)" } ?? "fleet-wide pin lifted") }
    }

    /// Each loop's last timer lateness in seconds, once the timers run (nil before).
    public var loopLagSeconds: [Double]? {
        guard started.load(ordering: .relaxed) else { return nil }
        return signals.map { Double($0.lagNanoseconds.load(ordering: .relaxed)) / 1e9 }
    }

    /// The last reading (for logs, metrics and tests).
    var lastReading: PressureReading { state.withLock { $0.lastReading } }

    func recordCoreLatency(_ nanoseconds: UInt64, loopIndex: Int) {
        guard loopIndex < signals.count else { return }
        let signals = signals[loopIndex]
        let now = Deadline.now.nanoseconds
        // The average as it has faded since the last answer, then moved a fifth of the way to
        // this one (from zero at first: one slow answer alone is not a trend).
        let previous = Self.faded(Double(bitPattern: signals.coreLatencyBits.load(ordering: .relaxed)),
                                  since: signals.coreLatencyRecordedAt.load(ordering: .relaxed), now: now)
        let next = previous * 0.8 + Double(nanoseconds) * 0.2
        signals.coreLatencyBits.store(next.bitPattern, ordering: .relaxed)
        signals.coreLatencyRecordedAt.store(now, ordering: .relaxed)
    }

    static func faded(_ value: Double, since recordedAt: UInt64, now: UInt64) -> Double {
        guard now > recordedAt &+ coreLatencyHalfLifeNanoseconds else { return value }
        let halfLives = Double(now - recordedAt - coreLatencyHalfLifeNanoseconds) / Double(coreLatencyHalfLifeNanoseconds)
        return value * pow(0.5, halfLives)
    }

    private func read(_ policy: DegradePolicy) -> PressureReading {
        var reading = PressureReading()
        if let limit = policy.loopLagLimit {
            let worst = signals.map { $0.lagNanoseconds.load(ordering: .relaxed) }.max() ?? 0
            reading.loopLag = Double(worst) / Double(max(limit.nanosecondsClamped, 1))
        }
        if let limit = policy.inFlightLimit {
            reading.inFlight = Double(max(inFlight.load(ordering: .relaxed), 0)) / Double(max(limit, 1))
        }
        if let limit = policy.coreLatencyLimit {
            let now = Deadline.now.nanoseconds
            let worst = signals.map { $0.coreLatency(now: now) }.max() ?? 0
            reading.coreLatency = worst / Double(max(limit.nanosecondsClamped, 1))
        }
        if policy.bulkheadQueues > 0, let gauges {
            reading.bulkheadQueues = gauges.highest(in: PressureGauges.bulkheadQueues) * policy.bulkheadQueues
        }
        return reading
    }

    private func publish(_ level: DegradeLevel, because reason: String) {
        levelValue.store(level.rawValue, ordering: .relaxed)
        changes.wrappingAdd(1, ordering: .relaxed)
        printError("sluice: degrade level \(level) (\(reason))")
    }
}
