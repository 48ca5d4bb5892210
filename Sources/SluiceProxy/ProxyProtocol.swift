import SluiceIO
#if canImport(Glibc)
import Glibc
#endif

/// The PROXY protocol header (HAProxy's spec, versions 1 and 2) that an L4 load balancer sends
/// before the client's bytes, naming the client it accepted. Read only from the sources a
/// listener trusts (`proxy_protocol.from`); exactly the header's bytes are consumed, so what
/// follows (TLS, HTTP) reaches its layer untouched.
enum ProxyProtocol {
    /// A header read: the client it names (nil for a LOCAL / UNKNOWN header).
    struct Header {
        let client: String?
    }

    enum Parsed: Equatable {
        /// The header is `length` bytes; `client` is its source address (nil for v1 `UNKNOWN`
        /// or v2 `LOCAL`: the connection is the balancer's own, e.g. a health check).
        case complete(length: Int, client: String?)
        case incomplete
        case invalid
    }

    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// v1's longest line is 107 bytes; v2 here allows addresses and up to 200 bytes of TLVs.
    static let maximumLength = 16 + 36 + 200

    static func parse(_ bytes: UnsafeRawBufferPointer) -> Parsed {
        let prefix = min(bytes.count, 12)
        if bytes.prefix(prefix).elementsEqual(v2Signature.prefix(prefix)) {
            return prefix < 12 ? .incomplete : parseV2(bytes)
        }
        let v1 = Array("PROXY ".utf8)
        let start = min(bytes.count, v1.count)
        guard bytes.prefix(start).elementsEqual(v1.prefix(start)) else { return .invalid }
        return parseV1(bytes)
    }

    /// `PROXY TCP4|TCP6 src dst sport dport\r\n` or `PROXY UNKNOWN ...\r\n`, at most 107 bytes.
    private static func parseV1(_ bytes: UnsafeRawBufferPointer) -> Parsed {
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return bytes.count >= 107 ? .invalid : .incomplete }
        guard newline >= 1, newline < 107, bytes[newline - 1] == UInt8(ascii: "\r") else { return .invalid }
        let line = String(decoding: bytes[0..<(newline - 1)], as: UTF8.self)
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        if parts.count >= 2 && parts[1] == "UNKNOWN" { return .complete(length: newline + 1, client: nil) }
        guard parts.count == 6, parts[1] == "TCP4" || parts[1] == "TCP6",
              let client = numericAddress(parts[2]), parts[2].contains(":") == (parts[1] == "TCP6"),
              numericAddress(parts[3]) != nil,
              let sourcePort = UInt16(parts[4]), UInt16(parts[5]) != nil, String(sourcePort) == parts[4] else { return .invalid }
        return .complete(length: newline + 1, client: client)
    }

    /// A numeric address in one normal form (what version 2 gives, through inet_ntop), so that
    /// one client is one `client_ip` rate-limit key however the balancer spelled it
    /// (`2001:DB8::77`, `2001:0db8:0:0::77`); an IPv4-mapped IPv6 address is its IPv4 address.
    /// Nil for anything else (a name such as `localhost` included).
    static func numericAddress(_ text: Substring) -> String? {
        guard text != "localhost", let address = SocketAddress(host: String(text), port: 0) else { return nil }
        return unmapped(address.host)
    }

    static func unmapped(_ host: String) -> String {
        guard host.hasPrefix("::ffff:"), host.utf8.dropFirst(7).contains(UInt8(ascii: ".")) else { return host }
        return String(host.dropFirst(7))
    }

    /// Signature, version/command, family/protocol, length (big-endian), addresses, TLVs.
    private static func parseV2(_ bytes: UnsafeRawBufferPointer) -> Parsed {
        guard bytes.count >= 16 else { return .incomplete }
        let versionCommand = bytes[12], family = bytes[13]
        let length = Int(bytes[14]) << 8 | Int(bytes[15])
        guard versionCommand >> 4 == 2, 16 + length <= maximumLength else { return .invalid }
        guard bytes.count >= 16 + length else { return .incomplete }
        switch versionCommand & 0x0F {
        case 0x0:  // LOCAL: the balancer's own connection
            return .complete(length: 16 + length, client: nil)
        case 0x1:  // PROXY
            switch family {
            case 0x11 where length >= 12:  // TCP over IPv4
                let a = bytes[16..<20].map(String.init).joined(separator: ".")
                return .complete(length: 16 + length, client: a)
            case 0x21 where length >= 36:  // TCP over IPv6
                return .complete(length: 16 + length, client: unmapped(ipv6Text(Array(bytes[16..<32]))))
            case 0x00:  // UNSPEC
                return .complete(length: 16 + length, client: nil)
            default:
                return .invalid
            }
        default:
            return .invalid
        }
    }

    private static func ipv6Text(_ bytes: [UInt8]) -> String {
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
        return String(cString: text)
    }
}
