import SluiceGuards
import SluiceHTTP
import SluiceIO
@testable import SluiceIdempotency
import SluiceRedis
import SluiceTestSupport
import XCTest

/// The record scripts on a real redis-server: they make the same decisions as `RecordBook` on
/// the same random sequences, and an abandoned claim turns `unknown` on Redis's own clock.
final class RecordScriptTests: RedisLoopTestCase {
    private var configuration: RedisClientConfiguration {
        RedisClientConfiguration(host: "127.0.0.1", port: redis.port, deadline: .seconds(2), breakerFailures: 3,
                                 breakerOpenFor: .milliseconds(200))
    }

    static func connect(on loop: EventLoop, _ configuration: RedisClientConfiguration) async -> RedisClient {
        let connection = RedisClient(loop: loop, configuration: configuration)
        connection.start()
        for _ in 0..<400 where !connection.isConnected { await loop.sleep(until: .after(.milliseconds(5))) }
        return connection
    }

    private enum Step: Sendable {
        case claim(keys: [String], fingerprint: String, owner: String, reclaim: Bool)
        case complete(keys: [String], owner: String, completion: Completion)
    }

    private enum Answer: Equatable, Sendable {
        case claim(ClaimResult?)
        case complete(Int?)
    }

    func testScriptsDecideLikeTheRecordBook() async throws {
        var random = SplitMix64(seed: 0x1DE4)
        let responses = [
            StoredResponse(status: 200, headers: [.init(name: "content-type", value: "application/json")], body: Array("{\"ok\":1}".utf8)),
            StoredResponse(status: 400, headers: [], body: [0, 13, 10, 255]),
            StoredResponse(status: 200, headers: [], body: [], isReplayable: false),
        ]
        var steps: [Step] = []
        for _ in 0..<3000 {
            // One or two keys of sixteen, as a request with a header key, a business key, or
            // both (enough keys that done records, which spread to a request's new keys, do not
            // take them all early in the sequence).
            let first = "idem:{m}:r:" + String(random.next() % 16)
            let second = "idem:{m}:r:" + String(random.next() % 16)
            let keys = random.next() % 2 == 0 || first == second ? [first] : [first, second]
            let owner = "o" + String(random.next() % 6)
            switch random.next() % 3 {
            case 0:
                steps.append(.claim(keys: keys, fingerprint: "f" + String(random.next() % 2), owner: owner, reclaim: random.next() % 2 == 0))
            default:
                let completion: Completion
                switch random.next() % 3 {
                case 0: completion = .release
                case 1: completion = .unknown
                default: completion = .done(responses[Int(random.next() % 3)])
                }
                steps.append(.complete(keys: keys, owner: owner, completion: completion))
            }
        }
        // Long lease and TTL: no time-based transition happens while the sequence runs.
        let (lease, ttl): (Int64, Int64) = (3_600_000, 7_200_000)
        var book = RecordBook()
        let expected: [Answer] = steps.map { step in
            switch step {
            case let .claim(keys, fingerprint, owner, reclaim):
                return .claim(book.claim(keys, fingerprint: fingerprint, owner: owner, leaseMs: lease, ttlMs: ttl, reclaimUnknown: reclaim, now: 0))
            case let .complete(keys, owner, completion):
                return .complete(book.complete(keys, owner: owner, with: completion, ttlMs: ttl, now: 0))
            }
        }
        let actual: [Answer] = try await onLoop { [configuration, steps] loop in
            let connection = await Self.connect(on: loop, configuration)
            defer { connection.close() }
            var answers: [Answer] = []
            for step in steps {
                switch step {
                case let .claim(keys, fingerprint, owner, reclaim):
                    let command = IdempotencyScripts.claimCommand(keys: keys, fingerprint: fingerprint, owner: owner, leaseMs: lease, ttlMs: ttl,
                                                                  reclaimUnknown: reclaim)
                    let reply = try? await connection.evaluate(IdempotencyScripts.claim, evalsha: command).reply().get()
                    answers.append(.claim(reply.flatMap(IdempotencyScripts.claimResult)))
                case let .complete(keys, owner, completion):
                    let command = IdempotencyScripts.completeCommand(keys: keys, owner: owner, completion: completion, ttlMs: ttl)
                    let reply = try? await connection.evaluate(IdempotencyScripts.complete, evalsha: command).reply().get()
                    answers.append(.complete(reply?.integer))
                }
            }
            return answers
        }
        XCTAssertEqual(actual.count, expected.count)
        for (index, (got, want)) in zip(actual, expected).enumerated() where got != want {
            XCTFail("step \(index) \(steps[index]): Redis \(got), RecordBook \(want)")
            break
        }
        // The sequence reached every kind of answer (it would prove little otherwise).
        for wanted: ClaimResult in [.claimed, .mismatch, .inFlight(owner: "o0"), .unknown, .done(responses[0]), .done(responses[1]), .done(responses[2])] {
            XCTAssertTrue(expected.contains(.claim(wanted)), "never saw \(wanted)")
        }
    }

    /// Claims `key` as each owner in turn on one connection, pausing `pause` before the last.
    private func claims(_ key: String, leaseMs: Int64, ttlMs: Int64, owners: [String], pause: Duration) async throws -> [ClaimResult?] {
        try await onLoop { [configuration] loop in
            let connection = await Self.connect(on: loop, configuration)
            defer { connection.close() }
            var results: [ClaimResult?] = []
            for (index, owner) in owners.enumerated() {
                if index == owners.count - 1 { await loop.sleep(until: .after(pause)) }
                let command = IdempotencyScripts.claimCommand(keys: [key], fingerprint: "f", owner: owner, leaseMs: leaseMs, ttlMs: ttlMs,
                                                              reclaimUnknown: false)
                results.append((try? await connection.evaluate(IdempotencyScripts.claim, evalsha: command).reply().get())
                    .flatMap(IdempotencyScripts.claimResult))
            }
            return results
        }
    }

    func testAnAbandonedClaimTurnsUnknownOnRedisTime() async throws {
        let results = try await claims("idem:{m}:r:lease", leaseMs: 50, ttlMs: 60_000, owners: ["a", "b", "c"], pause: .milliseconds(120))
        XCTAssertEqual(results, [.claimed, .inFlight(owner: "a"), .unknown])
        XCTAssertEqual(redis.command(["HGET", "idem:{m}:r:lease", "s"]), "$7\r\nunknown\r\n")
        let ttl = Int(redis.command(["PTTL", "idem:{m}:r:lease"]).dropFirst().prefix { $0.isNumber }) ?? -1
        XCTAssertGreaterThan(ttl, 50_000, "the record keeps its TTL")
    }

    /// The scripts keep a claimed record at least for its lease when the TTL is shorter (as the
    /// book does: `testARecordOutlivesItsLeaseWhateverTheTTL`).
    func testAClaimOutlivesItsLeaseInRedisWhateverTheTTL() async throws {
        let results = try await claims("idem:{m}:r:short", leaseMs: 60_000, ttlMs: 100, owners: ["a", "b"], pause: .milliseconds(250))
        XCTAssertEqual(results, [.claimed, .inFlight(owner: "a")], "the 100 ms TTL must not end a claim with a 60 s lease")
        let ttl = Int(redis.command(["PTTL", "idem:{m}:r:short"]).dropFirst().prefix { $0.isNumber }) ?? -1
        XCTAssertGreaterThan(ttl, 50_000)
    }
}
