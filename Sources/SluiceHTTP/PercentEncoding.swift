/// RFC 3986 percent-encoding on bytes: what path normalisation and signature canonicalisation
/// (merchant HMAC queries) both need, so both read and write escapes the same way.
public enum PercentEncoding {
    /// The value of one hex digit, either case.
    public static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    /// The byte `%XX` at `index` in `bytes` stands for; nil when it is not two hex digits.
    public static func escapedByte(in bytes: [UInt8], at index: Int) -> UInt8? {
        guard index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) else { return nil }
        return high << 4 | low
    }

    /// `A-Z a-z 0-9 - . _ ~` (RFC 3986 §2.3): never needs escaping.
    public static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// Appends `%XX` with upper-case hex (the normal form, RFC 3986 §6.2.2.1).
    public static func appendEscaped(_ byte: UInt8, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "%"))
        bytes.append(upperHex[Int(byte >> 4)])
        bytes.append(upperHex[Int(byte & 15)])
    }

    private static let upperHex = Array("0123456789ABCDEF".utf8)

    /// Every valid `%XX` replaced by its byte; a `%` not followed by two hex digits stays as
    /// written (callers that must refuse bad escapes check for them themselves).
    public static func decoded(_ text: Substring) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), let value = escapedByte(in: bytes, at: index) {
                out.append(value)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
