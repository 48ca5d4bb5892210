import Foundation
import SluiceIdempotency
import SluicePolicy
import SluiceSharedRedis
import SluiceTestSupport
import XCTest

/// The idempotency module's golden cases (`idempotency`, route `idempotency`, and the shared
/// `redis` section they need). See `GoldenPolicies`.
final class GoldenIdempotencyPolicyTests: XCTestCase {
    private func golden() throws -> GoldenPolicies {
        GoldenPolicies(root: try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil)),
                       sourceRoot: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden"),
                       sections: [RedisPolicySection(), IdempotencyPolicySection()])
    }

    func testValidCasesLoad() throws {
        try golden().checkValidCasesLoad(atLeast: 1)
    }

    func testInvalidCasesReportExactlyTheExpectedErrors() throws {
        try golden().checkInvalidCasesReportExactlyTheExpectedErrors(atLeast: 3)
    }

    func testTheValidPolicyReadsAsWritten() throws {
        let directory = try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil)).appendingPathComponent("valid/orders")
        let policy = try PolicyLoader.load(directory: directory.path, sections: [RedisPolicySection(), IdempotencyPolicySection()])
        let idempotency = try XCTUnwrap(policy.guardPolicy(IdempotencyModule.moduleName, as: IdempotencyPolicy.self))
        XCTAssertEqual(idempotency.routeRules, ["pay": "orders", "notify": "notify"])
        var orders = IdempotencyRulePolicy(name: "orders")
        orders.keys = [.header("idempotency-key"), .body(["mchid", "out_trade_no"])]
        orders.required = true
        orders.inFlightWait = .seconds(2)
        orders.storeHeaders = ["content-type", "x-trace"]
        XCTAssertEqual(idempotency.rule(named: "orders"), orders)
        var notify = IdempotencyRulePolicy(name: "notify")
        notify.keys = [.body(["id"])]
        notify.replay = .wechatpayV3
        notify.onUnknown = .forward  // the default for notifications: a 409 is no acknowledgement
        XCTAssertEqual(idempotency.rule(named: "notify"), notify)
        var v2 = IdempotencyRulePolicy(name: "v2-orders")
        v2.keys = [.body(["mch_id", "out_trade_no"], names: ["mchid", "out_trade_no"])]
        v2.sharesRecordsWith = "orders"
        XCTAssertEqual(idempotency.rule(named: "v2-orders"), v2)
        XCTAssertEqual(idempotency.rule(named: "v2-orders")?.recordsName, "orders")
    }
}
