import XCTest
import SluiceIO
import SluiceTestSupport

/// `yieldToOtherWork`: a task that never has to wait (a connection that is always readable)
/// lets the loop's other jobs run before it goes on.
final class YieldTests: EventLoopTestCase {
    final class Order: @unchecked Sendable {
        var steps: [String] = []
    }

    func testAYieldingTaskLetsTheOthersRunBetweenItsSteps() async throws {
        let steps = try await onLoop { loop -> [String] in
            let order = Order()
            loop.spawn {
                for _ in 0..<3 {
                    order.steps.append("busy")
                    await loop.yieldToOtherWork()
                }
            }
            loop.spawn { order.steps.append("other") }
            while order.steps.count < 4 { await loop.sleep(until: .after(.milliseconds(1))) }
            return order.steps
        }
        XCTAssertEqual(steps, ["busy", "other", "busy", "busy"])
    }
}
