import SluiceIO
import SluiceTLS

/// One node connection's bytes: plain TCP, or TLS over it.
enum RedisTransport {
    case tcp(TCPConnection)
    case tls(TLSConnection)

    /// For the handshake and discovery (off the request path).
    var stream: any ByteStream {
        switch self {
        case .tcp(let connection): return connection
        case .tls(let connection): return connection
        }
    }

    func write(_ bytes: [UInt8], deadline: Deadline?) async throws(IOError) {
        switch self {
        case .tcp(let connection): try await connection.write(bytes, deadline: deadline)
        case .tls(let connection): try await connection.write(bytes, deadline: deadline)
        }
    }

    /// Reply bytes (or an end) the socket holds that no read has taken yet.
    func hasUnreadInput() -> Bool { stream.hasUnreadInput() }

    func close() {
        switch self {
        case .tcp(let connection): connection.close()
        case .tls(let connection): connection.close()
        }
    }
}

/// Reads a connection's reply bytes, a batch at a time, for the pipelined read loop.
///
/// TCP reads straight into one 64 KiB block; after a read that did not fill it the socket is
/// drained, so the next batch waits for epoll's next edge (the fd is edge-triggered, and the wait
/// is armed before the loop polls again) instead of a read that would only say EAGAIN: a
/// syscall saved per reply batch. TLS reads through a buffer (OpenSSL may hold decrypted bytes
/// the socket will never signal again; TLSConnection's wait knows).
final class RedisReplyInput {
    private let transport: RedisTransport
    private let space = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
    private let buffer = ByteBuffer(capacity: 64 * 1024)
    private var drained = false

    init(_ transport: RedisTransport) { self.transport = transport }

    deinit { space.deallocate() }

    /// The next bytes (empty: the peer closed). Valid until the next call.
    func next() async throws(IOError) -> UnsafeRawBufferPointer {
        switch transport {
        case .tcp(let connection):
            if drained { try await connection.waitReadable(deadline: nil) }
            let count = try await connection.read(into: space, deadline: nil)
            drained = count < space.count
            return UnsafeRawBufferPointer(rebasing: space[0..<count])
        case .tls(let connection):
            buffer.consume(buffer.readableCount)
            _ = try await connection.read(into: buffer, deadline: nil)
            return buffer.readableBytes
        }
    }
}
