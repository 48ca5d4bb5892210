@testable import SluiceBulkhead
import SluiceIO
import SluiceTestSupport
import XCTest

/// The shared adapter on a running loop: waiters are woken by releases and refused at their
/// queue timeout, and every permit comes back.
final class BulkheadTests: EventLoopTestCase {
    private func bulkhead(limit: Int, queue: Int, timeout: Duration) -> Bulkhead {
        var policy = BulkheadPolicy(name: "b", maxConcurrent: limit)
        policy.queue = queue
        policy.queueTimeout = timeout
        return Bulkhead(policy: policy)
    }

    func testAWaiterGetsTheReleasedPermitAndAnotherTimesOut() async throws {
        let bulkhead = bulkhead(limit: 1, queue: 2, timeout: .milliseconds(150))
        let outcomes: [Bulkhead.Outcome] = try await onLoop { loop in
            let first = await bulkhead.acquire(merchant: nil, on: loop)
            // Two waiters; the permit comes back after 50 ms and goes to the first of them.
            let releaser = loop.spawn {
                await loop.sleep(until: .after(.milliseconds(50)))
                bulkhead.release(merchant: nil)
            }
            // Started one after the other, so the queue order is known.
            let second = Task(executorPreference: loop) { await bulkhead.acquire(merchant: nil, on: loop) }
            await loop.sleep(until: .after(.milliseconds(5)))
            let third = Task(executorPreference: loop) { await bulkhead.acquire(merchant: nil, on: loop) }
            await loop.sleep(until: .after(.milliseconds(5)))
            let fourth = await bulkhead.acquire(merchant: nil, on: loop)  // the queue (2) is full
            let results = [first, await second.value, await third.value, fourth]
            await releaser.value
            return results
        }
        XCTAssertEqual(outcomes, [.granted, .granted, .timedOut, .full])
        XCTAssertEqual(bulkhead.occupancy.held, 1, "the second one holds the permit")
        XCTAssertEqual(bulkhead.occupancy.waiting, 0)
        XCTAssertEqual(bulkhead.timedOut, 1)
        XCTAssertEqual(bulkhead.refused, 1)
        bulkhead.release(merchant: nil)
        XCTAssertEqual(bulkhead.occupancy.held, 0)
    }

    func testABulkheadThatTakesOverCountsTheOldPermitsAndItsWaiters() async throws {
        // A reload changed the queue timeout: the new bulkhead must not admit a second limit's
        // worth while the old one's requests are still in flight.
        let old = bulkhead(limit: 2, queue: 4, timeout: .seconds(2))
        var policy = BulkheadPolicy(name: "b", maxConcurrent: 2)
        policy.queue = 4
        policy.queueTimeout = .milliseconds(300)
        let changed = policy
        let outcomes: [Bulkhead.Outcome] = try await onLoop { loop in
            let held = [await old.acquire(merchant: nil, on: loop), await old.acquire(merchant: nil, on: loop)]
            let waiter = Task(executorPreference: loop) { await old.acquire(merchant: nil, on: loop) }
            await loop.sleep(until: .after(.milliseconds(5)))
            let new = Bulkhead(policy: changed, replacing: old)
            new.takeOver()
            await loop.sleep(until: .after(.milliseconds(5)))  // the moved waiter queues again
            XCTAssertEqual(new.occupancy.held, 2, "the old requests' permits are counted")
            XCTAssertEqual(new.occupancy.waiting, 1, "the old waiter queues on the new bulkhead")
            XCTAssertEqual(old.occupancy.waiting, 0)
            // A permit the old request gives back goes to the new bulkhead, and its waiter.
            old.release(merchant: nil)
            let moved = await waiter.value
            XCTAssertEqual(new.occupancy.held, 2)
            let late = await new.acquire(merchant: nil, on: loop)  // still full: waits, then refused
            old.release(merchant: nil)
            new.release(merchant: nil)
            XCTAssertEqual(new.occupancy.held, 0)
            new.takeOver()  // once only
            XCTAssertEqual(new.occupancy.held, 0)
            return held + [moved, late]
        }
        XCTAssertEqual(outcomes, [.granted, .granted, .granted, .timedOut])
    }

    func testManyRequestsAcquireAndReleaseBackToEmpty() async throws {
        let bulkhead = bulkhead(limit: 4, queue: 100, timeout: .seconds(2))
        let granted: Int = try await onLoop { loop in
            await withTaskGroup(of: Bool.self) { group in
                for index in 0..<100 {
                    group.addTask {
                        guard await bulkhead.acquire(merchant: "m\(index % 3)", on: loop) == .granted else { return false }
                        await loop.sleep(until: .after(.milliseconds(2)))
                        bulkhead.release(merchant: "m\(index % 3)")
                        return true
                    }
                }
                var count = 0
                for await ok in group where ok { count += 1 }
                return count
            }
        }
        XCTAssertEqual(granted, 100)
        XCTAssertEqual(bulkhead.occupancy.held, 0)
        XCTAssertEqual(bulkhead.occupancy.waiting, 0)
    }
}
