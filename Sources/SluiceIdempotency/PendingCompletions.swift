import Synchronization

/// Completions this process decided that Redis may not have taken yet. A record's completion is
/// known here just before its answer goes out (`RecordCompletion.answerComplete`) and reaches
/// Redis a moment later; a client that reads the answer and retries at once (on another loop,
/// through its own Redis connection) can find the record still in flight. When the record's
/// owner is one of this process's requests, the retry waits here for Redis to take the
/// completion instead of getting a needless 409. (A retry that reaches another gateway in that
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
