@testable import SluiceDegrade
import XCTest

/// The ladder under an injected clock: up at once, down one level per cooldown below the
/// hysteresis band, no flapping around a threshold, and the operator's pin.
final class DegradeLadderTests: XCTestCase {
    private let second: UInt64 = 1_000_000_000
    private func ladder() -> DegradeLadder {
        DegradeLadder(thresholds: [0.7, 0.85, 1.0], hysteresis: 0.1, cooldownNanoseconds: 2 * second)
    }

    func testReadingsMapToLevels() {
        let l = ladder()
        XCTAssertEqual([0.0, 0.69, 0.7, 0.84, 0.85, 0.99, 1.0, 3.0].map(l.reached(by:)),
                       [.normal, .normal, .throttle, .throttle, .fallback, .fallback, .shed, .shed])
    }

    func testClimbsAtOnceAndDescendsOneLevelPerCooldown() {
        var l = ladder()
        XCTAssertEqual(l.observe(0.5, now: 0), nil)
        XCTAssertEqual(l.observe(1.3, now: 1 * second), .shed, "straight to the level the reading reaches")
        XCTAssertEqual(l.observe(0.2, now: 2 * second), nil, "calm starts")
        XCTAssertEqual(l.observe(0.2, now: 3 * second), nil)
        XCTAssertEqual(l.observe(0.2, now: 4 * second), .fallback, "one level after a cooldown")
        XCTAssertEqual(l.observe(0.2, now: 5 * second), nil)
        XCTAssertEqual(l.observe(0.2, now: 6 * second), .throttle)
        XCTAssertEqual(l.observe(0.2, now: 8 * second), .normal)
        XCTAssertEqual(l.observe(0.2, now: 20 * second), nil)
    }

    func testReadingsInsideTheHysteresisBandHoldTheLevel() {
        var l = ladder()
        _ = l.observe(0.9, now: 0)
        XCTAssertEqual(l.level, .fallback)
        // Just below fallback's start, but within 0.1 of it: no step down, however long.
        for t in 1...10 { XCTAssertNil(l.observe(0.8, now: UInt64(t) * second)) }
        // One reading above the band resets the calm period.
        XCTAssertNil(l.observe(0.7, now: 11 * second))
        XCTAssertNil(l.observe(0.86, now: 12 * second))
        XCTAssertNil(l.observe(0.7, now: 13 * second))
        XCTAssertNil(l.observe(0.7, now: 14 * second))
        XCTAssertEqual(l.observe(0.7, now: 15 * second), .throttle)
    }

    func testAPinnedLevelHoldsWhateverTheReadings() {
        var l = ladder()
        XCTAssertEqual(l.pin(.shed), .shed)
        XCTAssertNil(l.observe(0.0, now: 0))
        XCTAssertNil(l.observe(0.0, now: 10 * second))
        XCTAssertEqual(l.level, .shed)
        XCTAssertEqual(l.pin(nil), .normal, "unpinned: back to what the readings say")
        XCTAssertEqual(l.pin(.normal), nil, "pinning the level it is at changes nothing visible")
        XCTAssertNil(l.observe(2.0, now: 11 * second), "pinned at normal: readings do not move it")
        XCTAssertEqual(l.pin(nil), .shed)
    }

    /// The fleet-wide pin (read from Redis) overrides the readings; this instance's own pin
    /// overrides the fleet's, and lifting either falls back to the next.
    func testFleetPinSitsBetweenTheInstancePinAndTheReadings() {
        var l = ladder()
        _ = l.observe(0.75, now: 0)
        XCTAssertEqual(l.level, .throttle)
        XCTAssertEqual(l.pinFleet(.shed), .shed)
        XCTAssertNil(l.observe(0.0, now: 10 * second), "readings do not move a fleet pin")
        XCTAssertEqual(l.pin(.normal), .normal, "the instance's own pin wins")
        XCTAssertNil(l.pinFleet(.fallback), "hidden behind the instance pin")
        XCTAssertEqual(l.pin(nil), .fallback, "instance pin lifted: the fleet's applies")
        XCTAssertEqual(l.pinFleet(nil), .throttle, "fleet pin lifted: the readings apply (the calm period has only begun)")
    }

    func testThePressureIsTheWorstSignal() {
        var reading = PressureReading(loopLag: 0.2, inFlight: 0.9, coreLatency: 0.5, bulkheadQueues: 0.1)
        XCTAssertEqual(reading.pressure, 0.9)
        reading.bulkheadQueues = 1.5
        XCTAssertEqual(reading.pressure, 1.5)
    }
}
