import SluiceHTTP
import SluiceHTTP2
import XCTest

final class ShutdownTests: XCTestCase {
    func testGracefulGoAwayLetsTheInFlightStreamFinish() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.post("/pay"), endStream: false))
        wire.server.goAway(errorCode: HTTP2ErrorCode.noError, graceful: true)

        // Step one: GOAWAY with the largest stream id, and a PING to time the round trip.
        var frames = wire.read()
        let notice = try XCTUnwrap(frames.first { $0.kind == .goAway })
        XCTAssertEqual(notice.goAwayLastStreamID, Int32.max)
        XCTAssertEqual(notice.errorCode, HTTP2ErrorCode.noError)
        let ping = try XCTUnwrap(frames.first { $0.kind == .ping && !$0.has(Flag.ack) })

        // A stream the client opened before it saw the notice is still served.
        XCTAssertEqual(wire.events(Build.headers(stream: 3, Build.get())).count, 1)

        // Step two, one round trip later: the final GOAWAY names the last stream taken.
        XCTAssertEqual(wire.events(Build.frame(.ping, flags: Flag.ack, ping.payload)), [])
        frames = wire.read()
        let final = try XCTUnwrap(frames.first { $0.kind == .goAway })
        XCTAssertEqual(final.goAwayLastStreamID, 3)
        XCTAssertEqual(final.errorCode, HTTP2ErrorCode.noError)

        // Streams after it are ignored; the in-flight ones finish.
        XCTAssertEqual(wire.events(Build.headers(stream: 5, Build.get())), [])
        XCTAssertEqual(wire.events(Build.data(stream: 1, [1, 2], endStream: true)),
                       [.data(streamID: 1, bytes: [1, 2], endStream: true)])
        wire.server.sendResponse(streamID: 3, head: HTTPResponseHead(status: 204), endStream: true)
        _ = wire.read()
        XCTAssertTrue(wire.server.wantsRead, "stream 1 is still in flight")
        wire.server.sendLocalReply(streamID: 1, reply: LocalReply(status: 201, body: Array("ok".utf8), reason: "created"))
        frames = wire.read()
        XCTAssertEqual(frames.first { $0.kind == .headers }?.field(":status"), "201")
        XCTAssertFalse(wire.server.wantsRead)
        XCTAssertFalse(wire.server.wantsWrite, "finished: close the connection")
    }

    func testImmediateGoAwayWithErrorClosesAfterSending() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.get()))
        wire.server.goAway(errorCode: HTTP2ErrorCode.internalError, graceful: false)
        let frames = wire.read()
        XCTAssertEqual(frames.last?.kind, .goAway)
        XCTAssertEqual(frames.last?.errorCode, HTTP2ErrorCode.internalError)
        XCTAssertEqual(frames.last?.goAwayLastStreamID, 1)
        XCTAssertFalse(wire.server.wantsRead)
        XCTAssertFalse(wire.server.wantsWrite)
    }

    func testImmediateGoAwayWithoutErrorStillFinishesTakenStreams() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.get()))
        wire.server.goAway(errorCode: HTTP2ErrorCode.noError, graceful: false)
        XCTAssertEqual(wire.read().first { $0.kind == .goAway }?.goAwayLastStreamID, 1)
        XCTAssertTrue(wire.server.wantsRead)
        wire.server.sendResponse(streamID: 1, head: HTTPResponseHead(status: 204), endStream: true)
        _ = wire.read()
        XCTAssertFalse(wire.server.wantsRead)
        XCTAssertFalse(wire.server.wantsWrite)
    }
}
