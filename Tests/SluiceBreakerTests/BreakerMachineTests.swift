@testable import SluiceBreaker
@testable import SluiceResilience
import SluiceGuards
import SluiceHTTP
import XCTest

/// Every transition of the breaker machine under an injected clock (nanoseconds), and how
/// request outcomes count.
final class BreakerMachineTests: XCTestCase {
    private let ms: UInt64 = 1_000_000

    private func policy(_ change: (inout BreakerPolicy) -> Void = { _ in }) -> BreakerPolicy {
        var policy = BreakerPolicy(name: "b")
        policy.window = .count(10)
        policy.minimumCalls = 4
        policy.failureRate = 0.5
        policy.openFor = .milliseconds(100)
        policy.maxOpenFor = .milliseconds(300)
        policy.halfOpenCalls = 2
        change(&policy)
        return policy
    }

    func testTripsOnTheFailureRateOnlyAfterTheMinimumCalls() {
        var m = BreakerMachine(policy: policy().settings)
        XCTAssertNil(m.record(.failure, epoch: m.epoch, now: 0))
        XCTAssertNil(m.record(.failure, epoch: m.epoch, now: 0))
        XCTAssertNil(m.record(.failure, epoch: m.epoch, now: 0), "3 calls: under the minimum of 4")
        let trip = m.record(.success(slow: false), epoch: m.epoch, now: 0)
        XCTAssertEqual(trip?.to, "open", "3 of 4 failed: 75% >= 50%")
        XCTAssertEqual(trip?.reason, "failure rate 75% of 4 calls, open for 100 ms")
        XCTAssertEqual(m.allow(now: 50 * ms).allowed, false)
        XCTAssertEqual(m.allow(now: 50 * ms).retryAfterNanoseconds, 50 * ms)
        XCTAssertEqual(m.stateName(at: 50 * ms), "open")
        XCTAssertEqual(m.stateName(at: 100 * ms), "half_open", "its open time is over, even before a call arrives")
    }

    func testSuccessesKeepItClosedAndTheCountWindowForgetsOldCalls() {
        var m = BreakerMachine(policy: policy().settings)
        XCTAssertNil(m.record(.failure, epoch: m.epoch, now: 0))
        for _ in 0..<10 { XCTAssertNil(m.record(.success(slow: false), epoch: m.epoch, now: 0), "1 of 4, 5, 6 ...: under 50%") }
        // The window holds the last 10 calls: 4 failures now are 40%.
        for _ in 0..<4 { XCTAssertNil(m.record(.failure, epoch: m.epoch, now: 0)) }
        XCTAssertEqual(m.record(.failure, epoch: m.epoch, now: 0)?.to, "open", "5 of the last 10: 50%")
    }

    func testSlowCallsTripTheirOwnRule() {
        var m = BreakerMachine(policy: policy { $0.slowCall = .seconds(1); $0.slowCallRate = 0.75 }.settings)
        for _ in 0..<3 { XCTAssertNil(m.record(.success(slow: true), epoch: m.epoch, now: 0)) }
        XCTAssertEqual(m.record(.success(slow: true), epoch: m.epoch, now: 0)?.reason, "slow-call rate 100% of 4 calls, open for 100 ms")
    }

    func testHalfOpenProbesCloseItOrReopenItForLonger() {
        var m = BreakerMachine(policy: policy().settings)
        for _ in 0..<4 { _ = m.record(.failure, epoch: m.epoch, now: 0) }
        XCTAssertEqual(m.allow(now: 100 * ms).transition?.to, "half_open")
        XCTAssertTrue(m.allow(now: 100 * ms).allowed, "the second probe")
        XCTAssertFalse(m.allow(now: 100 * ms).allowed, "only 2 probes at a time")
        XCTAssertEqual(m.record(.failure, epoch: m.epoch, now: 110 * ms)?.reason, "a probe failed, open for 200 ms", "second trip: twice as long")
        XCTAssertFalse(m.allow(now: 309 * ms).allowed)
        XCTAssertTrue(m.allow(now: 310 * ms).allowed)
        XCTAssertEqual(m.record(.success(slow: true), epoch: m.epoch, now: 320 * ms)?.reason, "a probe was slow, open for 300 ms", "capped at max_open_for")
        XCTAssertTrue(m.allow(now: 620 * ms).allowed)
        XCTAssertTrue(m.allow(now: 620 * ms).allowed)
        XCTAssertNil(m.record(.success(slow: false), epoch: m.epoch, now: 630 * ms))
        XCTAssertEqual(m.record(.success(slow: false), epoch: m.epoch, now: 640 * ms)?.to, "closed")
        XCTAssertEqual(m.trips, 0)
        // Closed with an empty window: the next trip is a first one again (100 ms).
        for _ in 0..<4 { _ = m.record(.failure, epoch: m.epoch, now: 700 * ms) }
        XCTAssertEqual(m.allow(now: 799 * ms).allowed, false)
        XCTAssertEqual(m.allow(now: 800 * ms).allowed, true)
    }

