import SluiceIO
import XCTest

/// `Duration.nanosecondsClamped`, which every request's timeouts go through: whole nanoseconds,
/// truncated, clamped to 0...UInt64.max, on both sides of its 64-bit fast path (18.4 s).
final class DurationNanosecondsTests: XCTestCase {
    func testWholeNanosecondsOnBothSidesOfTheFastPath() {
        XCTAssertEqual(Duration.zero.nanosecondsClamped, 0)
        XCTAssertEqual(Duration.nanoseconds(1).nanosecondsClamped, 1)
        XCTAssertEqual(Duration.milliseconds(300).nanosecondsClamped, 300_000_000)
        XCTAssertEqual(Duration.seconds(18).nanosecondsClamped, 18_000_000_000, "under 2^64 attoseconds")
        XCTAssertEqual(Duration.seconds(19).nanosecondsClamped, 19_000_000_000, "over 2^64 attoseconds")
        XCTAssertEqual(Duration.seconds(86_400 * 365).nanosecondsClamped, 31_536_000_000_000_000)
        XCTAssertEqual((Duration.seconds(30) + .nanoseconds(7)).nanosecondsClamped, 30_000_000_007)
    }

    func testFractionsOfANanosecondAreCutAndTheEndsClamp() {
        XCTAssertEqual(Duration(secondsComponent: 0, attosecondsComponent: 999_999_999).nanosecondsClamped, 0)
        XCTAssertEqual(Duration(secondsComponent: 20, attosecondsComponent: 1_999_999_999).nanosecondsClamped, 20_000_000_001)
        XCTAssertEqual(Duration.seconds(-5).nanosecondsClamped, 0)
        XCTAssertEqual(Duration.nanoseconds(-1).nanosecondsClamped, 0)
        XCTAssertEqual(Duration.seconds(Int64.max).nanosecondsClamped, .max)
        XCTAssertEqual(Duration.seconds(18_446_744_073).nanosecondsClamped, 18_446_744_073_000_000_000, "the last whole second that fits")
        XCTAssertEqual(Duration.seconds(18_446_744_074).nanosecondsClamped, .max)
    }
}
