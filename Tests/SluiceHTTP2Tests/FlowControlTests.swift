import SluiceHTTP
import SluiceHTTP2
import XCTest

final class FlowControlTests: XCTestCase {
    /// Small windows, so that nghttp2's rule (WINDOW_UPDATE once half a window is consumed)
    /// shows within a few frames: stream 16 KiB (update at 8 KiB), connection 64 KiB (32 KiB).
    static var smallWindows: HTTP2Settings {
        var settings = HTTP2Settings()
        settings.initialWindowSize = 16_384
        settings.connectionWindowSize = 65_535
        return settings
    }

    func testPostBodyOverSeveralFramesAndWindowUpdatesFollowConsume() throws {
        let wire = try Wire(Self.smallWindows)
        var events = wire.events(Build.headers(stream: 1, Build.post("/pay", extra: [("content-length", "12000")]), endStream: false))
        guard case .request(1, let head, false)? = events.first else { return XCTFail("\(events)") }
        XCTAssertEqual(head.method, "POST")
        let chunk = [UInt8](repeating: 0x61, count: 3000)
        events = wire.events(Build.data(stream: 1, chunk) + Build.data(stream: 1, chunk) + Build.data(stream: 1, chunk))
        XCTAssertEqual(events, Array(repeating: .data(streamID: 1, bytes: chunk, endStream: false), count: 3))
        XCTAssertFalse(wire.read().contains { $0.kind == .windowUpdate }, "no WINDOW_UPDATE before consume")

        wire.server.consume(streamID: 1, bytes: 9000)
        let updates = wire.read().filter { $0.kind == .windowUpdate }
        XCTAssertEqual(updates.filter { $0.streamID == 1 }.map(\.windowIncrement), [9000])

        // A frame split across two reads arrives as one event.
        let last = Build.data(stream: 1, chunk, endStream: true)
        XCTAssertEqual(wire.events(Array(last[..<1000])), [])
        XCTAssertEqual(wire.events(Array(last[1000...])), [.data(streamID: 1, bytes: chunk, endStream: true)])
    }

    func testSlowStreamStallsAloneAndOthersKeepFlowing() throws {
        let wire = try Wire(Self.smallWindows)
        _ = wire.events(Build.headers(stream: 1, Build.post("/slow"), endStream: false)
                        + Build.headers(stream: 3, Build.post("/fast"), endStream: false))
        let full = [UInt8](repeating: 1, count: 16_384)
        // Stream 1's upstream is slow: nothing consumed, its window is spent.
        XCTAssertEqual(wire.events(Build.data(stream: 1, full)).count, 1)
        XCTAssertFalse(wire.read().contains { $0.kind == .windowUpdate })
        // Stream 3 keeps flowing: each consume reopens its window.
        for _ in 0..<2 {
            XCTAssertEqual(wire.events(Build.data(stream: 3, full)).count, 1)
            wire.server.consume(streamID: 3, bytes: full.count)
            let updates = wire.read().filter { $0.kind == .windowUpdate }
            XCTAssertEqual(updates.filter { $0.streamID == 3 }.map(\.windowIncrement), [16_384])
            XCTAssertFalse(updates.contains { $0.streamID == 1 })
        }
        // Sending past stream 1's window is a flow-control error on that stream only.
        XCTAssertEqual(wire.events(Build.data(stream: 1, [1])), [.streamReset(streamID: 1, errorCode: HTTP2ErrorCode.flowControlError)])
        let reset = wire.read().first { $0.kind == .rstStream }
        XCTAssertEqual(reset?.streamID, 1)
        XCTAssertEqual(reset?.errorCode, HTTP2ErrorCode.flowControlError)
        // The bytes stream 1 never forwarded went back to the connection window when it closed:
        // 16 KiB + 1 from stream 1 and 32 KiB from stream 3 were all returned.
        XCTAssertEqual(wire.events(Build.data(stream: 3, full, endStream: true)).count, 1)
        wire.server.consume(streamID: 3, bytes: full.count)
        let connection = wire.read().filter { $0.kind == .windowUpdate && $0.streamID == 0 }.map(\.windowIncrement)
        XCTAssertEqual(connection.reduce(0, +), 16_385 + 49_152 - 32_768, "\(connection)")
    }

