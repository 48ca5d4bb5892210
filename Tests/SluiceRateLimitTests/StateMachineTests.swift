@testable import SluiceRateLimit
import SluiceGuards
import SluiceHTTP
import SluicePolicy
import Foundation
import SluiceTestSupport
import XCTest

/// The limiter state machines driven by an injected clock (microseconds): no sleeps.
final class StateMachineTests: XCTestCase {
    func testTokenBucketAdmitsBurstThenRate() {
        var bucket = TokenBucketMachine(emissionMicros: 100_000, burst: 5)  // 10/s, burst 5
        let burst = (0..<7).map { _ in bucket.take(now: 1_000_000, cost: 1).allowed }
        XCTAssertEqual(burst, [true, true, true, true, true, false, false])
        let denied = bucket.take(now: 1_000_000, cost: 1)
        XCTAssertEqual(denied.retryAfterMicros, 100_000, accuracy: 0.5)
        XCTAssertFalse(bucket.take(now: 1_099_999, cost: 1).allowed)
        XCTAssertTrue(bucket.take(now: 1_100_000, cost: 1).allowed)
        // One second later: ten more tokens, capped at the burst.
        var admitted = 0
        for _ in 0..<20 where bucket.take(now: 2_100_000, cost: 1).allowed { admitted += 1 }
        XCTAssertEqual(admitted, 5)
    }

    func testTokenBucketCostLeaseAndRefund() {
        var bucket = TokenBucketMachine(emissionMicros: 1_000, burst: 10)
        XCTAssertEqual(bucket.take(now: 0, cost: 4).remaining, 6)
        XCTAssertFalse(bucket.take(now: 0, cost: 7).allowed, "cost 7 does not fit 6")
        let lease = bucket.take(now: 0, cost: 1, want: 100)
        XCTAssertEqual(lease.granted, 6, "a lease takes what is there, up to its size")
        bucket.refund(2)
        XCTAssertEqual(bucket.take(now: 0, cost: 2).granted, 2)
        XCTAssertFalse(bucket.take(now: 0, cost: 1).allowed)
    }

    func testSubWindowCountsTheWholeSpanAndRefundsToItsBucket() {
        var window = SubWindowMachine(limit: 10, windowMicros: 1_000_000)  // buckets of 50 ms
        for _ in 0..<10 { XCTAssertTrue(window.take(now: 500_000, cost: 1).allowed) }
        // Bucket 10 stays counted through bucket 30: the span is 21 buckets, 1.05 s.
        let denied = window.take(now: 900_000, cost: 1)
        XCTAssertFalse(denied.allowed)
        XCTAssertEqual(denied.retryAfterMicros, 650_000, "bucket 10 leaves when bucket 31 starts, at 1.55 s")
        XCTAssertFalse(window.take(now: 1_549_999, cost: 1).allowed, "a weighted estimate would admit here")
        let first = window.take(now: 1_550_000, cost: 3)
        XCTAssertEqual(first.remaining, 7)
        XCTAssertEqual(first.resetMicros, 1_050_000, "until what it took has left the span")
        XCTAssertEqual(window.take(now: 1_600_000, cost: 7).remaining, 0)
        window.refund(3, takenAt: 1_550_000)
        XCTAssertEqual(window.take(now: 1_600_000, cost: 3).remaining, 0, "the refund went back to bucket 31")
        window.refund(3, takenAt: 500_000)
        XCTAssertFalse(window.take(now: 1_600_000, cost: 1).allowed, "a bucket that left the span takes no refund")
        XCTAssertFalse(window.isIdle(now: 2_649_999))
        XCTAssertTrue(window.isIdle(now: 2_650_000))
        XCTAssertEqual(window.take(now: 2_650_000, cost: 1).remaining, 9, "everything forgotten")
    }

