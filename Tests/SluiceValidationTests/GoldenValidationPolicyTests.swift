import Foundation
import SluicePolicy
import SluiceTestSupport
import SluiceValidation
import XCTest

/// The validation module's golden cases (`validations`, route `validation`). See `GoldenPolicies`.
final class GoldenValidationPolicyTests: XCTestCase {
    private func golden() throws -> GoldenPolicies {
        GoldenPolicies(root: try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil)),
                       sourceRoot: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden"),
                       sections: [ValidationPolicySection()])
    }

    func testValidCasesLoad() throws {
        try golden().checkValidCasesLoad(atLeast: 1)
    }

    func testInvalidCasesReportExactlyTheExpectedErrors() throws {
        try golden().checkInvalidCasesReportExactlyTheExpectedErrors(atLeast: 1)
    }
}
