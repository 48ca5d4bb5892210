import Foundation
import SluicePolicy
import SluiceRateLimit
import SluiceSharedRedis
import SluiceRedis
import SluiceTLS
import SluiceTestSupport
import XCTest

/// The `redis` and `limits` sections read into the values the rate limiter uses.
final class RateLimitPolicyTests: XCTestCase {
    func testGoldenRateLimitPolicyReadsEveryField() throws {
        let golden = try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil))
        let snapshot = try PolicyLoader.load(directory: golden.appendingPathComponent("valid/rate-limits").path,
                                             sections: [RedisPolicySection(), RateLimitPolicySection()])
        let policy = try XCTUnwrap(snapshot.guardPolicy(RateLimitModule.moduleName, as: RateLimitPolicy.self))
        XCTAssertEqual(SharedRedis.settings(in: snapshot), RedisSettings(address: EndpointAddress(host: "127.0.0.1", port: 6379), deadline: .milliseconds(5),
                                                   breakerFailures: 5, breakerFailingFor: .milliseconds(250), breakerOpenFor: .seconds(2)))
        XCTAssertEqual(snapshot.routes.map { policy.routeRules[$0.name] ?? [] }, [["merchant-pay-burst", "ip-query-window"], ["ip-query-window"]])
        XCTAssertEqual(policy.rule(named: "merchant-pay-burst"), LimitRulePolicy(
            name: "merchant-pay-burst", algorithm: .tokenBucket(rate: LimitRate(count: 100, per: .seconds(1)), burst: 200),
            key: [.merchant, .route], onRedisFailure: .local, expectedInstances: 4, responseHeaders: true, leaseTokens: 20))
        XCTAssertEqual(policy.rule(named: "ip-query-window"), LimitRulePolicy(
            name: "ip-query-window", algorithm: .slidingWindow(limit: 600, window: .seconds(60)),
            key: [.clientIP, .header("x-tenant"), .query("appid")], onRedisFailure: .allow))
        let weighted = try XCTUnwrap(policy.rule(named: "weighted"))
        XCTAssertEqual(weighted.costHeader, "x-weight")
        XCTAssertEqual(weighted.onRedisFailure, .deny)
        XCTAssertTrue(weighted.shadow)
        XCTAssertEqual(LimitRate(count: 6000, per: .seconds(60)).perSecond, 100)
    }

    func testClusterRedisReadsSeedsUserAndPasswordFile() throws {
        let golden = try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil))
        let snapshot = try PolicyLoader.load(directory: golden.appendingPathComponent("valid/cluster-redis").path,
                                             sections: [RedisPolicySection()])
        XCTAssertEqual(SharedRedis.settings(in: snapshot), RedisSettings(
            nodes: .cluster(seeds: [EndpointAddress(host: "127.0.0.1", port: 7000), EndpointAddress(host: "::1", port: 7001)]),
            user: "sluice", password: "demo-only-redis-password", deadline: .milliseconds(10)))
    }

    func testRedisTLSLoadsItsFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-redis-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
        listeners:
          - {name: public, address: 127.0.0.1:8080}
        redis:
          cluster: [127.0.0.1:7000]
          tls: {ca: \(TestCertificates.path("ca.pem")), server_name: redis.internal,
                certificate: \(TestCertificates.path("client.pem")), key: \(TestCertificates.path("client.key"))}
        """.write(to: directory.appendingPathComponent("gateway.yaml"), atomically: true, encoding: .utf8)
        let snapshot = try PolicyLoader.load(directory: directory.path, sections: [RedisPolicySection()])
        XCTAssertEqual(SharedRedis.settings(in: snapshot)?.tls, RedisTLSSettings(
            certificateAuthorities: TestCertificates.path("ca.pem"), serverName: "redis.internal",
            certificate: TLSCertificateFiles(certificateChain: TestCertificates.path("client.pem"),
                                             privateKey: TestCertificates.path("client.key"))))
    }

    /// Without the rate-limit section the core format does not know these keys: a policy with
    /// them is refused (SluicePolicy knows no guard's schema), never silently unlimited.
    func testCoreLoaderAloneRefusesLimitSections() throws {
        let golden = try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil))
        XCTAssertThrowsError(try PolicyLoader.load(directory: golden.appendingPathComponent("valid/rate-limits").path)) { error in
            XCTAssertTrue("\(error)".contains("unknown key 'limits'"), "\(error)")
        }
    }
}
