@testable import SluiceProxy
import XCTest

/// PROXY protocol headers, v1 and v2: the client they name and their exact length, or why not.
final class ProxyProtocolTests: XCTestCase {
    func parse(_ bytes: [UInt8]) -> ProxyProtocol.Parsed { bytes.withUnsafeBytes { ProxyProtocol.parse($0) } }

    func testVersion1() {
        let line = Array("PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n".utf8)
        XCTAssertEqual(parse(line + Array("GET / HTTP/1.1".utf8)), .complete(length: line.count, client: "203.0.113.7"))
        XCTAssertEqual(parse(Array("PROXY TCP6 2001:db8::7 2001:db8::1 56324 443\r\n".utf8)),
                       .complete(length: 46, client: "2001:db8::7"))
        XCTAssertEqual(parse(Array("PROXY UNKNOWN\r\n".utf8)), .complete(length: 15, client: nil))
        // One client, one spelling (one client_ip rate-limit key): as version 2 gives it.
        for spelling in ["2001:DB8::77", "2001:0db8:0000::0077", "2001:db8:0:0:0:0:0:77", "2001:db8::0:77"] {
            let line = "PROXY TCP6 \(spelling) 2001:db8::1 56324 443\r\n"
            XCTAssertEqual(parse(Array(line.utf8)), .complete(length: line.utf8.count, client: "2001:db8::77"), spelling)
        }
        let mapped = "PROXY TCP6 ::ffff:203.0.113.9 2001:db8::1 56324 443\r\n"
        XCTAssertEqual(parse(Array(mapped.utf8)), .complete(length: mapped.utf8.count, client: "203.0.113.9"))
        XCTAssertEqual(parse(Array("PROXY TCP4 203.0.113.7 10.0".utf8)), .incomplete)
        XCTAssertEqual(parse(Array("PRO".utf8)), .incomplete)
        for bad in ["GET / HTTP/1.1\r\n", "PROXY TCP4 203.0.113.7 10.0.0.1 56324\r\n", "PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n",
                    "PROXY TCP4 203.0.113.7 10.0.0.1 70000 443\r\n", "PROXY TCP4 example.com 10.0.0.1 1 2\r\n",
                    "PROXY TCP4 203.0.113.7 10.0.0.1 1 2\n", "PROXY TCP4 localhost 10.0.0.1 1 2\r\n"] {
            XCTAssertEqual(parse(Array(bad.utf8)), .invalid, bad)
        }
    }

    func testVersion2() {
        let signature = ProxyProtocol.v2Signature
        let v4: [UInt8] = signature + [0x21, 0x11, 0x00, 0x0C, 203, 0, 113, 7, 10, 0, 0, 1, 0xDC, 0x04, 0x01, 0xBB]
        XCTAssertEqual(parse(v4 + [0x16, 0x03, 0x01]), .complete(length: 28, client: "203.0.113.7"), "TLS bytes follow untouched")
        var v6: [UInt8] = signature + [0x21, 0x21, 0x00, 0x24]
        v6 += [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [7] + Array(repeating: 0, count: 16) + [0, 1, 0, 2]
        XCTAssertEqual(parse(v6), .complete(length: 52, client: "2001:db8::7"))
        XCTAssertEqual(parse(signature + [0x20, 0x00, 0x00, 0x00]), .complete(length: 16, client: nil), "LOCAL")
        XCTAssertEqual(parse(Array(v4.prefix(20))), .incomplete)
        XCTAssertEqual(parse(Array(signature.prefix(5))), .incomplete)
        XCTAssertEqual(parse(signature + [0x31, 0x11, 0x00, 0x0C] + Array(repeating: 0, count: 12)), .invalid, "version 3")
        XCTAssertEqual(parse(signature + [0x21, 0x11, 0xFF, 0xFF]), .invalid, "longer than any real header")
    }
}
