import Synchronization

/// State that outlives one policy generation: a rule's counters, a local limiter, a Redis
/// connection set, and later breakers, bulkhead pools and retry budgets. Entries are keyed by
/// module and name and carry the configuration they were made for: a new generation whose
/// configuration for that name is unchanged gets the same object; a changed one starts fresh.
///
/// Reloads go through a `GuardStateStage`: compiling reads the registry and records, in the
/// stage only, what the new generation keeps and what it makes. Nothing is visible to the
/// running generation until `commit`, so a rejected reload leaves the registry as it was.
public final class GuardStateRegistry: Sendable {
    struct Key: Hashable, Sendable {
        var module: String
        var name: String
    }

    struct Entry: Sendable {
        var configuration: any Hashable & Sendable
        var state: any AnyObject & Sendable
    }

    private let entries = Mutex<[Key: Entry]>([:])

    public init() {}

    /// A stage for compiling one policy generation against the current entries.
    public func stage() -> GuardStateStage {
        GuardStateStage(committed: entries.withLock { $0 })
    }

    /// Makes the staged generation's entries the registry's: what it kept or made stays, what
    /// it no longer names is dropped (its old holders keep it alive until they retire).
    public func commit(_ stage: GuardStateStage) {
        let staged = stage.staged
        entries.withLock { $0 = staged }
    }

    /// The committed state of a name, for readers outside the request path (tests, metrics).
    public func state<State: AnyObject & Sendable>(_ module: String, _ name: String, as _: State.Type) -> State? {
        entries.withLock { $0[Key(module: module, name: name)]?.state as? State }
    }
}

/// The registry as one compile sees it (confined to the thread that compiles).
public final class GuardStateStage: @unchecked Sendable {
    private let committed: [GuardStateRegistry.Key: GuardStateRegistry.Entry]
    fileprivate(set) var staged: [GuardStateRegistry.Key: GuardStateRegistry.Entry] = [:]

    init(committed: [GuardStateRegistry.Key: GuardStateRegistry.Entry]) {
        self.committed = committed
    }

    /// The state for `name`: the committed one when it was made for an equal configuration
    /// (and is of this type), otherwise a new one from `make`, kept only if the stage is committed.
    public func state<Configuration: Hashable & Sendable, State: AnyObject & Sendable>(
        _ module: String, _ name: String, configuration: Configuration, make: () -> State
    ) -> State {
        let key = GuardStateRegistry.Key(module: module, name: name)
        if let entry = staged[key], let state = entry.state as? State, (entry.configuration as? Configuration) == configuration {
            return state
        }
        if let entry = committed[key], let state = entry.state as? State, (entry.configuration as? Configuration) == configuration {
            staged[key] = entry
            return state
        }
        let state = make()
        staged[key] = GuardStateRegistry.Entry(configuration: configuration, state: state)
        return state
    }

    /// The running object under `name`, whatever its configuration: what a changed one may take
    /// over from.
    public func running<State: AnyObject & Sendable>(_ module: String, _ name: String, as _: State.Type) -> State? {
        committed[GuardStateRegistry.Key(module: module, name: name)]?.state as? State
    }

    /// True when `state` is the committed (running) object, not one this stage made: a module
    /// uses this to start only what is new.
    public func isRunning(_ module: String, _ name: String, _ state: some AnyObject) -> Bool {
        committed[GuardStateRegistry.Key(module: module, name: name)].map { $0.state === state } ?? false
    }
}
