@testable import SluicePolicy
import XCTest

/// A policy file that is not UTF-8 is reported where the first bad byte is (it was always 1:1).
final class PolicyFileEncodingTests: XCTestCase {
    func testTheFirstInvalidByteIsLocated() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-utf8-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var bytes = Array("listeners:\n  - {name: caf\u{e9}, address: 127.0.0.1:1}\n# ok\nroutes: []  ".utf8)
        bytes.append(0xFF)
        try Data(bytes).write(to: directory.appendingPathComponent("a.yaml"))
        XCTAssertThrowsError(try PolicyLoader.sourceTexts(directory: directory.path)) { error in
            XCTAssertEqual("\(error)", "\(directory.path)/a.yaml:4:13: not UTF-8 text (a byte here is not valid UTF-8)")
        }
        XCTAssertTrue(PolicyLoader.firstInvalidUTF8(in: [0xE4, 0xBD]) == (1, 1), "a sequence cut by the end of the file")
        XCTAssertTrue(PolicyLoader.firstInvalidUTF8(in: Array("a\nb".utf8) + [0xC0, 0x80]) == (2, 2), "an overlong encoding")
    }
}
