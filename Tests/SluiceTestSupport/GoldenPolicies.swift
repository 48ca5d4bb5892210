import Foundation
import SluicePolicy
import XCTest

/// Golden policy cases: every directory under `<root>/valid` must load; every directory under
/// `<root>/invalid` must fail with exactly the lines of its expected.txt. The messages are part
/// of the product: a change to one shows up as a diff to review. Each test target keeps the
/// cases of the format it owns (SluicePolicy the core sections, each guard module its own) and
/// loads them with the guard sections it needs.
///
/// To rewrite the expected files after a deliberate message change, run with
/// `SLUICE_UPDATE_GOLDEN=1 swift test --filter Golden` and review the git diff.
public struct GoldenPolicies {
    /// The cases as bundled with the test target (`Bundle.module`'s `Golden`).
    public let root: URL
    /// The same folder in the source tree, where updates are written.
    public let sourceRoot: URL
    public let sections: [any GuardPolicySection]

    public init(root: URL, sourceRoot: URL, sections: [any GuardPolicySection]) {
        self.root = root
        self.sourceRoot = sourceRoot
        self.sections = sections
    }

    public func checkValidCasesLoad(atLeast minimum: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let cases = try caseDirectories("valid")
        XCTAssertGreaterThanOrEqual(cases.count, minimum, file: file, line: line)
        for directory in cases {
            XCTAssertNoThrow(try PolicyLoader.load(directory: directory.path, sections: sections), directory.lastPathComponent,
                             file: file, line: line)
        }
    }

    public func checkInvalidCasesReportExactlyTheExpectedErrors(atLeast minimum: Int, file: StaticString = #filePath,
                                                                line: UInt = #line) throws {
        let cases = try caseDirectories("invalid")
        XCTAssertGreaterThanOrEqual(cases.count, minimum, file: file, line: line)
        for directory in cases {
            let name = directory.lastPathComponent
            let actual = errorText(loading: directory)
            if ProcessInfo.processInfo.environment["SLUICE_UPDATE_GOLDEN"] == "1" {
                try (actual + "\n").write(to: sourceRoot.appendingPathComponent("invalid/\(name)/expected.txt"),
                                          atomically: true, encoding: .utf8)
                continue
            }
            let expected = try String(contentsOf: directory.appendingPathComponent("expected.txt"), encoding: .utf8)
            XCTAssertEqual(actual, expected.trimmingCharacters(in: .newlines), "golden case \(name)", file: file, line: line)
        }
    }

    /// The error text with the case directory written as a relative path, so that expected.txt
    /// does not depend on where the tests run: `routes.yaml:3:9: …`, `<directory>:1:1: …`.
    private func errorText(loading directory: URL) -> String {
        do {
            _ = try PolicyLoader.load(directory: directory.path, sections: sections)
            return "(loaded without errors)"
        } catch {
            return error.description
                .replacingOccurrences(of: directory.path + "/", with: "")
                .replacingOccurrences(of: directory.path, with: "<directory>")
        }
    }

    private func caseDirectories(_ kind: String) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: root.appendingPathComponent(kind), includingPropertiesForKeys: nil)
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }
}
