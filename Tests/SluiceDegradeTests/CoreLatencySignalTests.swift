@testable import SluiceDegrade
import XCTest

/// The core-latency signal fades when no core answer renews it: one slow payment in a quiet hour
/// held the level at shed for as long as no other payment came (70 s in the report).
final class CoreLatencySignalTests: XCTestCase {
    private let second: UInt64 = 1_000_000_000

    func testAnAverageNotRenewedFadesByHalfEverySecondAfterTheFirst() {
        let recorded: UInt64 = 100 * second
        XCTAssertEqual(DegradeEngine.faded(4.0, since: recorded, now: recorded), 4.0)
        XCTAssertEqual(DegradeEngine.faded(4.0, since: recorded, now: recorded + second), 4.0, "fresh for a second")
        XCTAssertEqual(DegradeEngine.faded(4.0, since: recorded, now: recorded + 2 * second), 2.0, accuracy: 1e-9)
        XCTAssertEqual(DegradeEngine.faded(4.0, since: recorded, now: recorded + 4 * second), 0.5, accuracy: 1e-9)
        XCTAssertLessThan(DegradeEngine.faded(4.0, since: recorded, now: recorded + 40 * second), 1e-9)
    }
}