    func testLargeResponseDrainsAsTheClientOpensItsWindow() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.get("/statement")))
        wire.server.sendResponse(streamID: 1, head: HTTPResponseHead(status: 200), endStream: false)
        let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0) }
        body.withUnsafeBytes { wire.server.sendData(streamID: 1, bytes: $0, endStream: true) }
        XCTAssertEqual(wire.server.pendingDataBytes(streamID: 1), 200_000)

        var received: [UInt8] = []
        var frames = wire.read()
        XCTAssertEqual(frames.first { $0.kind == .headers }?.field(":status"), "200")
        received += frames.filter { $0.kind == .data }.flatMap(\.payload)
        XCTAssertEqual(received.count, 65_535, "the client's default window")
        XCTAssertEqual(wire.server.pendingDataBytes(streamID: 1), 200_000 - 65_535)
        XCTAssertFalse(wire.server.wantsWrite, "blocked on flow control")

        var rounds = 0
        while received.count < body.count && rounds < 10 {
            rounds += 1
            let before = wire.server.pendingDataBytes(streamID: 1)
            _ = wire.events(Build.windowUpdate(stream: 0, 50_000) + Build.windowUpdate(stream: 1, 50_000))
            frames = wire.read()
            received += frames.filter { $0.kind == .data }.flatMap(\.payload)
            if received.count < body.count {
                XCTAssertEqual(wire.server.pendingDataBytes(streamID: 1), before - 50_000)
            }
        }
        XCTAssertEqual(received, body)
        XCTAssertTrue(frames.last { $0.kind == .data }?.has(Flag.endStream) ?? false)
        XCTAssertEqual(wire.server.pendingDataBytes(streamID: 1), 0)
    }

    func testStreamedResponseDefersUntilMoreDataArrives() throws {
        let wire = try Wire()
        _ = wire.events(Build.headers(stream: 1, Build.get()))
        wire.server.sendResponse(streamID: 1, head: HTTPResponseHead(status: 200), endStream: false)
        wire.server.sendData(streamID: 1, bytes: Array("part one,".utf8), endStream: false)
        var frames = wire.read()
        XCTAssertEqual(frames.filter { $0.kind == .data }.flatMap(\.payload), Array("part one,".utf8))
        XCTAssertFalse(wire.server.wantsWrite, "nothing to send until the application has more")
        XCTAssertTrue(wire.read().isEmpty)
        wire.server.sendData(streamID: 1, bytes: Array("part two".utf8), endStream: true)
        frames = wire.read()
        XCTAssertEqual(frames.filter { $0.kind == .data }.flatMap(\.payload), Array("part two".utf8))
        XCTAssertTrue(frames.last?.has(Flag.endStream) ?? false)
    }

    func testConcurrentStreamsInterleave() throws {
        let wire = try Wire()
        let events = wire.events(Build.headers(stream: 1, Build.post("/a"), endStream: false)
                                 + Build.headers(stream: 3, Build.post("/b"), endStream: false)
                                 + Build.data(stream: 3, [3]) + Build.data(stream: 1, [1])
                                 + Build.headers(stream: 5, Build.get("/c"))
                                 + Build.data(stream: 1, [1, 1], endStream: true) + Build.data(stream: 3, [], endStream: true))
        XCTAssertEqual(events.compactMap(\.streamID), [1, 3, 3, 1, 5, 1, 3])
        XCTAssertEqual(events.last, .data(streamID: 3, bytes: [], endStream: true))

        // Responses in a different order, bodies interleaved by the session.
        for id: Int32 in [5, 3, 1] {
            wire.server.sendResponse(streamID: id, head: HTTPResponseHead(status: 200), endStream: false)
        }
        let big = [UInt8](repeating: 9, count: 40_000)
        wire.server.sendData(streamID: 1, bytes: big, endStream: true)
        wire.server.sendData(streamID: 3, bytes: big, endStream: true)
        wire.server.sendData(streamID: 5, bytes: Array("c".utf8), endStream: true)
        var frames = wire.read()
        var ended = Set(frames.filter { $0.kind == .data && $0.has(Flag.endStream) }.map(\.streamID))
        var bodies: [Int32: Int] = [:]
        for frame in frames where frame.kind == .data { bodies[frame.streamID, default: 0] += frame.payload.count }
        XCTAssertEqual(bodies.values.reduce(0, +), 65_535, "the connection window, shared")
        let order = frames.filter { $0.kind == .data }.map(\.streamID)
        XCTAssertTrue(order.contains(1) && order.contains(3), "both large bodies made progress: \(order)")
        // The client opens the windows: every body completes.
        _ = wire.events(Build.windowUpdate(stream: 0, 100_000) + Build.windowUpdate(stream: 1, 100_000)
                        + Build.windowUpdate(stream: 3, 100_000) + Build.windowUpdate(stream: 5, 100_000))
        frames = wire.read()
        for frame in frames where frame.kind == .data { bodies[frame.streamID, default: 0] += frame.payload.count }
        XCTAssertEqual(bodies, [1: 40_000, 3: 40_000, 5: 1])
        ended.formUnion(frames.filter { $0.kind == .data && $0.has(Flag.endStream) }.map(\.streamID))
        XCTAssertEqual(ended, [1, 3, 5])
    }

    func testPaddingIsReturnedToTheWindowWithoutConsume() throws {
        let wire = try Wire(Self.smallWindows)
        _ = wire.events(Build.headers(stream: 1, Build.post("/p"), endStream: false))
        // 50 frames of 2 payload bytes and 201 bytes of padding: 10,150 bytes of window.
        let padded = Build.frame(.data, flags: Flag.padded, stream: 1, [200] + [7, 7] + [UInt8](repeating: 0, count: 200))
        let events = wire.events(Array((0..<50).map { _ in padded }.joined()))
        XCTAssertEqual(events.count, 50)
        XCTAssertEqual(events.first, .data(streamID: 1, bytes: [7, 7], endStream: false))
        // Nothing consumed by the application yet, but padding counts as consumed: once half the
        // stream window was padding (41 frames), nghttp2 reopened that much.
        let returned = wire.read().filter { $0.kind == .windowUpdate && $0.streamID == 1 }.map(\.windowIncrement)
        XCTAssertEqual(returned, [41 * 201], "padding only")
    }
}
