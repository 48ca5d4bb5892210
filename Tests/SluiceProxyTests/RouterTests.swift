import SluiceHTTP
import SluicePolicy
import SluiceProxy
import SluiceServer
import XCTest

final class RouterTests: XCTestCase {
    private func route(_ name: String, _ path: PathMatch, methods: [String]? = nil, host: String? = nil,
                       headers: [(name: String, value: String)] = []) -> RoutePolicy {
        RoutePolicy(name: name, match: RouteMatch(methods: methods, path: path, host: host, headers: headers),
                    cluster: "payments", routeClass: .core)
    }

    private func request(_ method: String, _ target: String, host: String? = nil,
                         headers: [(String, String)] = []) -> HTTPRequestHead {
        let all = (host.map { [("Host", $0)] } ?? []) + headers
        return HTTPRequestHead(method: method, target: target, version: .http1_1, headers: HTTPHeaders(all))
    }

    func testExactPathBeatsAnyPrefix() {
        let router = Router(routes: [route("prefix", .prefix("/v3/pay/")), route("exact", .exact("/v3/pay/transactions/jsapi"))])
        XCTAssertEqual(router.route(for: request("POST", "/v3/pay/transactions/jsapi"))?.name, "exact")
        XCTAssertEqual(router.route(for: request("POST", "/v3/pay/transactions/native"))?.name, "prefix")
    }

    func testLongestPrefixWinsWhateverTheDeclarationOrder() {
        let router = Router(routes: [route("all", .prefix("/")), route("v3", .prefix("/v3/")),
                                     route("query", .prefix("/v3/pay/transactions/out-trade-no/"))])
        XCTAssertEqual(router.route(for: request("GET", "/v3/pay/transactions/out-trade-no/123?mchid=1"))?.name, "query")
        XCTAssertEqual(router.route(for: request("GET", "/v3/refund/domestic/refunds/9"))?.name, "v3")
        XCTAssertEqual(router.route(for: request("GET", "/health"))?.name, "all")
    }

    func testTheQueryIsNotPartOfThePath() {
        let router = Router(routes: [route("health", .exact("/health"))])
        XCTAssertEqual(router.route(for: request("GET", "/health?verbose=1"))?.name, "health")
        XCTAssertNil(router.route(for: request("GET", "/health/")))
    }

    func testSamePathFallsBackToDeclarationOrder() {
        let router = Router(routes: [route("first", .exact("/pay")), route("second", .exact("/pay")),
                                     route("p-first", .prefix("/q/")), route("p-second", .prefix("/q/"))])
        XCTAssertEqual(router.route(for: request("POST", "/pay"))?.name, "first")
        XCTAssertEqual(router.route(for: request("GET", "/q/1"))?.name, "p-first")
    }

    func testMethodConstraintIsCaseSensitiveAndFallsThroughToTheNextCandidate() {
        let router = Router(routes: [route("refund", .exact("/v3/refund/domestic/refunds"), methods: ["POST"]),
                                     route("refund-query", .prefix("/v3/refund/"), methods: ["GET", "HEAD"])])
        XCTAssertEqual(router.route(for: request("POST", "/v3/refund/domestic/refunds"))?.name, "refund")
        XCTAssertEqual(router.route(for: request("GET", "/v3/refund/domestic/refunds"))?.name, "refund-query")
        XCTAssertNil(router.route(for: request("post", "/v3/refund/domestic/refunds")))
        XCTAssertNil(router.route(for: request("DELETE", "/v3/refund/domestic/refunds")))
    }

    func testHostIsCaseInsensitiveAndIgnoresThePort() {
        let router = Router(routes: [route("api", .prefix("/"), host: "api.example.com"),
                                     route("v6", .prefix("/"), host: "[::1]")])
        XCTAssertEqual(router.route(for: request("GET", "/", host: "api.example.com"))?.name, "api")
        XCTAssertEqual(router.route(for: request("GET", "/", host: "API.Example.COM:8443"))?.name, "api")
        XCTAssertEqual(router.route(for: request("GET", "/", host: "[::1]:8080"))?.name, "v6")
        XCTAssertEqual(router.route(for: request("GET", "/", host: "[::1]"))?.name, "v6")
        XCTAssertNil(router.route(for: request("GET", "/", host: "api.example.com.evil")))
        XCTAssertNil(router.route(for: request("GET", "/", host: "api.example.co")))
        XCTAssertNil(router.route(for: request("GET", "/")), "no Host header: a host route cannot match")
    }

    func testHeaderConstraintsNeedExactValuesOnEveryField() {
        let router = Router(routes: [route("prod", .exact("/pay"), headers: [("x-env", "prod"), ("x-tenant", "a")]),
                                     route("other", .exact("/pay"))])
        XCTAssertEqual(router.route(for: request("POST", "/pay", headers: [("X-Env", "prod"), ("X-Tenant", "a")]))?.name, "prod")
        XCTAssertEqual(router.route(for: request("POST", "/pay", headers: [("X-Env", "Prod"), ("X-Tenant", "a")]))?.name, "other")
        XCTAssertEqual(router.route(for: request("POST", "/pay", headers: [("X-Env", "prod")]))?.name, "other")
        XCTAssertEqual(router.route(for: request("POST", "/pay", headers: [("x-env", "prod"), ("x-env", "dev"),
                                                                          ("x-tenant", "a")]))?.name, "other")
    }

    func testNoMatchIsNil() {
        let router = Router(routes: [route("pay", .exact("/pay"), methods: ["POST"]), route("v3", .prefix("/v3/"))])
        XCTAssertNil(router.route(for: request("POST", "/refund")))
        XCTAssertNil(router.route(for: request("GET", "/v3")), "a prefix is a plain string prefix: /v3 is not under /v3/")
        XCTAssertNil(Router(routes: []).route(for: request("GET", "/")))
    }

    func testBundledPolicyRoutesAsTheOperatorExpects() throws {
        let policies = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("policies").path
        let router = Router(routes: try PolicyLoader.load(directory: policies, sections: Server.policySections).routes)
        XCTAssertEqual(router.route(for: request("POST", "/v3/pay/transactions/jsapi"))?.name, "wechat-v3-jsapi-pay")
        XCTAssertEqual(router.route(for: request("POST", "/pay/unifiedorder"))?.name, "wechat-v2-unifiedorder")
        XCTAssertEqual(router.route(for: request("GET", "/v3/pay/transactions/out-trade-no/T1?mchid=1900000001"))?.name,
                       "wechat-v3-query-order")
        XCTAssertEqual(router.route(for: request("GET", "/v3/refund/domestic/refunds/R1"))?.name, "wechat-v3-query-refund")
        XCTAssertEqual(router.route(for: request("POST", "/v3/refund/domestic/refunds"))?.name, "wechat-v3-refund")
        XCTAssertEqual(router.route(for: request("HEAD", "/health"))?.routeClass, .noncore)
        XCTAssertNil(router.route(for: request("GET", "/v3/pay/transactions/jsapi")))
    }
}
