@testable import SluiceRateLimit
import SluiceGuards
import SluiceHTTP
import SluicePolicy
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

    func testWeightedWindowWeighsThePreviousBucket() {
        var window = WeightedWindowMachine(limit: 10, windowMicros: 1_000_000)
        for _ in 0..<10 { XCTAssertTrue(window.take(now: 500_000, cost: 1).allowed) }
        XCTAssertFalse(window.take(now: 900_000, cost: 1).allowed)
        // 25% into the next bucket the previous one still weighs 75%: 7.5 used, 2 fit.
        XCTAssertTrue(window.take(now: 1_250_000, cost: 1).allowed)
        XCTAssertTrue(window.take(now: 1_250_000, cost: 1).allowed)
        let denied = window.take(now: 1_250_000, cost: 1)
        XCTAssertFalse(denied.allowed)
        XCTAssertGreaterThan(denied.retryAfterMicros, 0)
        // Two buckets later everything is forgotten.
        XCTAssertEqual(window.take(now: 3_000_000, cost: 1).remaining, 9)
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
        XCTAssertEqual(window.algorithm, .weightedWindow(limit: 5000, windowMicros: 60_000_000))
        let small = LimitRule(LimitRulePolicy(name: "s", algorithm: .slidingWindow(limit: 1000, window: .seconds(1)),
                                              key: [.route], onRedisFailure: .allow))
        XCTAssertEqual(small.algorithm, .slidingLog(limit: 1000, windowMicros: 1_000_000))
    }

    func testKeysCarryOneHashTagAndEscapeValues() {
        var headers = HTTPHeaders()
        headers.add(name: "x-tenant", value: "a}b|c")
        var request = GuardRequest(head: HTTPRequestHead(method: "GET", target: "/q?x=1&appid=wx42&y", version: .http1_1, headers: headers),
                                   routeName: "query", routeIsCore: false, clientAddress: "10.0.0.1")
        XCTAssertEqual(LimitKey.make(rule: "r", parts: [.clientIP, .route, .merchant, .header("x-tenant"), .query("appid"), .query("y")],
                                     request: request),
                       "rl:{r|10.0.0.1|query|-|a%7Db%7Cc|wx42|}")
        request.merchantID = "1900000001"
        XCTAssertEqual(LimitKey.make(rule: "r", parts: [.merchant], request: request), "rl:{r|1900000001}")
        request.merchantID = String(repeating: "m", count: 300)
        XCTAssertTrue(LimitKey.make(rule: "r", parts: [.merchant], request: request).hasPrefix("rl:{r|#"))
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
