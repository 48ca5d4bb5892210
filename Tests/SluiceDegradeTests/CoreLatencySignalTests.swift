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

    /// A hung backend: no answer comes, so the moving mean alone stayed at zero (or faded)
    /// while every payment waited. Waiting requests count as answers given now.
    func testRequestsStillWaitingRaiseTheSignalAsTheirWaitGrows() {
        let epoch: UInt64 = 50 * second
        let loop = DegradeEngine.LoopSignals(epoch: epoch)
        let sent: UInt64 = 100 * second
        XCTAssertEqual(loop.coreLatency(now: sent), 0, "nothing answered, nothing waiting")
        for _ in 0..<4 { loop.answerAwaited(since: sent) }
        let weight = 1 - pow(0.8, 4.0)
        XCTAssertEqual(loop.coreLatency(now: sent + second), Double(second) * weight, accuracy: 1e3)
        XCTAssertEqual(loop.coreLatency(now: sent + 10 * second), Double(10 * second) * weight, accuracy: 1e4,
                       "keeps growing while they wait: it does not fade")
        for _ in 0..<4 { loop.answerWaitEnded(since: sent) }
        XCTAssertEqual(loop.coreLatency(now: sent + 10 * second), 0, "the wait ended: back to the answers' mean")
    }

    func testTheWaitIsTheMeanOfTheWaitingAndOneStragglerCountsAFifth() {
        let loop = DegradeEngine.LoopSignals(epoch: 0)
        loop.answerAwaited(since: 10 * second)
        XCTAssertEqual(loop.coreLatency(now: 20 * second), Double(10 * second) * 0.2, accuracy: 1e3)
        loop.answerAwaited(since: 20 * second)
        // Waits of 10 s and 0 s: a mean of 5 s, weighted as two answers (0.36).
        XCTAssertEqual(loop.coreLatency(now: 20 * second), Double(5 * second) * 0.36, accuracy: 1e3)
        loop.answerWaitEnded(since: 10 * second)
        XCTAssertEqual(loop.coreLatency(now: 21 * second), Double(second) * 0.2, accuracy: 1e3)
    }

    func testTheAnswersMeanWinsWhenHigherThanTheWaiting() {
        let loop = DegradeEngine.LoopSignals(epoch: 0)
        loop.coreLatencyBits.store(Double(3 * second).bitPattern, ordering: .relaxed)
        loop.coreLatencyRecordedAt.store(100 * second, ordering: .relaxed)
        loop.answerAwaited(since: 100 * second)
        XCTAssertEqual(loop.coreLatency(now: 100 * second + second / 2), Double(3 * second))
    }
}
