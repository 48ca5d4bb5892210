import Foundation
import SluiceDegrade
import SluicePolicy
import SluiceTestSupport
import XCTest

/// The degrade module's golden cases (`degrade`, route `degrade`). See `GoldenPolicies`.
final class GoldenDegradePolicyTests: XCTestCase {
    private func golden() throws -> GoldenPolicies {
        GoldenPolicies(root: try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil)),
                       sourceRoot: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden"),
                       sections: [DegradePolicySection()])
    }

    func testValidCasesLoad() throws {
        try golden().checkValidCasesLoad(atLeast: 1)
    }

    func testInvalidCasesReportExactlyTheExpectedErrors() throws {
        try golden().checkInvalidCasesReportExactlyTheExpectedErrors(atLeast: 1)
    }
}
