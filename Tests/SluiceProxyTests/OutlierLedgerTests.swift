@testable import SluiceProxy
import SluicePolicy
import XCTest

/// Passive outlier ejection under an injected clock: consecutive failures eject, the time grows
/// with repeated ejections, a success forgives, and the cluster is never emptied beyond its share.
final class OutlierLedgerTests: XCTestCase {
    private let second: UInt64 = 1_000_000_000

    private func ledger(endpoints: Int = 3, share: Double = 0.5) -> OutlierLedger {
        var policy = OutlierDetectionPolicy()
        policy.consecutiveFailures = 3
        policy.ejectionTime = .seconds(10)
        policy.maxEjectionTime = .seconds(25)
        policy.maxEjectedShare = share
        return OutlierLedger(policy: policy, endpoints: endpoints)
    }

    func testConsecutiveFailuresEjectForLongerEachTime() {
        var l = ledger()
        XCTAssertNil(l.record(0, failed: true, now: 0))
        XCTAssertNil(l.record(0, failed: true, now: 0))
        XCTAssertEqual(l.record(0, failed: true, now: 0), 10 * second)
        XCTAssertTrue(l.isEjected(0, now: 10 * second - 1))
        XCTAssertFalse(l.isEjected(0, now: 10 * second))
        for _ in 0..<2 { XCTAssertNil(l.record(0, failed: true, now: 11 * second)) }
        XCTAssertEqual(l.record(0, failed: true, now: 11 * second), 31 * second, "second ejection: twice as long")
        for _ in 0..<3 { _ = l.record(0, failed: true, now: 40 * second) }
        XCTAssertEqual(l.ejectedUntil[0], 65 * second, "third: capped at max_ejection_time (25 s)")
    }

    func testASuccessForgivesTheCountAndTheHistory() {
        var l = ledger()
        _ = l.record(0, failed: true, now: 0)
        _ = l.record(0, failed: true, now: 0)
        XCTAssertNil(l.record(0, failed: false, now: 0))
        XCTAssertNil(l.record(0, failed: true, now: 0), "counting starts again")
        XCTAssertNil(l.record(0, failed: true, now: 0))
        XCTAssertEqual(l.record(0, failed: true, now: 0), 10 * second, "a first ejection again")
    }

    func testNeverMoreThanTheShareOfTheClusterIsEjected() {
        var l = ledger(endpoints: 3, share: 0.5)  // at most 1 of 3
        for _ in 0..<3 { _ = l.record(0, failed: true, now: 0) }
        for _ in 0..<3 { XCTAssertNil(l.record(1, failed: true, now: 0)) }
        XCTAssertFalse(l.isEjected(1, now: 0))
        var single = ledger(endpoints: 1, share: 1)
        XCTAssertNotNil((0..<3).compactMap { _ in single.record(0, failed: true, now: 0) }.first, "share 1 may eject the only endpoint")
        var lonely = ledger(endpoints: 1, share: 0.5)
        XCTAssertTrue((0..<10).allSatisfy { _ in lonely.record(0, failed: true, now: 0) == nil }, "never empties a cluster of one")
    }

    func testHealthChecksTakeAnEndpointOutAndBringItBack() {
        var policy = HealthCheckPolicy()
        policy.healthy = 2
        policy.unhealthy = 3
        var checks = HealthCheckLedger(policy: policy, endpoints: 2)
        XCTAssertEqual(checks.healthy, [true, true], "endpoints start healthy")
        XCTAssertNil(checks.record(0, passed: false))
        XCTAssertNil(checks.record(0, passed: false))
        XCTAssertNil(checks.record(0, passed: true), "a pass resets the failures")
        XCTAssertNil(checks.record(0, passed: false))
        XCTAssertNil(checks.record(0, passed: false))
        XCTAssertEqual(checks.record(0, passed: false), false)
        XCTAssertEqual(checks.healthy, [false, true])
        XCTAssertNil(checks.record(0, passed: false))
        XCTAssertNil(checks.record(0, passed: true))
        XCTAssertEqual(checks.record(0, passed: true), true)
        XCTAssertEqual(checks.healthy, [true, true])
    }

    func testAnEndpointFailingMoreOftenThanItsPeersIsEjectedAtTheEndOfTheInterval() {
        var policy = OutlierDetectionPolicy()
        policy.consecutiveFailures = 1000
        policy.ejectionTime = .seconds(10)
        policy.maxEjectedShare = 0.5
        var rate = SuccessRatePolicy()
        rate.interval = .seconds(10)
        rate.minimumRequests = 10
        rate.minimumEndpoints = 3
        rate.stdevFactor = 1.0
        policy.successRate = rate
        var l = OutlierLedger(policy: policy, endpoints: 4)
        XCTAssertTrue(l.closeIntervalIfDue(now: 0).isEmpty, "the first call starts the interval")
        // Endpoints 0-2 succeed 19 of 20; endpoint 3 succeeds 10 of 20 (never 5 failures in a row).
        for i in 0..<20 {
            for endpoint in 0..<3 { _ = l.record(endpoint, failed: i == 7, now: 1) }
            _ = l.record(3, failed: i % 2 == 0, now: 1)
        }
        XCTAssertTrue(l.closeIntervalIfDue(now: 5 * second).isEmpty, "not yet the end of the interval")
        let ejected = l.closeIntervalIfDue(now: 10 * second)
        XCTAssertEqual(ejected.map(\.endpoint), [3])
        XCTAssertEqual(ejected.first?.detail, "success rate 50% against the cluster's 84%")
        XCTAssertTrue(l.isEjected(3, now: 10 * second))
        // A fresh interval: too few tries decide nothing.
        _ = l.record(0, failed: true, now: 11 * second)
        XCTAssertTrue(l.closeIntervalIfDue(now: 21 * second).isEmpty)
    }
}
