import Foundation
import SluiceIO
import SluiceTestSupport
@testable import SluiceRedis
import XCTest

/// The client against a real redis-server on a free port, driven by a real event loop.
final class RedisConnectionTests: RedisLoopTestCase {
    func configuration(deadline: Duration = .milliseconds(200), failures: Int = 3) -> RedisClientConfiguration {
        RedisClientConfiguration(host: "127.0.0.1", port: redis.port, deadline: deadline,
                                 breakerFailures: failures, breakerOpenFor: .milliseconds(200))
    }

    /// Waits (on the loop) until the connection is up, bounded.
    static func waitConnected(_ connection: RedisClient, _ loop: EventLoop, tries: Int = 200) async -> Bool {
        for _ in 0..<tries {
            if connection.isConnected { return true }
            await loop.sleep(until: .after(.milliseconds(5)))
        }
        return false
    }

    func testPipelinedCallsAreMatchedInOrder() async throws {
        let configuration = configuration()
        let replies = try await onLoop { loop -> [Int] in
            let connection = RedisClient(loop: loop, configuration: configuration)
            connection.start()
            guard await Self.waitConnected(connection, loop) else { return [] }
            let calls = (1...100).map { connection.send(["INCRBY", "k", String($0)]) }
            var values: [Int] = []
            for call in calls { values.append((try? await call.reply().get())?.integer ?? -1) }
            connection.close()
            return values
        }
        XCTAssertEqual(replies.count, 100)
        var sum = 0
        XCTAssertEqual(replies, (1...100).map { sum += $0; return sum })
    }

    func testScriptIsReloadedAfterFlush() async throws {
        let configuration = configuration()
        let redis = self.redis!
        let (first, second, reloads) = try await onLoop { loop -> (Int?, Int?, Int) in
            let connection = RedisClient(loop: loop, configuration: configuration)
            connection.start()
            _ = await Self.waitConnected(connection, loop)
            let script = RedisScript("return tonumber(ARGV[1]) + 1")
            let first = try? await connection.evaluate(script, keys: ["x"], arguments: ["41"]).reply().get().integer
            _ = await connection.execute(["SCRIPT", "FLUSH"])
            let second = try? await connection.evaluate(script, keys: ["x"], arguments: ["1"]).reply().get().integer
            _ = redis
            connection.close()
            return (first, second, connection.scriptReloads)
        }
        XCTAssertEqual(first, 42)
        XCTAssertEqual(second, 2)
        XCTAssertEqual(reloads, 2, "the first EVALSHA finds no script either")
    }

    /// A call given a longer time (an idempotency record, worth more than a rate limit's few
    /// ms) outlives a stall that times out the calls around it on the same pipelined
    /// connection, and still gets its own reply, not a neighbour's.
    func testACallWithItsOwnTimeoutOutlivesAStallThatTimesOutItsNeighbours() async throws {
        let configuration = configuration(deadline: .milliseconds(20), failures: 1000)
        let redis = self.redis!
        let outcome = try await onLoop { loop -> [String] in
            let connection = RedisClient(loop: loop, configuration: configuration)
            connection.start()
            _ = await Self.waitConnected(connection, loop)
            let script = RedisScript("return tonumber(ARGV[1]) + 1")
            _ = await connection.evaluate(script, keys: ["x"], arguments: ["0"]).reply()   // loaded: EVALSHA answers
            redis.pause()
            let before = connection.send(["INCRBY", "n", "5"])
            let patient = connection.evaluate(script, evalsha: script.command(keys: ["x"], arguments: ["41"]), timeout: .milliseconds(2000))
            let after = connection.send(["INCRBY", "n", "7"])
            _ = loop.spawn {
                await loop.sleep(until: .after(.milliseconds(150)))
                redis.resume()
            }
            func describe(_ result: Result<RedisReply, RedisError>) -> String {
                switch result {
                case .success(let reply): return "\(reply.integer.map(String.init) ?? "?")"
                case .failure(let error): return "\(error)"
                }
            }
            let results = [describe(await before.reply()), describe(await patient.reply()), describe(await after.reply())]
            connection.close()
            return results
        }
        XCTAssertEqual(outcome, ["redis: timed out", "42", "redis: timed out"])
    }

    func testDeadlineAndBreakerWhenRedisIsPaused() async throws {
        let configuration = configuration(deadline: .milliseconds(20), failures: 3)
        let redis = self.redis!
        let outcome = try await onLoop { loop -> [String] in
            let connection = RedisClient(loop: loop, configuration: configuration)
            connection.start()
            _ = await Self.waitConnected(connection, loop)
            var results: [String] = []
            redis.pause()
            for _ in 0..<5 {
                let started = Deadline.now
                let result = await connection.send(["PING"]).reply()
                let waitedMillis = Int((Deadline.now.nanoseconds - started.nanoseconds) / 1_000_000)
                switch result {
                case .failure(let error): results.append("\(error) \(waitedMillis < 60 ? "fast" : "slow \(waitedMillis)")")
                case .success: results.append("ok")
                }
            }
            redis.resume()
            connection.close()
            return results
        }
        XCTAssertEqual(outcome, ["redis: timed out fast", "redis: timed out fast", "redis: timed out fast", "redis: breaker open fast", "redis: breaker open fast"])
    }

