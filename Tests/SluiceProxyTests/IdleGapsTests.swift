@testable import SluiceProxy
import XCTest

/// How long an idle session waits before parking: 100 ms with no history (a connection quiet
/// after its request), twice its recent gap between requests otherwise, never above 1 s.
final class IdleGapsTests: XCTestCase {
    private let ms: UInt64 = 1_000_000

    func testNoHistoryParksAfterTheShortestWait() {
        XCTAssertEqual(IdleGaps().parkAfter, 100 * ms)
    }

    func testARegularGapMakesItWaitTwiceAsLong() {
        var gaps = IdleGaps()
        gaps.record(200 * ms)
        XCTAssertEqual(gaps.parkAfter, 400 * ms, "a request every 200 ms: no parking in its gaps")
        for _ in 0..<10 { gaps.record(200 * ms) }
        XCTAssertEqual(gaps.parkAfter, 400 * ms)
    }

    func testShortGapsKeepTheShortestWaitAndLongOnesAreCapped() {
        var busy = IdleGaps()
        for _ in 0..<10 { busy.record(1 * ms) }
        XCTAssertEqual(busy.parkAfter, 100 * ms, "never below 100 ms")
        var quiet = IdleGaps()
        quiet.record(30_000 * ms)
        XCTAssertEqual(quiet.parkAfter, 1_000 * ms, "never above 1 s")
        // One long gap counts as 1 s, and the average forgets it: three quarters per new gap.
        for _ in 0..<12 { quiet.record(10 * ms) }
        XCTAssertEqual(quiet.parkAfter, 100 * ms)
    }

    func testTheAverageWeighsTheLatestGapAQuarter() {
        var gaps = IdleGaps()
        gaps.record(400 * ms)
        gaps.record(0)
        XCTAssertEqual(gaps.parkAfter, 600 * ms, "(3 x 400 + 0) / 4 = 300 ms, doubled")
    }
}
