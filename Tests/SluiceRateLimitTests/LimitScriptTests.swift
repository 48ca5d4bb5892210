import SluiceIO
import SluiceTestSupport
import SluicePolicy
@testable import SluiceRateLimit
@testable import SluiceRedis
import XCTest

/// The sub-window script and the refund scripts against a real redis-server (the token bucket
/// and sliding log are exercised end to end by the integration tests). Windows and emission
/// intervals are long (1000 s), so nothing refills or moves on while a test runs, but for the
/// flood, whose window is 1 s.
final class LimitScriptTests: RedisLoopTestCase {
    var configuration: RedisClientConfiguration {
        RedisClientConfiguration(host: "127.0.0.1", port: redis.port, deadline: .seconds(2),
                                 breakerFailures: 3, breakerOpenFor: .milliseconds(200))
    }

    /// A connection of its own on `loop`, connected (a gateway instance's).
    static func connect(on loop: EventLoop, _ configuration: RedisClientConfiguration) async -> RedisClient {
        let connection = RedisClient(loop: loop, configuration: configuration)
        connection.start()
        for _ in 0..<400 where !connection.isConnected { await loop.sleep(until: .after(.milliseconds(5))) }
        return connection
    }

    /// Runs `calls` in order on one connection (on the loop): each is a script, a key and its
    /// arguments; returns each reply (nil when there was none).
    func replies(_ calls: [(RedisScript, String, [String])]) async throws -> [RedisReply?] {
        try await onLoop { [configuration] loop in
            let connection = await Self.connect(on: loop, configuration)
            var replies: [RedisReply?] = []
            for (script, key, arguments) in calls {
                replies.append(try? await connection.evaluate(script, keys: [key], arguments: arguments).reply().get())
            }
            connection.close()
            return replies
        }
    }

    /// `replies` as decisions (granted -1 when a reply was none, as a refund's).
    func run(_ calls: [(RedisScript, String, [String])]) async throws -> [LimitDecision] {
        try await replies(calls).map {
            $0.flatMap(LimitScripts.decision) ?? LimitDecision(granted: -1, remaining: 0, retryAfterMicros: 0, resetMicros: 0)
        }
    }

    static let window = "1000000000"  // µs: 1000 s

    func testSubWindowAdmitsItsLimitAndRefundGivesBackToItsBucket() async throws {
        let take = (LimitScripts.subWindow, "rl:{sw|a}", [Self.window, "3", "1"])
        let takeTwo = (LimitScripts.subWindow, "rl:{sw|a}", [Self.window, "3", "2"])
        let first = try await replies([take, take, takeTwo, take, take])
        let decisions = first.map { $0.flatMap(LimitScripts.decision) }
        XCTAssertEqual(decisions.map { $0?.granted }, [1, 1, 0, 1, 0], "limit 3: a cost of 2 does not fit after 2")
        XCTAssertEqual(decisions[0]?.remaining, 2)
        XCTAssertEqual(decisions[3]?.remaining, 0)
        XCTAssertGreaterThan(decisions[4]?.retryAfterMicros ?? 0, 0)
        XCTAssertNil(first[4].flatMap(LimitScripts.chargedBucket), "a denial charged no bucket")
        let bucket = try XCTUnwrap(first[3].flatMap(LimitScripts.chargedBucket))
        let refund = (LimitScripts.subWindowRefund, "rl:{sw|a}", ["1", bucket])
        let gone = (LimitScripts.subWindowRefund, "rl:{sw|a}", ["1", "12"])
        let after = try await run([refund, gone, take, take])
        XCTAssertEqual(after.map(\.granted), [-1, -1, 1, 0],
                       "the refund (no decision) frees one; a bucket no longer there takes nothing")
        // The hash's field names, read off the RESP reply (a substring test failed whenever the
        // time-derived bucket number or a `$12` length marker held "12").
        let reply = redis.command(["HKEYS", "rl:{sw|a}"])
        let names = Set(reply.split(separator: "\r\n").filter { !$0.hasPrefix("*") && !$0.hasPrefix("$") }.map(String.init))
        XCTAssertTrue(names.contains(bucket) && !names.contains("12"), reply)
    }

    /// Two gateway instances (connections) flood one key, pipelined, from 70% into a window on
    /// for two windows (the shape that let a weighted two-bucket estimate through ~1.7x): by
    /// Redis's own clock, no window of length W holds more than the limit (1.05x allowed).
    func testTwoInstancesFloodingOneKeyStayWithinTheLimitInEveryWindow() async throws {
        let limit = 1500, window = 1_000_000.0
        // The check, with Redis's time of the call in front of its reply: {now, reply}.
        let timed = RedisScript("""
            local t = redis.call('TIME')
            local function check()
            \(LimitScripts.subWindow.source)
            end
            return {t[1] * 1000000 + t[2], check()}
            """)
        let arguments = [String(window), String(limit), "1"]
        let admissions = try await onLoop { [configuration] loop in
            let instances = [await Self.connect(on: loop, configuration), await Self.connect(on: loop, configuration)]
            func redisTime() async -> Double {
                let reply = try? await instances[0].execute(["TIME"]).get()
                let parts = reply?.elements?.compactMap(\.integer) ?? []
                return parts.count == 2 ? Double(parts[0]) * 1e6 + Double(parts[1]) : 0
            }
            var now = await redisTime()
            while (now / window).truncatingRemainder(dividingBy: 1) < 0.7 || (now / window).truncatingRemainder(dividingBy: 1) > 0.75 {
                await loop.sleep(until: .after(.milliseconds(5)))
                now = await redisTime()
            }
            let end = now + 2 * window
            var admitted: [Double] = []
            var latest = now
            while latest < end {
                // 64 calls in flight on each instance at once.
                let pending = (0..<128).map { instances[$0 % 2].evaluate(timed, keys: ["rl:{flood|a}"], arguments: arguments) }
                for call in pending {
                    guard let items = try? await call.reply().get().elements, items.count == 2,
                          let time = items[0].integer, let decision = LimitScripts.decision(items[1]) else { continue }
                    latest = max(latest, Double(time))
                    if decision.allowed { admitted.append(Double(time)) }
                }
            }
            for instance in instances { instance.close() }
            return admitted
        }
        var log = AdmissionLog()
        for time in admissions.sorted() { log.record(time, tokens: 1) }
        let ratio = Double(log.mostInAnyWindow(window)) / Double(limit)
        print("sub-window flood: \(log.total) admitted over 2 windows; most in any 1 s window: \(ratio) x the limit")
        XCTAssertLessThanOrEqual(ratio, 1.05)
        XCTAssertGreaterThanOrEqual(ratio, 0.95, "the flood filled the limit")
    }

