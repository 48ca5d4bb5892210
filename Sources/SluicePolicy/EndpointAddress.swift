/// A host and port: `127.0.0.1:8080`, `[::1]:8080` or `localhost:80`. The host is kept as
/// written (IPv6 without its brackets); resolving names is the connector's job, not the policy's.
public struct EndpointAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Whether binding both would take the same connections: one port (not 0, which picks a
    /// free one) on the same host, or on a wildcard host (`0.0.0.0`, `::`) and any.
    public func overlaps(_ other: EndpointAddress) -> Bool {
        guard port == other.port, port != 0 else { return false }
        return host == other.host || isWildcard || other.isWildcard
    }

    /// Every interface of the machine, however spelt (`0.0.0.0`, `::`, `0::`, `0:0:0:0:0:0:0:0`).
    public var isWildcard: Bool {
        if ["*", ""].contains(host) { return true }
        return IPRange.addressBytes(host)?.allSatisfy { $0 == 0 } ?? false
    }

    /// IPv6 hosts get their brackets back, so the text parses again.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

extension EndpointAddress {
    static let expectedForm = "expected an address like 127.0.0.1:8080, [::1]:8080 or localhost:80"

    /// Parses `host:port`. Port 0 ("any free port") only makes sense for a socket we bind, so the
    /// caller says whether it is allowed.
    static func parse(_ text: String, allowPortZero: Bool) -> Result<EndpointAddress, SyntaxProblem> {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                  text[text.index(after: close)...].hasPrefix(":") else {
                return .failure(SyntaxProblem(expectedForm))
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard !host.isEmpty, host.contains(":"), host.allSatisfy(\.isIPv6AddressCharacter) else {
                return .failure(SyntaxProblem("invalid IPv6 address '[\(host)]'"))
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(SyntaxProblem(expectedForm)) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                return .failure(SyntaxProblem("an IPv6 address needs brackets, like [::1]:8080"))
            }
            guard !host.isEmpty, host.allSatisfy(\.isHostNameCharacter) else {
                return .failure(SyntaxProblem("invalid host '\(host)'"))
            }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit),
              let port = Int(portText) else {
            return .failure(SyntaxProblem("invalid port '\(portText)' in '\(text)'"))
        }
        let lowest = allowPortZero ? 0 : 1
        guard port >= lowest, port <= 65535 else {
            return .failure(SyntaxProblem("port \(port) is out of range \(lowest)...65535"))
        }
        return .success(EndpointAddress(host: String(host), port: port))
    }
}

extension Character {
    public var isASCIIDigit: Bool { ("0"..."9").contains(self) }

    /// Letters, digits, `-` and `.`: DNS names and dotted IPv4 alike.
    var isHostNameCharacter: Bool {
        isASCII && (isLetter || isNumber || self == "-" || self == ".")
    }

    var isIPv6AddressCharacter: Bool {
        isHexDigit && isASCII || self == ":" || self == "."
    }
}
