import SluiceHTTP
import SluiceHTTP2
import XCTest

/// Response trailers (gRPC's grpc-status): a HEADERS frame after the last DATA ends the stream.
final class ResponseTrailerTests: XCTestCase {
    func testTrailersFollowTheLastDataFrameAndEndTheStream() throws {
        let wire = try Wire()
        guard case .request(let id, _, true)? = wire.events(Build.headers(stream: 1, Build.get("/rpc"))).first else {
            return XCTFail("no request")
        }
        wire.server.sendResponse(streamID: id, head: HTTPResponseHead(status: 200, headers: HTTPHeaders([("content-type", "application/grpc")])),
                                 endStream: false)
        wire.server.sendData(streamID: id, bytes: Array("payload".utf8), endStream: false)
        wire.server.finishResponse(streamID: id, trailers: HTTPHeaders([("grpc-status", "0"), ("connection", "close"), ("grpc-message", "ok")]))
        let frames = wire.read().filter { $0.streamID == id }
        XCTAssertEqual(frames.map(\.kind), [.headers, .data, .headers])
        XCTAssertFalse(frames[1].has(Flag.endStream), "the DATA frame does not end the stream: the trailers do")
        XCTAssertEqual(frames[1].payload, Array("payload".utf8))
        XCTAssertTrue(frames[2].has(Flag.endStream))
        XCTAssertEqual(frames[2].fields.map { "\($0.0)=\($0.1)" }, ["grpc-status=0", "grpc-message=ok"],
                       "connection-specific fields never go into HTTP/2 trailers")
    }

    func testNoTrailersIsAPlainEnd() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.get()))
        wire.server.sendResponse(streamID: 1, head: HTTPResponseHead(status: 200), endStream: false)
        wire.server.sendData(streamID: 1, bytes: Array("x".utf8), endStream: false)
        wire.server.finishResponse(streamID: 1, trailers: HTTPHeaders())
        let frames = wire.read().filter { $0.streamID == 1 }
        XCTAssertEqual(frames.map(\.kind), [.headers, .data])
        XCTAssertTrue(frames.last!.has(Flag.endStream))
    }
}
