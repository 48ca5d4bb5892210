import SluiceHTTP
import SluiceHTTP2
import XCTest

/// The upstream side (HTTP2ClientSession) against Sluice's own server session, bytes pumped
/// between them in memory: requests multiplexed on one connection, bodies both ways with flow
/// control, trailers, refused streams and GOAWAY as a proxy forwarding to an h2 backend sees them.
final class ClientSessionTests: XCTestCase {
    private final class Pair {
        let client: HTTP2ClientSession
        let server: HTTP2ServerSession
        var serverEvents: [HTTP2Event] = []
        var clientEvents: [HTTP2ClientEvent] = []

        init(serverSettings: HTTP2Settings = HTTP2Settings(), streamWindow: Int = 256 * 1024) throws {
            client = try HTTP2ClientSession(streamWindow: streamWindow)
            server = try HTTP2ServerSession(settings: serverSettings)
            pump()
        }

        /// Moves bytes both ways until neither side has anything to say.
        func pump() {
            for _ in 0..<100 {
                var toServer: [UInt8] = []
                client.takeOutput(into: &toServer)
                var toClient: [UInt8] = []
                server.takeOutput(into: &toClient)
                if toServer.isEmpty && toClient.isEmpty { return }
                if !toServer.isEmpty { serverEvents += (try? toServer.withUnsafeBytes { try server.receive($0) }) ?? [] }
                if !toClient.isEmpty { clientEvents += (try? toClient.withUnsafeBytes { try client.receive($0) }) ?? [] }
            }
        }
    }

    private func request(_ pair: Pair, _ path: String, endStream: Bool = true) -> Int32 {
        pair.client.submitRequest(method: endStream ? "GET" : "POST", scheme: "http", authority: "backend", path: path,
                                  fields: HTTPHeaders([("x-request-id", "r1"), ("connection", "close"), ("host", "x")]),
                                  endStream: endStream)!
    }

    func testRequestsAreMultiplexedWithBodiesAndTrailers() throws {
        let pair = try Pair()
        let get = request(pair, "/a")
        let post = request(pair, "/pay", endStream: false)
        XCTAssertNotEqual(get, post)
        Array("{\"amount\":1}".utf8).withUnsafeBytes { pair.client.sendData(streamID: post, bytes: $0, endStream: true) }
        pair.pump()
        let heads = pair.serverEvents.compactMap { event -> HTTPRequestHead? in
            if case .request(_, let head, _) = event { return head } else { return nil }
        }
        XCTAssertEqual(heads.map(\.target), ["/a", "/pay"])
        XCTAssertEqual(heads[0].headers["x-request-id"], "r1")
        XCTAssertEqual(heads[0].headers["host"], "backend", ":authority becomes Host; the caller's host field is not sent twice")
        XCTAssertNil(heads[0].headers["connection"], "connection-specific fields never go on an HTTP/2 stream")
        let body = pair.serverEvents.compactMap { event -> [UInt8]? in
            if case .data(post, let bytes, _) = event { return bytes } else { return nil }
        }.flatMap { $0 }
        XCTAssertEqual(String(decoding: body, as: UTF8.self), "{\"amount\":1}")

        pair.server.sendResponse(streamID: post, head: HTTPResponseHead(status: 200, headers: HTTPHeaders([("content-type", "application/json")])),
                                 endStream: false)
        pair.server.sendData(streamID: post, bytes: Array("paid".utf8), endStream: false)
        pair.server.finishResponse(streamID: post, trailers: HTTPHeaders([("grpc-status", "0")]))
        pair.server.sendResponse(streamID: get, head: HTTPResponseHead(status: 204), endStream: true)
        pair.pump()
        func events(of id: Int32) -> [HTTP2ClientEvent] {
            pair.clientEvents.filter {
                switch $0 {
                case .response(let s, _, _), .data(let s, _, _), .trailers(let s, _), .streamClosed(let s, _): return s == id
                case .goAway: return false
                }
            }
        }
        XCTAssertEqual(events(of: post), [
            .response(streamID: post, head: HTTPResponseHead(status: 200, version: .http2, headers: HTTPHeaders([("content-type", "application/json")])),
                      endStream: false),
            .data(streamID: post, bytes: Array("paid".utf8), endStream: false),
            .trailers(streamID: post, headers: HTTPHeaders([("grpc-status", "0")])),
        ])
        XCTAssertEqual(events(of: get), [.response(streamID: get, head: HTTPResponseHead(status: 204, version: .http2, headers: HTTPHeaders()),
                                                   endStream: true)])
        XCTAssertEqual(pair.client.openStreams, 0)
    }

