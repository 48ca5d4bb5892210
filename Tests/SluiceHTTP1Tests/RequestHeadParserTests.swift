import SluiceHTTP
import SluiceHTTP1
import XCTest

final class RequestHeadParserTests: XCTestCase {
    func testSimpleGet() throws {
        let parsed = try XCTUnwrap(requestHead("GET /pay?x=1 HTTP/1.1\r\nHost: api.example\r\n\r\n"))
        XCTAssertEqual(parsed.head.method, "GET")
        XCTAssertEqual(parsed.head.target, "/pay?x=1")
        XCTAssertEqual(parsed.head.path, "/pay")
        XCTAssertEqual(parsed.head.query, "x=1")
        XCTAssertEqual(parsed.head.version, .http1_1)
        XCTAssertEqual(parsed.head.host, "api.example")
        XCTAssertEqual(parsed.framing, BodyFraming.none)
        XCTAssertTrue(parsed.keepAlive)
        XCTAssertFalse(parsed.expectsContinue)
    }

    func testConsumedIsTheHeadLength() {
        let text = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        var parser = RequestHeadParser(limits: HTTP1Limits())
        guard case .complete(_, let consumed) = parseRequest(bytes(text), with: &parser) else {
            return XCTFail("not complete")
        }
        XCTAssertEqual(consumed, text.utf8.count)
    }

