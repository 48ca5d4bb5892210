import SluiceHTTP
import SluiceHTTP2
import XCTest

final class SessionBasicsTests: XCTestCase {
    func testServerSendsSettingsAndAcksTheClients() throws {
        let wire = try Wire(handshake: false)
        var settings = HTTP2Settings()
        settings.maxConcurrentStreams = 100
        XCTAssertTrue(wire.server.wantsWrite, "the server preface is ready before the client speaks")
        XCTAssertEqual(wire.events(Build.preface + Build.settings([(0x4, 100_000)])), [])
        let frames = wire.read()
        let serverSettings = try XCTUnwrap(frames.first { $0.kind == .settings && !$0.has(Flag.ack) })
        var advertised: [UInt16: UInt32] = [:]
        for at in stride(from: 0, to: serverSettings.payload.count, by: 6) {
            advertised[UInt16(serverSettings.payload[at]) << 8 | UInt16(serverSettings.payload[at + 1])] =
                readUInt32(serverSettings.payload, at + 2)
        }
        XCTAssertEqual(advertised[0x3], 128, "max concurrent streams")
        XCTAssertEqual(advertised[0x4], 65_535 * 4, "initial window")
        XCTAssertEqual(advertised[0x5], 16_384, "max frame size")
        XCTAssertEqual(advertised[0x6], 32 * 1024, "max header list size")
        XCTAssertTrue(frames.contains { $0.kind == .settings && $0.has(Flag.ack) }, "client SETTINGS acknowledged")
        let connectionWindow = try XCTUnwrap(frames.first { $0.kind == .windowUpdate && $0.streamID == 0 })
        XCTAssertEqual(connectionWindow.windowIncrement, UInt32((1 << 20) - 65_535))
        XCTAssertTrue(wire.server.wantsRead)
        XCTAssertFalse(wire.server.wantsWrite)
    }

    func testBadPrefaceIsAConnectionError() throws {
        let wire = try Wire(handshake: false)
        let error = wire.connectionError(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        XCTAssertEqual(error?.code, HTTP2ErrorCode.protocolError)
        XCTAssertEqual(wire.read().last?.kind, .goAway)
        XCTAssertFalse(wire.server.wantsRead)
        XCTAssertFalse(wire.server.wantsWrite)
    }

    func testGetBecomesARequestEvent() throws {
        let wire = try Wire()
        let events = wire.events(Build.headers(stream: 1, Build.get("/v3/pay/transactions?id=7", extra: [
            ("user-agent", "test"), ("cookie", "a=1"), ("accept", "*/*"), ("cookie", "b=2"),
        ])))
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "host", value: "pay.example")
        headers.appendLowercased(name: "user-agent", value: "test")
        headers.appendLowercased(name: "accept", value: "*/*")
        headers.appendLowercased(name: "cookie", value: "a=1; b=2")
        let head = HTTPRequestHead(method: "GET", target: "/v3/pay/transactions?id=7", version: .http2, headers: headers)
        XCTAssertEqual(events, [.request(streamID: 1, head: head, endStream: true)])
        XCTAssertEqual(head.host, "pay.example")
        XCTAssertEqual(head.path, "/v3/pay/transactions")
    }

    func testAHostEqualToTheAuthorityIsSentOnceAndFirst() throws {
        let wire = try Wire()
        let events = wire.events(Build.headers(stream: 1, Build.get(extra: [("accept", "*/*"), ("host", "pay.example"), ("x-a", "1")])))
        guard case .request(_, let head, _)? = events.first else { return XCTFail("\(events)") }
        XCTAssertEqual(head.headers.map { "\($0.name)=\($0.value)" }, ["host=pay.example", "accept=*/*", "x-a=1"])
    }

    func testHostHeaderWithoutAuthorityIsKept() throws {
        let wire = try Wire()
        let events = wire.events(Build.headers(stream: 1, [(":method", "GET"), (":scheme", "https"), (":path", "/"), ("host", "h.example")]))
        guard case .request(_, let head, _)? = events.first else { return XCTFail("\(events)") }
        XCTAssertEqual(head.host, "h.example")
        XCTAssertEqual(head.headers.count, 1)
    }

