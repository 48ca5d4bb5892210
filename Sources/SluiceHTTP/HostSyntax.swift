#if canImport(Glibc)
import Glibc
#endif

/// `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986 §3.2.2-3), as Host fields, HTTP/2
/// `:authority` and absolute-form targets must be before a backend builds URLs from them: a name
/// of unreserved and sub-delim bytes without `%` (an escape lets another parser read another
/// host: `ev%41l` is `evAl` to WHATWG URL) and without `@` (userinfo: `good@evil` is `evil`), or
/// a bracketed IP literal, then at most a port of 1 to 5 digits up to 65535. Empty is allowed
/// (RFC 9112 §3.2).
public enum HostSyntax {
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !bytes.isEmpty else { return true }
        var index = 0
        if bytes[0] == UInt8(ascii: "[") {
            index = 1
            while index < bytes.count, bytes[index] != UInt8(ascii: "]") {
                let byte = bytes[index]
                guard byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".") || isHexDigit(byte) else { return false }
                index += 1
            }
            guard index < bytes.count, index > 1 else { return false }
            index += 1
        } else {
            while index < bytes.count, bytes[index] != UInt8(ascii: ":") {
                guard isNameByte(bytes[index]) else { return false }
                index += 1
            }
            guard index > 0 else { return false }
        }
        guard index < bytes.count else { return true }
        guard bytes[index] == UInt8(ascii: ":") else { return false }
        let digits = bytes[(index + 1)...]
        guard (1...5).contains(digits.count), digits.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }) else { return false }
        return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) } <= 65535
    }

    public static func isValid(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { isValid(UnsafeRawBufferPointer($0)) }
    }

    /// A name a server certificate can be checked against: an IPv4 or IPv6 address (as
    /// `inet_pton` reads it), or a DNS name of dot-separated labels of letters, digits, `-` and
    /// `_` (private names have them; no port, no spaces, not all digits and dots). An upstream's `sni` or Redis's
    /// `server_name` must be one: OpenSSL sets no name to check for anything else.
    public static func isCertificateName(_ text: String) -> Bool {
        isIPAddress(text) || isDNSName(text)
    }

    public static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    public static func isDNSName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253, !text.allSatisfy({ $0.isNumber || $0 == "." }) else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count)
                && label.utf8.allSatisfy {
                    ($0 | 0x20) &- UInt8(ascii: "a") < 26 || $0 &- UInt8(ascii: "0") < 10 || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                }
        }
    }

    /// Unreserved (`A-Z a-z 0-9 - . _ ~`) and sub-delims (`! $ & ' ( ) * + , ; =`).
    private static func isNameByte(_ byte: UInt8) -> Bool {
        if (byte | 0x20) &- UInt8(ascii: "a") < 26 || byte &- UInt8(ascii: "0") < 10 { return true }
        switch byte {
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"),
             UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
             UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 || (byte | 0x20) &- UInt8(ascii: "a") < 6 }
}
