@testable import SluiceProxy
import SluiceIO
import SluiceTestSupport
import XCTest

/// One loop's share of a cluster's `max_connections` on a running loop: room is taken and given
/// back with the connection's slot, waiters are woken in order or refused at their deadline.
final class UpstreamConnectionBudgetTests: EventLoopTestCase {
    func testRoomComesBackWhenTheSlotGoes() async throws {
        let counts: [Int] = try await onLoop { loop in
            let budget = UpstreamConnectionBudget(limit: 2, loop: loop)
            var first = budget.take()
            let second = budget.take()
            let third = budget.take()
            let full = [budget.open, third == nil ? 1 : 0]
            first = nil  // the connection is gone: its room with it
            let afterFirst = budget.open
            withExtendedLifetime((first, second)) {}
            return full + [afterFirst, budget.take() == nil ? 0 : 1]
        }
        XCTAssertEqual(counts, [2, 1, 1, 1], "two taken, a third refused; one back, taken again")
    }

    func testAWaiterIsWokenByAFreedSlotAndAnotherIsRefusedAtItsDeadline() async throws {
        let results: [Bool] = try await onLoop { loop in
            nonisolated(unsafe) let budget = UpstreamConnectionBudget(limit: 1, loop: loop)  // (loop-confined: these tasks run on its loop)
            var held = budget.take()
            let waiter = Task(executorPreference: loop) { await budget.waitForRoom(until: loop.deadline(after: .seconds(2))) }
            let late = Task(executorPreference: loop) { await budget.waitForRoom(until: loop.deadline(after: .milliseconds(50))) }
            await loop.sleep(until: .after(.milliseconds(5)))
            XCTAssertEqual(budget.waiting, 2)
            await loop.sleep(until: .after(.milliseconds(100)))  // the late one's deadline passes
            held = nil
            withExtendedLifetime(held) {}
            return [await waiter.value, await late.value]
        }
        XCTAssertEqual(results, [true, false])
    }

    func testARaisedLimitWakesEveryWaiter() async throws {
        let woken: Int = try await onLoop { loop in
            nonisolated(unsafe) let budget = UpstreamConnectionBudget(limit: 1, loop: loop)  // (loop-confined: these tasks run on its loop)
            let held = budget.take()
            let waiters = (0..<3).map { _ in
                Task(executorPreference: loop) { await budget.waitForRoom(until: loop.deadline(after: .seconds(2))) }
            }
            await loop.sleep(until: .after(.milliseconds(5)))
            budget.limit = 4
            budget.wakeAll()
            var count = 0
            for waiter in waiters where await waiter.value { count += 1 }
            withExtendedLifetime(held) {}
            XCTAssertEqual(budget.waiting, 0)
            XCTAssertFalse(budget.isOverLimit)
            budget.limit = 0
            XCTAssertTrue(budget.isOverLimit, "lowered under what is open")
            return count
        }
        XCTAssertEqual(woken, 3)
    }
}