    func testTokenBucketRefundGivesTokensBack() async throws {
        let take = (LimitScripts.tokenBucket, "rl:{tb|a}", [Self.window, "2", "1", "1"])
        let refund = (LimitScripts.tokenBucketRefund, "rl:{tb|a}", [Self.window, "1"])
        let decisions = try await run([take, take, take, refund, take, take])
        XCTAssertEqual(decisions.map(\.granted), [1, 1, 0, -1, 1, 0], "the refund (no decision) frees one")
    }

    /// A bucket spent at one rate, then the rule raised (1 per 1000 s, burst 3 → 1 per 10 s,
    /// burst 2): the stored backlog (3000 s) is beyond the new burst's reach (20 s), so the
    /// bucket is empty, not blocked for the old backlog: the next token is 10 s away, not ~3000.
    func testTokenBucketRaisedAfterItWasSpentWaitsOnlyForTheNewRate() async throws {
        let old = (LimitScripts.tokenBucket, "rl:{tb|raise}", [Self.window, "3", "1", "1"])
        let raised = (LimitScripts.tokenBucket, "rl:{tb|raise}", ["10000000", "2", "1", "1"])
        let decisions = try await run([old, old, old, old, raised])
        XCTAssertEqual(decisions.map(\.granted), [1, 1, 1, 0, 0])
        XCTAssertGreaterThan(decisions[3].retryAfterMicros, 900_000_000, "spent at the old rate: ~1000 s")
        XCTAssertLessThanOrEqual(decisions[4].retryAfterMicros, 10_000_000, "empty at the new rate: one interval")
    }

    /// A window rule whose limit crossed the log's maximum changes representation (a sorted set
    /// ↔ sub-window buckets in a hash) under the same key: both scripts start the key afresh
    /// instead of failing every call with WRONGTYPE until it expires. So does a token bucket.
    func testAWindowKeyOfTheOtherRepresentationStartsAfresh() async throws {
        let log = (LimitScripts.slidingLog, "rl:{sw|switch}", [Self.window, "2", "1", "m"])
        let buckets = (LimitScripts.subWindow, "rl:{sw|switch}", [Self.window, "2", "1"])
        let bucket = (LimitScripts.tokenBucket, "rl:{sw|switch}", [Self.window, "2", "1", "1"])
        let decisions = try await run([log, buckets, buckets, buckets, log, bucket])
        XCTAssertEqual(decisions.map(\.granted), [1, 1, 1, 0, 1, 1], "each switch starts the count again, never an error")
    }

    func testSlidingLogRefundRemovesThatAdmission() async throws {
        func take(_ member: String) -> (RedisScript, String, [String]) {
            (LimitScripts.slidingLog, "rl:{sl|a}", [Self.window, "2", "1", member])
        }
        let refund = (LimitScripts.slidingLogRefund, "rl:{sl|a}", ["1", "b"])
        let decisions = try await run([take("a"), take("b"), take("c"), refund, take("d"), take("e")])
        XCTAssertEqual(decisions.map(\.granted), [1, 1, 0, -1, 1, 0], "the refund (no decision) frees one")
    }

    /// A check formatted from a rule's pre-rendered parts is the same command as the generic one.
    func testBoundRuleCommandEqualsTheGenericEvalsha() throws {
        let rule = LimitRule(LimitRulePolicy(name: "r", algorithm: .tokenBucket(rate: LimitRate(count: 100, per: .seconds(1)), burst: 200),
                                             key: [.clientIP], onRedisFailure: .allow))
        let bound = BoundRule(rule: rule, counters: LimitRuleCounters(), local: LocalLimiter(algorithm: rule.localAlgorithm))
        var command = bound.command(key: "rl:{r|10.0.0.1}")
        RESPWriter.appendBulk(3, to: &command)
        RESPWriter.appendBulk(-12, to: &command)
        XCTAssertEqual(command, LimitScripts.tokenBucket.command(keys: ["rl:{r|10.0.0.1}"],
                                                                 arguments: ["10000.0", "200", "3", "-12"]))
        let eval = LimitScripts.tokenBucket.eval(fromEvalsha: command)
        XCTAssertEqual(eval.map { String(decoding: $0, as: UTF8.self) },
                       "*8\r\n$4\r\nEVAL\r\n$\(LimitScripts.tokenBucket.source.utf8.count)\r\n\(LimitScripts.tokenBucket.source)\r\n"
                       + "$1\r\n1\r\n$15\r\nrl:{r|10.0.0.1}\r\n$7\r\n10000.0\r\n$3\r\n200\r\n$1\r\n3\r\n$3\r\n-12\r\n")
        XCTAssertNil(LimitScripts.slidingLog.eval(fromEvalsha: command), "another script's EVALSHA")
    }
}
