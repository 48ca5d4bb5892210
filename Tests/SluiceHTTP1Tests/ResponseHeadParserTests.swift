import SluiceHTTP
import SluiceHTTP1
import XCTest

final class ResponseHeadParserTests: XCTestCase {
    func testContentLengthResponse() throws {
        let parsed = try XCTUnwrap(responseHead("HTTP/1.1 201 Created\r\nContent-Length: 17\r\nX-Trace: a\r\n\r\n"))
        XCTAssertEqual(parsed.head.status, 201)
        XCTAssertEqual(parsed.head.reason, "Created")
        XCTAssertEqual(parsed.head.version, .http1_1)
        XCTAssertEqual(parsed.head.headers["x-trace"], "a")
        XCTAssertEqual(parsed.framing, .contentLength(17))
        XCTAssertTrue(parsed.keepAlive)
    }

    func testReasonWithSpacesAndEmptyReason() throws {
        XCTAssertEqual(try XCTUnwrap(responseHead("HTTP/1.1 404 Not  Found here\r\nContent-Length: 0\r\n\r\n")).head.reason,
                       "Not  Found here")
        XCTAssertEqual(try XCTUnwrap(responseHead("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n")).head.reason, "")
        // No SP after the code at all: tolerated.
        let bare = try XCTUnwrap(responseHead("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"))
        XCTAssertEqual(bare.head.status, 200)
        XCTAssertEqual(bare.head.reason, "")
    }

    func testChunkedResponse() throws {
        let parsed = try XCTUnwrap(responseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
        XCTAssertEqual(parsed.framing, .chunked)
        XCTAssertTrue(parsed.keepAlive)
    }

    func testNoFramingMeansUntilCloseAndNoReuse() throws {
        let parsed = try XCTUnwrap(responseHead("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"))
        XCTAssertEqual(parsed.framing, .untilClose)
        XCTAssertFalse(parsed.keepAlive)
    }

    func testBodilessStatusesAndHead() throws {
        for status in [100, 101, 103, 204, 304] {
            let parsed = try XCTUnwrap(responseHead("HTTP/1.1 \(status) X\r\nContent-Length: 10\r\n\r\n"))
            XCTAssertEqual(parsed.framing, BodyFraming.none, "\(status)")
            XCTAssertTrue(parsed.keepAlive)
        }
        let head = try XCTUnwrap(responseHead("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", method: "HEAD"))
        XCTAssertEqual(head.framing, BodyFraming.none)
        let headChunked = try XCTUnwrap(responseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", method: "HEAD"))
        XCTAssertEqual(headChunked.framing, BodyFraming.none)
        let noLength = try XCTUnwrap(responseHead("HTTP/1.1 204 No Content\r\n\r\n"))
        XCTAssertTrue(noLength.keepAlive)
    }

    func testKeepAliveRules() throws {
        XCTAssertFalse(try XCTUnwrap(responseHead("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")).keepAlive)
        XCTAssertFalse(try XCTUnwrap(responseHead("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")).keepAlive)
        let old = try XCTUnwrap(responseHead("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"))
        XCTAssertTrue(old.keepAlive)
        XCTAssertEqual(old.head.version, .http1_0)
    }

    func testPipelinedResponsesStopAtTheFirst() {
        let first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
        var parser = ResponseHeadParser(limits: HTTP1Limits())
        guard case .complete(_, let consumed) = parseResponse(bytes(first + "okHTTP/1.1 204 \r\n\r\n"), method: "GET",
                                                              with: &parser) else {
            return XCTFail("not complete")
        }
        XCTAssertEqual(consumed, first.utf8.count)
    }

    func testContentLengthWithTransferEncodingFromUpstream() {
        assertResponseRejected("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                               "upstream_bad_framing")
        // Even where the response has no body, the backend does not get to send both.
        assertResponseRejected("HTTP/1.1 204 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                               "upstream_bad_framing", method: "HEAD")
    }

    func testFramingErrorsFromUpstreamAre502() {
        assertResponseRejected("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                               "conflicting_content_length")
        assertResponseRejected("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "invalid_content_length")
        assertResponseRejected("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                               "unsupported_transfer_encoding")
        assertResponseRejected("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "transfer_encoding_in_http10")
        assertResponseRejected("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "obs_fold")
        assertResponseRejected("HTTP/1.1 200 OK\r\nX : a\r\n\r\n", "whitespace_before_colon")
        assertResponseRejected("HTTP/1.1 200 OK\nX: a\r\n\r\n", "bare_lf")
        assertResponseRejected("HTTP/1.1 200 OK\r\nX: a\u{0}\r\n\r\n", "invalid_field_value")
    }

    func testBadStatusLines() {
        for line in ["HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 abc OK", "HTTP/1.1  200 OK", "HTTP/1.1 099 X",
                     "HTTP/1.1 600 X", "HTTP/1.1 200\tOK", "HTTP/1.1", "ICY 200 OK", "HTTP/1.1 200 O\u{1}K", ""] {
            assertResponseRejected("\(line)\r\nContent-Length: 0\r\n\r\n", "bad_status_line")
        }
    }

    func testVersionsFromUpstream() {
        assertResponseRejected("HTTP/2.0 200 OK\r\n\r\n", "version_not_supported")
        assertResponseRejected("HTTP/1.x 200 OK\r\n\r\n", "invalid_version")
    }

    func testResponseHeadLimits() {
        var parser = ResponseHeadParser(limits: HTTP1Limits(maxHeaderBytes: 32))
        guard case .failed(let error) = parseResponse(bytes("HTTP/1.1 200 OK\r\nX-Long: " + String(repeating: "a", count: 40)),
                                                      method: "GET", with: &parser) else {
            return XCTFail("expected an error")
        }
        XCTAssertEqual(error.status, 502)
        XCTAssertEqual(error.reason, "header_too_large")
    }
}