    func testAnIgnoredProbeGivesItsSlotBack() {
        var m = BreakerMachine(policy: policy().settings)
        for _ in 0..<4 { _ = m.record(.failure, epoch: m.epoch, now: 0) }
        XCTAssertTrue(m.allow(now: 100 * ms).allowed)
        XCTAssertTrue(m.allow(now: 100 * ms).allowed)
        XCTAssertFalse(m.allow(now: 100 * ms).allowed)
        XCTAssertNil(m.record(.ignored, epoch: m.epoch, now: 100 * ms), "the client left: says nothing about the backend")
        XCTAssertTrue(m.allow(now: 100 * ms).allowed)
        XCTAssertNil(m.record(.ignored, epoch: m.epoch, now: 0))
    }

    func testResultsOfCallsAdmittedBeforeAStateChangeNeverCount() {
        var m = BreakerMachine(policy: policy().settings)
        let closedEpoch = m.allow(now: 0).epoch
        for _ in 0..<4 { _ = m.record(.failure, epoch: m.epoch, now: 0) }  // tripped
        let probe = m.allow(now: 100 * ms)
        XCTAssertEqual(probe.transition?.to, "half_open")
        XCTAssertNotEqual(probe.epoch, closedEpoch)
        // Calls admitted while closed end now: they decide nothing, and take no probe slot back.
        XCTAssertNil(m.record(.success(slow: false), epoch: closedEpoch, now: 110 * ms))
        XCTAssertNil(m.record(.success(slow: false), epoch: closedEpoch, now: 110 * ms))
        XCTAssertNil(m.record(.success(slow: true), epoch: closedEpoch, now: 110 * ms), "a stale slow call does not reopen it")
        XCTAssertNil(m.record(.ignored, epoch: closedEpoch, now: 110 * ms))
        XCTAssertTrue(m.allow(now: 110 * ms).allowed, "the second probe")
        XCTAssertFalse(m.allow(now: 110 * ms).allowed, "still only 2 probes: stale results gave no slot back")
        XCTAssertEqual(m.stateName, "half_open")
        // The probes' own results decide.
        XCTAssertNil(m.record(.success(slow: false), epoch: probe.epoch, now: 120 * ms))
        XCTAssertEqual(m.record(.success(slow: false), epoch: probe.epoch, now: 130 * ms)?.to, "closed")
        // And a late result of the half-open epoch no longer lands in the new window.
        XCTAssertNil(m.record(.failure, epoch: probe.epoch, now: 140 * ms))
        XCTAssertEqual(m.stateName, "closed")
    }

    func testTheTimeWindowForgetsCallsOlderThanItsDuration() {
        var m = BreakerMachine(policy: policy { $0.window = .time(.seconds(1)) }.settings)
        for _ in 0..<3 { XCTAssertNil(m.record(.failure, epoch: m.epoch, now: 0)) }
        // 1.5 s later the three failures are out of the window: one more is 1 call, not 4.
        XCTAssertNil(m.record(.failure, epoch: m.epoch, now: 1500 * ms))
        XCTAssertNil(m.record(.failure, epoch: m.epoch, now: 1600 * ms))
        XCTAssertNil(m.record(.failure, epoch: m.epoch, now: 1700 * ms))
        XCTAssertEqual(m.record(.failure, epoch: m.epoch, now: 1800 * ms)?.to, "open")
    }

    func testForcedStatesHoldUntilReleased() {
        var m = BreakerMachine(policy: policy().settings)
        XCTAssertEqual(m.force(.open)?.to, "forced_open")
        XCTAssertFalse(m.allow(now: 10_000 * ms).allowed)
        XCTAssertEqual(m.force(.closed)?.to, "forced_closed")
        for _ in 0..<10 { XCTAssertNil(m.record(.failure, epoch: m.epoch, now: 0)) }
        XCTAssertTrue(m.allow(now: 0).allowed)
        XCTAssertEqual(m.force(nil)?.to, "closed")
    }

