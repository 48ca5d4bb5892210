import SluiceHTTP
import SluiceHTTP2
import XCTest

/// RFC 9113 8.1.1/8.2/8.3 shapes: nghttp2 rejects each with RST_STREAM(PROTOCOL_ERROR) before
/// the application sees a request; the connection keeps serving the next stream.
final class MalformedRequestTests: XCTestCase {
    static let base: [(String, String)] = [(":method", "GET"), (":scheme", "https"), (":authority", "pay.example"), (":path", "/")]

    static let shapes: [(name: String, fields: [(String, String)])] = [
        ("upper-case field name", base + [("X-Merchant", "1")]),
        ("connection field", base + [("connection", "keep-alive")]),
        ("keep-alive field", base + [("keep-alive", "timeout=5")]),
        ("transfer-encoding field", base + [("transfer-encoding", "chunked")]),
        ("upgrade field", base + [("upgrade", "h2c")]),
        ("proxy-connection field", base + [("proxy-connection", "close")]),
        ("te other than trailers", base + [("te", "gzip")]),
        ("missing :method", Array(base.dropFirst())),
        ("missing :scheme", [base[0], base[2], base[3]]),
        ("missing :path", Array(base.dropLast())),
        ("duplicate :path", base + [(":path", "/other")]),
        ("duplicate :method", [(":method", "GET")] + base),
        ("pseudo-header after a regular field", [base[0], base[1], ("accept", "*/*"), base[2], base[3]]),
        ("unknown pseudo-header", base + [(":foo", "bar")]),
        ("response pseudo-header in a request", base + [(":status", "200")]),
        ("empty :path", [base[0], base[1], base[2], (":path", "")]),
        ("relative :path", [base[0], base[1], base[2], (":path", "pay/x")]),
        ("absolute-form :path", [base[0], base[1], base[2], (":path", "https://evil.example/")]),
        ("CR LF in a value", base + [("x-a", "1\r\nx-b: 2")]),
        ("NUL in a value", base + [("x-a", "1\u{0}2")]),
        ("space in a name", base + [("x a", "1")]),
        ("empty field name", base + [("", "1")]),
        ("leading space in a value", base + [("x-a", " 1")]),
        ("non-token :method", [(":method", "G T"), base[1], base[2], base[3]]),
    ]

    func testEachMalformedShapeResetsItsStreamAndTheConnectionStaysUsable() throws {
        let wire = try Wire()
        var streamID: Int32 = 1
        for shape in Self.shapes {
            let events = wire.events(Build.headers(stream: streamID, shape.fields))
            XCTAssertEqual(events, [], shape.name)
            let frames = wire.read()
            let reset = frames.first { $0.kind == .rstStream }
            XCTAssertEqual(reset?.streamID, streamID, shape.name)
            XCTAssertEqual(reset?.errorCode, HTTP2ErrorCode.protocolError, shape.name)
            XCTAssertFalse(frames.contains { $0.kind == .goAway }, shape.name)

            let next = wire.events(Build.headers(stream: streamID + 2, Self.base))
            guard case .request(let id, let head, true)? = next.first else {
                XCTFail("\(shape.name): next stream \(next)")
                return
            }
            XCTAssertEqual(id, streamID + 2)
            XCTAssertEqual(head.target, "/")
            wire.server.sendResponse(streamID: id, head: HTTPResponseHead(status: 204), endStream: true)
            XCTAssertEqual(wire.read().first { $0.kind == .headers }?.streamID, id, shape.name)
            streamID += 4
        }
        XCTAssertTrue(wire.server.wantsRead)
    }