    /// Sub-window limits big and small, costs of 1 and more, random bursty arrivals (first the
    /// adversarial shape: a flood from the end of one window into the next), some admissions
    /// refunded later: no window (t − W, t] ending at an admission ever holds more than the limit.
    func testSubWindowNeverAdmitsMoreThanTheLimitInAnyWindow() {
        let cases: [(limit: Int, costs: ClosedRange<Int>, window: Double)] = [
            (1001, 1...1, 2_000_000), (3000, 1...1, 2_000_000), (3000, 1...9, 1_000_000),
            (1_000_000, 1...2000, 2_000_000), (1_000_000, 500...1500, 60_000_000),
        ]
        for (index, (limit, costs, window)) in cases.enumerated() {
            for seed in 1...3 {
                var rng = SplitMix64(seed: UInt64(index * 100 + seed))
                let arrivals = Self.burstyArrivals(limit: limit, costs: costs, window: window, windows: 10, rng: &rng)
                var machine = SubWindowMachine(limit: limit, windowMicros: window)
                var admitted: [(time: Double, cost: Int, refunded: Bool)] = []
                var pendingRefunds: [(at: Double, admission: Int)] = []
                for (time, cost) in arrivals {
                    while let refund = pendingRefunds.first, refund.at <= time {
                        pendingRefunds.removeFirst()
                        machine.refund(admitted[refund.admission].cost, takenAt: admitted[refund.admission].time)
                        admitted[refund.admission].refunded = true
                    }
                    guard machine.take(now: time, cost: cost).allowed else { continue }
                    admitted.append((time, cost, false))
                    if Double.random(in: 0..<1, using: &rng) < 0.1 {
                        pendingRefunds.append((time + Double.random(in: 0...(window / 5), using: &rng), admitted.count - 1))
                        pendingRefunds.sort { $0.at < $1.at }
                    }
                }
                var log = AdmissionLog()
                for admission in admitted where !admission.refunded { log.record(admission.time, tokens: admission.cost) }
                let most = log.mostInAnyWindow(window)
                XCTAssertLessThanOrEqual(most, limit, "limit \(limit), costs \(costs), seed \(seed)")
                XCTAssertGreaterThan(Double(most), 0.9 * Double(limit), "the floods fill the limit (limit \(limit))")
            }
        }
    }

    /// Steady traffic at and above the limit: every denial happens with at least limit − cost + 1
    /// admitted in its bucket and the N before it, so the long run gets N/(N+1) of the limit.
    func testSubWindowUnderAdmitsAtMostOneBucketOfSteadyTraffic() {
        let buckets = Double(LimitRule.subWindowBuckets)
        let cases: [(limit: Int, cost: Int, window: Double)] = [(1001, 1, 2_000_000), (3000, 7, 2_000_000), (1_000_000, 997, 1_000_000)]
        for (limit, cost, window) in cases {
            for pace in [1.0, 1.5, 5.0] {
                var machine = SubWindowMachine(limit: limit, windowMicros: window)
                var log = AdmissionLog()
                var denials: [Double] = []
                let gap = window * Double(cost) / Double(limit) / pace
                var time = 0.0
                while time < 40 * window {
                    if machine.take(now: time, cost: cost).allowed { log.record(time, tokens: cost) } else { denials.append(time) }
                    time += gap
                }
                let width = machine.bucketMicros
                for denied in denials {
                    let bucketEnd = ((denied / width).rounded(.down) + 1) * width
                    XCTAssertGreaterThanOrEqual(log.admitted(from: bucketEnd - (buckets + 1) * width, to: bucketEnd), limit - cost + 1)
                }
                let floor = Double(limit) * buckets / (buckets + 1)
                let perWindow = Double(log.admitted(from: window, to: 40 * window)) / 39
                XCTAssertGreaterThanOrEqual(perWindow, floor * Double(limit - cost + 1) / Double(limit) - Double(limit) / 39,
                                            "limit \(limit), cost \(cost), pace \(pace)")
                XCTAssertLessThanOrEqual(log.mostInAnyWindow(window), limit)
            }
        }
    }

