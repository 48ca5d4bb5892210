internal import CSys
#if canImport(Glibc)
import Glibc
#endif

/// A connected, non-blocking TCP socket confined to one event loop. Reads and writes try the
/// system call first and suspend on the loop only when the kernel says EAGAIN.
public final class TCPConnection: ByteStream, @unchecked Sendable {
    public let loop: EventLoop
    public let peer: SocketAddress?
    private let registration: IORegistration
    public private(set) var isClosed = false

    init(loop: EventLoop, fd: Int32, peer: SocketAddress?) throws(IOError) {
        self.loop = loop
        self.peer = peer
        registration = try loop.register(fd: fd)
    }

    deinit {
        if !isClosed {
            // Closing needs the loop thread; a connection dropped without close() is a bug,
            // but leaking the fd would be worse.
            Glibc.close(registration.fd)
        }
    }

    public var fd: Int32 { registration.fd }

    /// True once epoll has reported that the peer closed or reset the connection. An idle pooled
    /// connection with this flag must not be reused.
    public var peerHasHungUp: Bool { registration.peerHungUp }

    public func hasUnreadInput() -> Bool {
        if isClosed || registration.peerHungUp { return true }
        guard registration.readReady else { return false }
        var byte: UInt8 = 0
        let count = Glibc.recv(registration.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
            registration.readReady = false
            return false
        }
        return true
    }

    /// For a layer whose own read of the socket (OpenSSL's) just met EAGAIN: the socket is
    /// drained until epoll's next edge.
    public func noteDrained() {
        registration.readReady = false
    }

    /// A TCP connection keeps no buffers of its own.
    public func releaseIdleBuffers() {}

    /// See `ReadPriority`: loop thread only.
    public var readPriority: ReadPriority {
        get { registration.readPriority }
        set { registration.readPriority = newValue }
    }

    /// Connects to `address`, failing after `deadline`.
    public static func connect(to address: SocketAddress, on loop: EventLoop, deadline: Deadline?) async throws(IOError) -> TCPConnection {
        let fd = try checkedSyscall("socket") { socket(address.family, sluice_SOCK_STREAM_NONBLOCK_CLOEXEC, 0) }
        setNoDelay(fd)
        let connection: TCPConnection
        do throws(IOError) {
            connection = try TCPConnection(loop: loop, fd: fd, peer: address)
        } catch {
            Glibc.close(fd)
            throw error
        }
        let result = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        if result != 0 {
            let code = sluice_errno()
            guard code == EINPROGRESS || code == EINTR else {
                connection.close()
                throw IOError(.system(code), operation: "connect \(address)")
            }
            switch await loop.waitWritable(connection.registration, deadline: deadline) {
            case .ready: break
            case .timedOut:
                connection.close()
                throw IOError(.timedOut, operation: "connect \(address)")
            case .closed:
                throw IOError(.closed, operation: "connect \(address)")
            }
            var socketError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
            if socketError != 0 {
                connection.close()
                throw IOError(.system(socketError), operation: "connect \(address)")
            }
        }
        return connection
    }

    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Reads what is available into `buffer` (at least one byte, waiting if needed).
    /// Returns 0 at end of stream.
    public func read(into buffer: ByteBuffer, deadline: Deadline?) async throws(IOError) -> Int {
        let space = buffer.writableSpace(minimum: 4096)
        let count = try await read(into: space, deadline: deadline)
        buffer.commitWritten(count)
        return count
    }