    /// A loop pass that takes longer than the deadline (a burst of requests, each verifying a
    /// signature and reading JSON before its call) must not time its calls out before Redis is
    /// even asked: the deadline starts when the bytes go out. Then the replies are read before
    /// the deadline timer judges them, however long the pass that read them took.
    func testALongLoopPassDoesNotTimeOutCallsRedisAnswersInTime() async throws {
        let configuration = configuration(deadline: .milliseconds(30), failures: 1000)
        let outcome = try await onLoop { loop -> [String] in
            let connection = RedisClient(loop: loop, configuration: configuration)
            connection.start()
            guard await Self.waitConnected(connection, loop) else { return ["not connected"] }
            // The burst: 100 calls queued in one pass, which then goes on for 100 ms.
            let calls = (1...100).map { connection.send(["SET", "burst-\($0)", "1", "NX", "PX", "60000"]) }
            usleep(100_000)
            var results: [String] = []
            for call in calls {
                switch await call.reply() {
                case .success: results.append("ok")
                case .failure(let error): results.append("\(error)")
                }
            }
            // Replies that arrive while the loop is busy with other jobs after the writer sent
            // the calls: the timer that fires after that pass must let the reader take them.
            let late = (1...50).map { connection.send(["SET", "late-\($0)", "1", "NX", "PX", "60000"]) }
            loop.spawn { usleep(100_000) }  // queued behind the writer the calls woke
            for call in late {
                switch await call.reply() {
                case .success: results.append("ok")
                case .failure(let error): results.append("\(error)")
                }
            }
            connection.close()
            return results
        }
        XCTAssertEqual(outcome.filter { $0 != "ok" }, [], "\(outcome.count) calls")
        XCTAssertEqual(outcome.count, 150)
    }

    func testReconnectsAfterRestart() async throws {
        let configuration = configuration()
        let redis = self.redis!
        let ok = try await onLoop { loop -> [Bool] in
            let connection = RedisClient(loop: loop, configuration: configuration)
            connection.start()
            _ = await Self.waitConnected(connection, loop)
            let before = (try? await connection.execute(["PING"]).get()) == .status("PONG")
            redis.stop()
            await loop.sleep(until: .after(.milliseconds(50)))
            let during = await connection.execute(["PING"])
            try? redis.start()
            let back = await Self.waitConnected(connection, loop)
            let after = (try? await connection.execute(["PING"]).get()) == .status("PONG")
            connection.close()
            return [before, (try? during.get()) == nil, back, after]
        }
        XCTAssertEqual(ok, [true, true, true, true])
    }

    /// AUTH names the ACL user when there is one; a wrong password never gets a connection.
    func testACLUserAuthenticates() async throws {
        XCTAssertEqual(redis.command(["ACL", "SETUSER", "sluice", "on", ">s3cret-pass", "~*", "+@all"]), "+OK\r\n")
        var good = configuration()
        good.username = "sluice"
        good.password = "s3cret-pass"
        var bad = good
        bad.password = "wrong"
        let (goodReply, badConnected) = try await onLoop { [good, bad] loop -> (String?, Bool) in
            let client = RedisClient(loop: loop, configuration: good)
            client.start()
            _ = await Self.waitConnected(client, loop)
            let whoami = try? await client.execute(["ACL", "WHOAMI"]).get().string
            client.close()
            let refused = RedisClient(loop: loop, configuration: bad)
            refused.start()
            let connected = await Self.waitConnected(refused, loop, tries: 40)
            refused.close()
            return (whoami, connected)
        }
        XCTAssertEqual(goodReply, "sluice")
        XCTAssertFalse(badConnected)
    }

    /// TLS to a node that speaks TLS only: the certificate is checked against the CA and the
    /// address (127.0.0.1 in its SAN); another CA, or no TLS, never gets a connection.
    func testTLSVerifiesTheNodesCertificate() async throws {
        let server = try RedisServerProcess(tls: true)
        defer { server.stop() }
        var trusted = RedisClientConfiguration(host: "127.0.0.1", port: server.port, deadline: .milliseconds(200))
        trusted.tls = RedisTLSSettings(certificateAuthorities: TestCertificates.path("ca.pem"))
        var otherCA = trusted
        otherCA.tls = RedisTLSSettings(certificateAuthorities: TestCertificates.path("client-ca.pem"))
        var wrongName = trusted
        wrongName.tls = RedisTLSSettings(certificateAuthorities: TestCertificates.path("ca.pem"), serverName: "redis.other.test")
        var plain = trusted
        plain.tls = nil
        let outcome = try await onLoop { [trusted, otherCA, wrongName, plain] loop -> (String?, [Bool]) in
            let client = RedisClient(loop: loop, configuration: trusted)
            client.start()
            _ = await Self.waitConnected(client, loop)
            _ = await client.execute(["SET", "over-tls", "yes"])
            let value = try? await client.execute(["GET", "over-tls"]).get().string
            client.close()
            var refused: [Bool] = []
            for configuration in [otherCA, wrongName, plain] {
                let other = RedisClient(loop: loop, configuration: configuration)
                other.start()
                refused.append(await !Self.waitConnected(other, loop, tries: 40))
                other.close()
            }
            return (value, refused)
        }
        XCTAssertEqual(outcome.0, "yes")
        XCTAssertEqual(outcome.1, [true, true, true], "another CA, another name, no TLS: never connected")
    }
}

