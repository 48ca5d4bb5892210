import SluiceHTTP
import XCTest

/// Lookups ignore the case of the name asked for; list fields split into trimmed, lower-cased
/// tokens across repeated fields.
final class HTTPHeadersTests: XCTestCase {
    private let headers = HTTPHeaders([("Content-Type", "application/json"), ("Connection", " Keep-Alive ,\tUpgrade,,X-Custom "),
                                       ("connection", "CLOSE"), ("TE", "trailers"), ("x-request-id", "a"), ("X-Request-Id", "b")])

    func testLookupsIgnoreTheCaseOfTheNameAskedFor() {
        XCTAssertEqual(headers["content-type"], "application/json")
        XCTAssertEqual(headers["CONTENT-TYPE"], "application/json")
        XCTAssertNil(headers["content-typ"], "a prefix is another name")
        XCTAssertNil(headers["content-types"])
        XCTAssertEqual(headers.values(for: "X-Request-ID"), ["a", "b"])
        XCTAssertTrue(headers.contains(name: "te"))
        XCTAssertFalse(headers.contains(name: "t"))
    }

    func testTokensAreTrimmedLowerCasedAndSkipEmptyElements() {
        XCTAssertEqual(headers.tokens(for: "Connection"), ["keep-alive", "upgrade", "x-custom", "close"])
        XCTAssertEqual(headers.tokens(for: "te"), ["trailers"])
        XCTAssertEqual(headers.tokens(for: "expect"), [])
        XCTAssertEqual(HTTPHeaders([("connection", " , ,")]).tokens(for: "connection"), [])
        XCTAssertEqual(HTTPHeaders([("connection", "\tKeep-Alive\t,x")]).tokens(for: "connection"), ["keep-alive", "x"])
    }

    func testTokenComparisonIgnoresCaseButNotLength() {
        var matches: [Bool] = []
        HTTPHeaders([("connection", "Keep-Alive, keep-alive2, CLOSE, clos")]).forEachToken(for: "connection") { token in
            matches.append(HTTPHeaders.token(token, equals: "keep-alive") || HTTPHeaders.token(token, equals: "close"))
        }
        XCTAssertEqual(matches, [true, false, true, false])
    }

    func testRemoveAndSetReplaceEverySpelling() {
        var copy = headers
        copy.remove(name: "X-REQUEST-ID")
        XCTAssertNil(copy["x-request-id"])
        copy.set(name: "Connection", value: "close")
        XCTAssertEqual(copy.values(for: "connection"), ["close"])
        XCTAssertEqual(copy.count, headers.count - 3)
    }
}
