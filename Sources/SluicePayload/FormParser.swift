/// `application/x-www-form-urlencoded` as Alipay sends it: `name=value` pairs joined by `&`,
/// `+` for space, `%XX` for any byte.
///
/// Refused, because form decoders differ on each: invalid or truncated `%` escapes (kept
/// literally by some, dropped by others), decoded bytes that are not UTF-8, decoded NUL, duplicate
/// names (first-wins vs last-wins vs array), empty names and empty `&&` segments, a pair without
/// `=`, a raw `;` (older decoders split on it too), raw control characters, and names outside
/// `[A-Za-z0-9_-]` after decoding (PHP rewrites `.` and space to `_` and `a[b]` into arrays, so
/// `out.trade_no` would collide with `out_trade_no` there). Empty values are fine. An empty body
/// has no fields.
struct FormParser {
    private let p: Bytes
    private var out: FieldCollector
    private var scratch: [UInt8] = []

    init(_ p: Bytes, limits: PayloadLimits) {
        self.p = p
        self.out = FieldCollector(source: p, limits: limits)
    }

    mutating func parse() throws(PayloadError) -> FieldCollector {
        if UTF8Bytes.hasBOM(p) { throw PayloadError(.byteOrderMark, "byte order mark before form data", offset: 0) }
        var start = 0
        while start < p.count {
            var end = start
            var equals = -1
            while end < p.count && p[end] != UInt8(ascii: "&") {
                if equals < 0 && p[end] == UInt8(ascii: "=") { equals = end }
                end += 1
            }
            if end == start {
                throw PayloadError(.emptyKey, "empty field (stray '&')", offset: start)
            }
            guard equals >= 0 else {
                throw PayloadError(.formMissingEquals, "field without '='", offset: start)
            }
            if equals == start {
                throw PayloadError(.emptyKey, "empty field name", offset: start)
            }
            let name = try decode(start..<equals, isName: true, fieldName: nil)
            try checkName(name, offset: start)
            let value = try decode((equals + 1)..<end, isName: false, fieldName: name)
            try out.add(name: name, value: value, offset: start)
            start = end + 1
            if end + 1 == p.count {
                throw PayloadError(.emptyKey, "empty field after trailing '&'", offset: end)
            }
        }
        return out
    }

    /// Percent-decodes `range`. Without `%` or `+` the String comes straight from the slice.
    private mutating func decode(_ range: Range<Int>, isName: Bool, fieldName: String?) throws(PayloadError) -> String {
        // Only built when an error is thrown: no String work per field on the success path.
        func what() -> String { isName ? "field name" : "value of " + quoted(fieldName ?? "") }
        var plain = true
        var k = range.lowerBound
        while k < range.upperBound {
            let b = p[k]
            switch b {
            case UInt8(ascii: "%"), UInt8(ascii: "+"):
                plain = false
                k += 1
            case UInt8(ascii: ";"):
                throw PayloadError(.formSemicolon, "raw ';' in " + what() + " (some decoders split on it)", offset: k)
            case 0x00..<0x20, 0x7F:
                throw PayloadError(b == 0 ? .nulCharacter : .controlCharacter,
                                   "control character " + describeByte(b) + " in " + what(), offset: k)
            case 0x80...:
                guard let n = UTF8Bytes.sequenceLength(p, k), k + n <= range.upperBound else {
                    throw PayloadError(.invalidUTF8, "invalid UTF-8 byte " + describeByte(b) + " in " + what(), offset: k)
                }
                k += n
            default:
                k += 1
            }
        }
        if plain { return UTF8Bytes.string(p, range) }

        scratch.removeAll(keepingCapacity: true)
        k = range.lowerBound
        while k < range.upperBound {
            let b = p[k]
            if b == UInt8(ascii: "+") {
                scratch.append(0x20)
                k += 1
            } else if b == UInt8(ascii: "%") {
                guard k + 3 <= range.upperBound,
                      let hi = hexValue(p[k + 1]), let lo = hexValue(p[k + 2]) else {
                    throw PayloadError(.invalidPercentEscape, "'%' not followed by two hex digits in " + what(), offset: k)
                }
                let byte = hi << 4 | lo
                if byte == 0 { throw PayloadError(.nulCharacter, "%00 in " + what(), offset: k) }
                scratch.append(byte)
                k += 3
            } else {
                scratch.append(b)
                k += 1
            }
        }
        let bad: Int? = scratch.withUnsafeBufferPointer { UTF8Bytes.firstInvalid($0) }
        if bad != nil {
            throw PayloadError(.invalidUTF8, "percent-decoded " + what() + " is not valid UTF-8", offset: range.lowerBound)
        }
        return String(decoding: scratch, as: UTF8.self)
    }

    /// Form names after decoding: `[A-Za-z0-9_-]`, bounded length.
    private func checkName(_ name: String, offset: Int) throws(PayloadError) {
        try out.checkLength(name, offset: offset)
        for b in name.utf8 where !UTF8Bytes.isPlainNameByte(b) {
            throw PayloadError(.invalidKey, "field name " + quoted(name) + " is not [A-Za-z0-9_-]+", offset: offset)
        }
    }

    @inline(__always)
    private func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        case 0x61...0x66: return b - 0x61 + 10
        default: return nil
        }
    }
}
