internal import CSys
#if canImport(Glibc)
import Glibc
#endif

/// A listening socket on one loop. Every loop binds its own listener to the same address with
/// SO_REUSEPORT, so the kernel spreads new connections across the loops without a shared accept.
public final class TCPListener: @unchecked Sendable {
    public let loop: EventLoop
    public let localAddress: SocketAddress
    private let registration: IORegistration
    private var isClosed = false

    /// Binds and listens. With port 0 the kernel picks a port: `localAddress` tells which.
    public init(address: SocketAddress, on loop: EventLoop, backlog: Int32 = 1024, reusePort: Bool = true) throws(IOError) {
        let fd = try checkedSyscall("socket") { socket(address.family, sluice_SOCK_STREAM_NONBLOCK_CLOEXEC, 0) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if reusePort {
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        do throws(IOError) {
            _ = try checkedSyscall("bind") { address.withSockAddr { bind(fd, $0, $1) } }
            _ = try checkedSyscall("listen") { listen(fd, backlog) }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = try checkedSyscall("getsockname") {
                withUnsafeMutablePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
                }
            }
            localAddress = SocketAddress.from(&storage) ?? address
            self.loop = loop
            registration = try loop.register(fd: fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Throws (bind: EADDRINUSE) when a socket already listens on `address`, in this process or
    /// another. Loops' listeners share their address through SO_REUSEPORT, and so would a second
    /// `sluice run` started by mistake (or an old one left running): the kernel would split new
    /// connections between two processes that may run different policies. A probe bound without
    /// SO_REUSEPORT cannot join a listening group, so it finds one. Port 0 needs no probe.
    public static func refuseIfListenedOn(_ address: SocketAddress) throws(IOError) {
        guard address.port != 0 else { return }
        let fd = try checkedSyscall("socket") { socket(address.family, sluice_SOCK_STREAM_NONBLOCK_CLOEXEC, 0) }
        defer { Glibc.close(fd) }
        var one: Int32 = 1
        // SO_REUSEADDR: connections in TIME_WAIT from an earlier run are not a listener.
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = try checkedSyscall("bind") { address.withSockAddr { bind(fd, $0, $1) } }
    }

    /// Waits for the next connection. Throws `.closed` once the listener is closed.
    public func accept() async throws(IOError) -> TCPConnection {
        while true {
            guard !isClosed else { throw IOError(.closed, operation: "accept") }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let result = try syscall("accept4") {
                withUnsafeMutablePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        accept4(registration.fd, $0, &length, sluice_SOCK_NONBLOCK_CLOEXEC)
                    }
                }
            }
            switch result {
            case .done(let fd):
                TCPConnection.setNoDelay(fd)
                return try TCPConnection(loop: loop, fd: fd, peer: SocketAddress.from(&storage))
            case .wouldBlock:
                switch await loop.waitReadable(registration, deadline: nil) {
                case .ready, .timedOut: continue
                case .closed: throw IOError(.closed, operation: "accept")
                }
            }
        }
    }

    /// The next connection, or nil once the listener is closed. A failure that is not the
    /// close (EMFILE when the process is out of descriptors, ENFILE, ENOBUFS) is waited out,
    /// 50 ms at a time, so it neither spins nor ends an accept loop: the admin listener's loop
    /// ended at the first one, and health checks and metrics stayed dead until a restart.
    public func acceptRetrying() async -> TCPConnection? {
        while true {
            do throws(IOError) {
                return try await accept()
            } catch {
                if error.kind == .closed || isClosed { return nil }
                await loop.sleep(until: .after(.milliseconds(50)))
            }
        }
    }

    /// Stops listening; a task blocked in accept() wakes with `.closed`. Loop thread only.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        loop.deregister(registration)
        Glibc.close(registration.fd)
    }
}
