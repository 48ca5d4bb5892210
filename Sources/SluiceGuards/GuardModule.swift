import SluicePolicy

/// One kind of guard (degrade, auth, idempotency, ratelimit, bulkhead, breaker) as the server's
/// registry holds it: adding a guard is one module that conforms to this, and one registry line.
///
/// A policy becomes guards in two phases, so that a policy that is rejected late (by another
/// module, by the proxy's own checks, by a listener change that needs a restart) has touched
/// nothing:
/// 1. `compile` turns the policy into this module's guards for one generation: no sockets,
///    threads, timers or writes to shared state. State that must outlive the generation is
///    looked up through the `GuardStateStage`, which only records what the new generation
///    would keep or start fresh.
/// 2. `GuardGeneration.activate` starts what the guards need (connections, timers), and only
///    after the whole policy, every module's part included, has been accepted.
/// A generation is retired when nothing references it any more: the configuration that held
/// it was replaced and its last in-flight request ended. Resources it alone held close then
/// (their `deinit`), while resources the next generation kept through the stage live on.
public protocol GuardModule: Sendable {
    /// The guard's name in the chain order (`ratelimit`, `auth`, ...): logs and metrics use it.
    var name: String { get }
    /// The module's part of the policy format (its top-level sections and route keys); nil for
    /// a guard configured by nothing but the routes it is on.
    var policySection: (any GuardPolicySection)? { get }
    func compile(_ policy: PolicySnapshot, state: GuardStateStage) throws(GuardCompileError) -> any GuardGeneration
}

/// One module's guards for one policy generation.
public protocol GuardGeneration: AnyObject, Sendable {
    /// The guards this module puts in front of `route` (usually zero or one), in the order they run.
    func guards(forRoute route: String) -> [any RequestGuard]
    /// Guards that run before every module's regular guards (the chain's very start): cheap
    /// checks that must not wait for auth, such as a per-client-address limit against a flood of
    /// forged signatures. Empty for most modules.
    func earlyGuards(forRoute route: String) -> [any RequestGuard]
    /// Starts what the guards need. Called once, on the control thread, after the policy is accepted.
    func activate()
}

extension GuardGeneration {
    public func earlyGuards(forRoute route: String) -> [any RequestGuard] { [] }
}

/// A policy the module cannot turn into guards. Reported like a policy syntax error:
/// `file:line:column: message` when the module knows where, the message alone otherwise.
public struct GuardCompileError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var position: SourcePosition?

    public init(_ message: String, at position: SourcePosition? = nil) {
        self.message = message
        self.position = position
    }

    public var description: String {
        position.map { "\($0): \(message)" } ?? message
    }
}
