@testable import SluiceRedis
import XCTest

/// The breaker state machine with an injected clock.
final class RedisBreakerTests: XCTestCase {
    func testOpensAfterConsecutiveFailuresAndProbesOnce() {
        var breaker = RedisBreaker(failureThreshold: 3, openNanos: 1_000)
        breaker.recordFailure(now: 0)
        breaker.recordSuccess()
        breaker.recordFailure(now: 1)
        breaker.recordFailure(now: 2)
        XCTAssertTrue(breaker.allowCall(now: 3), "two consecutive failures are not three")
        breaker.recordFailure(now: 3)
        XCTAssertEqual(breaker.state, .open(until: 1_003))
        XCTAssertFalse(breaker.allowCall(now: 1_002))
        XCTAssertTrue(breaker.allowCall(now: 1_003), "half-open: one probe")
        XCTAssertFalse(breaker.allowCall(now: 1_004), "only one probe at a time")
        breaker.recordFailure(now: 1_005)
        XCTAssertEqual(breaker.state, .open(until: 2_005))
        XCTAssertTrue(breaker.allowCall(now: 2_005))
        breaker.recordSuccess()
        XCTAssertEqual(breaker.state, .closed(consecutiveFailures: 0))
    }

    func testRESPFormatting() {
        XCTAssertEqual(String(decoding: RESPWriter.command(["SET", "k", "10"]), as: UTF8.self),
                       "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n10\r\n")
        XCTAssertEqual(RedisScript("return 1").sha1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }
}
