import Foundation
import SluicePolicy
import SluiceAuth
import SluiceBreaker
import SluiceBulkhead
import SluiceDegrade
import SluiceIdempotency
import SluiceRateLimit
import SluiceServer
import SluiceSharedRedis
import SluiceValidation
import XCTest

/// The policies/ directory at the top of the repository is what `make run` serves: it must
/// always load, and hold the demo routes the README talks about.
final class BundledPoliciesTests: XCTestCase {
    private var policiesDirectory: String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("policies").path
    }

    /// Loaded as `sluice check` and `sluice run` load it: every guard module's sections included.
    func testBundledPoliciesAreValid() throws {
        let snapshot = try Server.validate(directory: policiesDirectory).get()
        let limits = try XCTUnwrap(snapshot.guardPolicy(RateLimitModule.moduleName, as: RateLimitPolicy.self))
        XCTAssertEqual(snapshot.listeners.map(\.name), ["public"])
        XCTAssertEqual(snapshot.listeners.first?.address.description, "127.0.0.1:8080")
        XCTAssertEqual(snapshot.cluster(named: "payments")?.endpoints.map(\.description), ["127.0.0.1:9001"])
        XCTAssertEqual(snapshot.sourceFiles.map { URL(fileURLWithPath: $0).lastPathComponent },
                       ["admin.yaml", "auth.yaml", "breakers.yaml", "bulkheads.yaml", "clusters.yaml", "degrade.yaml", "gateway.yaml", "idempotency.yaml", "limits.yaml", "routes.yaml", "validations.yaml"])
        XCTAssertEqual(snapshot.listeners.first?.protocol, .auto)
        XCTAssertEqual(SharedRedis.settings(in: snapshot)?.nodes, .single(EndpointAddress(host: "127.0.0.1", port: 6379)), "make run starts this Redis")
        // Every route that moves money or reads orders is limited; health is not.
        XCTAssertEqual(snapshot.routes.filter { limits.routeRules[$0.name]?.isEmpty ?? true }.map(\.name), ["wechat-notify", "health"])
        // The v3 payment and query routes need a merchant signature; the demo merchant has one secret.
        let auth = try XCTUnwrap(snapshot.guardPolicy(AuthModule.moduleName, as: AuthPolicy.self))
        XCTAssertEqual(snapshot.routes.filter { auth.routeSchemes[$0.name] == [.merchantHMAC] }.map(\.name),
                       ["wechat-v3-jsapi-pay", "wechat-v3-native-pay", "wechat-v3-refund", "wechat-v3-query-order",
                        "wechat-v3-query-refund"])
        XCTAssertEqual(auth.merchants["1900000001"]?.hmacSecrets.count, 1)
        // The v2 route is signed in the body with the merchant's v2 key.
        XCTAssertEqual(auth.routeSchemes["wechat-v2-unifiedorder"], [.wechatpayV2])
        // Payment notifications must carry WeChat Pay's platform signature.
        XCTAssertEqual(auth.routeSchemes["wechat-notify"], [.wechatpayCallback])
        XCTAssertEqual(auth.platformKeySerials, ["PUB_KEY_ID_DEMO"])
        // Every route that moves money, and the notify route, is protected against duplicates.
        let idempotency = try XCTUnwrap(snapshot.guardPolicy(IdempotencyModule.moduleName, as: IdempotencyPolicy.self))
        XCTAssertEqual(snapshot.routes.compactMap { route in idempotency.routeRules[route.name].map { "\(route.name):\($0)" } },
                       ["wechat-v3-jsapi-pay:orders", "wechat-v3-native-pay:orders", "wechat-v2-unifiedorder:v2-orders",
                        "wechat-v3-refund:refunds", "wechat-notify:wechat-notify"])
        XCTAssertEqual(idempotency.rule(named: "wechat-notify")?.replay, .wechatpayV3)
        // One order number is one order through v2 or v3: their rules share records.
        XCTAssertEqual(idempotency.rule(named: "v2-orders")?.recordsName, "orders")
        // Core and non-core routes never share capacity.
        let bulkheads = try XCTUnwrap(snapshot.guardPolicy(BulkheadModule.moduleName, as: BulkheadsPolicy.self))
        for route in snapshot.routes where route.name != "health" {
            XCTAssertEqual(bulkheads.routeBulkheads[route.name], route.routeClass == .core ? "payments" : "queries", route.name)
        }
        // Queries degrade to their cached answers; every signal feeds the pressure.
        let degrade = try XCTUnwrap(snapshot.guardPolicy(DegradeModule.moduleName, as: DegradePolicy.self))
        XCTAssertEqual(degrade.routes.keys.sorted(), ["wechat-v3-query-order", "wechat-v3-query-refund"])
        XCTAssertTrue(degrade.routes.values.allSatisfy(\.cachedFallback))
        XCTAssertNotNil(degrade.loopLagLimit)
        XCTAssertNotNil(degrade.inFlightLimit)
        XCTAssertNotNil(degrade.coreLatencyLimit)
        XCTAssertEqual(degrade.bulkheadQueues, 0.9, "a full query queue means fallback, not shed")
        // The payment cluster has a breaker.
        let breakers = try XCTUnwrap(snapshot.guardPolicy(BreakerModule.moduleName, as: BreakersPolicy.self))
        XCTAssertEqual(breakers.breakers.map(\.cluster), ["payments"])
        XCTAssertNotNil(snapshot.cluster(named: "payments")?.outlierDetection)
        XCTAssertEqual(snapshot.cluster(named: "payments")?.retries?.attempts, 2)
        XCTAssertEqual(snapshot.cluster(named: "payments")?.healthCheck?.path, "/health")
        // Orders, refunds and notifications are validated at the edge.
        let validations = try XCTUnwrap(snapshot.guardPolicy(ValidationModule.moduleName, as: ValidationsPolicy.self))
        XCTAssertEqual(snapshot.routes.compactMap { route in validations.routeRules[route.name].map { "\(route.name):\($0)" } },
                       ["wechat-v3-jsapi-pay:wechat-v3-order", "wechat-v3-native-pay:wechat-v3-order", "wechat-v2-unifiedorder:wechat-v2-order",
                        "wechat-v3-refund:wechat-v3-refund", "wechat-notify:wechat-notify"])
        // The order's merchant id is the signer's own.
        XCTAssertEqual(validations.rule(named: "wechat-v3-order")?.fields.first { $0.path == "mchid" }?.isMerchant, true)
        XCTAssertEqual(validations.rule(named: "wechat-v2-order")?.fields.first { $0.path == "mch_id" }?.isMerchant, true)
        // The admin listener: loopback, with a token for the controls.
        let admin = try XCTUnwrap(snapshot.guardPolicy(AdminPolicy.sectionName, as: AdminPolicy.self))
        XCTAssertEqual(admin.address.description, "127.0.0.1:9901")
        XCTAssertNotNil(admin.token)
        XCTAssertEqual(snapshot.guardPolicy(AlertsPolicy.sectionName, as: AlertsPolicy.self)?.rules.map(\.name),
                       ["payments-breaker-open", "degraded", "many-5xx", "redis-unreachable"])

        let core = snapshot.routes.filter { $0.routeClass == .core }.map(\.match.path)
        XCTAssertEqual(core, [.exact("/v3/pay/transactions/jsapi"), .exact("/v3/pay/transactions/native"),
                              .exact("/pay/unifiedorder"), .exact("/v3/refund/domestic/refunds"),
                              .exact("/notify/wechat")])
        let noncore = snapshot.routes.filter { $0.routeClass == .noncore }.map(\.match.path)
        XCTAssertEqual(noncore, [.prefix("/v3/pay/transactions/out-trade-no/"), .prefix("/v3/refund/domestic/refunds/"),
                                 .exact("/health")])
    }
}
