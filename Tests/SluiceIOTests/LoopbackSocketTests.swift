import XCTest
import SluiceIO
import SluiceTestSupport

/// Real sockets on 127.0.0.1 driven by a real event loop thread.
final class LoopbackSocketTests: EventLoopTestCase {
    func testEchoRoundTripAndEndOfStream() async throws {
        let reply = try await onLoop { loop -> String in
            let listener = try TCPListener(address: SocketAddress(host: "127.0.0.1", port: 0)!, on: loop)
            loop.spawn {
                guard let server = try? await listener.accept() else { return }
                let buffer = ByteBuffer()
                while let count = try? await server.read(into: buffer, deadline: .after(.seconds(5))), count > 0 {
                    let bytes = Array(buffer.readableBytes)
                    buffer.consume(bytes.count)
                    try? await server.write(bytes, deadline: .after(.seconds(5)))
                }
                server.close()
                listener.close()
            }
            let client = try await TCPConnection.connect(to: listener.localAddress, on: loop, deadline: .after(.seconds(5)))
            try await client.write(Array("hello, loop".utf8), deadline: .after(.seconds(5)))
            client.shutdownWrite()
            let buffer = ByteBuffer()
            while try await client.read(into: buffer, deadline: .after(.seconds(5))) > 0 {}
            client.close()
            return String(decoding: buffer.readableBytes, as: UTF8.self)
        }
        XCTAssertEqual(reply, "hello, loop")
    }

    func testReadDeadlineThrowsTimedOut() async throws {
        let outcome = try await onLoop { loop -> String in
            let listener = try TCPListener(address: SocketAddress(host: "127.0.0.1", port: 0)!, on: loop)
            let client = try await TCPConnection.connect(to: listener.localAddress, on: loop, deadline: .after(.seconds(5)))
            let server = try await listener.accept()
            defer { client.close(); server.close(); listener.close() }
            let start = Deadline.now
            do {
                _ = try await server.read(into: ByteBuffer(), deadline: .after(.milliseconds(50)))
                return "read returned"
            } catch let error as IOError {
                let waited = Deadline.now.nanoseconds - start.nanoseconds
                return error.isTimeout && waited >= 50_000_000 ? "timed out" : "\(error) after \(waited)ns"
            }
        }
        XCTAssertEqual(outcome, "timed out")
    }

    func testConnectToClosedPortIsRefused() async throws {
        let outcome = try await onLoop { loop -> String in
            // Bind then close to find a port nobody listens on.
            let listener = try TCPListener(address: SocketAddress(host: "127.0.0.1", port: 0)!, on: loop)
            let address = listener.localAddress
            listener.close()
            do {
                let connection = try await TCPConnection.connect(to: address, on: loop, deadline: .after(.seconds(2)))
                connection.close()
                return "connected"
            } catch let error as IOError {
                return error.isPeerGone ? "refused" : "\(error)"
            }
        }
        XCTAssertEqual(outcome, "refused")
    }

    func testLargeWriteCompletesAgainstASlowReader() async throws {
        let total = 8 * 1024 * 1024
        let received = try await onLoop { loop -> Int in
            let listener = try TCPListener(address: SocketAddress(host: "127.0.0.1", port: 0)!, on: loop)
            loop.spawn {
                guard let server = try? await listener.accept() else { return }
                let payload = [UInt8](repeating: 0x61, count: total)
                try? await server.write(payload, deadline: .after(.seconds(10)))
                server.close()
                listener.close()
            }
            let client = try await TCPConnection.connect(to: listener.localAddress, on: loop, deadline: .after(.seconds(5)))
            let buffer = ByteBuffer(capacity: 64 * 1024)
            var count = 0
            while true {
                let n = try await client.read(into: buffer, deadline: .after(.seconds(10)))
                if n == 0 { break }
                count += n
                buffer.clear()
            }
            client.close()
            return count
        }
        XCTAssertEqual(received, total)
    }

    func testTasksFromOtherThreadsRunOnTheLoopThread() async throws {
        let onLoopThread = try await onLoop { loop in loop.isOnLoopThread }
        XCTAssertTrue(onLoopThread)
        XCTAssertFalse(loop.isOnLoopThread)
    }
}
