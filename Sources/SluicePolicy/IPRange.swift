#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 network in CIDR form (`10.0.0.0/8`, `2001:db8::/32`; a bare address is its
/// own /32 or /128): which peers a listener trusts to tell it the real client.
public struct IPRange: Sendable, Hashable, CustomStringConvertible {
    /// 4 or 16 bytes, with the bits past the prefix cleared.
    let network: [UInt8]
    let prefixLength: Int
    public let description: String

    public static func parse(_ text: String) -> Result<IPRange, SyntaxProblem> {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let bytes = Self.addressBytes(String(parts[0])) else {
            return .failure(SyntaxProblem("'\(text)' is not an IP address or CIDR range like 10.0.0.0/8"))
        }
        let maximum = bytes.count * 8
        var length = maximum
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maximum).contains(value), parts[1].allSatisfy(\.isASCIIDigit) else {
                return .failure(SyntaxProblem("'\(text)': the prefix length must be 0 to \(maximum)"))
            }
            length = value
        }
        return .success(IPRange(network: Self.masked(bytes, to: length), prefixLength: length, description: text))
    }

    /// True when `address` (textual IPv4 or IPv6) lies in the range; an IPv4-mapped IPv6 peer
    /// (`::ffff:10.0.0.1`) counts as its IPv4 address.
    public func contains(_ address: String) -> Bool {
        guard var bytes = Self.addressBytes(address) else { return false }
        if bytes.count == 16 && network.count == 4 && bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            bytes = Array(bytes[12...])
        }
        return bytes.count == network.count && Self.masked(bytes, to: prefixLength) == network
    }

    /// True for a textual IPv4 or IPv6 address.
    public static func isAddress(_ text: String) -> Bool { addressBytes(text) != nil }

    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    private static func masked(_ bytes: [UInt8], to length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = max(0, min(8, length - index * 8))
            return bits == 8 ? byte : byte & UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
    }
}
