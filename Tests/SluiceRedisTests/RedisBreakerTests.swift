@testable import SluiceRedis
import SluiceResilience
import XCTest

/// The Redis client's breaker: the shared breaker machine set for consecutive failures, with
/// an injected clock.
final class RedisBreakerTests: XCTestCase {
    func testOpensAfterConsecutiveFailuresAndProbesOnce() {
        var breaker = BreakerMachine(policy: .consecutiveFailures(3, openFor: .nanoseconds(1_000)))
        func record(_ result: BreakerMachine.Result, _ now: UInt64, epoch: UInt64? = nil) {
            _ = breaker.record(result, epoch: epoch ?? breaker.epoch, now: now)
        }
        record(.failure, 0)
        record(.success(slow: false), 0)
        record(.failure, 1)
        record(.failure, 2)
        XCTAssertTrue(breaker.allow(now: 3).allowed, "two consecutive failures are not three")
        record(.failure, 3)
        XCTAssertEqual(breaker.state, .open(until: 1_003))
        XCTAssertFalse(breaker.allow(now: 1_002).allowed)
        let probe = breaker.allow(now: 1_003)
        XCTAssertTrue(probe.allowed, "half-open: one probe")
        XCTAssertFalse(breaker.allow(now: 1_004).allowed, "only one probe at a time")
        record(.failure, 1_005, epoch: probe.epoch)
        XCTAssertEqual(breaker.state, .open(until: 2_005), "the open time stays the same for Redis")
        let second = breaker.allow(now: 2_005)
        XCTAssertTrue(second.allowed)
        record(.success(slow: false), 2_006, epoch: second.epoch)
        XCTAssertEqual(breaker.state, .closed)
    }

    /// One stall times out every call waiting at the time, many at once: with `failingFor`, only
    /// failures that have gone on that long without a success open it.
    func testABatchOfTimeoutsFromOneStallDoesNotOpenItButALastingOutageDoes() {
        var breaker = BreakerMachine(policy: .consecutiveFailures(5, failingFor: .nanoseconds(100), openFor: .nanoseconds(1_000)))
        func fail(_ now: UInt64) { _ = breaker.record(.failure, epoch: breaker.epoch, now: now) }
        for now in UInt64(10)..<UInt64(30) { fail(now) }
        XCTAssertEqual(breaker.state, .closed, "20 failures within 20 ns: one stall")
        _ = breaker.record(.success(slow: false), epoch: breaker.epoch, now: 40)
        for now in UInt64(50)..<UInt64(149) { fail(now) }
        XCTAssertEqual(breaker.state, .closed, "the success started the count of time again")
        fail(150)
        XCTAssertEqual(breaker.state, .open(until: 1_150), "failing for 100 ns and 5 in a row")
    }

    func testAFreshConnectionClosesItAndStaleRepliesDoNotCount() {
        var breaker = BreakerMachine(policy: .consecutiveFailures(2, openFor: .seconds(2)))
        let before = breaker.epoch
        _ = breaker.record(.failure, epoch: before, now: 0)
        _ = breaker.record(.failure, epoch: before, now: 0)
        XCTAssertFalse(breaker.isClosed)
        XCTAssertEqual(breaker.reset()?.to, "closed", "the reconnect's handshake answered")
        XCTAssertTrue(breaker.isClosed)
        XCTAssertNil(breaker.record(.failure, epoch: before, now: 2), "a call sent before the trip")
        XCTAssertNil(breaker.record(.failure, epoch: before, now: 2))
        XCTAssertEqual(breaker.state, .closed)
    }

    func testRESPFormatting() {
        XCTAssertEqual(String(decoding: RESPWriter.command(["SET", "k", "10"]), as: UTF8.self),
                       "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n10\r\n")
        XCTAssertEqual(RedisScript("return 1").sha1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }

    /// What the `redis_unreachable` alert reads: an open breaker whose open time is over (a
    /// probe may go) and a half-open one are not "answering"; only a closed one is.
    func testOnlyAClosedBreakerCountsAsAnswering() {
        var breaker = BreakerMachine(policy: .consecutiveFailures(1, openFor: .seconds(1)))
        XCTAssertTrue(breaker.isClosed)
        _ = breaker.record(.failure, epoch: breaker.epoch, now: 0)
        XCTAssertFalse(breaker.isClosed, "open")
        let probe = breaker.allow(now: 2_000_000_000)
        XCTAssertTrue(probe.allowed)
        XCTAssertEqual(breaker.stateName, "half_open")
        XCTAssertFalse(breaker.isClosed, "half-open: a probe is not Redis back")
        _ = breaker.record(.success(slow: false), epoch: probe.epoch, now: 2_000_000_001)
        XCTAssertTrue(breaker.isClosed)
    }
}
