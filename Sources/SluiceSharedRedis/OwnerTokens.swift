import Synchronization

/// Unique owners for claims in the shared Redis (an idempotency record, a nonce): this
/// process's random prefix and a counter. A claim's value is its owner, so a release deletes it
/// only while it is still that claim.
public final class OwnerTokens: Sendable {
    private let prefix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    private let counter = Atomic<UInt64>(0)

    public init() {}

    public func next() -> String {
        prefix + ":" + String(counter.wrappingAdd(1, ordering: .relaxed).oldValue, radix: 36)
    }
}
