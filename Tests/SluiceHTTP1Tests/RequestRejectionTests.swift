import SluiceHTTP
import SluiceHTTP1
import XCTest

/// Every rule of the request parser's strictness: exact status and reason, both when the head
/// comes in one piece and when it comes one byte at a time.
final class RequestRejectionTests: XCTestCase {
    private let host = "Host: h\r\n"

    // MARK: limits

    func testNoEndOfHeadWithinMaxHeaderBytes() {
        let limits = HTTP1Limits(maxHeaderBytes: 64)
        let text = "GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + String(repeating: "a", count: 100) + "\r\n\r\n"
        assertRequestRejected(text, 431, "header_too_large", limits: limits)
    }

    func testHeadEndingOneByteBeyondTheLimit() {
        let text = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
        assertRequestRejected(text, 431, "header_too_large", limits: HTTP1Limits(maxHeaderBytes: text.utf8.count - 1))
    }

    func testRequestLineLongerThanMaxURIBytesBeforeTheHeadEnds() {
        let limits = HTTP1Limits(maxURIBytes: 100)
        let partial = "GET /" + String(repeating: "a", count: 200)  // no CRLF yet
        var parser = RequestHeadParser(limits: limits)
        guard case .failed(let error) = parseRequest(bytes(partial), with: &parser) else {
            return XCTFail("expected 414 before the line ends")
        }
        XCTAssertEqual(error.status, 414)
        XCTAssertEqual(error.reason, "uri_too_long")
        assertRequestRejected(partial, 414, "uri_too_long", limits: limits)
    }

    /// HTTP/0.9's `GET /path` has no version and no head after it: the line alone is answered
    /// 400 at once, and so is any other bad request line, before the rest of the head.
    func testBadRequestLineIsRejectedBeforeTheHeadEnds() {
        for (line, status, reason) in [("GET /pay\r\n", 400, "bad_request_line"), ("GET /pay HTTP/2.0\r\n", 505, "version_not_supported"),
                                       ("get /pay HTTP/1.1\r\n", 501, "method_not_implemented")] {
            var parser = RequestHeadParser()
            guard case .failed(let error) = parseRequest(bytes(line), with: &parser) else {
                XCTFail("\(line): expected \(status) before the head ends")
                continue
            }
            XCTAssertEqual(error.status, status, line)
            XCTAssertEqual(error.reason, reason, line)
        }
        var parser = RequestHeadParser()
        guard case .needMore = parseRequest(bytes("GET /pay HTTP/1.1\r\nHost: h\r\n"), with: &parser) else {
            return XCTFail("a good request line waits for the rest of the head")
        }
    }

    func testTargetOneByteOverMaxURIBytes() {
        let limits = HTTP1Limits(maxURIBytes: 100)
        let target = "/" + String(repeating: "a", count: 100)
        assertRequestRejected("GET \(target) HTTP/1.1\r\n\(host)\r\n", 414, "uri_too_long", limits: limits)
    }

