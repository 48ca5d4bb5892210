@testable import SluicePolicy
import XCTest

final class EndpointAddressTests: XCTestCase {
    func testIPv4IPv6AndNames() throws {
        XCTAssertEqual(try EndpointAddress.parse("127.0.0.1:8080", allowPortZero: false).get(),
                       EndpointAddress(host: "127.0.0.1", port: 8080))
        XCTAssertEqual(try EndpointAddress.parse("[::1]:8080", allowPortZero: false).get(),
                       EndpointAddress(host: "::1", port: 8080))
        XCTAssertEqual(try EndpointAddress.parse("localhost:80", allowPortZero: false).get(),
                       EndpointAddress(host: "localhost", port: 80))
    }

    func testDescriptionRoundTrips() throws {
        for text in ["127.0.0.1:8080", "[fd00::13]:9001", "notify-1.internal:8080"] {
            XCTAssertEqual(try EndpointAddress.parse(text, allowPortZero: false).get().description, text)
        }
    }

    func testPortZeroOnlyForListeners() {
        XCTAssertEqual(try EndpointAddress.parse("127.0.0.1:0", allowPortZero: true).get().port, 0)
        XCTAssertEqual(EndpointAddress.parse("127.0.0.1:0", allowPortZero: false),
                       .failure(SyntaxProblem("port 0 is out of range 1...65535")))
    }

    func testRejectsMalformedAddresses() {
        for text in ["127.0.0.1", "127.0.0.1:", ":80", "[::1]", "[]:80", "host:80:80", "a b:80", "h:123456"] {
            XCTAssertThrowsError(try EndpointAddress.parse(text, allowPortZero: false).get(), text)
        }
    }
}
