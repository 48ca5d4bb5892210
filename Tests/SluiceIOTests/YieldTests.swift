import XCTest
import SluiceIO
import SluiceTestSupport

/// `yieldToOtherWork`: a task that never has to wait (a connection that is always readable)
/// lets the loop's other jobs run before it goes on.
final class YieldTests: EventLoopTestCase {
    final class Order: @unchecked Sendable {
        var steps: [String] = []
    }

    func testAYieldingTaskLetsTheOthersRunBetweenItsSteps() async throws {
        let steps = try await onLoop { loop -> [String] in
            let order = Order()
            loop.spawn {
                for _ in 0..<3 {
                    order.steps.append("busy")
                    await loop.yieldToOtherWork()
                }
            }
            loop.spawn { order.steps.append("other") }
            while order.steps.count < 4 { await loop.sleep(until: .after(.milliseconds(1))) }
            return order.steps
        }
        XCTAssertEqual(steps, ["busy", "other", "busy", "busy"])
    }

    /// A task that yields every pass must not keep the sockets' events from being read: the loop
    /// went round without polling epoll while the yielded task waited in its inbox, so a reader
    /// on another connection waited for the busy task to finish (one client's flood stalled
    /// every other connection on the loop for seconds).
    func testSocketEventsAreReadWhileATaskKeepsYielding() async throws {
        let (readBeforeBusyEnded, busySteps) = try await onLoop { loop -> (Bool, Int) in
            let listener = try TCPListener(address: SocketAddress(host: "127.0.0.1", port: 0)!, on: loop)
            let client = try await TCPConnection.connect(to: listener.localAddress, on: loop, deadline: .after(.seconds(5)))
            let server = try await listener.accept()
            defer { client.close(); server.close(); listener.close() }
            let order = Order()
            loop.spawn {
                for _ in 0..<20_000 where order.steps.last != "read" {
                    await loop.yieldToOtherWork()
                }
                order.steps.append("busy done")
            }
            loop.spawn {
                _ = try? await server.read(into: ByteBuffer(), deadline: .after(.seconds(10)))
                order.steps.append("read")
            }
            await loop.sleep(until: .after(.milliseconds(5)))
            try await client.write(Array("x".utf8), deadline: .after(.seconds(5)))
            while order.steps.count < 2 { await loop.sleep(until: .after(.milliseconds(1))) }
            return (order.steps.first == "read", order.steps.count)
        }
        XCTAssertTrue(readBeforeBusyEnded, "the read waited for the yielding task to finish")
        XCTAssertEqual(busySteps, 2)
    }
}
