import SluiceHTTP
import SluiceHTTP2
import XCTest

/// Abuse that must end the connection with GOAWAY(ENHANCE_YOUR_CALM) instead of eating CPU.
final class FloodTests: XCTestCase {
    /// The connection ended with `reason`: receive threw, the output ends with a GOAWAY of
    /// ENHANCE_YOUR_CALM, and the session is finished.
    func assertCalmedDown(_ wire: Wire, _ error: HTTP2ConnectionError?, reason: String,
                          file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(error, HTTP2ConnectionError(code: HTTP2ErrorCode.enhanceYourCalm, reason: reason), file: file, line: line)
        let frames = wire.read()
        XCTAssertEqual(frames.last?.kind, .goAway, file: file, line: line)
        XCTAssertEqual(frames.last?.errorCode, HTTP2ErrorCode.enhanceYourCalm, file: file, line: line)
        XCTAssertFalse(wire.server.wantsRead, file: file, line: line)
        XCTAssertFalse(wire.server.wantsWrite, file: file, line: line)
        XCTAssertThrowsError(try wire.send(Build.ping()), file: file, line: line)
    }

    /// Sends `frame(i)` one read at a time, taking the output each time, as a well-behaved
    /// reader of a flooding client would; returns the error and how many sends succeeded.
    func flood(_ wire: Wire, count: Int, _ frame: (Int) -> [UInt8]) -> (HTTP2ConnectionError?, Int) {
        for i in 0..<count {
            do { _ = try wire.send(frame(i)) } catch { return (error, i) }
            if i < count - 1 { _ = wire.read() }
        }
        return (nil, count)
    }

    // MARK: Rapid reset (CVE-2023-44487)

    func testRapidResetEndsTheConnection() throws {
        var settings = HTTP2Settings()
        settings.maxResetsPerWindow = 50
        let wire = try Wire(settings)
        let (error, sent) = flood(wire, count: 200) { i in
            let id = Int32(2 * i + 1)
            return Build.headers(stream: id, Build.get(), endStream: false) + Build.rst(stream: id)
        }
        XCTAssertEqual(sent, 50, "the 51st reset is one too many")
        assertCalmedDown(wire, error, reason: "rapid_reset")
    }

    func testRapidResetInOneReadEndsTheConnection() throws {
        let wire = try Wire()
        var burst: [UInt8] = []
        for i in 0..<1000 {
            let id = Int32(2 * i + 1)
            burst += Build.headers(stream: id, Build.get(), endStream: false) + Build.rst(stream: id)
        }
        assertCalmedDown(wire, wire.connectionError(burst), reason: "rapid_reset")
    }

    func testResetBudgetRefillsOverTheWindow() throws {
        var settings = HTTP2Settings()
        settings.maxResetsPerWindow = 20
        let wire = try Wire(settings)
        var id: Int32 = 1
        for _ in 0..<3 {
            for _ in 0..<20 {
                _ = wire.events(Build.headers(stream: id, Build.get(), endStream: false) + Build.rst(stream: id))
                id += 2
            }
            wire.now.value += .seconds(10)
        }
        XCTAssertTrue(wire.server.wantsRead, "20 resets per 10 s is within the budget")
    }