    func testMoreThanMaxHeaderCountFields() {
        let fields = (0..<11).map { "X-\($0): v\r\n" }.joined()
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)\(fields)\r\n", 431, "too_many_headers",
                              limits: HTTP1Limits(maxHeaderCount: 11))
    }

    // MARK: line endings

    func testBareLFLineEnding() {
        assertRequestRejected("GET / HTTP/1.1\nHost: h\n\n", 400, "bare_lf")
        assertRequestRejected("GET / HTTP/1.1\r\nHost: h\n\r\n", 400, "bare_lf")
        assertRequestRejected("GET / HTTP/1.1\r\nHost: h\r\n\n", 400, "bare_lf")
    }

    func testBareCR() {
        assertRequestRejected("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400, "bare_cr")
        assertRequestRejected("GET / HTTP/1.1\r\nX: a\rb\r\n\(host)\r\n", 400, "bare_cr")
    }

    func testOnlyOneLeadingEmptyLine() {
        assertRequestRejected("\r\n\r\nGET / HTTP/1.1\r\n\(host)\r\n", 400, "bad_request_line")
    }

    // MARK: request line

    func testMethodNotImplemented() {
        for method in ["CONNECT", "TRACE", "PROPFIND", "get", "Post", "BREW"] {
            assertRequestRejected("\(method) / HTTP/1.1\r\n\(host)\r\n", 501, "method_not_implemented")
        }
    }

    func testMethodThatIsNotAToken() {
        assertRequestRejected("G(T / HTTP/1.1\r\n\(host)\r\n", 400, "invalid_method")
        assertRequestRejected("GE\u{e9}T / HTTP/1.1\r\n\(host)\r\n", 400, "invalid_method")
        assertRequestRejected("GET\t/ HTTP/1.1\r\n\(host)\r\n", 400, "invalid_method")
    }

    func testRequestLineShape() {
        assertRequestRejected("GET\r\n\(host)\r\n", 400, "bad_request_line")
        assertRequestRejected("GET /\r\n\(host)\r\n", 400, "bad_request_line")
        assertRequestRejected(" GET / HTTP/1.1\r\n\(host)\r\n", 400, "bad_request_line")
        assertRequestRejected("GET  / HTTP/1.1\r\n\(host)\r\n", 400, "bad_request_line")
    }

    func testExactlyOneSpaceBeforeTheVersion() {
        assertRequestRejected("GET /  HTTP/1.1\r\n\(host)\r\n", 400, "invalid_version")
        assertRequestRejected("GET / HTTP/1.1 \r\n\(host)\r\n", 400, "invalid_version")
    }

    func testUnsupportedVersions() {
        for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0"] {
            assertRequestRejected("GET / \(version)\r\n\(host)\r\n", 505, "version_not_supported")
        }
    }

    func testGarbageVersions() {
        for version in ["HTTP/1.10", "http/1.1", "HTTP/1", "HTTP/2", "HTTP/1.x", "HTTX/1.1", "HTTP/11.1", "1.1"] {
            assertRequestRejected("GET / \(version)\r\n\(host)\r\n", 400, "invalid_version")
        }
    }

    /// RFC 9112 §3.2.2: a server MUST accept the absolute form; its authority is the host, the
    /// Host field is ignored, and the target goes on in origin form.
    func testAbsoluteFormNamesTheHost() throws {
        let cases = [("GET http://pay.example/v3/pay?x=1 HTTP/1.1", "/v3/pay?x=1", "pay.example"),
                     ("GET HTTPS://pay.example:8443 HTTP/1.1", "/", "pay.example:8443"),
                     ("GET http://[::1]:80?q HTTP/1.1", "/?q", "[::1]:80")]
        for (line, target, authority) in cases {
            let parsed = try XCTUnwrap(requestHead("\(line)\r\nHost: elsewhere\r\nX: 1\r\n\r\n"), line)
            XCTAssertEqual(parsed.head.target, target, line)
            XCTAssertEqual(parsed.head.headers.values(for: "host"), [authority], line)
            XCTAssertEqual(parsed.head.headers.fields.first?.name, "host", line)
        }
        assertRequestRejected("GET ftp://h/pay HTTP/1.1\r\n\(host)\r\n", 400, "absolute_form_not_supported")
        assertRequestRejected("GET http://user@h/pay HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
        assertRequestRejected("GET http:///pay HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
        assertRequestRejected("GET http://a%2fb/pay HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
        assertRequestRejected("GET http://h/pay HTTP/1.1\r\n\r\n", 400, "missing_host")
    }

    /// A Host value that is not `host[:port]` (space, `/`, `@`, `?`, `#`, `\\`) names no host.
    func testHostValuesThatNameNoHostAreRefused() {
        for value in ["a b", "evil/../x", "a@b", "a?b", "a#b", "a\\b", "a, b", "evil:80:80", "[::1]x", ":80", "evil:99999",
                      "ev%41l", "evil:", "[]", "[::1"] {
            assertRequestRejected("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n", 400, "invalid_host")
        }
        for value in ["pay.example", "pay.example:8443", "[::1]:80", "127.0.0.1", "xn--fsq.example", ""] {
            XCTAssertNotNil(requestHead("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n"), value)
        }
    }

    /// RFC 9112 §3: a method longer than any implemented one is 501, however long it runs.
    func testAMethodLongerThanAnyKnownOneIs501() {
        let limits = HTTP1Limits(maxHeaderBytes: 32 * 1024, maxURIBytes: 64)
        assertRequestRejected(String(repeating: "M", count: 10_000) + " / HTTP/1.1\r\n\(host)\r\n", 501, "method_not_implemented", limits: limits)
        assertRequestRejected("GET /" + String(repeating: "a", count: 200) + " HTTP/1.1\r\n\(host)\r\n", 414, "uri_too_long", limits: limits)
    }

    func testOtherTargetForms() {
        assertRequestRejected("GET * HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
        assertRequestRejected("OPTIONS ** HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
        assertRequestRejected("GET pay HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
        assertRequestRejected("GET ?x HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
    }

    func testControlOrNonASCIIBytesInTarget() {
        assertRequestRejected("GET /a\u{01}b HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
        assertRequestRejected("GET /a\u{7f} HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
        assertRequestRejected("GET /caf\u{e9} HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
        assertRequestRejected("GET /a\tb HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
        assertRequestRejected("GET /a\u{0}b HTTP/1.1\r\n\(host)\r\n", 400, "invalid_target")
    }

    // MARK: Host

    func testHTTP11WithoutHost() {
        assertRequestRejected("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400, "missing_host")
    }

    func testRepeatedHost() {
        assertRequestRejected("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400, "duplicate_host")
        assertRequestRejected("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "duplicate_host")
    }

    func testRepeatedContentType() {
        assertRequestRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\ncontent-type: text/plain\r\n"
                              + "Content-Length: 0\r\n\r\n", 400, "duplicate_content_type")
        assertRequestRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\nContent-Type: a/b\r\nContent-Length: 0\r\n\r\n",
                              400, "duplicate_content_type")
    }

    // MARK: field lines

    func testEmptyFieldName() {
        assertRequestRejected("GET / HTTP/1.1\r\n\(host): v\r\n\r\n", 400, "empty_field_name")
    }

    func testWhitespaceBetweenNameAndColon() {
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)Content-Length : 5\r\n\r\n", 400, "whitespace_before_colon")
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)Transfer-Encoding\t: chunked\r\n\r\n", 400,
                              "whitespace_before_colon")
    }

    func testFieldNameThatIsNotAToken() {
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)X(y): v\r\n\r\n", 400, "invalid_field_name")
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)NoColon\r\n\r\n", 400, "invalid_field_name")
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)X\u{e9}: v\r\n\r\n", 400, "invalid_field_name")
    }

    func testObsFold() {
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)X-A: one\r\n two\r\n\r\n", 400, "obs_fold")
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)X-A: one\r\n\ttwo\r\n\r\n", 400, "obs_fold")
        assertRequestRejected("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, "obs_fold")
    }

    func testControlCharactersInValues() {
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)X-A: a\u{0}b\r\n\r\n", 400, "invalid_field_value")
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)X-A: a\u{1b}b\r\n\r\n", 400, "invalid_field_value")
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)X-A: a\u{7f}\r\n\r\n", 400, "invalid_field_value")
        assertRequestRejected("GET / HTTP/1.1\r\n\(host)X-A: \u{0}\r\n\r\n", 400, "invalid_field_value")
    }

    // MARK: Content-Length

    func testContentLengthThatIsNotDigits() {
        for value in ["-1", "+5", "1 2", "0x10", "5a", "", " ", "1.0", "5,", ",5", "5,,5", "\u{661}"] {
            assertRequestRejected("POST / HTTP/1.1\r\n\(host)Content-Length: \(value)\r\n\r\n", 400,
                                  "invalid_content_length")
        }
    }

    func testContentLengthOverflow() {
        assertRequestRejected("POST / HTTP/1.1\r\n\(host)Content-Length: 9223372036854775808\r\n\r\n", 400,
                              "invalid_content_length")
        assertRequestRejected("POST / HTTP/1.1\r\n\(host)Content-Length: 99999999999999999999999\r\n\r\n", 400,
                              "invalid_content_length")
    }

    func testDifferingContentLengths() {
        assertRequestRejected("POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
                              "conflicting_content_length")
        assertRequestRejected("POST / HTTP/1.1\r\n\(host)Content-Length: 5, 6\r\n\r\n", 400,
                              "conflicting_content_length")
        assertRequestRejected("POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nContent-Length: 5, 6\r\n\r\n", 400,
                              "conflicting_content_length")
    }

    // MARK: Transfer-Encoding

    func testTransferEncodingOtherThanOneChunked() {
        for value in ["gzip, chunked", "chunked, chunked", "xchunked", "identity", "chunked;q=1", "", "chunked,",
                      "gzip"] {
            assertRequestRejected("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: \(value)\r\n\r\n", 400,
                                  "unsupported_transfer_encoding")
        }
    }

    func testTransferEncodingInTwoFields() {
        assertRequestRejected("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                              400, "unsupported_transfer_encoding")
    }

    func testTransferEncodingInHTTP10() {
        assertRequestRejected("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "transfer_encoding_in_http10")
    }

    func testContentLengthWithTransferEncoding() {
        assertRequestRejected("POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                              "content_length_with_transfer_encoding")
        assertRequestRejected("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400,
                              "content_length_with_transfer_encoding")
    }

    // MARK: Expect

    func testUnsupportedExpectation() {
        for value in ["200-ok", "100-continue, foo", "100-continued"] {
            assertRequestRejected("POST / HTTP/1.1\r\n\(host)Expect: \(value)\r\nContent-Length: 1\r\n\r\n", 417,
                                  "unsupported_expectation")
        }
    }
}