    public func read(into space: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws(IOError) -> Int {
        while true {
            guard !isClosed else { throw IOError(.closed, operation: "read") }
            // Known drained (the last read came back short or EAGAIN, and epoll has not said
            // otherwise since): wait for the edge instead of a read that would only say EAGAIN.
            // Saves a syscall per request on both sides of the proxy.
            if !registration.readReady && !registration.peerHungUp {
                try await waitForReadEdge(deadline: deadline, operation: "read")
            }
            switch try syscall("read", { Glibc.read(registration.fd, space.baseAddress, space.count) }) {
            case .done(let count):
                // A short read drained the socket; with edge-triggered epoll, new bytes bring a
                // new edge. Not so an end of stream that arrived with the data (its edge is
                // spent): once the peer has hung up, reads go on until they return 0.
                if count > 0 && count < space.count && !registration.peerHungUp { registration.readReady = false }
                return count
            case .wouldBlock:
                registration.readReady = false
            }
        }
    }

    /// Copies what the socket holds into `space` without consuming it (MSG_PEEK), waiting first
    /// when nothing is known to be there; 0 at end of stream. For reading a prefix (a PROXY
    /// protocol header) exactly, without taking bytes the next layer (TLS) must see. To wait for
    /// more than a peek found, call `waitReadableAfterWouldBlock` (a peek drains nothing, so only
    /// new bytes bring a new edge).
    public func peek(into space: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws(IOError) -> Int {
        while true {
            guard !isClosed else { throw IOError(.closed, operation: "peek") }
            if !registration.readReady && !registration.peerHungUp {
                try await waitForReadEdge(deadline: deadline, operation: "peek")
            }
            switch try syscall("recv", { Glibc.recv(registration.fd, space.baseAddress, space.count, Int32(MSG_PEEK)) }) {
            case .done(let count):
                return count
            case .wouldBlock:
                registration.readReady = false
            }
        }
    }

    /// Returns at once when a read may find bytes (or end of stream); otherwise waits for epoll
    /// to say so.
    public func waitReadable(deadline: Deadline?, operation: String = "read") async throws(IOError) {
        if registration.readReady || registration.peerHungUp { return }
        try await waitForReadEdge(deadline: deadline, operation: operation)
    }

    public func whenReadable(deadline: Deadline, _ wake: @escaping (Bool) -> Void) {
        if isClosed { return wake(false) }
        if registration.readReady || registration.peerHungUp { return wake(true) }
        loop.whenReadable(registration, deadline: deadline) { wake($0 == .ready) }
    }

    /// For callers whose own read (OpenSSL's) just returned EAGAIN: the socket is drained, wait
    /// for the next edge.
    public func waitReadableAfterWouldBlock(deadline: Deadline?, operation: String = "read") async throws(IOError) {
        registration.readReady = false
        if registration.peerHungUp { return }
        try await waitForReadEdge(deadline: deadline, operation: operation)
    }

    // Inlined (with the loop's wait): each async frame between the read and the continuation
    // is an allocation, and a hop back to the executor after every suspension.
    @inline(__always)
    private func waitForReadEdge(deadline: Deadline?, operation: String) async throws(IOError) {
        switch await loop.waitReadable(registration, deadline: deadline) {
        case .ready: return
        case .timedOut: throw IOError(.timedOut, operation: operation)
        case .closed: throw IOError(.closed, operation: operation)
        }
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws(IOError) {
        var offset = 0
        while offset < bytes.count {
            guard !isClosed else { throw IOError(.closed, operation: "write") }
            let result = try syscall("send") {
                send(registration.fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            switch result {
            case .done(let count): offset += count
            case .wouldBlock: try await waitWritable(deadline: deadline)
            }
        }
    }

    /// Writes all of `bytes`. The array's memory is only touched inside synchronous calls, so
    /// it is safe across suspensions.
    public func write(_ bytes: [UInt8], deadline: Deadline?) async throws(IOError) {
        var offset = 0
        while offset < bytes.count {
            guard !isClosed else { throw IOError(.closed, operation: "write") }
            let result = try syscall("send") {
                bytes.withUnsafeBytes { raw in
                    send(registration.fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                }
            }
            switch result {
            case .done(let count): offset += count
            case .wouldBlock: try await waitWritable(deadline: deadline)
            }
        }
    }

    /// Writes a head and a body with one writev. `body` must stay valid until this returns.
    public func write(head: [UInt8], body: UnsafeRawBufferPointer, deadline: Deadline?) async throws(IOError) {
        var headOffset = 0
        var bodyOffset = 0
        while headOffset < head.count || bodyOffset < body.count {
            guard !isClosed else { throw IOError(.closed, operation: "writev") }
            let result = try syscall("writev") {
                head.withUnsafeBytes { headBytes in
                    var vectors = (
                        iovec(iov_base: UnsafeMutableRawPointer(mutating: headBytes.baseAddress.map { $0 + headOffset }),
                              iov_len: headBytes.count - headOffset),
                        iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress.map { $0 + bodyOffset }),
                              iov_len: body.count - bodyOffset)
                    )
                    return withUnsafeMutableBytes(of: &vectors) { raw in
                        writev(registration.fd, raw.baseAddress!.assumingMemoryBound(to: iovec.self), 2)
                    }
                }
            }
            switch result {
            case .done(var count):
                let fromHead = min(count, head.count - headOffset)
                headOffset += fromHead
                count -= fromHead
                bodyOffset += count
            case .wouldBlock:
                try await waitWritable(deadline: deadline)
            }
        }
    }

    /// Waits until the socket accepts more bytes (used by TLS when OpenSSL wants to write).
    public func waitWritable(deadline: Deadline?) async throws(IOError) {
        switch await loop.waitWritable(registration, deadline: deadline) {
        case .ready: return
        case .timedOut: throw IOError(.timedOut, operation: "write")
        case .closed: throw IOError(.closed, operation: "write")
        }
    }

    /// Stops sending (FIN) while still reading.
    public func shutdownWrite() {
        guard !isClosed else { return }
        shutdown(registration.fd, Int32(SHUT_WR))
    }

    /// Closes the socket; tasks waiting on it wake with `.closed`. Loop thread only.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        loop.deregister(registration)
        Glibc.close(registration.fd)
    }

    /// Closes with an RST instead of a FIN (SO_LINGER 0): for connections we refuse to trust.
    public func abort() {
        guard !isClosed else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(registration.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }
}
