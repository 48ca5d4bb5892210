import SluiceGuards
import SluiceHTTP
import SluiceIO
@testable import SluiceIdempotency
import SluiceRedis
import SluiceSharedRedis
import SluiceTestSupport
import XCTest

/// The guard on a real redis-server, with requests made here and outcomes told to its
/// observers as the proxy would: concurrent duplicates, replays, waiting retries, key reuse,
/// and Redis going away under both failure modes.
final class IdempotencyGuardTests: RedisLoopTestCase {
    private func makeGuard(_ rule: IdempotencyRulePolicy, pending: PendingCompletions = PendingCompletions(),
                           uncertainClaims: UncertainClaims = UncertainClaims(),
                           deadline: Duration = .milliseconds(500)) -> (IdempotencyGuard, RedisConnectionSet) {
        let set = RedisConnectionSet(loops: [loop], configuration: RedisClientConfiguration(
            host: "127.0.0.1", port: redis.port, deadline: deadline, breakerFailures: 100, breakerOpenFor: .milliseconds(100)))
        set.start()
        return (IdempotencyGuard(rule: rule, routeTimeout: .seconds(10), redis: set, loops: [loop], decisions: IdempotencyCounters(),
                                 owners: OwnerTokens(), pending: pending, uncertainClaims: uncertainClaims), set)
    }

    private static func request(key: String?, body: String = #"{"amount":{"total":100}}"#, merchant: String = "1900000001") -> GuardRequest {
        var headers = HTTPHeaders()
        if let key { headers.appendLowercased(name: "idempotency-key", value: key) }
        var request = GuardRequest(head: HTTPRequestHead(method: "POST", target: "/v3/pay", version: .http1_1, headers: headers),
                                   routeName: "pay", routeIsCore: true, clientAddress: "127.0.0.1", merchantID: merchant)
        request.body = RequestBody(bytes: Array(body.utf8), contentType: "application/json")
        return request
    }

    /// Evaluates one request; returns the verdict and the observers it registered.
    private static func evaluate(_ guardStep: IdempotencyGuard, _ request: GuardRequest) async -> (GuardVerdict, [any OutcomeObserver], [String]) {
        var request = request
        let verdict = await guardStep.evaluate(&request)
        return (verdict, request.outcomeObservers, request.logNotes)
    }

    private static let answered = RequestOutcome(
        route: "pay", attempt: 1, status: 200,
        responseHead: HTTPResponseHead(status: 200, headers: HTTPHeaders([("content-type", "application/json"), ("set-cookie", "s=1")])),
        responseBody: Array("{\"prepay_id\":\"wx1\"}".utf8))

    private static func waitForRedis(_ connection: RedisClient, _ loop: EventLoop) async {
        for _ in 0..<400 where !connection.isConnected { await loop.sleep(until: .after(.milliseconds(5))) }
    }

    func testConcurrentDuplicatesReachTheBackendOnceAndRetriesGetTheStoredAnswer() async throws {
        let (guardStep, set) = makeGuard(IdempotencyRulePolicy(name: "orders"))
        defer { set.close() }
        let verdicts: [GuardVerdict] = try await onLoop { loop in
            await Self.waitForRedis(set[0], loop)
            let results = await withTaskGroup(of: (GuardVerdict, [any OutcomeObserver]).self) { group in
                for _ in 0..<50 {
                    group.addTask { let (verdict, observers, _) = await Self.evaluate(guardStep, Self.request(key: "\"order-1\"")); return (verdict, observers) }
                }
                var all: [(GuardVerdict, [any OutcomeObserver])] = []
                for await result in group { all.append(result) }
                return all
            }
            // The one that went through ends: the backend answered.
            for (verdict, observers) in results where verdict == .proceed { observers.forEach { $0.requestFinished(Self.answered) } }
            await loop.sleep(until: .after(.milliseconds(50)))
            let (retry, _, _) = await Self.evaluate(guardStep, Self.request(key: "order-1"))
            return results.map(\.0) + [retry]
        }
        XCTAssertEqual(verdicts.prefix(50).filter { $0 == .proceed }.count, 1)
        for verdict in verdicts.prefix(50) where verdict != .proceed {
            guard case .reject(let reply) = verdict else { return XCTFail("\(verdict)") }
            XCTAssertEqual(reply.status, 409)
            XCTAssertEqual(reply.reason, "request_in_flight")
            XCTAssertEqual(reply.headers["retry-after"], "1")
        }
        guard case .reject(let replay) = verdicts[50] else { return XCTFail("the retry was not replayed: \(verdicts[50])") }
        XCTAssertEqual(replay.status, 200)
        XCTAssertEqual(replay.body, Array("{\"prepay_id\":\"wx1\"}".utf8))
        XCTAssertEqual(replay.headers["idempotent-replayed"], "true")
        XCTAssertEqual(replay.headers["content-type"], "application/json")
        XCTAssertNil(replay.headers["set-cookie"], "cookies are never stored")
        XCTAssertEqual(guardStep.decisions.claimed, 1)
        XCTAssertEqual(guardStep.decisions.replayed, 1)
    }

