/// Byte-level helpers shared by the three parsers. Everything works on byte buffers; a `String` is
/// made from a validated slice only when someone asks for a name or value, never character by
/// character.

typealias Bytes = UnsafeBufferPointer<UInt8>

enum UTF8Bytes {
    /// Length of the well-formed UTF-8 sequence starting at `i` (whose lead byte is >= 0x80), or
    /// nil. Strict per RFC 3629: no overlong forms, no UTF-16 surrogates (U+D800–U+DFFF), nothing
    /// above U+10FFFF, no truncated sequence. Lenient decoders disagree on exactly these, and
    /// some map them onto ASCII (`C0 AE` as `.`), so they are refused, never repaired.
    @inline(__always)
    static func sequenceLength(_ p: Bytes, _ i: Int) -> Int? {
        let end = p.count
        let b0 = p[i]
        @inline(__always) func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            k < end && p[k] >= lo && p[k] <= hi
        }
        switch b0 {
        case 0xC2...0xDF:
            return cont(i + 1) ? 2 : nil
        case 0xE0:
            return cont(i + 1, 0xA0) && cont(i + 2) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF:
            return cont(i + 1) && cont(i + 2) ? 3 : nil
        case 0xED:
            return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : nil
        case 0xF0:
            return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : nil
        case 0xF1...0xF3:
            return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : nil
        case 0xF4:
            return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : nil
        default:
            return nil
        }
    }

    /// Offset of the first byte that does not start a well-formed sequence, or nil if all is valid.
    static func firstInvalid(_ p: Bytes) -> Int? {
        var i = 0
        while i < p.count {
            if p[i] < 0x80 { i += 1; continue }
            guard let n = sequenceLength(p, i) else { return i }
            i += n
        }
        return nil
    }

    /// Appends the UTF-8 encoding of a scalar value the caller has already checked
    /// (not a surrogate, at most U+10FFFF).
    static func append(scalar v: UInt32, to out: inout [UInt8]) {
        switch v {
        case 0..<0x80:
            out.append(UInt8(v))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (v >> 6)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (v >> 12)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        default:
            out.append(UInt8(0xF0 | (v >> 18)))
            out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// A `String` from an already validated slice: one copy, no per-character work.
    @inline(__always)
    static func string(_ p: Bytes, _ range: Range<Int>) -> String {
        String(decoding: Bytes(rebasing: p[range]), as: UTF8.self)
    }

    /// True if the buffer starts with the UTF-8 byte order mark EF BB BF.
    static func hasBOM(_ p: Bytes) -> Bool {
        p.count >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF
    }

    /// True if `p[i...]` starts with the ASCII `prefix`, compared exactly or ASCII
    /// case-insensitively.
    static func hasPrefix(_ p: Bytes, at i: Int, _ prefix: StaticString, caseInsensitive: Bool = false) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard i + n <= p.count else { return false }
        let q = prefix.utf8Start
        for k in 0..<n {
            var a = p[i + k], b = q[k]
            if caseInsensitive { a = lowerASCII(a); b = lowerASCII(b) }
            if a != b { return false }
        }
        return true
    }

    /// Byte-wise equality (keys and paths are short: a loop beats a call into memcmp).
    @inline(__always)
    static func equal(_ a: Bytes, _ b: Bytes) -> Bool {
        guard a.count == b.count else { return false }
        for k in 0..<a.count where a[k] != b[k] { return false }
        return true
    }

    @inline(__always)
    static func lowerASCII(_ b: UInt8) -> UInt8 { b &- 0x41 < 26 ? b | 0x20 : b }

    @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }

    @inline(__always)
    static func isLetter(_ b: UInt8) -> Bool { (b | 0x20) &- 0x61 < 26 }

    /// `[A-Za-z0-9_-]`: the only characters allowed in XML element names and form names.
    /// WeChat v2 and Alipay use snake_case ASCII; anything else risks a rewrite by some backend
    /// (PHP turns `.` and space in form names into `_` and `a[b]` into arrays, XML has namespaces).
    @inline(__always)
    static func isPlainNameByte(_ b: UInt8) -> Bool {
        isLetter(b) || isDigit(b) || b == 0x5F || b == 0x2D
    }
}

extension String {
    /// The key as used for duplicate detection: ASCII letters lowered, and the non-ASCII
    /// characters that case-insensitive decoders fold onto ASCII letters replaced: U+212A KELVIN
    /// SIGN to `k`, U+017F LONG S to `s` (Unicode simple case folding), U+0130 and U+0131 (dotted
    /// and dotless I) to `i` (Go's encoding/json folds with ToUpper(ToLower(r)), which maps both
    /// to `I`). Such decoders (Go, many binders) read `mchid`, `MCHID` and `mchİd` as one field.
    /// `_` and `-` are left out too: fastjson's fallback name matching ignores them (and case), so
    /// `notifyUrl`, `notify-url` and `NOTIFYURL` all bind to `notify_url` there.
    var duplicateFoldKey: String {
        guard utf8.contains(where: { $0 &- 0x41 < 26 || $0 == 0xE2 || $0 == 0xC5 || $0 == 0xC4 || $0 == 0x5F || $0 == 0x2D }) else {
            return self
        }
        let bytes = Array(utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var k = 0
        while k < bytes.count {
            let b = bytes[k]
            if b == 0xE2, k + 2 < bytes.count, bytes[k + 1] == 0x84, bytes[k + 2] == 0xAA {
                out.append(UInt8(ascii: "k"))
                k += 3
            } else if b == 0xC5, k + 1 < bytes.count, bytes[k + 1] == 0xBF {
                out.append(UInt8(ascii: "s"))
                k += 2
            } else if b == 0xC4, k + 1 < bytes.count, bytes[k + 1] == 0xB0 || bytes[k + 1] == 0xB1 {
                out.append(UInt8(ascii: "i"))
                k += 2
            } else if b == 0x5F || b == 0x2D {
                k += 1
            } else {
                out.append(UTF8Bytes.lowerASCII(b))
                k += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
