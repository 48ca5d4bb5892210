import XCTest
import SluiceIO
import SluiceTestSupport

/// The timer heap is driven with explicit times: no sleeps, no clock.
final class TimerQueueTests: XCTestCase {
    private func node(_ log: Box, _ name: String) -> TimerNode {
        TimerNode { log.fired.append(name) }
    }

    final class Box { var fired: [String] = [] }

    func testExpiredTimersComeOutEarliestFirst() {
        let log = Box()
        var queue = TimerQueue()
        let a = node(log, "a"), b = node(log, "b"), c = node(log, "c")
        queue.schedule(c, at: 300)
        queue.schedule(a, at: 100)
        queue.schedule(b, at: 200)
        XCTAssertEqual(queue.nextDeadline, 100)
        XCTAssertTrue(queue.popExpired(now: 99).isEmpty)
        queue.popExpired(now: 250).forEach { $0.action() }
        XCTAssertEqual(log.fired, ["a", "b"])
        XCTAssertEqual(queue.count, 1)
        XCTAssertEqual(queue.nextDeadline, 300)
    }

    func testCancelledTimerNeverFires() {
        let log = Box()
        var queue = TimerQueue()
        let a = node(log, "a"), b = node(log, "b")
        queue.schedule(a, at: 10)
        queue.schedule(b, at: 20)
        queue.cancel(a)
        XCTAssertFalse(a.isScheduled)
        queue.popExpired(now: 1_000).forEach { $0.action() }
        XCTAssertEqual(log.fired, ["b"])
        queue.cancel(a)  // cancelling twice is harmless
        XCTAssertTrue(queue.isEmpty)
    }

    func testRearmingMovesTheTimerInsteadOfAddingOne() {
        let log = Box()
        var queue = TimerQueue()
        let a = node(log, "a"), b = node(log, "b")
        queue.schedule(a, at: 10)
        queue.schedule(b, at: 20)
        queue.schedule(a, at: 30)  // later
        XCTAssertEqual(queue.count, 2)
        XCTAssertEqual(queue.nextDeadline, 20)
        queue.schedule(a, at: 5)   // earlier again
        XCTAssertEqual(queue.nextDeadline, 5)
        queue.popExpired(now: 100).forEach { $0.action() }
        XCTAssertEqual(log.fired, ["a", "b"])
    }

    /// Many random operations against a simple sorted model: the heap's order must match.
    func testRandomOperationsMatchASortedModel() {
        var generator = SplitMix64(seed: 42)
        var queue = TimerQueue()
        var nodes: [TimerNode] = []
        var model: [ObjectIdentifier: UInt64] = [:]
        let log = Box()
        for i in 0..<200 { nodes.append(node(log, "\(i)")) }
        var now: UInt64 = 0
        for _ in 0..<5_000 {
            let target = nodes[Int(generator.next() % UInt64(nodes.count))]
            switch generator.next() % 3 {
            case 0, 1:
                let deadline = now + generator.next() % 1_000
                queue.schedule(target, at: deadline)
                model[ObjectIdentifier(target)] = deadline
            default:
                queue.cancel(target)
                model[ObjectIdentifier(target)] = nil
            }
            if generator.next() % 10 == 0 {
                now += generator.next() % 300
                let expired = queue.popExpired(now: now)
                let expected = model.filter { $0.value <= now }
                XCTAssertEqual(expired.count, expected.count)
                XCTAssertEqual(expired.map(\.deadline), expired.map(\.deadline).sorted())
                for node in expired {
                    XCTAssertEqual(model[ObjectIdentifier(node)], node.deadline)
                    model[ObjectIdentifier(node)] = nil
                }
            }
            XCTAssertEqual(queue.count, model.count)
            XCTAssertEqual(queue.nextDeadline, model.values.min())
        }
    }
}