    /// Holds a guard and its connection set until the test lets go of them (a reload retiring
    /// the policy generation that had them).
    final class Generation: @unchecked Sendable {
        var guardStep: IdempotencyGuard?
        var set: RedisConnectionSet?
    }

    /// A request in flight when its generation is retired (a reload that changed the `redis`
    /// settings): nothing else holds the connection set now, and its clients close when the set
    /// goes. The completion must still reach Redis: it held only its client, found it closed,
    /// and the record stayed in flight, then unknown (every retry 409 for an order that ran).
    func testACompletionReachesRedisAfterItsGenerationWasRetired() async throws {
        let generation = Generation()
        (generation.guardStep, generation.set) = makeGuard(IdempotencyRulePolicy(name: "orders"))
        let (next, nextSet) = makeGuard(IdempotencyRulePolicy(name: "orders"))
        defer { nextSet.close() }
        let retry: GuardVerdict = try await onLoop { loop in
            await Self.waitForRedis(generation.set![0], loop)
            let (verdict, observers, _) = await Self.evaluate(generation.guardStep!, Self.request(key: "\"retired-1\""))
            guard verdict == .proceed else { return verdict }
            generation.guardStep = nil
            generation.set = nil  // the last holder but the request's own observer
            observers.forEach { $0.requestFinished(Self.answered) }
            await loop.sleep(until: .after(.milliseconds(100)))
            await Self.waitForRedis(nextSet[0], loop)
            return await Self.evaluate(next, Self.request(key: "\"retired-1\"")).0
        }
        guard case .reject(let replay) = retry else { return XCTFail("the retry was not replayed: \(retry)") }
        XCTAssertEqual(replay.status, 200, "\(replay.reason ?? "")")
        XCTAssertEqual(replay.headers["idempotent-replayed"], "true")
    }

    func testARetryThatWaitsGetsTheOriginalsAnswer() async throws {
        var rule = IdempotencyRulePolicy(name: "orders")
        rule.inFlightWait = .seconds(2)
        let (guardStep, set) = makeGuard(rule)
        defer { set.close() }
        let waited: GuardVerdict = try await onLoop { loop in
            await Self.waitForRedis(set[0], loop)
            let (first, observers, _) = await Self.evaluate(guardStep, Self.request(key: "k-wait"))
            XCTAssertEqual(first, .proceed)
            let finisher = loop.spawn {
                await loop.sleep(until: .after(.milliseconds(150)))
                observers.forEach { $0.requestFinished(Self.answered) }
            }
            let (retry, _, _) = await Self.evaluate(guardStep, Self.request(key: "k-wait"))
            await finisher.value
            return retry
        }
        guard case .reject(let replay) = waited else { return XCTFail("\(waited)") }
        XCTAssertEqual(replay.status, 200)
        XCTAssertEqual(replay.headers["idempotent-replayed"], "true")
    }

