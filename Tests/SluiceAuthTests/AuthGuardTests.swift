import Foundation
import SluiceAuth
import SluiceGuards
import SluiceHTTP
import SluicePolicy
import SluiceSharedRedis
import SluiceTestSupport
import Synchronization
import XCTest

/// The auth guard as the server builds it (policy files, secret files, compile, activate),
/// against a real redis-server for the nonces, with a fixed wall clock.
final class AuthGuardTests: RedisLoopTestCase {
    static let now: Double = 1_800_000_000
    static let secret = "demo-secret-0123456789abcdef"
    static let rotated = "next-secret-abcdef0123456789"
    static let order = Array(#"{"mchid":"1900000001","out_trade_no":"T1","amount":{"total":100}}"#.utf8)

    var directory: URL!

    override func setUp() async throws {
        try await super.setUp()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-auth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("keys"), withIntermediateDirectories: true)
        try (Self.secret + "\n").write(to: directory.appendingPathComponent("keys/m1.hmac"), atomically: true, encoding: .utf8)
        try Self.rotated.write(to: directory.appendingPathComponent("keys/m1-next.hmac"), atomically: true, encoding: .utf8)
    }

    override func tearDown() async throws {
        try? FileManager.default.removeItem(at: directory)
        try await super.tearDown()
    }

    func policy(secrets: String = "[keys/m1.hmac]", failure: String = "deny", redisPort: Int? = nil) throws -> PolicySnapshot {
        let text = """
            listeners: [{name: l, address: 127.0.0.1:8080}]
            clusters: [{name: c, endpoints: [127.0.0.1:9]}]
            redis: {address: 127.0.0.1:\(redisPort ?? redis.port), deadline: 200ms}
            auth: {timestamp_window: 300s, on_redis_failure: \(failure)}
            merchants:
              - {id: "1900000001", hmac_secrets: \(secrets)}
            routes:
              - {name: pay, class: core, match: {path: /v3/pay}, cluster: c, auth: [merchant_hmac]}
              - {name: open, class: noncore, match: {prefix: /}, cluster: c}
            """
        return try PolicyLoader.load(sources: [(path: directory.appendingPathComponent("policy.yaml").path, text: text)],
                                     sections: [RedisPolicySection(), AuthPolicySection()])
    }

    /// A module on this test's loop, its guards for `policy` activated.
    func guards(_ policy: PolicySnapshot, module: AuthModule? = nil) throws -> (AuthModule, [String: any RequestGuard]) {
        let module = module ?? AuthModule(loops: [loop], wallClock: { Self.now })
        let registry = GuardStateRegistry()
        let stage = registry.stage()
        let generation = try module.compile(policy, state: stage)
        registry.commit(stage)
        generation.activate()
        return (module, ["pay": generation.guards(forRoute: "pay")[0], "open": generation.guards(forRoute: "open")[0]])
    }

    func request(target: String = "/v3/pay", body: [UInt8] = order, authorization: String?, extra: [(String, String)] = []) -> GuardRequest {
        var headers = HTTPHeaders()
        if let authorization { headers.appendLowercased(name: "authorization", value: authorization) }
        for (name, value) in extra { headers.appendLowercased(name: name, value: value) }
        var request = GuardRequest(head: HTTPRequestHead(method: "POST", target: target, version: .http1_1, headers: headers),
                                   routeName: "pay", routeIsCore: true, clientAddress: "192.0.2.1", loopIndex: 0)
        request.body = RequestBody(bytes: body, contentType: "application/json")
        return request
    }

    func signed(secret: String = secret, target: String = "/v3/pay", body: [UInt8] = order, timestamp: Double = now,
                nonce: String = MerchantHMAC.freshNonce()) -> String {
        MerchantHMAC.authorization(secret: Array(secret.utf8), merchant: "1900000001", method: "POST", target: target, body: body,
                                   timestamp: Int64(timestamp), nonce: nonce)!
    }

