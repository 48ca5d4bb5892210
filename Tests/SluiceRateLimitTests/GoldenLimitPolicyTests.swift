import Foundation
import SluicePolicy
import SluiceRateLimit
import SluiceSharedRedis
import SluiceTestSupport
import XCTest

/// The rate-limit module's golden cases (`limits`, route `limits`, and the shared `redis` section
/// they need), loaded with those sections as the server loads them. See `GoldenPolicies`.
final class GoldenLimitPolicyTests: XCTestCase {
    private func golden() throws -> GoldenPolicies {
        GoldenPolicies(root: try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil)),
                       sourceRoot: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden"),
                       sections: [RedisPolicySection(), RateLimitPolicySection()])
    }

    func testValidCasesLoad() throws {
        try golden().checkValidCasesLoad(atLeast: 1)
    }

    func testInvalidCasesReportExactlyTheExpectedErrors() throws {
        try golden().checkInvalidCasesReportExactlyTheExpectedErrors(atLeast: 3)
    }
}
