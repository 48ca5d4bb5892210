import SluiceHTTP
import SluiceHTTP2
import XCTest

/// How response heads are encoded: every field arrives, and a field new in every response (the
/// request id) is never indexed, so it does not churn HPACK's dynamic table.
final class ResponseHeadEncodingTests: XCTestCase {
    func testRequestIDsAreNeverIndexedAndTheTableStaysPut() throws {
        let wire = try Wire()
        var tableSizes: [Int] = []
        for index in 0..<20 {
            let id = Int32(2 * index + 1)
            _ = wire.events(Build.headers(stream: id, Build.get("/q/\(index)")))
            if index == 10 { wire.server.releaseIdleBuffers() }  // as a parking session does
            let requestID = "req-\(index)-0123456789abcdef0123456789abcdef"
            let head = HTTPResponseHead(status: 200, headers: HTTPHeaders([("content-type", "application/json"),
                                                                           ("x-request-id", requestID), ("via", "1.1 sluice")]))
            wire.server.sendResponse(streamID: id, head: head, endStream: true)
            guard let frame = wire.read().first(where: { $0.streamID == id && $0.kind == .headers }) else {
                return XCTFail("no HEADERS for stream \(id)")
            }
            XCTAssertEqual(frame.fields.map { "\($0.0)=\($0.1)" },
                           [":status=200", "content-type=application/json", "x-request-id=\(requestID)", "via=1.1 sluice"])
            XCTAssertEqual(frame.neverIndexed, ["x-request-id"])
            tableSizes.append(wire.decoderTableSize)
        }
        XCTAssertGreaterThan(tableSizes[0], 0, "the fields that repeat are indexed")
        XCTAssertEqual(Set(tableSizes).count, 1, "no response adds to the table after the first: \(tableSizes)")
    }
}