    static func code(_ verdict: GuardVerdict) -> String {
        switch verdict {
        case .proceed, .annotate: return "ok"
        case .reject(let reply): return reply.reason
        case .shadowReject(let reason): return "shadow:" + reason
        }
    }

    func evaluate(_ guardStep: any RequestGuard, _ request: GuardRequest) async throws -> (String, GuardRequest) {
        try await onLoop { _ in
            var request = request
            let verdict = await guardStep.evaluate(&request)
            return (Self.code(verdict), request)
        }
    }

    func testEachFailureHasItsCodeAndAGoodSignaturePasses() async throws {
        let (_, guards) = try guards(try policy())
        let pay = guards["pay"]!
        var tampered = Self.order
        tampered[10] ^= 1
        let cases: [(String, GuardRequest)] = [
            ("missing_signature", request(authorization: nil)),
            ("malformed_authorization", request(authorization: "MCH-HMAC-SHA256 mchid=\"1900000001\"")),
            ("unknown_merchant", request(authorization: signed().replacingOccurrences(of: "1900000001", with: "1900000009"))),
            ("bad_signature", request(body: tampered, authorization: signed())),
            ("bad_signature", request(target: "/v3/pay?x=1", authorization: signed())),
            ("bad_signature", request(authorization: signed(secret: "wrong-secret-0123456789abcdef"))),
            ("timestamp_out_of_window", request(authorization: signed(timestamp: Self.now - 301))),
            ("timestamp_out_of_window", request(authorization: signed(timestamp: Self.now + 301))),
            ("ok", request(authorization: signed(timestamp: Self.now - 299))),
        ]
        for (expected, request) in cases {
            let (got, _) = try await evaluate(pay, request)
            XCTAssertEqual(got, expected, request.head.headers["authorization"] ?? "no header")
        }
    }

    func testVerifiedMerchantIsPassedOnAndAClientCopyIsReplaced() async throws {
        let (_, guards) = try guards(try policy())
        let (got, after) = try await evaluate(guards["pay"]!, request(authorization: signed(), extra: [("x-sluice-merchant", "1900000666")]))
        XCTAssertEqual(got, "ok")
        XCTAssertEqual(after.merchantID, "1900000001")
        XCTAssertEqual(after.head.headers.values(for: "x-sluice-merchant"), ["1900000001"])
        let (_, open) = try await evaluate(guards["open"]!, request(authorization: nil, extra: [("x-sluice-merchant", "1900000666")]))
        XCTAssertNil(open.head.headers["x-sluice-merchant"], "routes without auth drop a client's claim")
    }

    /// The window is whole seconds at both edges: 300 s away is in (spec §6 refuses only
    /// `|now − ts| > 300`) however far into its second the clock is; 301 s is out.
    func testTheWindowEdgesAreWholeSeconds() async throws {
        let module = AuthModule(loops: [loop], wallClock: { Self.now + 0.6 })
        let (_, guards) = try guards(try policy(), module: module)
        try await waitForRedis(guards["pay"]!)
        var got: [String] = []
        for offset in [-301.0, -300, 300, 301] {
            got.append(try await evaluate(guards["pay"]!, request(authorization: signed(timestamp: Self.now + offset))).0)
        }
        XCTAssertEqual(got, ["timestamp_out_of_window", "ok", "ok", "timestamp_out_of_window"])
    }