    func testResponseHeadStripsConnectionSpecificFields() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.get()))
        var headers = HTTPHeaders()
        for (name, value) in [("content-type", "application/json"), ("connection", "keep-alive, x-hop"), ("keep-alive", "timeout=5"),
                              ("transfer-encoding", "chunked"), ("upgrade", "h2c"), ("proxy-connection", "close"),
                              ("x-hop", "1"), ("x-request-id", "r1")] {
            headers.add(name: name, value: value)
        }
        wire.server.sendResponse(streamID: 1, head: HTTPResponseHead(status: 200, headers: headers), endStream: true)
        let response = try XCTUnwrap(wire.read().first { $0.kind == .headers })
        XCTAssertEqual(response.streamID, 1)
        XCTAssertTrue(response.has(Flag.endStream))
        XCTAssertEqual(response.fields.map(\.0), [":status", "content-type", "x-request-id"])
        XCTAssertEqual(response.field(":status"), "200")
    }

    func testInterimResponseThenFinal() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.post("/p", extra: [("expect", "100-continue")]), endStream: false))
        wire.server.sendResponse(streamID: 1, head: HTTPResponseHead(status: 100), endStream: false)
        wire.server.sendResponse(streamID: 1, head: HTTPResponseHead(status: 204), endStream: true)
        let heads = wire.read().filter { $0.kind == .headers }
        XCTAssertEqual(heads.map { $0.field(":status") }, ["100", "204"])
        XCTAssertEqual(heads.map { $0.has(Flag.endStream) }, [false, true])
    }

    func testLocalReplyCarriesBodyAndLength() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.get()))
        wire.server.sendLocalReply(streamID: 1, reply: .json(status: 429, reason: "rate_limited", message: "slow down"))
        let frames = wire.read()
        let head = try XCTUnwrap(frames.first { $0.kind == .headers })
        XCTAssertEqual(head.field(":status"), "429")
        let body = frames.filter { $0.kind == .data }.flatMap(\.payload)
        XCTAssertEqual(head.field("content-length"), String(body.count))
        XCTAssertEqual(head.field("content-type"), "application/problem+json")
        XCTAssertEqual(String(decoding: body, as: UTF8.self), "{\"type\":\"about:blank\",\"title\":\"Too Many Requests\",\"status\":429,"
                       + "\"error\":\"rate_limited\",\"detail\":\"slow down\",\"message\":\"slow down\"}\n")
        XCTAssertTrue(frames.last { $0.kind == .data }?.has(Flag.endStream) ?? false)
    }

    func testReplyBeforeRequestEndsGoesOutThenResetNoError() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.post("/p"), endStream: false) + Build.data(stream: 1, [1, 2, 3]))
        wire.server.sendLocalReply(streamID: 1, reply: .json(status: 413, reason: "body_too_large", message: "too large"))
        wire.server.stopReceiving(streamID: 1)
        let frames = wire.read().filter { $0.streamID == 1 }
        XCTAssertEqual(frames.map(\.kind), [.headers, .data, .rstStream])
        XCTAssertEqual(frames.first?.field(":status"), "413")
        XCTAssertTrue(frames[1].has(Flag.endStream))
        XCTAssertEqual(frames.last?.errorCode, HTTP2ErrorCode.noError)
    }

    func testStopReceivingAfterResponseIsOutResetsAtOnce() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.post("/p"), endStream: false))
        wire.server.sendResponse(streamID: 1, head: HTTPResponseHead(status: 204), endStream: true)
        XCTAssertEqual(wire.read().filter { $0.streamID == 1 }.map(\.kind), [.headers])
        wire.server.stopReceiving(streamID: 1)
        let reset = wire.read().filter { $0.streamID == 1 }
        XCTAssertEqual(reset.map(\.kind), [.rstStream])
        XCTAssertEqual(reset.first?.errorCode, HTTP2ErrorCode.noError)
    }

    func testStopReceivingAfterRequestEndedSendsNoReset() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.get()))
        wire.server.sendLocalReply(streamID: 1, reply: .json(status: 404, reason: "no_route", message: "none"))
        wire.server.stopReceiving(streamID: 1)
        XCTAssertFalse(wire.read().contains { $0.kind == .rstStream })
    }

    func testClientGoAwayIsReported() throws {
        let wire = try Wire()
        let events = wire.events(Build.frame(.goAway, Build.uint32(0) + Build.uint32(0)))
        XCTAssertEqual(events, [.goAway(lastStreamID: 0, errorCode: 0)])
        XCTAssertFalse(wire.server.wantsRead)
    }
}
