/// Byte classes of RFC 9110 / 9112, tested on bytes without any String conversion.
enum ASCII {
    static let htab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let comma: UInt8 = 0x2C
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let slash: UInt8 = 0x2F
    static let asterisk: UInt8 = 0x2A
    static let zero: UInt8 = 0x30

    // tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
    //         / DIGIT / ALPHA, as two bit masks over 0..<64 and 64..<128.
    private static let tokenLow: UInt64 = 0x03FF_6CFA_0000_0000
    private static let tokenHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    @inline(__always)
    static func isToken(_ byte: UInt8) -> Bool {
        if byte < 64 { return (tokenLow >> UInt64(byte)) & 1 == 1 }
        if byte < 128 { return (tokenHigh >> UInt64(byte &- 64)) & 1 == 1 }
        return false
    }

    /// SP or HTAB.
    @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool { byte == space || byte == htab }

    /// field-vchar, SP and HTAB: everything but CTLs (HTAB excepted) and DEL. obs-text passes.
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        (byte >= 0x20 && byte != 0x7F) || byte == htab
    }

    /// What a Host value (`uri-host [":" port]`, RFC 9110 §7.2, RFC 3986 §3.2.2) may hold:
    /// unreserved, sub-delims, `%` (pct-encoded), `:` and the brackets of an IP literal. No space,
    /// `/`, `@`, `?`, `#` or `\\`: a Host holding them names no host, and backends that build
    /// URLs from it (notify URLs, redirects) would take the rest as a path or a user.
    @inline(__always)
    static func isHostByte(_ byte: UInt8) -> Bool {
        if byte < 64 { return (hostLow >> UInt64(byte)) & 1 == 1 }
        if byte < 128 { return (hostHigh >> UInt64(byte &- 64)) & 1 == 1 }
        return false
    }

    private static let hostLow: UInt64 = 0x2FFF_7FF2_0000_0000
    private static let hostHigh: UInt64 = 0x47FF_FFFE_AFFF_FFFE

    /// `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986 §3.2.2-3): a name of host bytes without
    /// `%` (an escape would let another parser read another host) or a bracketed IP literal,
    /// then at most a port of 1 to 5 digits up to 65535. Empty is allowed (RFC 9112 §3.2).
    static func isHostValue(_ bytes: HeadBytes, _ range: Range<Int>) -> Bool {
        guard !range.isEmpty else { return true }
        var index = range.lowerBound
        if bytes[index] == UInt8(ascii: "[") {
            while index < range.upperBound, bytes[index] != UInt8(ascii: "]") {
                let byte = bytes[index]
                guard byte == UInt8(ascii: "[") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".") || isHexDigit(byte) else { return false }
                index += 1
            }
            guard index < range.upperBound, index > range.lowerBound + 1 else { return false }
            index += 1
        } else {
            while index < range.upperBound, bytes[index] != ASCII.colon {
                let byte = bytes[index]
                guard isHostByte(byte), byte != UInt8(ascii: "%"), byte != UInt8(ascii: "["), byte != UInt8(ascii: "]") else { return false }
                index += 1
            }
            guard index > range.lowerBound else { return false }
        }
        guard index < range.upperBound else { return true }
        guard bytes[index] == ASCII.colon else { return false }
        let port = index + 1..<range.upperBound
        guard (1...5).contains(port.count), port.allSatisfy({ isDigit(bytes[$0]) }) else { return false }
        return port.reduce(0) { $0 * 10 + Int(bytes[$1] - zero) } <= 65535
    }

    @inline(__always)
    static func isHexDigit(_ byte: UInt8) -> Bool { isDigit(byte) || (byte | 0x20) &- UInt8(ascii: "a") < 6 }

    /// A visible ASCII character: what a request target may hold.
    @inline(__always)
    static func isVisible(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- zero < 10 }

    @inline(__always)
    static func isAlpha(_ byte: UInt8) -> Bool { (byte | 0x20) &- 0x61 < 26 }

    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 { byte &- 0x41 < 26 ? byte | 0x20 : byte }

    /// The value of a hex digit, or nil.
    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        if byte &- zero < 10 { return byte &- zero }
        let lower = byte | 0x20
        if lower &- 0x61 < 6 { return lower &- 0x61 &+ 10 }
        return nil
    }
}
