@testable import SluiceIdempotency
import SluiceGuards
import SluiceHTTP
import SluiceRedis
import XCTest

/// Keys as clients send them: the draft's sf-string, Stripe's bare token, and what must be refused.
final class IdempotencyKeyTests: XCTestCase {
    func testHeaderValuesNormaliseToTheStringContent() {
        XCTAssertEqual(IdempotencyKey.parseHeaderValue("\"8e03978e-40d5-43e8-bc93-6894a57f9324\""), "8e03978e-40d5-43e8-bc93-6894a57f9324")
        XCTAssertEqual(IdempotencyKey.parseHeaderValue("8e03978e-40d5-43e8-bc93-6894a57f9324"), "8e03978e-40d5-43e8-bc93-6894a57f9324")
        XCTAssertEqual(IdempotencyKey.parseHeaderValue("\"a b\""), "a b", "spaces are fine inside an sf-string")
        XCTAssertEqual(IdempotencyKey.parseHeaderValue(#""say \"hi\" \\ ok""#), #"say "hi" \ ok"#)
        XCTAssertEqual(IdempotencyKey.parseHeaderValue(String(repeating: "k", count: 255)), String(repeating: "k", count: 255))
    }

    func testMalformedHeaderValuesAreRefused() {
        for bad in ["", "\"\"", "\"", "\"abc", "abc\"", "a b", "\"a\\nb\"", "\"a\u{7}b\"", "\"é\"", "é", "a\\b", "\"a\"b\"",
                    String(repeating: "k", count: 256)] {
            XCTAssertNil(IdempotencyKey.parseHeaderValue(bad), "accepted \(bad.debugDescription)")
        }
    }

    private func request(headers: [(String, String)] = [], json: String? = nil) -> GuardRequest {
        var request = GuardRequest(head: HTTPRequestHead(method: "POST", target: "/pay", version: .http1_1, headers: HTTPHeaders(headers)),
                                   routeName: "pay", routeIsCore: true, clientAddress: "127.0.0.1")
        if let json { request.body = RequestBody(bytes: Array(json.utf8), contentType: "application/json") }
        return request
    }

    private let sources: [IdempotencyRulePolicy.KeySource] = [.header("idempotency-key"), .body(["mchid", "out_trade_no"])]

    func testEverySourceTheRequestCarriesIsAKey() throws {
        let order = #"{"mchid":"1900000001","out_trade_no":"T-1","amount":{"total":100}}"#
        let business = IdempotencyKey(kind: "b", value: "mchid,out_trade_no\u{1F}1900000001\u{1F}T-1")
        XCTAssertEqual(try IdempotencyKey.findAll(sources, in: request(headers: [("idempotency-key", "\"k1\"")], json: order)),
                       [IdempotencyKey(kind: "h", value: "k1"), business])
        XCTAssertEqual(try IdempotencyKey.findAll(sources, in: request(json: order)), [business])
        // A business key needs every field; one the body has without a usable value (empty, null,
        // an object) is refused, not taken for a request without the key.
        XCTAssertEqual(try IdempotencyKey.findAll(sources, in: request(json: #"{"mchid":"1900000001"}"#)), [])
        for value in [#""""#, "null", #"{"a":1}"#, "[]"] {
            XCTAssertThrowsError(try IdempotencyKey.findAll(sources, in: request(json: #"{"mchid":"1","out_trade_no":"# + value + "}"))) {
                XCTAssertEqual($0 as? IdempotencyKey.Problem, .emptyBodyField("out_trade_no"), value)
            }
        }
        XCTAssertEqual(try IdempotencyKey.findAll(sources, in: request()), [])
    }

    /// A rule sharing another's records reads the same business key from its own fields: a v2
    /// XML order's `mch_id` + `out_trade_no`, named as v3's, is the v3 JSON order's key.
    func testABusinessKeyNamedAsAnotherRulesIsTheSameKey() throws {
        let json = try IdempotencyKey.findAll([.body(["mchid", "out_trade_no"])],
                                              in: request(json: #"{"mchid":"1900000001","out_trade_no":"T-1"}"#))
        var v2 = request()
        v2.body = RequestBody(bytes: Array("<xml><mch_id>1900000001</mch_id><out_trade_no>T-1</out_trade_no></xml>".utf8),
                              contentType: "text/xml")
        let named = try IdempotencyKey.findAll([.body(["mch_id", "out_trade_no"], names: ["mchid", "out_trade_no"])], in: v2)
        XCTAssertEqual(named, json)
        XCTAssertEqual(json.count, 1)
        // Unnamed, the same values under other fields are another key.
        XCTAssertNotEqual(try IdempotencyKey.findAll([.body(["mch_id", "out_trade_no"])], in: v2), json)
    }

    /// A v2 SDK's retry carries a fresh nonce_str and sign: with those ignored, its fingerprint is
    /// the first's; any other field changed is another request; nothing ignored, the body's hash.
    func testFingerprintIgnoresTheFieldsARetryMayChange() {
        func xml(_ nonce: String, _ fee: String) -> RequestBody {
            RequestBody(bytes: Array("<xml><mch_id>1</mch_id><nonce_str>\(nonce)</nonce_str><total_fee>\(fee)</total_fee><sign>\(nonce)S</sign></xml>".utf8),
                        contentType: "text/xml")
        }
        let ignored = ["nonce_str", "sign"]
        XCTAssertEqual(IdempotencyKey.bodyDigest(xml("a", "100"), ignoring: ignored), IdempotencyKey.bodyDigest(xml("b", "100"), ignoring: ignored))
        XCTAssertNotEqual(IdempotencyKey.bodyDigest(xml("a", "100"), ignoring: ignored), IdempotencyKey.bodyDigest(xml("b", "200"), ignoring: ignored))
        XCTAssertNotEqual(IdempotencyKey.bodyDigest(xml("a", "100"), ignoring: []), IdempotencyKey.bodyDigest(xml("b", "100"), ignoring: []))
        XCTAssertEqual(IdempotencyKey.bodyDigest(xml("a", "100"), ignoring: []), xml("a", "100").sha256Hex)
    }

    func testABadOrRepeatedHeaderIsAnErrorNotAFallback() {
        XCTAssertThrowsError(try IdempotencyKey.findAll(sources, in: request(headers: [("idempotency-key", "a b")]))) {
            XCTAssertEqual($0 as? IdempotencyKey.Problem, .invalidHeader("idempotency-key"))
        }
        XCTAssertThrowsError(try IdempotencyKey.findAll(sources, in: request(headers: [("idempotency-key", "a"), ("idempotency-key", "b")]))) {
            XCTAssertEqual($0 as? IdempotencyKey.Problem, .repeatedHeader("idempotency-key"))
        }
        // A business key in a body that is not strict JSON: the body's error, not "no key".
        XCTAssertThrowsError(try IdempotencyKey.findAll(sources, in: request(json: #"{"mchid":"1","mchid":"2"}"#))) { error in
            guard case .invalidBody? = error as? IdempotencyKey.Problem else { return XCTFail("\(error)") }
        }
    }

    func testRecordKeysSeparateMerchantsRulesAndKindsAndStayShort() {
        let key = IdempotencyKey(kind: "h", value: String(repeating: "x", count: 255))
        let a = key.recordKey(scope: "1900000001", rule: "orders")
        XCTAssertTrue(a.hasPrefix("idem:{1900000001}:orders:"))
        XCTAssertEqual(a.utf8.count, "idem:{1900000001}:orders:".utf8.count + 64)
        XCTAssertNotEqual(a, key.recordKey(scope: "1900000002", rule: "orders"))
        XCTAssertNotEqual(a, key.recordKey(scope: "1900000001", rule: "refunds"))
        XCTAssertNotEqual(IdempotencyKey(kind: "h", value: "k").recordKey(scope: "m", rule: "r"),
                          IdempotencyKey(kind: "b", value: "k").recordKey(scope: "m", rule: "r"))
    }

    /// A claim names every key of the request in one script: on a Redis Cluster they must share
    /// a slot, which the hash-tagged merchant scope guarantees (and the shape `sluice check`
    /// verifies says so).
    func testRecordKeysOfOneRequestShareASlot() {
        for scope in ["1900000001", "-", "a_b-C9"] {
            let keys = [IdempotencyKey(kind: "h", value: "k-1"), IdempotencyKey(kind: "b", value: "mchid,out_trade_no\u{1F}1\u{1F}T-1"),
                        IdempotencyKey(kind: "h", value: "{evil}")].map { $0.recordKey(scope: scope, rule: "orders") }
            XCTAssertEqual(Set(keys.map { RedisHashSlot.of($0) }).count, 1, "\(keys)")
            XCTAssertEqual(RedisHashSlot.of(keys[0]), RedisHashSlot.of(scope))
        }
        XCTAssertNil(RedisKeyShape.spanProblem([IdempotencyKey.recordKeyShape, IdempotencyKey.recordKeyShape]))
        XCTAssertEqual(IdempotencyKey.recordKeyShape.description, "idem:{<merchant>}:<rule>:<sha256>")
    }

    func testFingerprintsCoverMethodPathAndBody() {
        let base = IdempotencyKey.fingerprint(method: "POST", target: "/pay", bodySHA256Hex: "00")
        XCTAssertEqual(base, IdempotencyKey.fingerprint(method: "POST", target: "/pay", bodySHA256Hex: "00"))
        XCTAssertNotEqual(base, IdempotencyKey.fingerprint(method: "PUT", target: "/pay", bodySHA256Hex: "00"))
        XCTAssertNotEqual(base, IdempotencyKey.fingerprint(method: "POST", target: "/pay?x=1", bodySHA256Hex: "00"))
        XCTAssertNotEqual(base, IdempotencyKey.fingerprint(method: "POST", target: "/pay", bodySHA256Hex: "01"))
    }
}
