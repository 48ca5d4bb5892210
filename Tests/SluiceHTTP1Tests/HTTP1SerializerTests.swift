import SluiceHTTP
import SluiceHTTP1
import XCTest

final class HTTP1SerializerTests: XCTestCase {
    func testRequestHead() {
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "host", value: "api.example")
        headers.appendLowercased(name: "content-length", value: "2")
        var buffer: [UInt8] = []
        HTTP1Serializer.appendRequestHead(HTTPRequestHead(method: "POST", target: "/v3/pay?x=1", version: .http1_1,
                                                          headers: headers), to: &buffer)
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self),
                       "POST /v3/pay?x=1 HTTP/1.1\r\nhost: api.example\r\ncontent-length: 2\r\n\r\n")
    }

    func testRequestFromAnotherVersionIsWrittenAsHTTP11() {
        var buffer: [UInt8] = [0x41]
        HTTP1Serializer.appendRequestHead(HTTPRequestHead(method: "GET", target: "/", version: .http2,
                                                          headers: HTTPHeaders()), to: &buffer)
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self), "AGET / HTTP/1.1\r\n\r\n")
    }

    func testResponseHead() {
        var buffer: [UInt8] = []
        HTTP1Serializer.appendResponseHead(HTTPResponseHead(status: 429, headers: HTTPHeaders([("Retry-After", "1")])),
                                           to: &buffer)
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self),
                       "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\n\r\n")
        buffer.removeAll()
        HTTP1Serializer.appendResponseHead(HTTPResponseHead(status: 200, reason: ""), to: &buffer)
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self), "HTTP/1.1 200 \r\n\r\n")
    }

    func testChunkFraming() {
        for (size, text) in [(0, "0"), (9, "9"), (10, "a"), (26, "1a"), (255, "ff"), (4096, "1000"),
                             (Int.max, "7fffffffffffffff")] {
            var buffer: [UInt8] = []
            HTTP1Serializer.appendChunkHeader(size: size, to: &buffer)
            XCTAssertEqual(String(decoding: buffer, as: UTF8.self), text + "\r\n")
        }
        XCTAssertEqual(HTTP1Serializer.chunkTrailer, bytes("\r\n"))
        XCTAssertEqual(HTTP1Serializer.lastChunk, bytes("0\r\n\r\n"))
    }

    func testRoundTripThroughTheParsers() throws {
        let original = try XCTUnwrap(requestHead(
            "PATCH /a?b HTTP/1.1\r\nHost: h\r\nX-One: 1\r\nContent-Length: 3\r\n\r\n"))
        var buffer: [UInt8] = []
        HTTP1Serializer.appendRequestHead(original.head, to: &buffer)
        let again = try XCTUnwrap(requestHead(String(decoding: buffer, as: UTF8.self)))
        XCTAssertEqual(again.head, original.head)

        let response = try XCTUnwrap(responseHead("HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"))
        buffer.removeAll()
        HTTP1Serializer.appendResponseHead(response.head, to: &buffer)
        let responseAgain = try XCTUnwrap(responseHead(String(decoding: buffer, as: UTF8.self)))
        XCTAssertEqual(responseAgain.head, response.head)

        var body: [UInt8] = []
        HTTP1Serializer.appendChunkHeader(size: 26, to: &body)
        body += bytes("abcdefghijklmnopqrstuvwxyz") + HTTP1Serializer.chunkTrailer + HTTP1Serializer.lastChunk
        guard case .success(let decoded) = decodeChunked(body) else { return XCTFail("not decodable") }
        XCTAssertEqual(decoded.data, bytes("abcdefghijklmnopqrstuvwxyz"))
        XCTAssertTrue(decoded.finished)
    }
}