    /// What a correctly signed client could use to make the backend read something it did not
    /// sign: a second credential, another merchant in an underscore spelling, a query spelled
    /// or ordered otherwise than it was signed.
    func testTheBackendGetsOnlyWhatWasSigned() async throws {
        let (_, guards) = try guards(try policy())
        try await waitForRedis(guards["pay"]!)
        let pay = guards["pay"]!
        let (twice, _) = try await evaluate(pay, request(authorization: signed(), extra: [("authorization", signed())]))
        XCTAssertEqual(twice, "malformed_authorization", "two Authorization fields: which one counts is anyone's guess")
        let (lowerScheme, _) = try await evaluate(pay, request(authorization: signed().replacingOccurrences(of: "MCH-HMAC-SHA256", with: "mch-hmac-sha256")))
        XCTAssertEqual(lowerScheme, "ok", "the auth-scheme is case-insensitive (RFC 9110 §11.1)")

        let target = "/v3/pay?id=2&id=1&desc=a+b&x=1;y=2"
        let (got, after) = try await evaluate(pay, request(target: target, authorization: signed(target: target),
                                                           extra: [("x_sluice_merchant", "1900000002"), ("x-api-key", "k")]))
        XCTAssertEqual(got, "ok")
        XCTAssertEqual(after.head.target, "/v3/pay?desc=a%2Bb&id=1&id=2&x=1%3By%3D2")
        // The query may name the merchant (WeChat Pay's query APIs do), as the signer only.
        for (query, expected) in [("mchid=1900000001", "ok"), ("mchid=1900000002", "merchant_mismatch"),
                                  ("mchid=1900000001&mchid=1900000002", "merchant_mismatch"), ("Mch_Id=1900000002", "merchant_mismatch"),
                                  ("%6Dchid=1900000002", "merchant_mismatch"), ("mchids=1900000002", "ok"),
                                  // What PHP's parse_str reads as mch_id or mchid.
                                  ("mch.id=1900000002", "merchant_mismatch"), ("mch%20id=1900000002", "merchant_mismatch"),
                                  ("%20mchid=1900000002", "merchant_mismatch"), ("mchid%5B%5D=1900000002", "merchant_mismatch"),
                                  ("mch%5Bid=1900000002", "merchant_mismatch"), ("mchid%00=1900000002", "merchant_mismatch"),
                                  ("x_mchid=1900000002", "ok"), ("mchid2=1900000002", "ok")] {
            let named = "/v3/pay?" + query
            let (verdict, _) = try await evaluate(pay, request(target: named, authorization: signed(target: named)))
            XCTAssertEqual(verdict, expected, query)
        }
        XCTAssertEqual(after.head.headers.map(\.name).filter { HTTPHeaders.sameAsVariable($0, "x-sluice-merchant") },
                       ["x-sluice-merchant"])
        XCTAssertEqual(after.head.headers["x-sluice-merchant"], "1900000001")
        XCTAssertNil(after.head.headers["x-api-key"], "an API key never goes upstream, whichever scheme decided")
        for spelling in ["x_sluice_merchant", "x.sluice.merchant", "x+sluice~merchant"] {
            let (_, open) = try await evaluate(guards["open"]!, request(authorization: nil, extra: [(spelling, "1900000666")]))
            XCTAssertFalse(open.head.headers.contains { HTTPHeaders.sameAsVariable($0.name, "x-sluice-merchant") }, spelling)
        }
    }

    func testANonceIsAcceptedOnceAcrossGatewaysSharingRedis() async throws {
        let snapshot = try policy()
        let (_, first) = try guards(snapshot)
        let (_, second) = try guards(snapshot)  // another process: its own nonce cache, the same Redis
        let authorization = signed(nonce: "0123456789abcdef0123")
        try await waitForRedis(first["pay"]!)
        let (a, _) = try await evaluate(first["pay"]!, request(authorization: authorization))
        let (b, _) = try await evaluate(first["pay"]!, request(authorization: authorization))
        let (c, _) = try await evaluate(second["pay"]!, request(authorization: authorization))
        XCTAssertEqual([a, b, c], ["ok", "replayed_nonce", "replayed_nonce"])
    }

