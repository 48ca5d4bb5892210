@testable import SluicePolicy
import XCTest

final class DurationSyntaxTests: XCTestCase {
    func testEachUnit() {
        XCTAssertEqual(try DurationSyntax.parse("250ms").get(), .milliseconds(250))
        XCTAssertEqual(try DurationSyntax.parse("5s").get(), .seconds(5))
        XCTAssertEqual(try DurationSyntax.parse("2m").get(), .seconds(120))
        XCTAssertEqual(try DurationSyntax.parse("1h").get(), .seconds(3600))
    }

    func testRejectsEverythingButAWholeNumberAndAUnit() {
        for text in ["5", "-5s", "1.5s", "5 s", "5S", "5sec", "2d", "s", "", "1h30m"] {
            XCTAssertEqual(DurationSyntax.parse(text), .failure(SyntaxProblem("'\(text)' is not a duration: \(DurationSyntax.expectedForm)")), text)
        }
    }

    func testRejectsZeroAndOverflow() {
        XCTAssertEqual(DurationSyntax.parse("0s"), .failure(SyntaxProblem("duration must be greater than zero")))
        XCTAssertEqual(DurationSyntax.parse("9999999999999999999h"),
                       .failure(SyntaxProblem("duration '9999999999999999999h' is too large")))
        XCTAssertEqual(DurationSyntax.parse("9999999999999999h"),
                       .failure(SyntaxProblem("duration '9999999999999999h' is too large (at most 8784h, a year)")))
        XCTAssertEqual(DurationSyntax.parse("8785h"), .failure(SyntaxProblem("duration '8785h' is too large (at most 8784h, a year)")))
        XCTAssertEqual(try DurationSyntax.parse("8784h").get(), .seconds(8784 * 3600))
    }

    func testFormatPicksTheLargestExactUnit() {
        XCTAssertEqual(DurationSyntax.format(.milliseconds(1500)), "1500ms")
        XCTAssertEqual(DurationSyntax.format(.seconds(15)), "15s")
        XCTAssertEqual(DurationSyntax.format(.seconds(120)), "2m")
        XCTAssertEqual(DurationSyntax.format(.seconds(7200)), "2h")
    }
}
