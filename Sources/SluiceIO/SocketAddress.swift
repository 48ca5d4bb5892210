internal import CSys
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address and port. Host names are resolved by the caller (policy endpoints
/// are numeric or `localhost`).
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    enum Storage: Hashable {
        case v4(address: UInt32, port: UInt16)  // both in host byte order
        case v6(address: [UInt8], port: UInt16)
    }

    let storage: Storage

    /// Parses a numeric host (`127.0.0.1`, `::1`, or `localhost`) and port.
    public init?(host: String, port: Int) {
        guard (0...65535).contains(port) else { return nil }
        let name = host == "localhost" ? "127.0.0.1" : host
        var v4 = in_addr()
        if inet_pton(AF_INET, name, &v4) == 1 {
            storage = .v4(address: UInt32(bigEndian: v4.s_addr), port: UInt16(port))
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, name, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            storage = .v6(address: bytes, port: UInt16(port))
            return
        }
        return nil
    }

    init(storage: Storage) { self.storage = storage }

    /// A numeric address as is, or a host name resolved with getaddrinfo (IPv4 first). Blocking:
    /// call it when a policy is loaded, never on a loop.
    public static func resolve(host: String, port: Int) -> SocketAddress? {
        if let numeric = SocketAddress(host: host, port: port) { return numeric }
        guard (0...65535).contains(port) else { return nil }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(first) }
        var candidates: [SocketAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let raw = current.pointee.ai_addr {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { bytes in
                    bytes.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: Int(current.pointee.ai_addrlen)))
                }
                if let address = SocketAddress.from(&storage) { candidates.append(address) }
            }
            entry = current.pointee.ai_next
        }
        return candidates.first { $0.family == AF_INET } ?? candidates.first
    }

    public var port: Int {
        switch storage {
        case .v4(_, let port), .v6(_, let port): return Int(port)
        }
    }

    /// The address without the port, as text.
    public var host: String {
        switch storage {
        case .v4(let address, _):
            return "\(address >> 24).\((address >> 16) & 0xff).\((address >> 8) & 0xff).\(address & 0xff)"
        case .v6(let bytes, _):
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
            return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
    }

    public var description: String {
        switch storage {
        case .v4: return "\(host):\(port)"
        case .v6: return "[\(host)]:\(port)"
        }
    }

    var family: Int32 {
        switch storage {
        case .v4: return AF_INET
        case .v6: return AF_INET6
        }
    }

    /// Calls `body` with the address as a `sockaddr`.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch storage {
        case .v4(let address, let port):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = address.bigEndian
            return withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .v6(let bytes, let port):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: bytes) }
            return withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }

    /// Reads a `sockaddr_storage` filled by accept/getsockname.
    static func from(_ storage: UnsafePointer<sockaddr_storage>) -> SocketAddress? {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            return storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                SocketAddress(storage: .v4(address: UInt32(bigEndian: sin.pointee.sin_addr.s_addr),
                                           port: UInt16(bigEndian: sin.pointee.sin_port)))
            }
        case AF_INET6:
            return storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                var address = sin6.pointee.sin6_addr
                let bytes = withUnsafeBytes(of: &address) { Array($0) }
                return SocketAddress(storage: .v6(address: bytes, port: UInt16(bigEndian: sin6.pointee.sin6_port)))
            }
        default:
            return nil
        }
    }
}
