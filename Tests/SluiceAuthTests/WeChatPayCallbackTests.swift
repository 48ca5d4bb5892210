import Foundation
@testable import SluiceAuth
import SluiceGuards
import SluiceHTTP
import SluicePolicy
import SluiceSharedRedis
import SluiceTestSupport
import XCTest

/// WeChat Pay v3 signatures: the spec's RSA vectors (§2) with the published SDK test key, and the
/// callback scheme through the auth guard (RSA on the crypto pool, nonces in Redis).
final class WeChatPayCallbackTests: RedisLoopTestCase {
    static let now: Double = 1554208460 + 10
    static let callbackBody = Array(#"{"id":"EV-2018022511223320873"}"#.utf8)
    static let callbackSignature = "mMlF9R2at2O3A5K6Itagf0VFcSF6hVbBlSYKofXWV4cBI2iFtf7sCVV4naa5qVN/2Rq0vqEmBJDUD9OmAVWothH5XCvmar6IekdxWWCkHfJuyUy2UC/7A6WPSvNQmgq4BKcUplMy4wTRYMBjdLGFE6Gfl3am3SAIrAAR6DQuAqo1UNviDdQuHSjjfnQ6+5I3R7M97qP7gi3vPpVY72sr5wirQpj8B/cjYckD4Zhh6vg34duAiP3T8fAybNLTLZ+UPsIUIwLPBtIKs2XdsGlPY4/Xv5PadZA5hDhwGhQftXZiUbOuMe2YtlHwHlhchaztP1ncPhb/erDOCDAbZJyWwg=="

    var publicKeyPath: String { Bundle.module.url(forResource: "Vectors/wechatpay-go-test-key.pub", withExtension: "pem")!.path }

    func testPublishedRSAVectorsVerifyAndAOneByteChangeFails() throws {
        let key = try RSAPublicKey(pemFile: publicKeyPath)
        let vectors: [(String, String)] = [
            ("source", "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="),
            ("POST\n/v3/pay/transactions/native\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{\"appid\":\"wxd678efh567hg6787\",\"mchid\":\"1230000109\",\"description\":\"test\",\"out_trade_no\":\"1217752501201407033233368018\",\"notify_url\":\"https://example.com/notify\",\"amount\":{\"total\":100,\"currency\":\"CNY\"}}\n",
             "j/G80Xi5Q+Qm+g5HNax6SJlxPSmJ0I6bWEVcAMQQCvuZWuySxhV039kCKTm6XETArCAkVnhx4xQjrtiry/qGtFAyaFY4VXV4afTDp28lKld22GQ29VMb0TtE0L7HsRgQHJz21l8ZZyIuP9KcwbMO62jOCyb9U9Yx+pHj9tODrLMVz/1Yv//H51q0e/bwMio8doNlUynnJaOyxXWq+V9Be3VBZ1z42rtq/415JPGwlkgluB41sqZ7fPOr9f4ZtqX0LyOXyani1J/P3PE/JTXLdN2l81IRlO4x/jGSpz3qlqr0ANR5Cph0zToBQJUdn3g8UD78wiv9ZuQtQZaZDWUPbA=="),
            ("1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{\"id\":\"EV-2018022511223320873\"}\n", Self.callbackSignature),
        ]
        for (message, signature) in vectors {
            let bytes = Array(message.utf8)
            let sig = try XCTUnwrap(Base64.decode(Substring(signature)))
            XCTAssertTrue(key.verify(bytes, signature: sig), message)
            var changedMessage = bytes
            changedMessage[changedMessage.count / 2] ^= 1
            XCTAssertFalse(key.verify(changedMessage, signature: sig), "changed message: \(message)")
            var changedSignature = sig
            changedSignature[100] ^= 1
            XCTAssertFalse(key.verify(bytes, signature: changedSignature), "changed signature: \(message)")
        }
    }

    func testKeyFilesThatAreNotRSAPublicKeysAreRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-rsa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "not a key".write(to: directory.appendingPathComponent("junk.pem"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RSAPublicKey(pemFile: directory.appendingPathComponent("junk.pem").path))
        XCTAssertThrowsError(try RSAPublicKey(pemFile: directory.appendingPathComponent("missing.pem").path))
    }

    // MARK: WeChat Pay v3 requests through the guard

    static let requestBody = Array(#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","description":"test","out_trade_no":"1217752501201407033233368018","notify_url":"https://example.com/notify","amount":{"total":100,"currency":"CNY"}}"#.utf8)
    static let requestSignature = "j/G80Xi5Q+Qm+g5HNax6SJlxPSmJ0I6bWEVcAMQQCvuZWuySxhV039kCKTm6XETArCAkVnhx4xQjrtiry/qGtFAyaFY4VXV4afTDp28lKld22GQ29VMb0TtE0L7HsRgQHJz21l8ZZyIuP9KcwbMO62jOCyb9U9Yx+pHj9tODrLMVz/1Yv//H51q0e/bwMio8doNlUynnJaOyxXWq+V9Be3VBZ1z42rtq/415JPGwlkgluB41sqZ7fPOr9f4ZtqX0LyOXyani1J/P3PE/JTXLdN2l81IRlO4x/jGSpz3qlqr0ANR5Cph0zToBQJUdn3g8UD78wiv9ZuQtQZaZDWUPbA=="

    func requestGuard() throws -> any RequestGuard {
        let text = """
            listeners: [{name: l, address: 127.0.0.1:8080}]
            clusters: [{name: c, endpoints: [127.0.0.1:9]}]
            redis: {address: 127.0.0.1:\(redis.port), deadline: 200ms}
            auth: {on_redis_failure: local}
            merchants:
              - {id: "1230000109", rsa_public_keys: [{serial: F5765756002FDD77, public_key: \(publicKeyPath)}]}
            routes:
              - {name: native, class: core, match: {path: /v3/pay/transactions/native}, cluster: c, auth: [merchant_hmac, wechatpay_v3]}
            """
        let policy = try PolicyLoader.load(sources: [(path: "/tmp/policy.yaml", text: text)],
                                           sections: [RedisPolicySection(), AuthPolicySection()])
        let generation = try AuthModule(loops: [loop], wallClock: { Self.now }).compile(policy, state: GuardStateRegistry().stage())
        generation.activate()
        return generation.guards(forRoute: "native")[0]
    }

    func v3Request(signature: String = requestSignature, serial: String = "F5765756002FDD77", body: [UInt8] = requestBody,
                   merchant: String = "1230000109") -> GuardRequest {
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "authorization", value: "WECHATPAY2-SHA256-RSA2048 mchid=\"\(merchant)\",nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\","
                                 + "signature=\"\(signature)\",timestamp=\"1554208460\",serial_no=\"\(serial)\"")
        var request = GuardRequest(head: HTTPRequestHead(method: "POST", target: "/v3/pay/transactions/native", version: .http1_1,
                                                         headers: headers),
                                   routeName: "native", routeIsCore: true, clientAddress: "192.0.2.1", loopIndex: 0)
        request.body = RequestBody(bytes: body, contentType: "application/json")
        return request
    }

    func testSpecRequestVectorVerifiesThroughTheGuard() async throws {
        let native = try requestGuard()
        var tampered = Self.requestBody
        tampered[tampered.count - 5] ^= 1
        let cases: [(String, GuardRequest)] = [
            ("bad_signature", v3Request(body: tampered)),
            ("unknown_serial", v3Request(serial: "OTHER")),
            ("unknown_merchant", v3Request(merchant: "1230000110")),
            ("malformed_authorization", v3Request(signature: "short")),
            ("ok", v3Request()),
            ("replayed_nonce", v3Request()),
        ]
        for (expected, request) in cases {
            let got = try await evaluate(native, request)
            XCTAssertEqual(got, expected)
        }
        // The same route still takes merchant HMAC: the Authorization scheme decides.
        var other = v3Request()
        other.head.headers.set(name: "authorization", value: "Bearer abc")
        let unknownScheme = try await evaluate(native, other)
        XCTAssertEqual(unknownScheme, "malformed_authorization")
    }

    // MARK: The callback scheme through the guard

    func callbackGuard(poolThreads: Int = 1) throws -> any RequestGuard {
        let text = """
            listeners: [{name: l, address: 127.0.0.1:8080}]
            clusters: [{name: c, endpoints: [127.0.0.1:9]}]
            redis: {address: 127.0.0.1:\(redis.port), deadline: 200ms}
            auth:
              on_redis_failure: deny
              crypto_pool: {threads: \(poolThreads), queue: 16}
              wechatpay_platform_keys: [{serial: PUB_KEY_ID_TEST, public_key: \(publicKeyPath)}]
            routes:
              - {name: notify, class: core, match: {path: /notify}, cluster: c, auth: [wechatpay_callback]}
            """
        let policy = try PolicyLoader.load(sources: [(path: "/tmp/policy.yaml", text: text)],
                                           sections: [RedisPolicySection(), AuthPolicySection()])
        let module = AuthModule(loops: [loop], wallClock: { Self.now })
        let registry = GuardStateRegistry()
        let stage = registry.stage()
        let generation = try module.compile(policy, state: stage)
        registry.commit(stage)
        generation.activate()
        return generation.guards(forRoute: "notify")[0]
    }

    func callback(body: [UInt8] = callbackBody, signature: String = callbackSignature, serial: String = "PUB_KEY_ID_TEST",
                  timestamp: String = "1554208460", nonce: String = "593BEC0C930BF1AFEB40B4A08C8FB242",
                  omit: String? = nil) -> GuardRequest {
        var headers = HTTPHeaders()
        for (name, value) in [("wechatpay-timestamp", timestamp), ("wechatpay-nonce", nonce), ("wechatpay-serial", serial),
                              ("wechatpay-signature", signature), ("wechatpay-signature-type", "WECHATPAY2-SHA256-RSA2048")]
        where name != omit {
            headers.appendLowercased(name: name, value: value)
        }
        var request = GuardRequest(head: HTTPRequestHead(method: "POST", target: "/notify", version: .http1_1, headers: headers),
                                   routeName: "notify", routeIsCore: true, clientAddress: "192.0.2.1", loopIndex: 0)
        request.body = RequestBody(bytes: body, contentType: "application/json")
        return request
    }

    func evaluate(_ guardStep: any RequestGuard, _ request: GuardRequest) async throws -> String {
        try await onLoop { _ in
            var request = request
            switch await guardStep.evaluate(&request) {
            case .proceed, .annotate: return "ok"
            case .reject(let reply): return reply.reason
            case .shadowReject(let reason): return reason
            }
        }
    }

    func testCallbackChecksInOrderAndNoncesAreSingleUse() async throws {
        let notify = try callbackGuard()
        // The published callback verifies once the shared Redis is connected (before that, `deny`
        // answers 503 and forgets the nonce, so it can be sent again).
        var first = "auth_unavailable"
        for _ in 0..<200 where first == "auth_unavailable" {
            first = try await evaluate(notify, callback())
            if first == "auth_unavailable" { try await Task.sleep(for: .milliseconds(10)) }
        }
        XCTAssertEqual(first, "ok")
        var tampered = Self.callbackBody
        tampered[8] ^= 1
        let cases: [(String, GuardRequest)] = [
            ("missing_signature", callback(omit: "wechatpay-signature")),
            ("malformed_authorization", callback(omit: "wechatpay-serial")),
            ("bad_signature", callback(signature: "WECHATPAY/SIGNTEST/" + Self.callbackSignature)),
            ("unknown_serial", callback(serial: "PUB_KEY_ID_OTHER")),
            ("timestamp_out_of_window", callback(timestamp: "1554207000")),
            ("bad_signature", callback(body: tampered)),
            ("replayed_nonce", callback()),
        ]
        for (expected, request) in cases {
            let got = try await evaluate(notify, request)
            XCTAssertEqual(got, expected, "\(request.head.headers.map { $0.name })")
        }
    }
}
