import XCTest
import SluiceIO
import SluiceTestSupport

/// `whenReadable`: how an idle keep-alive connection waits for its next request with no task.
/// The callback fires once: true when bytes (or the peer's close) arrive, false at the deadline
/// or when the connection is closed under it.
final class WhenReadableTests: EventLoopTestCase {
    /// Loop-confined record of the callback's calls.
    final class Calls: @unchecked Sendable {
        var results: [Bool] = []
    }

    /// A connected pair whose server end has been read dry (its next read would block).
    private static func drainedPair(_ loop: EventLoop) async throws -> (TCPListener, TCPConnection, TCPConnection) {
        let listener = try TCPListener(address: SocketAddress(host: "127.0.0.1", port: 0)!, on: loop)
        let client = try await TCPConnection.connect(to: listener.localAddress, on: loop, deadline: .after(.seconds(5)))
        let server = try await listener.accept()
        do {
            _ = try await server.read(into: ByteBuffer(), deadline: .after(.milliseconds(10)))
            XCTFail("a read found bytes nobody sent")
        } catch {
            XCTAssertTrue(error.isTimeout, "\(error)")
        }
        return (listener, client, server)
    }

    private static func waitFor(_ calls: Calls, count: Int, on loop: EventLoop) async {
        let deadline = Deadline.after(.seconds(5))
        while calls.results.count < count && Deadline.now.nanoseconds < deadline.nanoseconds {
            await loop.sleep(until: .after(.milliseconds(2)))
        }
    }

    func testFiresOnceWhenBytesArriveAndTheyCanBeRead() async throws {
        for priority in [ReadPriority.normal, .low] {
            let (early, late, text) = try await onLoop { loop -> ([Bool], [Bool], String) in
                let (listener, client, server) = try await Self.drainedPair(loop)
                defer { client.close(); server.close(); listener.close() }
                server.readPriority = priority
                let calls = Calls()
                server.whenReadable(deadline: .after(.seconds(5))) { calls.results.append($0) }
                await loop.sleep(until: .after(.milliseconds(30)))
                let early = calls.results
                try await client.write(Array("GET".utf8), deadline: .after(.seconds(5)))
                await Self.waitFor(calls, count: 1, on: loop)
                await loop.sleep(until: .after(.milliseconds(20)))  // a second call would show here
                let buffer = ByteBuffer()
                _ = try await server.read(into: buffer, deadline: .after(.seconds(5)))
                return (early, calls.results, String(decoding: buffer.readableBytes, as: UTF8.self))
            }
            XCTAssertEqual(early, [], "\(priority): nothing fired before the client wrote")
            XCTAssertEqual(late, [true], "\(priority): fired once, readable")
            XCTAssertEqual(text, "GET")
        }
    }

    func testFiresAtOnceWhenAlreadyReadable() async throws {
        let results = try await onLoop { loop -> [Bool] in
            let (listener, client, server) = try await Self.drainedPair(loop)
            defer { client.close(); server.close(); listener.close() }
            try await client.write(Array("x".utf8), deadline: .after(.seconds(5)))
            try await server.waitReadable(deadline: .after(.seconds(5)))
            let calls = Calls()
            server.whenReadable(deadline: .after(.seconds(5))) { calls.results.append($0) }
            return calls.results
        }
        XCTAssertEqual(results, [true], "bytes were already there: called before whenReadable returned")
    }

    func testTheDeadlineFiresFalseNotBefore() async throws {
        let (atTwenty, atEnd, elapsed) = try await onLoop { loop -> ([Bool], [Bool], UInt64) in
            let (listener, client, server) = try await Self.drainedPair(loop)
            defer { client.close(); server.close(); listener.close() }
            let calls = Calls()
            let start = Deadline.now.nanoseconds
            var firedAt: UInt64 = 0
            server.whenReadable(deadline: .after(.milliseconds(60))) {
                calls.results.append($0)
                firedAt = Deadline.now.nanoseconds
            }
            await loop.sleep(until: .after(.milliseconds(20)))
            let atTwenty = calls.results
            await Self.waitFor(calls, count: 1, on: loop)
            await loop.sleep(until: .after(.milliseconds(20)))
            return (atTwenty, calls.results, firedAt &- start)
        }
        XCTAssertEqual(atTwenty, [])
        XCTAssertEqual(atEnd, [false], "timed out once")
        XCTAssertGreaterThanOrEqual(elapsed, 55_000_000, "not before the deadline")
    }

    func testClosingTheConnectionFiresFalse() async throws {
        for peerCloses in [false, true] {
            let results = try await onLoop { loop -> [Bool] in
                let (listener, client, server) = try await Self.drainedPair(loop)
                defer { client.close(); server.close(); listener.close() }
                let calls = Calls()
                server.whenReadable(deadline: .after(.seconds(5))) { calls.results.append($0) }
                // Our own close (a drain) ends the wait as closed; the peer's close is an edge a
                // read must see (end of stream), so it fires readable.
                if peerCloses { client.close() } else { server.close() }
                await Self.waitFor(calls, count: 1, on: loop)
                await loop.sleep(until: .after(.milliseconds(20)))
                return calls.results
            }
            XCTAssertEqual(results, [peerCloses], peerCloses ? "the peer closed: readable (end of stream)" : "closed here: false")
        }
    }
}