    func testResponseWindowReopensOnlyAsTheBodyIsRelayed() throws {
        let pair = try Pair(streamWindow: 65_535)
        let id = request(pair, "/big")
        pair.pump()
        pair.server.sendResponse(streamID: id, head: HTTPResponseHead(status: 200), endStream: false)
        pair.server.sendData(streamID: id, bytes: [UInt8](repeating: 7, count: 200_000), endStream: true)
        pair.pump()
        func received() -> Int {
            pair.clientEvents.reduce(0) { if case .data(_, let bytes, _) = $1 { return $0 + bytes.count } else { return $0 } }
        }
        XCTAssertEqual(received(), 65_535, "no more than the stream window before anything is relayed")
        pair.client.consume(streamID: id, bytes: received())
        pair.pump()
        XCTAssertGreaterThan(received(), 65_535)
    }

    func testStreamsOverTheServersLimitAreRefusedAndSaySo() throws {
        let pair = try Pair(serverSettings: HTTP2Settings(maxConcurrentStreams: 1))
        XCTAssertEqual(pair.client.availableStreams, 1)
        let first = request(pair, "/1", endStream: false)
        XCTAssertEqual(pair.client.availableStreams, 0, "the proxy opens another connection instead")
        pair.pump()
        pair.server.sendResponse(streamID: first, head: HTTPResponseHead(status: 200), endStream: true)
        pair.client.sendData(streamID: first, bytes: UnsafeRawBufferPointer(start: nil, count: 0), endStream: true)
        pair.pump()
        XCTAssertEqual(pair.client.availableStreams, 1)
    }

    func testServerResetAndGoAwayReachTheCaller() throws {
        let pair = try Pair()
        let reset = request(pair, "/reset")
        let cut = request(pair, "/cut")
        pair.pump()
        pair.server.resetStream(reset, errorCode: HTTP2ErrorCode.refusedStream)
        pair.server.goAway(errorCode: HTTP2ErrorCode.noError, graceful: false)
        pair.pump()
        XCTAssertTrue(pair.clientEvents.contains(.streamClosed(streamID: reset, errorCode: HTTP2ErrorCode.refusedStream)), "\(pair.clientEvents)")
        XCTAssertTrue(pair.clientEvents.contains { if case .goAway(cut, 0) = $0 { return true } else { return false } }, "\(pair.clientEvents)")
        XCTAssertTrue(pair.client.goingAway)
        XCTAssertEqual(pair.client.availableStreams, 0)
        XCTAssertNil(pair.client.submitRequest(method: "GET", scheme: "http", authority: "b", path: "/", fields: HTTPHeaders(), endStream: true))
        pair.client.fail(HTTP2ConnectionError(code: HTTP2ErrorCode.internalError, reason: "socket closed"))
        XCTAssertEqual(pair.client.takeEvents().last, .streamClosed(streamID: cut, errorCode: HTTP2ErrorCode.internalError))
    }

    /// A backend's response head split over HEADERS and six CONTINUATIONs, arriving a few bytes
    /// per read: a response, not a continuation flood (reads ending inside frame headers must
    /// not count as more CONTINUATIONs).
    func testAResponseWithContinuationsInSmallReadsIsAResponse() throws {
        for readSize in [1, 5, 9] {
            let pair = try Pair()
            let id = request(pair, "/big-head")
            pair.pump()
            var frames = Build.headers(stream: id, [(":status", "200")], endStream: true, endHeaders: false)
            for i in 0..<6 {
                frames += Build.frame(.continuation, flags: i == 5 ? Flag.endHeaders : 0, stream: id, Build.block([("x-\(i)", "v")]))
            }
            var events: [HTTP2ClientEvent] = []
            for start in stride(from: 0, to: frames.count, by: readSize) {
                do {
                    events += try Array(frames[start ..< min(start + readSize, frames.count)]).withUnsafeBytes { try pair.client.receive($0) }
                } catch {
                    XCTFail("reads of \(readSize) bytes: \(error) at byte \(start)")
                    break
                }
            }
            guard case .response(id, let head, true)? = events.first else { XCTFail("reads of \(readSize) bytes: \(events)"); continue }
            XCTAssertEqual(head.status, 200)
            XCTAssertEqual(head.headers["x-5"], "v")
        }
    }
}
