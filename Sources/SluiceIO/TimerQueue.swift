/// One timer. Owners that wait often (a connection's read and write side) keep their node and
/// re-arm it, so arming a timer on the hot path allocates nothing.
public final class TimerNode {
    public internal(set) var deadline: UInt64 = 0
    /// Position in the heap, or -1 when not scheduled.
    var heapIndex: Int = -1
    /// Set once at creation; the queue calls it when the deadline passes.
    public let action: () -> Void

    public init(action: @escaping () -> Void) { self.action = action }

    public var isScheduled: Bool { heapIndex >= 0 }
}

/// A binary min-heap of timers ordered by deadline, with O(log n) re-arm and cancel. Pure data
/// structure: the time is passed in, so tests drive it with any clock they like.
public struct TimerQueue {
    /// The deadline is kept beside the node so that comparisons while sifting never touch (and
    /// retain) the node itself. Timers with equal deadlines fire in no particular order.
    private struct Entry {
        var deadline: UInt64
        let node: TimerNode
    }

    private var heap: [Entry] = []

    public init() {}

    public var count: Int { heap.count }
    public var isEmpty: Bool { heap.isEmpty }

    /// The earliest deadline, or nil when no timer is armed.
    public var nextDeadline: UInt64? { heap.first?.deadline }

    /// Arms `node` for `deadline`, moving it if it was already armed.
    public mutating func schedule(_ node: TimerNode, at deadline: UInt64) {
        if node.heapIndex >= 0 {
            let old = node.deadline
            node.deadline = deadline
            heap[node.heapIndex].deadline = deadline
            if deadline < old { siftUp(node.heapIndex) } else { siftDown(node.heapIndex) }
            return
        }
        node.deadline = deadline
        node.heapIndex = heap.count
        heap.append(Entry(deadline: deadline, node: node))
        siftUp(heap.count - 1)
    }

    /// Disarms `node`; does nothing when it is not armed.
    public mutating func cancel(_ node: TimerNode) {
        let index = node.heapIndex
        guard index >= 0 else { return }
        let last = heap.count - 1
        if index != last {
            swapAt(index, last)
        }
        heap.removeLast()
        node.heapIndex = -1
        if index < heap.count {
            siftDown(index)
            siftUp(index)
        }
    }

    /// Removes and returns the timers whose deadline is at or before `now`, earliest first.
    /// The caller runs their actions (after this returns, so an action may re-arm its node).
    public mutating func popExpired(now: UInt64) -> [TimerNode] {
        var expired: [TimerNode] = []
        while let first = heap.first, first.deadline <= now {
            cancel(first.node)
            expired.append(first.node)
        }
        return expired
    }

    /// Pops the single earliest expired timer, if any (allocation-free variant of popExpired).
    public mutating func popFirstExpired(now: UInt64) -> TimerNode? {
        guard let first = heap.first, first.deadline <= now else { return nil }
        cancel(first.node)
        return first.node
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        heap[a].deadline < heap[b].deadline
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        heap[a].node.heapIndex = a
        heap[b].node.heapIndex = b
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { return }
            swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let count = heap.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { return }
            var smallest = left
            let right = left + 1
            if right < count && less(right, left) { smallest = right }
            guard less(smallest, parent) else { return }
            swapAt(smallest, parent)
            parent = smallest
        }
    }
}
