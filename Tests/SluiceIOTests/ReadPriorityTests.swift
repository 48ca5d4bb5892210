import XCTest
import SluiceIO
import SluiceTestSupport

/// Sockets of low read priority (connections serving non-core routes) readable at the same time
/// as normal ones: the normal ones' tasks run first, the low ones a few per loop pass after.
final class ReadPriorityTests: EventLoopTestCase {
    /// Loop-confined record of the order in which waiting readers resumed.
    final class Order: @unchecked Sendable {
        var indices: [Int] = []
    }

    func testHighPriorityReaderResumesBeforeLowPriorityOnesReadyEarlier() async throws {
        let lowCount = 9
        let order = try await onLoop { loop -> [Int] in
            let listener = try TCPListener(address: SocketAddress(host: "127.0.0.1", port: 0)!, on: loop)
            var clients: [TCPConnection] = []
            var servers: [TCPConnection] = []
            for _ in 0...lowCount {
                clients.append(try await TCPConnection.connect(to: listener.localAddress, on: loop, deadline: .after(.seconds(5))))
                servers.append(try await listener.accept())
            }
            defer { (clients + servers).forEach { $0.close() }; listener.close() }
            let order = Order()
            for (index, server) in servers.enumerated() {
                server.readPriority = index < lowCount ? .low : .high
                loop.spawn {
                    _ = try? await server.read(into: ByteBuffer(), deadline: .after(.seconds(5)))
                    order.indices.append(index)
                }
            }
            await loop.sleep(until: .after(.milliseconds(20)))  // every reader now waits
            // All written within this one job: the loop sees them readable in one epoll batch,
            // the low ones first.
            for client in clients { try await client.write(Array("x".utf8), deadline: .after(.seconds(5))) }
            let deadline = Deadline.after(.seconds(5))
            while order.indices.count < servers.count && Deadline.now.nanoseconds < deadline.nanoseconds {
                await loop.sleep(until: .after(.milliseconds(5)))
            }
            return order.indices
        }
        XCTAssertEqual(order.count, lowCount + 1, "every reader resumed")
        XCTAssertEqual(order.first, lowCount, "the high-priority reader went first: \(order)")
        XCTAssertEqual(Set(order.dropFirst()), Set(0..<lowCount))
    }

    func testLowPriorityReadStillTimesOutAndSeesData() async throws {
        let outcome = try await onLoop { loop -> String in
            let listener = try TCPListener(address: SocketAddress(host: "127.0.0.1", port: 0)!, on: loop)
            let client = try await TCPConnection.connect(to: listener.localAddress, on: loop, deadline: .after(.seconds(5)))
            let server = try await listener.accept()
            defer { client.close(); server.close(); listener.close() }
            server.readPriority = .low
            do {
                _ = try await server.read(into: ByteBuffer(), deadline: .after(.milliseconds(30)))
                return "read returned without data"
            } catch let error as IOError where error.isTimeout {}
            try await client.write(Array("ping".utf8), deadline: .after(.seconds(5)))
            let buffer = ByteBuffer()
            _ = try await server.read(into: buffer, deadline: .after(.seconds(5)))
            return String(decoding: buffer.readableBytes, as: UTF8.self)
        }
        XCTAssertEqual(outcome, "ping")
    }
}
