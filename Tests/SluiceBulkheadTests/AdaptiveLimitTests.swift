@testable import SluiceBulkhead
import XCTest

/// The adaptive limit's windows under a made-up clock (milliseconds here, nanoseconds inside).
final class AdaptiveLimitTests: XCTestCase {
    let ms: UInt64 = 1_000_000

    func limit() -> AdaptiveLimit {
        AdaptiveLimit(minimum: 4, maximum: 40, targetNanoseconds: 100 * ms, windowNanoseconds: 1_000 * ms)
    }

    /// `count` answers of `answer` ms spread over one window starting at `start` ms; the last
    /// one closes it. Returns what the last one returned.
    func window(_ adaptive: inout AdaptiveLimit, start: UInt64, answers count: Int, of answer: UInt64?) -> Int? {
        var changed: Int?
        for i in 0..<count {
            let now = (start + UInt64(i) * 1_000 / UInt64(count - 1)) * ms
            changed = adaptive.record(answerNanoseconds: answer.map { $0 * ms }, now: now)
        }
        return changed
    }

    func testStartsAtTheMaximumAndComesDownByAFifthPerSlowWindowToTheMinimum() {
        var adaptive = limit()
        XCTAssertEqual(adaptive.limit, 40)
        var seen: [Int] = []
        for round in 0..<12 {
            if let changed = window(&adaptive, start: UInt64(round) * 1_000, answers: 10, of: 250) { seen.append(changed) }
        }
        XCTAssertEqual(seen, [32, 26, 21, 17, 14, 12, 10, 8, 7, 6, 5, 4])
        XCTAssertNil(window(&adaptive, start: 12_000, answers: 10, of: 250), "not below the minimum")
        XCTAssertEqual(adaptive.limit, 4)
    }

    func testFastAnswersRaiseItOnlyWhenTheLimitWasReached() {
        var adaptive = limit()
        for round in 0..<6 { _ = window(&adaptive, start: UInt64(round) * 1_000, answers: 10, of: 250) }
        XCTAssertEqual(adaptive.limit, 12)
        XCTAssertNil(window(&adaptive, start: 6_000, answers: 10, of: 20), "fast, but nothing waited: no evidence more is safe")
        adaptive.noteSaturated()
        XCTAssertEqual(window(&adaptive, start: 7_000, answers: 10, of: 20), 13, "by a tenth, at least 1")
        var last = 13
        for round in 8..<40 {
            adaptive.noteSaturated()
            last = window(&adaptive, start: UInt64(round) * 1_000, answers: 10, of: 20) ?? last
        }
        XCTAssertEqual(last, 40, "not above the maximum")
    }

    func testTheNinetiethPercentileDecidesAndTimeoutsCountAsSlow() {
        var adaptive = limit()
        // 9 fast and 1 slow of 10: the 90th percentile (nearest rank: the 9th) is fast.
        for i in 0..<9 { _ = adaptive.record(answerNanoseconds: 20 * ms, now: UInt64(i) * 100 * ms) }
        XCTAssertNil(adaptive.record(answerNanoseconds: 900 * ms, now: 1_000 * ms))
        XCTAssertEqual(adaptive.limit, 40)
        // 8 fast and 2 timed out: the 9th is a timeout, over any target.
        for i in 0..<8 { _ = adaptive.record(answerNanoseconds: 20 * ms, now: (1_000 + UInt64(i) * 100) * ms) }
        _ = adaptive.record(answerNanoseconds: nil, now: 1_900 * ms)
        XCTAssertEqual(adaptive.record(answerNanoseconds: nil, now: 2_000 * ms), 32)
    }

    func testABulkheadThatTakesOverGoesOnFromTheOldLimitWithinItsBounds() {
        var adaptive = limit()
        XCTAssertEqual(adaptive.resume(at: 12), 12)
        XCTAssertEqual(adaptive.resume(at: 2), 4, "not below the new minimum")
        XCTAssertEqual(adaptive.resume(at: 90), 40, "not above the new maximum")
    }

    func testAWindowWithTooFewAnswersIsCarriedOn() {
        var adaptive = limit()
        XCTAssertNil(window(&adaptive, start: 0, answers: 4, of: 500), "4 answers: too few to judge")
        XCTAssertEqual(adaptive.limit, 40)
        XCTAssertEqual(adaptive.record(answerNanoseconds: 500 * ms, now: 1_500 * ms), 32, "the fifth, later, closes it")
    }
}