    func testANonceOutlivesEveryInstantItsTimestampIsAccepted() async throws {
        // A client clock a whole window (300 s) ahead: its timestamp is accepted from now until
        // just under now + 601 s (the window is checked on the clock's whole second), and its
        // nonce must be remembered that long, here and in Redis.
        let clock = Mutex<Double>(Self.now)
        let module = AuthModule(loops: [loop], wallClock: { clock.withLock { $0 } })
        let (_, shared) = try guards(try policy(), module: module)
        try await waitForRedis(shared["pay"]!)
        let authorization = signed(timestamp: Self.now + 300, nonce: "edgeedgeedgeedge0001")
        let (first, _) = try await evaluate(shared["pay"]!, request(authorization: authorization))
        XCTAssertEqual(first, "ok")
        let ttl = try Int(RedisClusterProcesses.run(try RedisClusterProcesses.cli(),
                                                    ["-p", String(redis.port), "PTTL", "auth:nonce:{1900000001}:edgeedgeedgeedge0001"])
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        XCTAssertGreaterThan(ttl, 600_000, "Redis keeps the nonce past now + 600 s")
        // In this process's own cache too: just under 601 s later, the timestamp is still in
        // the window, and a replay is refused (it went through after 600 s).
        clock.withLock { $0 = Self.now + 600.9 }
        let (late, _) = try await evaluate(shared["pay"]!, request(authorization: authorization))
        XCTAssertEqual(late, "replayed_nonce")
        clock.withLock { $0 = Self.now + 601 }
        let (expired, _) = try await evaluate(shared["pay"]!, request(authorization: authorization))
        XCTAssertEqual(expired, "timestamp_out_of_window")
        // Redis away (`local`): this process's cache alone refuses it (it let it through).
        clock.withLock { $0 = Self.now }
        let (_, alone) = try guards(try policy(failure: "local", redisPort: 1),
                                    module: AuthModule(loops: [loop], wallClock: { clock.withLock { $0 } }))
        let again = signed(timestamp: Self.now + 300, nonce: "edgeedgeedgeedge0002")
        let (localFirst, _) = try await evaluate(alone["pay"]!, request(authorization: again))
        clock.withLock { $0 = Self.now + 600.9 }
        let (localLate, _) = try await evaluate(alone["pay"]!, request(authorization: again))
        XCTAssertEqual([localFirst, localLate], ["ok", "replayed_nonce"])
    }

    func testForgedRequestsDoNotBurnNonces() async throws {
        let (_, guards) = try guards(try policy())
        try await waitForRedis(guards["pay"]!)
        let nonce = "forgedforgedforged01"
        let (forged, _) = try await evaluate(guards["pay"]!, request(authorization: signed(secret: "wrong-secret-0123456789abcdef", nonce: nonce)))
        let (real, _) = try await evaluate(guards["pay"]!, request(authorization: signed(nonce: nonce)))
        XCTAssertEqual([forged, real], ["bad_signature", "ok"])
    }

    func testBothSecretsVerifyDuringRotation() async throws {
        let (_, guards) = try guards(try policy(secrets: "[keys/m1.hmac, keys/m1-next.hmac]"))
        try await waitForRedis(guards["pay"]!)
        let (old, _) = try await evaluate(guards["pay"]!, request(authorization: signed(secret: Self.secret)))
        let (new, _) = try await evaluate(guards["pay"]!, request(authorization: signed(secret: Self.rotated)))
        XCTAssertEqual([old, new], ["ok", "ok"])
    }

    func testRedisDownFollowsTheFailureMode() async throws {
        let deadPort = 1  // nothing listens there
        let (_, deny) = try guards(try policy(failure: "deny", redisPort: deadPort))
        let (_, local) = try guards(try policy(failure: "local", redisPort: deadPort))
        let (_, allow) = try guards(try policy(failure: "allow", redisPort: deadPort))
        let (denied, _) = try await evaluate(deny["pay"]!, request(authorization: signed()))
        let authorization = signed()
        let (first, _) = try await evaluate(local["pay"]!, request(authorization: authorization))
        let (replay, _) = try await evaluate(local["pay"]!, request(authorization: authorization))
        let (allowed, _) = try await evaluate(allow["pay"]!, request(authorization: signed()))
        XCTAssertEqual([denied, first, replay, allowed], ["auth_unavailable", "ok", "replayed_nonce", "ok"])
    }

    func testSecretsMayComeFromTheEnvironment() async throws {
        setenv("SLUICE_TEST_SECRET_M1", Self.secret, 1)
        defer { unsetenv("SLUICE_TEST_SECRET_M1") }
        let (_, guards) = try guards(try policy(secrets: "[env:SLUICE_TEST_SECRET_M1]"))
        try await waitForRedis(guards["pay"]!)
        XCTAssertThrowsError(try policy(secrets: "[env:SLUICE_TEST_SECRET_UNSET]")) { error in
            XCTAssertTrue("\(error)".contains("environment variable SLUICE_TEST_SECRET_UNSET is not set"), "\(error)")
        }
    }

    func testPolicyErrorsPointAtTheirLine() throws {
        XCTAssertThrowsError(try policy(secrets: "[keys/missing.hmac]")) { error in
            XCTAssertTrue("\(error)".contains("policy.yaml:6:"), "\(error)")
            XCTAssertTrue("\(error)".contains("cannot read secret file"), "\(error)")
            XCTAssertTrue("\(error)".contains("No such file or directory"), "the system's reason: \(error)")
        }
        try "short".write(to: directory.appendingPathComponent("keys/short.hmac"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try policy(secrets: "[keys/short.hmac]")) { error in
            XCTAssertTrue("\(error)".contains("shorter than 16 bytes"), "\(error)")
            XCTAssertFalse("\(error)".contains("short\""), "the secret itself is never quoted")
        }
    }

    func testAPIKeysAndClientCertificatesIdentifyInternalCallers() async throws {
        let text = """
            listeners: [{name: l, address: 127.0.0.1:8080}]
            clusters: [{name: c, endpoints: [127.0.0.1:9]}]
            redis: {address: 127.0.0.1:\(redis.port), deadline: 200ms}
            merchants:
              - {id: "internal-1", api_key_sha256: [30925c15faa15e969dbee61f11ed5b37ffd774692826c7bc25ca7a2a1f6e7d28], client_certificate_subjects: ["CN=client-1,O=Acme Payments"]}
            routes:
              - {name: internal, class: noncore, match: {prefix: /internal/}, cluster: c, auth: [api_key, mtls]}
            """
        let snapshot = try PolicyLoader.load(sources: [(path: directory.appendingPathComponent("policy.yaml").path, text: text)],
                                             sections: [RedisPolicySection(), AuthPolicySection()])
        let generation = try AuthModule(loops: [loop], wallClock: { Self.now }).compile(snapshot, state: GuardStateRegistry().stage())
        let internalGuard = generation.guards(forRoute: "internal")[0]
        func call(key: String? = nil, subject: String? = nil) async throws -> (String, GuardRequest) {
            var request = request(authorization: nil, extra: key.map { [("x-api-key", $0)] } ?? [])
            request.clientCertificateSubject = subject
            return try await evaluate(internalGuard, request)
        }
        let (byKey, keyed) = try await call(key: "internal-caller-key-0123456789")
        XCTAssertEqual(byKey, "ok")
        XCTAssertEqual(keyed.merchantID, "internal-1")
        XCTAssertNil(keyed.head.headers["x-api-key"], "the key is never forwarded")
        let (wrongKey, _) = try await call(key: "internal-caller-key-0123456780")
        XCTAssertEqual(wrongKey, "unknown_merchant")
        let (bySubject, certified) = try await call(subject: "CN=client-1,O=Acme Payments")
        XCTAssertEqual(bySubject, "ok")
        XCTAssertEqual(certified.merchantID, "internal-1")
        let (otherSubject, _) = try await call(subject: "CN=client-2,O=Acme Payments")
        XCTAssertEqual(otherSubject, "unknown_merchant")
        let (neither, _) = try await call()
        XCTAssertEqual(neither, "missing_signature")
    }

    /// The set connects in the background after activation; a first call made before it is
    /// connected would fall to the failure mode.
    private func waitForRedis(_ guardStep: any RequestGuard) async throws {
        for _ in 0..<200 {
            let (result, _) = try await evaluate(guardStep, request(authorization: signed()))
            if result == "ok" { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTFail("redis never connected")
    }
}
