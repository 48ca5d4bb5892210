import Synchronization
import SluiceGuards
import SluiceResilience
import SluiceIO

/// One breaker shared by every loop: its machine under a lock, its counters, and one log line
/// per transition.
public final class CircuitBreaker: Sendable {
    public let policy: BreakerPolicy
    private let machine: Mutex<BreakerMachine>
    private let clock: @Sendable () -> UInt64
    private let transitions = Atomic<Int>(0)
    private let refusals = Atomic<Int>(0)

    public init(policy: BreakerPolicy, clock: @escaping @Sendable () -> UInt64 = { Deadline.now.nanoseconds }) {
        self.policy = policy
        machine = Mutex(BreakerMachine(policy: policy.settings))
        self.clock = clock
    }

    /// Takes over `previous`'s state and counters, under this breaker's settings (see
    /// `BreakerMachine.continued`): called when a reload with changed settings activates.
    func continueFrom(_ previous: CircuitBreaker) {
        let carried = previous.machine.withLock { $0.continued(under: policy.settings) }
        machine.withLock { $0 = carried }
        transitions.store(previous.transitionCount, ordering: .relaxed)
        refusals.store(previous.refusedCount, ordering: .relaxed)
    }

    /// The epoch a call is admitted in (`.admitted`), or the nanoseconds until calls may go
    /// upstream again (`.refused`).
    enum Admission { case admitted(epoch: UInt64), refused(retryAfterNanoseconds: UInt64) }

    func admit() -> Admission {
        let (allowed, retryAfter, transition, epoch) = machine.withLock { $0.allow(now: clock()) }
        log(transition)
        guard !allowed else { return .admitted(epoch: epoch) }
        refusals.wrappingAdd(1, ordering: .relaxed)
        return .refused(retryAfterNanoseconds: retryAfter)
    }

    /// A call's result, counted only in the epoch it was admitted in.
    func record(_ result: BreakerMachine.Result, epoch: UInt64) {
        log(machine.withLock { $0.record(result, epoch: epoch, now: clock()) })
    }

    /// The operator's manual control: `.open` refuses every call, `.closed` lets every call
    /// through whatever the results; nil gives the breaker back to its machine (closed, empty).
    public func force(_ state: ForcedState?) {
        log(machine.withLock { $0.force(state.map { $0 == .open ? .open : .closed }) })
    }

    public enum ForcedState: Sendable { case open, closed }

    /// `closed`, `open`, `half_open`, `forced_open` or `forced_closed`.
    public var state: String { machine.withLock { [clock] in $0.stateName(at: clock()) } }
    public var transitionCount: Int { transitions.load(ordering: .relaxed) }
    public var refusedCount: Int { refusals.load(ordering: .relaxed) }

    private func log(_ transition: BreakerMachine.Transition?) {
        guard let transition else { return }
        transitions.wrappingAdd(1, ordering: .relaxed)
        printError("sluice: breaker \(policy.name) \(transition.from) -> \(transition.to) (\(transition.reason))")
    }
}