    func testOnlyTheBackendsOwnFailuresCount() {
        let p = policy { $0.slowCall = .milliseconds(500) }
        func classify(_ failure: RequestFailure?, status: Int? = nil, attempt: Int = 1, latencyMs: UInt64 = 10,
                      answerMs: UInt64 = 5) -> BreakerMachine.Result {
            let head = status.map { HTTPResponseHead(status: $0) }
            return BreakerOutcome.classify(RequestOutcome(route: "r", attempt: attempt, status: status ?? 0, failure: failure,
                                                          latencyNanoseconds: latencyMs * ms, upstreamAnswerNanoseconds: head.map { _ in answerMs * ms },
                                                          responseHead: head),
                                           policy: p, slowNanoseconds: 500 * ms)
        }
        XCTAssertEqual(classify(.upstreamConnectFailed, attempt: 0), .failure)
        XCTAssertEqual(classify(.upstreamConnectTimeout, attempt: 0), .failure)
        XCTAssertEqual(classify(.upstreamTimeout), .failure)
        XCTAssertEqual(classify(.upstreamReset), .failure)
        XCTAssertEqual(classify(nil, status: 503), .failure)
        XCTAssertEqual(classify(nil, status: 500), .success(slow: false), "500 is not in the default list")
        XCTAssertEqual(classify(nil, status: 200, latencyMs: 600, answerMs: 600), .success(slow: true))
        XCTAssertEqual(classify(nil, status: 200, latencyMs: 3_600, answerMs: 5), .success(slow: false),
                       "a client's slow upload (or reading) is not a slow backend")
        XCTAssertEqual(classify(.clientGone), .ignored, "a client that left says nothing about the backend")
        XCTAssertEqual(classify(.clientTimeout, status: 200), .ignored, "a slow reader is not the backend's fault")
        XCTAssertEqual(classify(.clientGone, status: 502), .failure, "the backend's own answer still counts")
        XCTAssertEqual(classify(.localReply, attempt: 0), .ignored)
    }

    func testChangedSettingsKeepAnOpenBreakerOpenUntilItsTime() {
        var m = BreakerMachine(policy: policy().settings)
        for _ in 0..<4 { _ = m.record(.failure, epoch: m.epoch, now: 0) }
        var next = m.continued(under: policy { $0.failureRate = 0.9; $0.openFor = .seconds(10); $0.maxOpenFor = .seconds(60) }.settings)
        XCTAssertEqual(next.stateName(at: 50 * ms), "open", "an operator tuning a threshold must not close it")
        XCTAssertFalse(next.allow(now: 99 * ms).allowed)
        XCTAssertEqual(next.allow(now: 100 * ms).transition?.to, "half_open", "the open time it had")
        XCTAssertEqual(next.record(.failure, epoch: next.epoch, now: 100 * ms)?.reason, "a probe failed, open for 20000 ms",
                       "second trip, under the new open time: 10 s x 2")
    }

    func testChangedSettingsKeepTheWindowOfTheSameShapeAndTheForcedState() {
        var m = BreakerMachine(policy: policy().settings)
        for _ in 0..<3 { XCTAssertNil(m.record(.failure, epoch: m.epoch, now: 0)) }
        var same = m.continued(under: policy { $0.failureRate = 0.6 }.settings)
        XCTAssertEqual(same.record(.success(slow: false), epoch: same.epoch, now: 0)?.to, "open", "3 failures carried: 3 of 4 >= 60%")
        var reshaped = m.continued(under: policy { $0.window = .count(20) }.settings)
        XCTAssertNil(reshaped.record(.failure, epoch: reshaped.epoch, now: 0), "a new window shape starts empty: 1 call")

        _ = m.force(.open)
        XCTAssertEqual(m.continued(under: policy { $0.halfOpenCalls = 5 }.settings).stateName, "forced_open")
    }

    func testChangedSettingsProbeAHalfOpenBreakerAgain() {
        var m = BreakerMachine(policy: policy().settings)
        for _ in 0..<4 { _ = m.record(.failure, epoch: m.epoch, now: 0) }
        _ = m.allow(now: 100 * ms)
        _ = m.allow(now: 100 * ms)
        XCTAssertFalse(m.allow(now: 100 * ms).allowed, "both probes out, reporting to this breaker")
        var next = m.continued(under: policy { $0.failureRate = 0.9 }.settings)
        XCTAssertTrue(next.allow(now: 101 * ms).allowed, "the new breaker's own probes: never stuck waiting for the old ones")
        XCTAssertEqual(next.stateName, "half_open")
    }

    func testAReloadWithChangedSettingsContinuesTheRunningBreaker() {
        let running = CurrentBreakers()
        let old = CircuitBreaker(policy: policy(), clock: { 0 })
        running.replace(with: [old])
        for _ in 0..<4 {
            guard case .admitted(let epoch) = old.admit() else { return XCTFail("closed: admitted") }
            old.record(.failure, epoch: epoch)
        }
        XCTAssertEqual(old.state, "open")
        let tuned = CircuitBreaker(policy: policy { $0.minimumCalls = 10 }, clock: { 0 })
        running.replace(with: [tuned])
        XCTAssertEqual(tuned.state, "open")
        XCTAssertEqual(tuned.transitionCount, 1, "the counters go on")
        guard case .refused = tuned.admit() else { return XCTFail("still open") }
        XCTAssertTrue(running.breaker(named: "b") === tuned)
    }
}
