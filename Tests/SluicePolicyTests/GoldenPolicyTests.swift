import Foundation
import SluicePolicy
import XCTest

/// Every directory under Golden/valid must load; every directory under Golden/invalid must fail
/// with exactly the lines of its expected.txt. The messages are part of the product: a change to
/// one shows up here as a diff to review.
///
/// To rewrite the expected files after a deliberate message change, run with
/// `SLUICE_UPDATE_GOLDEN=1 swift test --filter GoldenPolicyTests` and review the git diff.
final class GoldenPolicyTests: XCTestCase {
    func testValidCasesLoad() throws {
        let cases = try caseDirectories("valid")
        XCTAssertGreaterThanOrEqual(cases.count, 2)
        for directory in cases {
            XCTAssertNoThrow(try PolicyLoader.load(directory: directory.path), directory.lastPathComponent)
        }
    }

    func testInvalidCasesReportExactlyTheExpectedErrors() throws {
        let cases = try caseDirectories("invalid")
        XCTAssertGreaterThanOrEqual(cases.count, 12)
        for directory in cases {
            let name = directory.lastPathComponent
            let actual = errorText(loading: directory)
            if ProcessInfo.processInfo.environment["SLUICE_UPDATE_GOLDEN"] == "1" {
                try (actual + "\n").write(to: sourceGolden.appendingPathComponent("invalid/\(name)/expected.txt"),
                                          atomically: true, encoding: .utf8)
                continue
            }
            let expected = try String(contentsOf: directory.appendingPathComponent("expected.txt"), encoding: .utf8)
            XCTAssertEqual(actual, expected.trimmingCharacters(in: .newlines), "golden case \(name)")
        }
    }

    /// The error text with the case directory written as a relative path, so that expected.txt
    /// does not depend on where the tests run: `routes.yaml:3:9: …`, `<directory>:1:1: …`.
    private func errorText(loading directory: URL) -> String {
        do {
            _ = try PolicyLoader.load(directory: directory.path)
            return "(loaded without errors)"
        } catch {
            return error.description
                .replacingOccurrences(of: directory.path + "/", with: "")
                .replacingOccurrences(of: directory.path, with: "<directory>")
        }
    }

    private func caseDirectories(_ kind: String) throws -> [URL] {
        let golden = try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil))
        let root = golden.appendingPathComponent(kind)
        return try FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    private var sourceGolden: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    }
}
