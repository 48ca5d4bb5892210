import Synchronization

/// The current configuration, shared by all loops. Loops check the generation (one atomic load)
/// per request and take the lock only when it changed.
public final class ConfigurationStore: Sendable {
    private let current: Mutex<ProxyConfiguration>
    private let generationCounter: Atomic<Int>

    public init(_ initial: ProxyConfiguration) {
        current = Mutex(initial)
        generationCounter = Atomic(initial.generation)
    }

    public var generation: Int { generationCounter.load(ordering: .acquiring) }

    public var configuration: ProxyConfiguration { current.withLock { $0 } }

    public func replace(with configuration: ProxyConfiguration) {
        current.withLock { $0 = configuration }
        generationCounter.store(configuration.generation, ordering: .releasing)
    }
}