    func testKeyReuseMerchantsAndUnknownOutcomes() async throws {
        let (guardStep, set) = makeGuard(IdempotencyRulePolicy(name: "orders"))
        defer { set.close() }
        let verdicts: [GuardVerdict] = try await onLoop { loop in
            await Self.waitForRedis(set[0], loop)
            let (first, observers, _) = await Self.evaluate(guardStep, Self.request(key: "k"))
            let (otherAmount, _, _) = await Self.evaluate(guardStep, Self.request(key: "k", body: #"{"amount":{"total":101}}"#))
            let (otherMerchant, _, _) = await Self.evaluate(guardStep, Self.request(key: "k", merchant: "1900000002"))
            // The first times out after it was sent: its outcome is unknown.
            observers.forEach { $0.requestFinished(RequestOutcome(route: "pay", attempt: 1, status: 504, failure: .upstreamTimeout)) }
            await loop.sleep(until: .after(.milliseconds(50)))
            let (retry, _, _) = await Self.evaluate(guardStep, Self.request(key: "k"))
            return [first, otherAmount, otherMerchant, retry]
        }
        XCTAssertEqual(verdicts[0], .proceed)
        XCTAssertEqual(verdicts[1], .reject(IdempotencyReplies.reused))
        XCTAssertEqual(verdicts[2], .proceed, "another merchant's key of the same name is another record")
        XCTAssertEqual(verdicts[3], .reject(IdempotencyReplies.outcomeUnknown))
    }

    func testMissingAndMalformedKeys() async throws {
        var rule = IdempotencyRulePolicy(name: "orders")
        rule.required = true
        let (guardStep, set) = makeGuard(rule)
        defer { set.close() }
        let verdicts: [GuardVerdict] = try await onLoop { _ in
            [await Self.evaluate(guardStep, Self.request(key: nil)).0, await Self.evaluate(guardStep, Self.request(key: "\"open")).0]
        }
        XCTAssertEqual(verdicts[0], .reject(IdempotencyReplies.missingKey(rule)))
        guard case .reject(let malformed) = verdicts[1] else { return XCTFail("\(verdicts[1])") }
        XCTAssertEqual(malformed.status, 400)
        XCTAssertEqual(malformed.reason, "invalid_idempotency_key")
    }

    func testRedisGoneFollowsTheFailureMode() async throws {
        var allow = IdempotencyRulePolicy(name: "allow")
        allow.onRedisFailure = .allow
        let (deny, denySet) = makeGuard(IdempotencyRulePolicy(name: "deny"))
        let (allowing, allowSet) = makeGuard(allow)
        defer { denySet.close(); allowSet.close() }
        try await onLoop { loop in
            await Self.waitForRedis(denySet[0], loop)
            await Self.waitForRedis(allowSet[0], loop)
        }
        redis.stop()
        let results = try await onLoop { _ in
            [await Self.evaluate(deny, Self.request(key: "k")), await Self.evaluate(allowing, Self.request(key: "k"))].map { ($0.0, $0.1.count, $0.2) }
        }
        XCTAssertEqual(results[0].0, .reject(IdempotencyReplies.unavailable))
        XCTAssertEqual(results[1].0, .proceed)
        XCTAssertEqual(results[1].1, 1, "the claim may still run: its outcome completes it (only if it did)")
        XCTAssertEqual(results[1].2, ["idempotency_unavailable:allow"])
        XCTAssertEqual(allowing.decisions.forwardedWithoutGuarantee, 1)
    }

    /// Evaluates a request with `key` while Redis is frozen (SIGSTOP) past the connection's
    /// deadline, then lets Redis run what it was sent. A first request warms Redis up: it knows
    /// the claim script then (a first EVALSHA comes back NOSCRIPT, and a timed-out call's is
    /// dropped, so the claim would never run).
    private func evaluateWhileRedisStalls(_ guardStep: IdempotencyGuard, _ set: RedisConnectionSet,
                                          key: String) async throws -> (GuardVerdict, [any OutcomeObserver]) {
        let warm = try await onLoop { loop in
            await Self.waitForRedis(set[0], loop)
            return await Self.evaluate(guardStep, Self.request(key: "k-warm")).0
        }
        XCTAssertEqual(warm, .proceed)
        redis.pause()
        let (verdict, observers, _) = try await onLoop { _ in await Self.evaluate(guardStep, Self.request(key: key)) }
        redis.resume()
        return (verdict, observers)
    }

    /// Redis stalls past the claim's deadline and then runs it: the request was refused (deny),
    /// so the claim is released once Redis answers, and a retry goes through instead of 409
    /// (left alone the record read in_flight, then unknown, for a payment never forwarded).
    func testAClaimRedisRunsAfterItsDeadlineIsReleasedWhenTheRequestWasRefused() async throws {
        let claims = UncertainClaims()
        let (guardStep, set) = makeGuard(IdempotencyRulePolicy(name: "orders"), uncertainClaims: claims, deadline: .milliseconds(100))
        defer { set.close() }
        let (refused, _) = try await evaluateWhileRedisStalls(guardStep, set, key: "k-stalled")
        XCTAssertEqual(refused, .reject(IdempotencyReplies.unavailable))
        let retried = try await onLoop { loop -> GuardVerdict in
            for _ in 0..<200 where claims.released == 0 { await loop.sleep(until: .after(.milliseconds(10))) }
            return await Self.evaluate(guardStep, Self.request(key: "k-stalled")).0
        }
        XCTAssertEqual(claims.released, 1)
        XCTAssertEqual(claims.abandoned, 0)
        XCTAssertEqual(retried, .proceed, "the retry claims the key the refused request never used")
    }

    /// The same stall with `allow`: the request went on, so its late claim is completed with its
    /// outcome and a retry gets the stored answer (not 409 for the lease, then unknown).
    func testAClaimRedisRunsAfterItsDeadlineIsCompletedWhenTheRequestWentOn() async throws {
        var rule = IdempotencyRulePolicy(name: "orders")
        rule.onRedisFailure = .allow
        let (guardStep, set) = makeGuard(rule, deadline: .milliseconds(100))
        defer { set.close() }
        let (verdict, observers) = try await evaluateWhileRedisStalls(guardStep, set, key: "k-allowed")
        XCTAssertEqual(verdict, .proceed)
        let retried = try await onLoop { loop -> GuardVerdict in
            observers.forEach { $0.requestFinished(Self.answered) }
            // The completion is queued behind the late claim; give Redis a moment after SIGCONT.
            await loop.sleep(until: .after(.milliseconds(200)))
            return await Self.evaluate(guardStep, Self.request(key: "k-allowed")).0
        }
        XCTAssertEqual(guardStep.decisions.completionFailures, 0)
        guard case .reject(let replay) = retried else { return XCTFail("\(retried)") }
        XCTAssertEqual(replay.status, 200, "the stored answer, replayed")
        XCTAssertEqual(replay.body, Self.answered.responseBody)
    }

    func testARetryOfARequestThatEndedHereIsAnsweredBeforeRedisHasItsCompletion() async throws {
        let pending = PendingCompletions()
        let (guardStep, set) = makeGuard(IdempotencyRulePolicy(name: "orders"), pending: pending)
        defer { set.close() }
        let request = Self.request(key: "k-pending")
        let recordKey = IdempotencyKey(kind: "h", value: "k-pending").recordKey(scope: "1900000001", rule: "orders")
        let fingerprint = IdempotencyKey.fingerprint(method: "POST", target: "/v3/pay", bodySHA256Hex: request.body!.sha256Hex)
        let stored = StoredResponse(status: 200, headers: [.init(name: "content-type", value: "application/json")], body: Array("{}".utf8))
        let verdicts: [GuardVerdict] = try await onLoop { loop in
            await Self.waitForRedis(set[0], loop)
            // Another loop's request holds the key in Redis and has just ended here.
            let claim = IdempotencyScripts.claimCommand(keys: [recordKey], fingerprint: fingerprint, owner: "this-process:1",
                                                        leaseMs: 60_000, ttlMs: 60_000, reclaimUnknown: false)
            _ = await set[0].evaluate(IdempotencyScripts.claim, evalsha: claim).reply()
            let before = await Self.evaluate(guardStep, request).0
            pending.add(.done(stored), owner: "this-process:1")
            let after = await Self.evaluate(guardStep, request).0
            pending.add(.unknown, owner: "this-process:1")
            let unknown = await Self.evaluate(guardStep, request).0
            return [before, after, unknown]
        }
        XCTAssertEqual(verdicts[0], .reject(IdempotencyReplies.inFlight))
        XCTAssertEqual(verdicts[1], .reject(stored.replay))
        XCTAssertEqual(verdicts[2], .reject(IdempotencyReplies.outcomeUnknown))
    }
}
