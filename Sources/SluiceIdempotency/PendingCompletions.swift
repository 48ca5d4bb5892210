import Synchronization

/// Completions this process decided that Redis may not have taken yet. A request's record is
/// completed just after its answer went out; a client that reads the answer and retries at once
/// (on another loop, through its own Redis connection) can find the record still in flight. When
/// the record's owner is one of this process's requests that has ended, the retry is answered
/// from here instead of with a needless 409. (A retry that reaches another gateway in that
/// instant still gets the 409, or waits with `in_flight_wait`.)
final class PendingCompletions: Sendable {
    private let pending = Mutex<[String: Completion]>([:])

    func add(_ completion: Completion, owner: String) {
        pending.withLock { $0[owner] = completion }
    }

    func remove(owner: String) {
        pending.withLock { _ = $0.removeValue(forKey: owner) }
    }

    func completion(owner: String) -> Completion? {
        pending.withLock { $0[owner] }
    }
}
