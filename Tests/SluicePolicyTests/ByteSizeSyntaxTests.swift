@testable import SluicePolicy
import XCTest

final class ByteSizeSyntaxTests: XCTestCase {
    func testPlainBytesAndBinaryUnits() {
        XCTAssertEqual(try ByteSizeSyntax.parse("4096", allowZero: false).get(), 4096)
        XCTAssertEqual(try ByteSizeSyntax.parse("512B", allowZero: false).get(), 512)
        XCTAssertEqual(try ByteSizeSyntax.parse("16KiB", allowZero: false).get(), 16 * 1024)
        XCTAssertEqual(try ByteSizeSyntax.parse("1MiB", allowZero: false).get(), 1024 * 1024)
        XCTAssertEqual(try ByteSizeSyntax.parse("2GiB", allowZero: false).get(), 2 << 30)
    }

    func testRejectsDecimalUnitsFractionsAndSigns() {
        for text in ["16KB", "1mb", "1.5MiB", "-1", "1 MiB", "MiB", ""] {
            XCTAssertEqual(ByteSizeSyntax.parse(text, allowZero: false),
                           .failure(SyntaxProblem("'\(text)' is not a size: \(ByteSizeSyntax.expectedForm)")), text)
        }
    }

    func testZeroOnlyWhereAllowed() {
        XCTAssertEqual(try ByteSizeSyntax.parse("0", allowZero: true).get(), 0)
        XCTAssertEqual(ByteSizeSyntax.parse("0KiB", allowZero: false), .failure(SyntaxProblem("size must be greater than zero")))
    }

    func testRejectsOverflow() {
        XCTAssertEqual(ByteSizeSyntax.parse("99999999999999GiB", allowZero: false),
                       .failure(SyntaxProblem("size '99999999999999GiB' is too large")))
    }
}