    /// Bursty arrivals (time µs, cost) over `windows` windows: first quiet, then a flood from 10%
    /// of a window before a window boundary to 80% after it; then random phases of quiet, a
    /// trickle, about the limit and floods, each 1% to 100% of a window long.
    static func burstyArrivals(limit: Int, costs: ClosedRange<Int>, window: Double, windows: Int,
                               rng: inout SplitMix64) -> [(Double, Int)] {
        let meanCost = Double(costs.lowerBound + costs.upperBound) / 2
        /// Arrivals per µs at `share` × the limit.
        func rate(_ share: Double) -> Double { share * Double(limit) / meanCost / window }
        var phases: [(end: Double, rate: Double)] = [(0.9 * window, 0), (1.8 * window, rate(20))]
        var end = 1.8 * window
        while end < Double(windows) * window {
            end += window * Double.random(in: 0.01...1, using: &rng)
            phases.append((end, rate([0, 0.3, 1, 3, 20].randomElement(using: &rng)!)))
        }
        var arrivals: [(Double, Int)] = []
        var time = 0.0
        for phase in phases {
            guard phase.rate > 0 else { time = phase.end; continue }
            while true {
                time += -log(Double.random(in: Double.ulpOfOne..<1, using: &rng)) / phase.rate
                if time >= phase.end { time = phase.end; break }
                arrivals.append((time.rounded(.down), Int.random(in: costs, using: &rng)))
            }
        }
        return arrivals
    }

    func testLeaseBookServesUntilSpentOrExpired() {
        var book = LeaseBook()
        XCTAssertNil(book.take("k", cost: 1, now: 0))
        book.store("k", tokens: 3, now: 0, lifetimeMicros: 50_000)
        XCTAssertEqual(book.take("k", cost: 1, now: 10), 2)
        XCTAssertEqual(book.take("k", cost: 2, now: 20), 0)
        XCTAssertNil(book.take("k", cost: 1, now: 30), "spent")
        book.refund("k", tokens: 1)
        XCTAssertNil(book.take("k", cost: 1, now: 50_000), "expired")
    }

    func testLeaseTopUpStartsAtHalfOnceAndAddsUp() {
        var book = LeaseBook()
        book.store("k", tokens: 10, now: 0, lifetimeMicros: 100_000)
        for _ in 0..<4 { _ = book.take("k", cost: 1, now: 1) }
        XCTAssertFalse(book.startRefill("k", size: 10, now: 1), "6 left: more than half")
        _ = book.take("k", cost: 1, now: 1)
        XCTAssertTrue(book.startRefill("k", size: 10, now: 1))
        XCTAssertFalse(book.startRefill("k", size: 10, now: 1), "one top-up at a time")
        book.store("k", tokens: 10, now: 2, lifetimeMicros: 100_000)
        book.endRefill("k")
        XCTAssertEqual(book.tokens(for: "k"), 15)
        book.store("k", tokens: 10, now: 500_000, lifetimeMicros: 100_000)
        XCTAssertEqual(book.tokens(for: "k"), 10, "an expired lease's leftovers are dropped")
    }

    func testLocalRuleDividesTheQuota() {
        let rule = LimitRule(LimitRulePolicy(name: "r", algorithm: .tokenBucket(rate: LimitRate(count: 100, per: .seconds(1)), burst: 200),
                                             key: [.route], onRedisFailure: .local, expectedInstances: 4))
        XCTAssertEqual(rule.localAlgorithm, .tokenBucket(emissionMicros: 40_000, burst: 50))
        XCTAssertEqual(rule.policyItem, "\"r\";q=200;w=2")
        let window = LimitRule(LimitRulePolicy(name: "w", algorithm: .slidingWindow(limit: 5000, window: .seconds(60)),
                                               key: [.route], onRedisFailure: .allow))
        XCTAssertEqual(window.algorithm, .subWindow(limit: 5000, windowMicros: 60_000_000))
        let small = LimitRule(LimitRulePolicy(name: "s", algorithm: .slidingWindow(limit: 1000, window: .seconds(1)),
                                              key: [.route], onRedisFailure: .allow))
        XCTAssertEqual(small.algorithm, .slidingLog(limit: 1000, windowMicros: 1_000_000))
    }

    static let bucket = LimitRule.Algorithm.tokenBucket(emissionMicros: 10_000, burst: 10)

    /// Each algorithm keeps another Redis type, so its counters have keys of their own: two
    /// gateways disagreeing on a rule's algorithm (a rolling reload) must not share one key.
    func testEachAlgorithmHasItsOwnKeys() {
        let request = GuardRequest(head: HTTPRequestHead(method: "GET", target: "/q", version: .http1_1, headers: HTTPHeaders()),
                                   routeName: "query", routeIsCore: false, clientAddress: "10.0.0.1")
        let keys = [Self.bucket, .slidingLog(limit: 10, windowMicros: 1e6), .subWindow(limit: 5000, windowMicros: 1e6)].map {
            LimitKey.make(rule: "r", algorithm: $0, parts: [.clientIP], request: request)
        }
        XCTAssertEqual(keys, ["rl:tb:{r|10.0.0.1}", "rl:sl:{r|10.0.0.1}", "rl:sw:{r|10.0.0.1}"])
    }

