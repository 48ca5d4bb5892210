import SluiceIO

/// One loop's share of a cluster's `max_connections`: the connections it holds open (in use,
/// idle, or being dialled) and the requests waiting for room. Without it nothing bounded them:
/// 2,000 HTTP/2 streams from clients that never opened their flow-control window held 1,250
/// connections to one backend, overflowed its accept queue and tripped the payments breaker.
///
/// A connection holds a `Slot` for its whole life, and the slot goes back when the connection
/// object goes away, however its exchange ended: no exit path can keep one. Loop-confined.
final class UpstreamConnectionBudget {
    /// Connections this loop may hold open to the cluster.
    var limit: Int
    private(set) var open = 0
    /// Requests that found no room before their connect deadline.
    private(set) var refused = 0
    private let loop: EventLoop
    /// Oldest first: each is resumed with true when room may have come, false at its deadline.
    private var waiters: [(id: UInt64, resume: (Bool) -> Void)] = []
    private var nextWaiterID: UInt64 = 0

    init(limit: Int, loop: EventLoop) {
        self.limit = limit
        self.loop = loop
    }

    /// Held by one connection; gives its room back when the connection is gone.
    final class Slot {
        private weak var budget: UpstreamConnectionBudget?

        fileprivate init(_ budget: UpstreamConnectionBudget) { self.budget = budget }

        deinit { budget?.slotEnded() }
    }

    var isFull: Bool { open >= limit }
    var waiting: Int { waiters.count }

    /// Room for one more connection, taken, when there is some now.
    func take() -> Slot? {
        guard open < limit else { return nil }
        open += 1
        return Slot(self)
    }

    /// Waits until room may have come (a connection ended, or one went back idle: the caller
    /// looks again) or `deadline` passes (false, counted as refused).
    func waitForRoom(until deadline: Deadline) async -> Bool {
        nextWaiterID &+= 1
        let id = nextWaiterID
        var timer: TimerNode?
        let woken = await suspendOnLoop { (continuation: UnsafeContinuation<Bool, Never>) in
            waiters.append((id, { continuation.resume(returning: $0) }))
            // (Holds the budget: a waiter must be resumed, whatever became of the pool.)
            let node = TimerNode { [self] in
                guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
                waiters.remove(at: index).resume(false)
            }
            loop.schedule(node, at: deadline)
            timer = node
        }
        if let timer { loop.cancel(timer) }
        if !woken { refused += 1 }
        return woken
    }

    /// Something a waiter can use came: the longest waiting looks again.
    func wakeOne() {
        guard !waiters.isEmpty else { return }
        waiters.removeFirst().resume(true)
    }

    /// The limit changed: every waiter looks again (a raised limit has room for many).
    func wakeAll() {
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume(true) }
    }

    /// More connections open than the limit allows (it was lowered by a reload): the excess
    /// goes as connections come back instead of being kept idle.
    var isOverLimit: Bool { open > limit }

    private func slotEnded() {
        open -= 1
        wakeOne()
    }
}
