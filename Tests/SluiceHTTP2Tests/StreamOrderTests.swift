import SluiceHTTP
import SluiceHTTP2
import XCTest

/// The stream rules nghttp2 leaves to Sluice (RFC 9113 §5.1, §5.1.1, §5.3.1, §6.3), checked on
/// frame headers before nghttp2 sees the bytes: each violation is a GOAWAY with the right code,
/// whose last stream id leaves out the request that broke the rule; legal frames that merely look
/// alike (trailers, frames racing the server's own reset) keep the connection.
final class StreamOrderTests: XCTestCase {
    private func goAway(_ wire: Wire) -> Frame? { wire.read().first { $0.kind == .goAway } }

    func testStreamIDLowerThanAnEarlierOneIsProtocolError() throws {
        let wire = try Wire()
        let first = wire.events(Build.headers(stream: 5, Build.get("/five")))
        XCTAssertEqual(first.count, 1)
        let error = wire.connectionError(Build.headers(stream: 3, Build.get("/three")))
        XCTAssertEqual(error?.code, HTTP2ErrorCode.protocolError)
        XCTAssertEqual(error?.reason, "stream_id_not_increasing")
        let frame = goAway(wire)
        XCTAssertEqual(frame?.errorCode, HTTP2ErrorCode.protocolError)
        XCTAssertEqual(frame?.goAwayLastStreamID, 5, "stream 3 was not processed and the GOAWAY says so")
    }

    func testTheLowerIDInTheSameReadIsRefusedBeforeAnythingOfItIsProcessed() throws {
        let wire = try Wire()
        let error = wire.connectionError(Build.headers(stream: 5, Build.get()) + Build.headers(stream: 3, Build.get()))
        XCTAssertEqual(error?.code, HTTP2ErrorCode.protocolError)
        XCTAssertEqual(goAway(wire)?.goAwayLastStreamID, 0, "nothing of the violating read reached nghttp2")
    }

    func testDataAfterTheClientsOwnResetIsStreamClosed() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.post("/pay"), endStream: false))
        _ = wire.events(Build.rst(stream: 1))
        let error = wire.connectionError(Build.data(stream: 1, Array("late".utf8), endStream: true))
        XCTAssertEqual(error?.code, HTTP2ErrorCode.streamClosed)
        XCTAssertEqual(goAway(wire)?.errorCode, HTTP2ErrorCode.streamClosed)
    }

    func testHeadersAndDataOnAStreamTheClientEndedAreStreamClosed() throws {
        for late in [Build.data(stream: 1, Array("x".utf8), endStream: true), Build.headers(stream: 1, Build.get())] {
            let wire = try Wire()
            guard case .request(let id, _, true)? = wire.events(Build.headers(stream: 1, Build.get())).first else {
                return XCTFail("no request")
            }
            wire.server.sendResponse(streamID: id, head: HTTPResponseHead(status: 204), endStream: true)
            _ = wire.read()
            XCTAssertEqual(wire.connectionError(late)?.code, HTTP2ErrorCode.streamClosed)
        }
    }

    func testPriorityOnStreamZeroOrOnItselfIsProtocolError() throws {
        let onZero = try Wire()
        XCTAssertEqual(onZero.connectionError(Build.frame(.priority, stream: 0, Build.uint32(1) + [16]))?.reason,
                       "priority_on_stream_0")
        let onItself = try Wire()
        XCTAssertEqual(onItself.connectionError(Build.frame(.priority, stream: 3, Build.uint32(3) + [16]))?.reason,
                       "priority_depends_on_itself")
        let fine = try Wire()
        XCTAssertEqual(fine.events(Build.frame(.priority, stream: 3, Build.uint32(1) + [16])), [])
    }

    func testFrameHeadersSplitAcrossReadsAreStillChecked() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 7, Build.get()))
        let lower = Build.headers(stream: 5, Build.get())
        for byte in lower.prefix(8) {
            XCTAssertEqual(wire.events([byte]), [], "one byte at a time: no verdict before the header is whole")
        }
        XCTAssertEqual(wire.connectionError([lower[8]])?.reason, "stream_id_not_increasing")

        let priority = try Wire()
        let onItself = Build.frame(.priority, stream: 9, Build.uint32(9) + [16])
        for byte in onItself.prefix(12) { XCTAssertEqual(priority.events([byte]), []) }
        XCTAssertEqual(priority.connectionError(Array(onItself.dropFirst(12)))?.reason, "priority_depends_on_itself")
    }

    func testTrailersAndFramesRacingTheServersResetKeepTheConnection() throws {
        let wire = try Wire()
        // Trailers on an open stream with a lower id than a newer stream.
        _ = wire.events(Build.headers(stream: 1, Build.post("/upload"), endStream: false))
        _ = wire.events(Build.headers(stream: 3, Build.get()))
        let trailers = wire.events(Build.data(stream: 1, Array("body".utf8)) + Build.headers(stream: 1, [("x-checksum", "1")]))
        XCTAssertTrue(trailers.contains { if case .trailers(1, _) = $0 { return true } else { return false } }, "\(trailers)")

        // The server resets a stream mid-upload: the client's DATA and trailers already on the way are ignored.
        _ = wire.events(Build.headers(stream: 5, Build.post("/upload"), endStream: false))
        wire.server.resetStream(5, errorCode: HTTP2ErrorCode.cancel)
        XCTAssertEqual(wire.read().first { $0.kind == .rstStream }?.streamID, 5)
        _ = wire.events(Build.data(stream: 5, Array("more".utf8)))
        _ = wire.events(Build.headers(stream: 5, [("x-checksum", "2")]))
        _ = wire.events(Build.headers(stream: 7, Build.get()))
        XCTAssertNil(goAway(wire))
        XCTAssertTrue(wire.server.wantsRead)
    }

    /// `stream_checks: false` gives nghttp2's lenient behaviour back: the lower stream id is
    /// ignored, not a connection error (what the check costs is measured with this off).
    func testTheChecksCanBeTurnedOff() throws {
        var settings = HTTP2Settings()
        settings.streamChecks = false
        let wire = try Wire(settings)
        _ = wire.events(Build.headers(stream: 5, Build.get()))
        XCTAssertEqual(wire.events(Build.headers(stream: 3, Build.get())), [])
        XCTAssertNil(wire.read().first { $0.kind == .goAway })
    }
}
