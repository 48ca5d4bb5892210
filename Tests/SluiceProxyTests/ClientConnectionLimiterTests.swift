@testable import SluiceProxy
import XCTest

/// Per-client connection limits: open connections capped, new ones rate-limited, per address.
final class ClientConnectionLimiterTests: XCTestCase {
    func testOpenConnectionsAreCappedPerClient() {
        let limiter = ClientConnectionLimiter(maxOpen: 2, perSecond: 0)
        XCTAssertTrue(limiter.admit("198.51.100.1", now: 0))
        XCTAssertTrue(limiter.admit("198.51.100.1", now: 0))
        XCTAssertFalse(limiter.admit("198.51.100.1", now: 0))
        XCTAssertTrue(limiter.admit("198.51.100.2", now: 0), "other clients are not affected")
        limiter.release("198.51.100.1")
        XCTAssertTrue(limiter.admit("198.51.100.1", now: 0))
        XCTAssertEqual(limiter.refused, 1)
    }

    func testNewConnectionsAreRateLimitedPerClient() {
        let limiter = ClientConnectionLimiter(maxOpen: 0, perSecond: 3)
        let second: UInt64 = 1_000_000_000
        XCTAssertEqual((0..<5).map { _ in limiter.admit("a", now: 10 * second) }, [true, true, true, false, false])
        XCTAssertTrue(limiter.admit("b", now: 10 * second))
        XCTAssertFalse(limiter.admit("a", now: 10 * second + second / 10), "a tenth of a second is not a token yet")
        XCTAssertTrue(limiter.admit("a", now: 10 * second + second / 2), "half a second later: one more")
    }
}
