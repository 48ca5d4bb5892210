import Foundation
import SluicePolicy
import SluiceRateLimit
import SluiceTestSupport
import XCTest

/// The rate-limit module's golden cases (`redis`, `limits`, route `limits`), loaded with its
/// policy section as the server loads them. See `GoldenPolicies`.
final class GoldenLimitPolicyTests: XCTestCase {
    private func golden() throws -> GoldenPolicies {
        GoldenPolicies(root: try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil)),
                       sourceRoot: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden"),
                       sections: [RateLimitPolicySection()])
    }

    func testValidCasesLoad() throws {
        try golden().checkValidCasesLoad(atLeast: 1)
    }

    func testInvalidCasesReportExactlyTheExpectedErrors() throws {
        try golden().checkInvalidCasesReportExactlyTheExpectedErrors(atLeast: 3)
    }
}