    func testTrailersAreReported() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.post("/p"), endStream: false) + Build.data(stream: 1, [1, 2]))
        let events = wire.events(Build.headers(stream: 1, [("x-checksum", "abc")], endStream: true))
        var trailers = HTTPHeaders()
        trailers.appendLowercased(name: "x-checksum", value: "abc")
        XCTAssertEqual(events, [.trailers(streamID: 1, headers: trailers)])
    }

    func testPseudoHeaderInTrailersResetsTheStream() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.post("/p"), endStream: false))
        let events = wire.events(Build.headers(stream: 1, [(":path", "/x")], endStream: true))
        XCTAssertEqual(events, [.streamReset(streamID: 1, errorCode: HTTP2ErrorCode.protocolError)])
    }

    func testMoreDataThanContentLengthResetsTheStream() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.post("/p", extra: [("content-length", "3")]), endStream: false))
        let events = wire.events(Build.data(stream: 1, [1, 2, 3, 4], endStream: true))
        XCTAssertEqual(events, [.streamReset(streamID: 1, errorCode: HTTP2ErrorCode.protocolError)])
        XCTAssertEqual(wire.read().first { $0.kind == .rstStream }?.errorCode, HTTP2ErrorCode.protocolError)
        XCTAssertEqual(wire.events(Build.headers(stream: 3, Build.get())).count, 1)
    }

    func testLessDataThanContentLengthResetsTheStream() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.post("/p", extra: [("content-length", "10")]), endStream: false))
        let events = wire.events(Build.data(stream: 1, [1, 2, 3], endStream: true))
        XCTAssertEqual(events.last, .streamReset(streamID: 1, errorCode: HTTP2ErrorCode.protocolError))
        XCTAssertFalse(events.contains { if case .data(_, _, true) = $0 { return true } else { return false } },
                       "the short body never looks complete")
    }

    func testContentLengthWithEndStreamOnHeadersIsMalformed() throws {
        let wire = try Wire()
        let events = wire.events(Build.headers(stream: 1, Build.post("/p", extra: [("content-length", "5")]), endStream: true))
        XCTAssertEqual(events, [])
        XCTAssertEqual(wire.read().first { $0.kind == .rstStream }?.errorCode, HTTP2ErrorCode.protocolError)
    }

    func testOversizedHeaderListGets431() throws {
        var settings = HTTP2Settings()
        settings.maxHeaderListSize = 4096
        let wire = try Wire(settings)
        let events = wire.events(Build.headers(stream: 1, Build.get(extra: [("x-big", String(repeating: "a", count: 5000))])))
        XCTAssertEqual(events.count, 1)
        guard case .rejected(1, let reply)? = events.first else { return XCTFail("\(events)") }
        XCTAssertEqual(reply.reason, "header_list_too_large", "not a request: the application only answers it")
        wire.answerRejections(events)
        let frames = wire.read()
        XCTAssertEqual(frames.first { $0.kind == .headers }?.field(":status"), "431")
        XCTAssertTrue(frames.last { $0.kind == .data }?.has(Flag.endStream) ?? false)
        XCTAssertEqual(wire.events(Build.headers(stream: 3, Build.get())).count, 1)
    }

    func testOversizedHeadWithBodyIsAnsweredThenReset() throws {
        var settings = HTTP2Settings()
        settings.maxHeaderListSize = 4096
        let wire = try Wire(settings)
        wire.answerRejections(wire.events(Build.headers(stream: 1, Build.post("/p", extra: [("x-big", String(repeating: "a", count: 5000))]),
                                                        endStream: false)))
        let frames = wire.read()
        XCTAssertEqual(frames.first { $0.kind == .headers }?.field(":status"), "431")
        let reset = try XCTUnwrap(frames.first { $0.kind == .rstStream })
        XCTAssertEqual(reset.errorCode, HTTP2ErrorCode.noError, "stop sending the body (RFC 9113 8.1)")
        let indexOfReset = frames.firstIndex { $0.kind == .rstStream }!
        XCTAssertTrue(frames[..<indexOfReset].contains { $0.kind == .data && $0.has(Flag.endStream) }, "reply first")
    }

    func testHostDifferentFromAuthorityGets400() throws {
        let wire = try Wire()
        let events = wire.events(Build.headers(stream: 1, Build.get(authority: "pay.example", extra: [("host", "evil.example")])))
        wire.answerRejections(events)
        XCTAssertEqual(wire.read().first { $0.kind == .headers }?.field(":status"), "400")
    }

    func testConnectGets501() throws {
        let wire = try Wire()
        let events = wire.events(Build.headers(stream: 1, [(":method", "CONNECT"), (":authority", "backend:443")]))
        wire.answerRejections(events)
        XCTAssertEqual(wire.read().first { $0.kind == .headers }?.field(":status"), "501")
    }

    func testOptionsAsteriskIsAccepted() throws {
        let wire = try Wire()
        let events = wire.events(Build.headers(stream: 1, [(":method", "OPTIONS"), (":scheme", "https"), (":authority", "a"), (":path", "*")]))
        guard case .request(_, let head, _)? = events.first else { return XCTFail("\(events)") }
        XCTAssertEqual(head.target, "*")
    }
}
