@testable import SluiceProxy
import SluiceHTTP
import SluicePolicy
import XCTest

/// Who the client is behind load balancers: trusted peers' chains are believed from the right,
/// nobody else's.
final class ClientIdentityTests: XCTestCase {
    func ranges(_ texts: [String]) throws -> [IPRange] { try texts.map { try IPRange.parse($0).get() } }

    func testRangesMatchTheirAddressesOnly() throws {
        let lb = try IPRange.parse("10.0.0.0/8").get()
        XCTAssertTrue(lb.contains("10.1.2.3"))
        XCTAssertFalse(lb.contains("11.0.0.1"))
        XCTAssertTrue(lb.contains("::ffff:10.0.0.7"), "IPv4-mapped IPv6 peers count as IPv4")
        let v6 = try IPRange.parse("2001:db8::/32").get()
        XCTAssertTrue(v6.contains("2001:db8:1::5"))
        XCTAssertFalse(v6.contains("2001:db9::1"))
        XCTAssertTrue(try IPRange.parse("127.0.0.1").get().contains("127.0.0.1"))
        XCTAssertFalse(try IPRange.parse("127.0.0.1").get().contains("127.0.0.2"))
        for bad in ["10.0.0.0/33", "10.0.0/8", "example.com", "10.0.0.0/-1", "::/129", ""] {
            XCTAssertThrowsError(try IPRange.parse(bad).get(), bad)
        }
    }

    func headers(_ values: [String]) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for value in values { headers.appendLowercased(name: "x-forwarded-for", value: value) }
        return headers
    }

    func testAnUntrustedPeerIsTheClientWhateverItClaims() throws {
        let identity = ClientIdentity(peer: "198.51.100.9", headers: headers(["6.6.6.6"]), trustedProxies: try ranges(["10.0.0.0/8"]))
        XCTAssertEqual(identity.client, "198.51.100.9")
        XCTAssertFalse(identity.peerIsTrusted)
        let none = ClientIdentity(peer: "198.51.100.9", headers: headers(["6.6.6.6"]), trustedProxies: [])
        XCTAssertEqual(none.client, "198.51.100.9")
    }

    func testTheClientIsTheRightmostUntrustedHop() throws {
        let trusted = try ranges(["10.0.0.0/8"])
        // client 203.0.113.7 -> edge proxy 10.0.0.2 -> lb 10.0.0.1 (the peer); a spoofed first entry is ignored.
        let identity = ClientIdentity(peer: "10.0.0.1", headers: headers(["6.6.6.6, 203.0.113.7", "10.0.0.2"]), trustedProxies: trusted)
        XCTAssertTrue(identity.peerIsTrusted)
        XCTAssertEqual(identity.client, "203.0.113.7")
        // Only trusted hops: the leftmost is the client.
        XCTAssertEqual(ClientIdentity(peer: "10.0.0.1", headers: headers(["10.0.0.5"]), trustedProxies: trusted).client, "10.0.0.5")
        // A hop that is not an address ends the search; the last good one stands.
        XCTAssertEqual(ClientIdentity(peer: "10.0.0.1", headers: headers(["203.0.113.7, unknown"]), trustedProxies: trusted).client,
                       "10.0.0.1")
        // No header from a trusted peer: the peer itself.
        XCTAssertEqual(ClientIdentity(peer: "10.0.0.1", headers: HTTPHeaders(), trustedProxies: trusted).client, "10.0.0.1")
    }
}
