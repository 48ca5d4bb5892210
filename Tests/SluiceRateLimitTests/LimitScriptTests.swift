import SluiceIO
import SluiceTestSupport
import SluicePolicy
@testable import SluiceRateLimit
@testable import SluiceRedis
import XCTest

/// The weighted-window script and the refund scripts against a real redis-server (the token
/// bucket and sliding log are exercised end to end by the integration tests). Windows and
/// emission intervals are long (1000 s), so nothing refills or moves on while a test runs.
final class LimitScriptTests: RedisLoopTestCase {
    /// Runs `calls` in order on one connection (on the loop): each is a script, a key and its
    /// arguments; returns each reply as a decision (granted -1 when it was none, as a refund's).
    func run(_ calls: [(RedisScript, String, [String])]) async throws -> [LimitDecision] {
        let configuration = RedisClientConfiguration(host: "127.0.0.1", port: redis.port, deadline: .seconds(2),
                                                     breakerFailures: 3, breakerOpenFor: .milliseconds(200))
        return try await Task(executorPreference: loop) { [loop = loop!] in
            let connection = RedisConnection(loop: loop, configuration: configuration)
            connection.start()
            for _ in 0..<400 where !connection.isConnected { await loop.sleep(until: .after(.milliseconds(5))) }
            var decisions: [LimitDecision] = []
            for (script, key, arguments) in calls {
                let reply = try? await connection.evaluate(script, keys: [key], arguments: arguments).reply().get()
                decisions.append(reply.flatMap(LimitScripts.decision)
                                 ?? LimitDecision(granted: -1, remaining: 0, retryAfterMicros: 0, resetMicros: 0))
            }
            connection.close()
            return decisions
        }.value
    }

    static let window = "1000000000"  // µs: 1000 s

    func testWeightedWindowAdmitsItsLimitAndRefundGivesBack() async throws {
        let take = (LimitScripts.weightedWindow, "rl:{ww|a}", [Self.window, "3", "1"])
        let takeTwo = (LimitScripts.weightedWindow, "rl:{ww|a}", [Self.window, "3", "2"])
        let refund = (LimitScripts.weightedWindowRefund, "rl:{ww|a}", ["1"])
        let decisions = try await run([take, take, takeTwo, take, take, refund, take, take])
        XCTAssertEqual(decisions.map(\.granted), [1, 1, 0, 1, 0, -1, 1, 0],
                       "limit 3: a cost of 2 does not fit after 2; the refund (no decision) frees one")
        XCTAssertEqual(decisions[0].remaining, 2)
        XCTAssertEqual(decisions[3].remaining, 0)
        XCTAssertGreaterThan(decisions[4].retryAfterMicros, 0)
    }

    func testTokenBucketRefundGivesTokensBack() async throws {
        let take = (LimitScripts.tokenBucket, "rl:{tb|a}", [Self.window, "2", "1", "1"])
        let refund = (LimitScripts.tokenBucketRefund, "rl:{tb|a}", [Self.window, "1"])
        let decisions = try await run([take, take, take, refund, take, take])
        XCTAssertEqual(decisions.map(\.granted), [1, 1, 0, -1, 1, 0], "the refund (no decision) frees one")
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