    func testEveryImplementedMethod() throws {
        for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
            let parsed = try XCTUnwrap(requestHead("\(method) /x HTTP/1.1\r\nHost: h\r\n\r\n"))
            XCTAssertEqual(parsed.head.method, method)
        }
    }

    func testFieldNamesAreLowerCasedAndValuesTrimmed() throws {
        let text = "POST /v3/pay HTTP/1.1\r\nHOST: h\r\nContent-Type:application/json\r\n"
            + "X-Weird_Name!: \t spaced value \t \r\nContent-Length: 12\r\nEmpty:\r\nX-Obs: caf\u{e9}\r\n\r\n"
        let parsed = try XCTUnwrap(requestHead(text))
        XCTAssertEqual(parsed.head.headers.fields, [
            .init(name: "host", value: "h"),
            .init(name: "content-type", value: "application/json"),
            .init(name: "x-weird_name!", value: "spaced value"),
            .init(name: "content-length", value: "12"),
            .init(name: "empty", value: ""),
            .init(name: "x-obs", value: "caf\u{e9}"),
        ])
        XCTAssertEqual(parsed.framing, .contentLength(12))
    }

    func testInnerWhitespaceInValuesIsKept() throws {
        let parsed = try XCTUnwrap(requestHead("GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: a  b\tc\r\n\r\n"))
        XCTAssertEqual(parsed.head.headers["user-agent"], "a  b\tc")
    }

    func testChunkedRequest() throws {
        let parsed = try XCTUnwrap(requestHead("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ChUnKeD\r\n\r\n"))
        XCTAssertEqual(parsed.framing, .chunked)
    }

    func testContentLengthZeroIsKept() throws {
        let parsed = try XCTUnwrap(requestHead("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"))
        XCTAssertEqual(parsed.framing, .contentLength(0))
    }

    func testRepeatedEqualContentLengthIsOneValue() throws {
        let parsed = try XCTUnwrap(requestHead(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"))
        XCTAssertEqual(parsed.framing, .contentLength(5))
        let list = try XCTUnwrap(requestHead("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7 , 7,7\r\n\r\n"))
        XCTAssertEqual(list.framing, .contentLength(7))
    }

    func testLargestContentLength() throws {
        let parsed = try XCTUnwrap(requestHead(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(Int.max)\r\n\r\n"))
        XCTAssertEqual(parsed.framing, .contentLength(Int.max))
        let padded = try XCTUnwrap(requestHead("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n"))
        XCTAssertEqual(padded.framing, .contentLength(7))
    }

    func testKeepAliveRules() throws {
        func keepAlive(_ version: String, _ connection: String?) throws -> Bool {
            let field = connection.map { "Connection: \($0)\r\n" } ?? ""
            return try XCTUnwrap(requestHead("GET / \(version)\r\nHost: h\r\n\(field)\r\n")).keepAlive
        }
        XCTAssertTrue(try keepAlive("HTTP/1.1", nil))
        XCTAssertTrue(try keepAlive("HTTP/1.1", "keep-alive"))
        XCTAssertFalse(try keepAlive("HTTP/1.1", "close"))
        XCTAssertFalse(try keepAlive("HTTP/1.1", "Upgrade, CLOSE"))
        XCTAssertFalse(try keepAlive("HTTP/1.0", nil))
        XCTAssertTrue(try keepAlive("HTTP/1.0", "Keep-Alive"))
        XCTAssertTrue(try keepAlive("HTTP/1.0", "foo,  keep-alive "))
        XCTAssertFalse(try keepAlive("HTTP/1.0", "keep-alive, close"))
        XCTAssertTrue(try keepAlive("HTTP/1.1", "closed"))  // not the token `close`
    }

    func testHTTP10WithoutHostIsAccepted() throws {
        let parsed = try XCTUnwrap(requestHead("GET / HTTP/1.0\r\n\r\n"))
        XCTAssertEqual(parsed.head.version, .http1_0)
        XCTAssertNil(parsed.head.host)
        XCTAssertFalse(parsed.keepAlive)
    }

    func testExpectContinue() throws {
        let parsed = try XCTUnwrap(requestHead(
            "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n"))
        XCTAssertTrue(parsed.expectsContinue)
        // RFC 9110 §10.1.1: ignored in an HTTP/1.0 request.
        let old = try XCTUnwrap(requestHead("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"))
        XCTAssertFalse(old.expectsContinue)
    }

    func testAsteriskFormWithOptions() throws {
        let parsed = try XCTUnwrap(requestHead("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"))
        XCTAssertEqual(parsed.head.target, "*")
    }

    func testOneLeadingEmptyLineIsTolerated() throws {
        let text = "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"
        let parsed = try XCTUnwrap(requestHead(text))
        XCTAssertEqual(parsed.head.method, "GET")
        var parser = RequestHeadParser(limits: HTTP1Limits())
        guard case .complete(_, let consumed) = parseRequest(bytes(text), with: &parser) else {
            return XCTFail("not complete")
        }
        XCTAssertEqual(consumed, text.utf8.count)
    }

    func testPipelinedHeadsStopAtTheFirst() throws {
        let first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
        let second = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok"
        let input = bytes(first + second)
        var parser = RequestHeadParser(limits: HTTP1Limits())
        guard case .complete(let a, let consumedA) = parseRequest(input, with: &parser) else {
            return XCTFail("first head not complete")
        }
        XCTAssertEqual(a.head.target, "/a")
        XCTAssertEqual(consumedA, first.utf8.count)
        // The parser is ready for the next head without a reset.
        guard case .complete(let b, let consumedB) = parseRequest(Array(input[consumedA...]), with: &parser) else {
            return XCTFail("second head not complete")
        }
        XCTAssertEqual(b.head.target, "/b")
        XCTAssertEqual(b.framing, .contentLength(2))
        XCTAssertEqual(consumedB, second.utf8.count - 2)
    }

    func testNeedMoreUntilTheEmptyLine() {
        let text = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
        var parser = RequestHeadParser(limits: HTTP1Limits())
        for end in 0..<text.utf8.count {
            guard case .needMore = parseRequest(Array(bytes(text).prefix(end)), with: &parser) else {
                return XCTFail("complete or failed after \(end) bytes")
            }
        }
        guard case .complete = parseRequest(bytes(text), with: &parser) else { return XCTFail("not complete") }
    }

    func testResetForgetsAPartialHead() {
        var parser = RequestHeadParser(limits: HTTP1Limits())
        guard case .needMore = parseRequest(bytes("GET /a HTTP/1.1\r\nHo"), with: &parser) else {
            return XCTFail("expected needMore")
        }
        parser.reset()
        guard case .complete(let head, _) = parseRequest(bytes("PUT /b HTTP/1.1\r\nHost: h\r\n\r\n"), with: &parser)
        else { return XCTFail("not complete") }
        XCTAssertEqual(head.head.method, "PUT")
    }

    func testHeadExactlyAtTheSizeLimit() throws {
        let text = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
        let limits = HTTP1Limits(maxHeaderBytes: text.utf8.count)
        XCTAssertNotNil(requestHead(text, limits: limits))
    }

    func testTargetExactlyAtTheURILimit() throws {
        let target = "/" + String(repeating: "a", count: 99)
        let limits = HTTP1Limits(maxURIBytes: 100)
        let parsed = try XCTUnwrap(requestHead("OPTIONS \(target) HTTP/1.1\r\nHost: h\r\n\r\n", limits: limits))
        XCTAssertEqual(parsed.head.target, target)
    }

    func testExactlyMaxHeaderCountFields() throws {
        let fields = (0..<10).map { "X-\($0): v\r\n" }.joined()
        let limits = HTTP1Limits(maxHeaderCount: 11)
        let parsed = try XCTUnwrap(requestHead("GET / HTTP/1.1\r\nHost: h\r\n\(fields)\r\n", limits: limits))
        XCTAssertEqual(parsed.head.headers.count, 11)
    }

    func testVariousTargets() throws {
        for target in ["/", "/a/b/c", "/%20?q=a%2Fb&x=%E2%82%AC", "//double", "/p;params?x=[1]#frag", "/~user/!$&'()*+,;=:@"] {
            let parsed = try XCTUnwrap(requestHead("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n"))
            XCTAssertEqual(parsed.head.target, target)
        }
    }
}