    func testKeysCarryOneHashTagAndEscapeValues() {
        var headers = HTTPHeaders()
        headers.add(name: "x-tenant", value: "a}b|c")
        var request = GuardRequest(head: HTTPRequestHead(method: "GET", target: "/q?x=1&appid=wx42&y", version: .http1_1, headers: headers),
                                   routeName: "query", routeIsCore: false, clientAddress: "10.0.0.1")
        XCTAssertEqual(LimitKey.make(rule: "r", algorithm: Self.bucket, parts: [.clientIP, .route, .merchant, .header("x-tenant"), .query("appid"), .query("y")],
                                     request: request),
                       "rl:tb:{r|10.0.0.1|query|-|a%7Db%7Cc|wx42|}")
        request.merchantID = "1900000001"
        XCTAssertEqual(LimitKey.make(rule: "r", algorithm: Self.bucket, parts: [.merchant], request: request), "rl:tb:{r|1900000001}")
        request.merchantID = String(repeating: "m", count: 300)
        XCTAssertTrue(LimitKey.make(rule: "r", algorithm: Self.bucket, parts: [.merchant], request: request).hasPrefix("rl:tb:{r|#"))
    }

    /// A query key part cannot be re-spelled into a new counter: values (and names) are
    /// percent-decoded, and a parameter given twice counts as absent (the shared `-` counter).
    func testQueryKeyPartsCannotBeRespelled() {
        func key(_ query: String) -> String {
            let request = GuardRequest(head: HTTPRequestHead(method: "GET", target: "/q?" + query, version: .http1_1, headers: HTTPHeaders()),
                                       routeName: "query", routeIsCore: false, clientAddress: "10.0.0.1")
            return LimitKey.make(rule: "r", algorithm: Self.bucket, parts: [.query("mchid")], request: request)
        }
        XCTAssertEqual(key("mchid=1900000001"), "rl:tb:{r|1900000001}")
        for respelled in ["mchid=190000000%31", "%6Dchid=1900000001", "x=1&mchid=%31%39%30%30%30%30%30%30%30%31"] {
            XCTAssertEqual(key(respelled), "rl:tb:{r|1900000001}", respelled)
        }
        for ambiguous in ["mchid=&mchid=1900000001", "mchid=1900000001&mchid=1900000002", "mchid=a&%6Dchid=b",
                          "mchid=+1900000001", "mchid=1900000001+", "mchid=1900000001;a", "mchid=%201900000001",
                          "mchid=01900000001", "mchid=1900000001%C2%A0", "mchid=%EF%BC%91900000001"] {
            XCTAssertEqual(key(ambiguous), "rl:tb:{r|-}", ambiguous)
        }
        XCTAssertEqual(key("mchid=a%2"), "rl:tb:{r|-}", "a bad escape is no canonical value")
        XCTAssertEqual(key("mchid=0"), "rl:tb:{r|0}")
    }

    func testTooManyRequestsReplyFields() {
        let rule = LimitRule(LimitRulePolicy(name: "burst", algorithm: .tokenBucket(rate: LimitRate(count: 10, per: .seconds(1)), burst: 20),
                                             key: [.route], onRedisFailure: .allow))
        let reply = LimitReplies.tooManyRequests(rule, LimitDecision(granted: 0, remaining: 0, retryAfterMicros: 1_200_000, resetMicros: 2_000_000))
        XCTAssertEqual(reply.status, 429)
        XCTAssertEqual(reply.reason, "rate_limited:burst")
        XCTAssertEqual(reply.headers["retry-after"], "2")
        XCTAssertEqual(reply.headers["ratelimit-policy"], "\"burst\";q=20;w=2")
        XCTAssertEqual(reply.headers["ratelimit"], "\"burst\";r=0;t=2")
        XCTAssertTrue(String(decoding: reply.body, as: UTF8.self).contains("\"rule\":\"burst\""))
    }
}
