import XCTest
import SluiceIO

final class SocketAddressTests: XCTestCase {
    func testNumericAddressesRoundTripThroughText() {
        XCTAssertEqual(SocketAddress(host: "127.0.0.1", port: 8080)?.description, "127.0.0.1:8080")
        XCTAssertEqual(SocketAddress(host: "::1", port: 443)?.description, "[::1]:443")
        XCTAssertNil(SocketAddress(host: "127.0.0.1", port: 70000))
        XCTAssertNil(SocketAddress(host: "not an address", port: 80))
    }

    func testResolveKeepsNumericAndResolvesLocalhost() {
        XCTAssertEqual(SocketAddress.resolve(host: "10.1.2.3", port: 9001)?.description, "10.1.2.3:9001")
        // /etc/hosts answers localhost without DNS; IPv4 is preferred when both exist.
        XCTAssertEqual(SocketAddress.resolve(host: "localhost", port: 9001)?.description, "127.0.0.1:9001")
    }
}