    func testClientResetIsReportedToTheApplication() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.post("/p"), endStream: false))
        XCTAssertEqual(wire.events(Build.rst(stream: 1, code: HTTP2ErrorCode.cancel)),
                       [.streamReset(streamID: 1, errorCode: HTTP2ErrorCode.cancel)])
        // Responding to a reset stream is harmless.
        wire.server.sendResponse(streamID: 1, head: HTTPResponseHead(status: 200), endStream: true)
        XCTAssertFalse(wire.read().contains { $0.kind == .headers })
    }

    func testApplicationResetsDoNotCountAgainstTheClient() throws {
        var settings = HTTP2Settings()
        settings.maxResetsPerWindow = 10
        let wire = try Wire(settings)
        for i in 0..<50 {
            let id = Int32(2 * i + 1)
            _ = wire.events(Build.headers(stream: id, Build.get()))
            wire.server.resetStream(id, errorCode: HTTP2ErrorCode.refusedStream)
            XCTAssertEqual(wire.read().first { $0.kind == .rstStream }?.errorCode, HTTP2ErrorCode.refusedStream)
        }
        XCTAssertEqual(wire.events(Build.ping()), [])
        XCTAssertTrue(wire.server.wantsRead)
    }

    /// "MadeYouReset": the client makes the server reset streams (malformed requests) instead
    /// of resetting them itself. Those resets spend the same budget.
    func testServerResetsProvokedByTheClientCount() throws {
        var settings = HTTP2Settings()
        settings.maxResetsPerWindow = 30
        let wire = try Wire(settings)
        let (error, sent) = flood(wire, count: 100) { i in
            Build.headers(stream: Int32(2 * i + 1), Build.get(extra: [("connection", "close")]))
        }
        XCTAssertEqual(sent, 30)
        assertCalmedDown(wire, error, reason: "rapid_reset")
    }

    // MARK: Control frames

    func testPingFloodEndsTheConnection() throws {
        let wire = try Wire()
        let (error, sent) = flood(wire, count: 1000) { _ in Build.ping() }
        XCTAssertEqual(sent, 500 - 1, "the handshake's SETTINGS spent one token")
        assertCalmedDown(wire, error, reason: "control_frame_flood")
    }

    func testPingsAreAnsweredWithinTheBudget() throws {
        let wire = try Wire()
        XCTAssertEqual(wire.events(Build.ping(7)), [])
        let ack = wire.read().first { $0.kind == .ping }
        XCTAssertEqual(ack?.has(Flag.ack), true)
        XCTAssertEqual(ack?.payload, [UInt8](repeating: 7, count: 8))
    }

    func testSettingsFloodEndsTheConnection() throws {
        let wire = try Wire()
        let (error, _) = flood(wire, count: 1000) { _ in Build.settings([(0x4, 65_535)]) }
        assertCalmedDown(wire, error, reason: "control_frame_flood")
    }

    func testPriorityFloodEndsTheConnection() throws {
        let wire = try Wire()
        let (error, _) = flood(wire, count: 1000) { i in
            Build.frame(.priority, stream: Int32(2 * i + 1), Build.uint32(0) + [16])
        }
        assertCalmedDown(wire, error, reason: "control_frame_flood")
    }

    /// A client that sends PINGs and never reads the ACKs: nghttp2's outbound queue limit.
    func testUnreadAcksEndTheConnection() throws {
        var settings = HTTP2Settings()
        settings.maxControlFramesQueued = 100
        let wire = try Wire(settings)
        let burst = Array((0..<300).map { _ in Build.ping() }.joined())
        let error = wire.connectionError(burst)
        XCTAssertEqual(error?.code, HTTP2ErrorCode.enhanceYourCalm)
        XCTAssertEqual(error?.reason, "outbound_queue_flood")
        let frames = wire.read()
        XCTAssertEqual(frames.count, 1, "the queued ACKs are dropped: only the GOAWAY goes out")
        XCTAssertEqual(frames.last?.kind, .goAway)
    }

    func testTooManySettingsEntriesEndTheConnection() throws {
        let wire = try Wire()
        let entries = (0..<40).map { _ in (UInt16(0x4), UInt32(65_535)) }
        let error = wire.connectionError(Build.settings(entries))
        XCTAssertEqual(error?.code, HTTP2ErrorCode.enhanceYourCalm)
        XCTAssertEqual(wire.read().last?.kind, .goAway)
    }

    // MARK: Frames that move nothing forward

    /// Unknown frame types (which RFC 9113 says to ignore), PRIORITY_UPDATE and WINDOW_UPDATE
    /// were counted by no budget: one connection sent millions a second, each read and dropped,
    /// and held its loop. They share one budget now; within it they are ignored as before.
    func testInertFrameFloodsEndTheConnection() throws {
        var settings = HTTP2Settings()
        settings.maxInertFramesPerWindow = 300
        for (name, make, free) in [("unknown", { (_: Int) in Build.frame(type: 0xfa, [UInt8](repeating: 120, count: 64)) }, 0),
                                   ("priority_update", { (_: Int) in Build.frame(type: 0x10, Build.uint32(1) + Array("u=3".utf8)) }, 0),
                                   ("ping_ack", { (_: Int) in Build.frame(.ping, flags: Flag.ack, [UInt8](repeating: 1, count: 8)) }, 0),
                                   // 1,000 free before any DATA was sent (see the next test).
                                   ("window_update", { (_: Int) in Build.windowUpdate(stream: 0, 1) }, 1000)]
            as [(String, (Int) -> [UInt8], Int)] {
            let wire = try Wire(settings)
            let (error, sent) = flood(wire, count: 3000, make)
            XCTAssertEqual(sent, 300 + free, name)
            assertCalmedDown(wire, error, reason: "inert_frame_flood")
        }
    }

    /// DATA that nghttp2 reads and drops: on a stream the server answered and reset while the
    /// client was uploading (legal for the few frames in flight, a flood after), and padded DATA
    /// carrying no data (the empty-DATA budget counted length 0 only). Both ran at tens of
    /// millions of frames uncounted.
    func testDataFramesThatCarryNothingForwardCount() throws {
        var settings = HTTP2Settings()
        settings.maxInertFramesPerWindow = 300
        let wire = try Wire(settings)
        _ = wire.events(Build.headers(stream: 1, Build.post("/p"), endStream: false))
        // Answered early, then reset (NO_ERROR), as the proxy does with a refusal before the body.
        wire.server.sendLocalReply(streamID: 1, reply: LocalReply.json(status: 401, reason: "no", message: "no"))
        wire.server.resetStream(1, errorCode: 0)
        XCTAssertTrue(wire.read().contains { $0.kind == .rstStream })
        let (error, sent) = flood(wire, count: 3000) { _ in Build.data(stream: 1, [7]) }
        XCTAssertEqual(sent, 300)
        assertCalmedDown(wire, error, reason: "inert_frame_flood")

        let padded = try Wire(settings)
        _ = padded.events(Build.headers(stream: 1, Build.post("/p"), endStream: false))
        let (paddedError, paddedSent) = flood(padded, count: 3000) { _ in Build.frame(.data, flags: Flag.padded, stream: 1, [0]) }
        XCTAssertEqual(paddedSent, 300)
        assertCalmedDown(padded, paddedError, reason: "inert_frame_flood")
    }

    /// A client reading a download opens the windows as it reads: two WINDOW_UPDATEs (stream and
    /// connection) per DATA frame are free, however small its window. Only the ones beyond are
    /// charged (a 60 MB download through a 1 KiB window was cut off as a flood).
    func testWindowUpdatesThatAnswerDataAreFree() throws {
        var settings = HTTP2Settings()
        settings.maxInertFramesPerWindow = 300
        let wire = try Wire(settings)
        _ = wire.events(Build.headers(stream: 1, Build.get()))
        wire.server.sendResponse(streamID: 1, head: HTTPResponseHead(status: 200), endStream: false)
        for _ in 0..<2000 {
            wire.server.sendData(streamID: 1, bytes: [7], endStream: false)
            _ = wire.read()
            XCTAssertEqual(wire.events(Build.windowUpdate(stream: 1, 1) + Build.windowUpdate(stream: 0, 1)), [])
        }
        let (error, sent) = flood(wire, count: 3000) { _ in Build.windowUpdate(stream: 0, 1) }
        XCTAssertEqual(sent, 1000 + 300, "beyond the answered ones: 1,000 free, then the budget")
        assertCalmedDown(wire, error, reason: "inert_frame_flood")
    }

    func testInertFramesWithinTheBudgetAreIgnored() throws {
        let wire = try Wire()
        XCTAssertEqual(wire.events(Build.frame(type: 0xfa, [1, 2, 3])), [])
        XCTAssertEqual(wire.events(Build.windowUpdate(stream: 0, 1000)), [])
        XCTAssertEqual(wire.events(Build.headers(stream: 1, Build.get())).count, 1, "the connection goes on")
    }

    // MARK: Empty DATA (CVE-2019-9518)

    func testEmptyDataFloodEndsTheConnection() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.post("/p"), endStream: false))
        let (error, sent) = flood(wire, count: 1000) { _ in Build.data(stream: 1, []) }
        XCTAssertEqual(sent, 100)
        assertCalmedDown(wire, error, reason: "empty_data_flood")
    }

    func testEmptyDataWithEndStreamIsFine() throws {
        let wire = try Wire()
        for i in 0..<300 {
            let id = Int32(2 * i + 1)
            _ = wire.events(Build.headers(stream: id, Build.post("/p"), endStream: false))
            XCTAssertEqual(wire.events(Build.data(stream: id, [], endStream: true)), [.data(streamID: id, bytes: [], endStream: true)])
            wire.server.sendResponse(streamID: id, head: HTTPResponseHead(status: 204), endStream: true)
            _ = wire.read()
        }
        XCTAssertTrue(wire.server.wantsRead)
    }

    // MARK: CONTINUATION (CVE-2024-28182)

    func testContinuationFloodEndsTheConnection() throws {
        let wire = try Wire()
        var frames = Build.headers(stream: 1, Build.get(), endHeaders: false)
        for _ in 0..<1000 { frames += Build.frame(.continuation, stream: 1, Build.block([("x-a", "1")])) }
        let error = wire.connectionError(frames)
        XCTAssertEqual(error, HTTP2ConnectionError(code: HTTP2ErrorCode.enhanceYourCalm, reason: "continuation_flood"))
        XCTAssertEqual(wire.read().last?.errorCode, HTTP2ErrorCode.enhanceYourCalm)
    }

    func testEmptyContinuationFloodEndsTheConnection() throws {
        let wire = try Wire()
        var frames = Build.headers(stream: 1, Build.get(), endHeaders: false)
        for _ in 0..<1000 { frames += Build.frame(.continuation, stream: 1) }
        XCTAssertEqual(wire.connectionError(frames)?.reason, "continuation_flood")
    }

    func testAFewContinuationsAreFine() throws {
        let wire = try Wire()
        var frames = Build.headers(stream: 1, Build.get(), endStream: true, endHeaders: false)
        for i in 0..<7 {
            frames += Build.frame(.continuation, flags: i == 6 ? Flag.endHeaders : 0, stream: 1, Build.block([("x-\(i)", "v")]))
        }
        let events = wire.events(frames)
        guard case .request(1, let head, true)? = events.first else { return XCTFail("\(events)") }
        XCTAssertEqual(head.headers["x-6"], "v")
    }

    /// The same header block from a client whose bytes arrive a few at a time (small TCP
    /// segments, a slow link): how the reads cut the frames must not count as more CONTINUATIONs.
    func testAFewContinuationsAreFineInSmallReads() throws {
        for readSize in [1, 4, 7, 9, 10] {
            let wire = try Wire()
            var frames = Build.headers(stream: 1, Build.get(), endStream: true, endHeaders: false)
            for i in 0..<7 {
                frames += Build.frame(.continuation, flags: i == 6 ? Flag.endHeaders : 0, stream: 1, Build.block([("x-\(i)", "v")]))
            }
            var events: [HTTP2Event] = []
            var offset = 0
            while offset < frames.count {
                let end = min(offset + readSize, frames.count)
                do throws(HTTP2ConnectionError) {
                    events += try wire.send(Array(frames[offset..<end]))
                } catch {
                    XCTFail("reads of \(readSize) bytes: \(error) at byte \(offset)")
                    break
                }
                offset = end
            }
            guard case .request(1, let head, true)? = events.first else { XCTFail("reads of \(readSize) bytes: \(events)"); continue }
            XCTAssertEqual(head.headers["x-6"], "v")
        }
    }
}
