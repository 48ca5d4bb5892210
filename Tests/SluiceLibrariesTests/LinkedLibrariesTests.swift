import XCTest
import SluiceTLS
import SluiceHTTP2
import SluiceRedis

/// The three C libraries are linked and answer: a wrong pkg-config or a missing -dev package
/// fails here first.
final class LinkedLibrariesTests: XCTestCase {
    func testOpenSSLIsVersion3() {
        XCTAssertTrue(TLSLibrary.version.hasPrefix("OpenSSL 3."), TLSLibrary.version)
    }

    func testNghttp2ReportsAVersion() {
        let parts = HTTP2Library.version.split(separator: ".")
        XCTAssertEqual(parts.count, 3, HTTP2Library.version)
        XCTAssertEqual(parts.first, "1")
    }

    func testHiredisParsesAStatusReply() {
        XCTAssertEqual(RedisLibrary.parseReply(Array("+PONG\r\n".utf8)), "PONG")
        XCTAssertEqual(RedisLibrary.parseReply(Array("$5\r\nhello\r\n".utf8)), "hello")
    }
}
