import Foundation
import SluicePolicy
import SluiceTestSupport
import XCTest

/// The core format's golden cases (listeners, clusters, routes, server), loaded with no guard
/// sections: SluicePolicy knows no guard's schema. See `GoldenPolicies`.
final class GoldenPolicyTests: XCTestCase {
    private func golden() throws -> GoldenPolicies {
        GoldenPolicies(root: try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil)),
                       sourceRoot: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden"),
                       sections: [])
    }

    func testValidCasesLoad() throws {
        try golden().checkValidCasesLoad(atLeast: 2)
    }

    func testInvalidCasesReportExactlyTheExpectedErrors() throws {
        try golden().checkInvalidCasesReportExactlyTheExpectedErrors(atLeast: 12)
    }
}
