/// Strict RFC 8259 JSON, in one pass, straight into field paths (no intermediate tree).
///
/// Refused, because parsers in the wild disagree on them: duplicate keys (first-wins vs
/// last-wins), lone surrogates (replaced, dropped, or kept as WTF-8), invalid UTF-8, raw control
/// characters, `\u0000` (C backends truncate), numbers outside the grammar (`01`, `+1`, `.5`, `1.`,
/// NaN, Infinity), trailing bytes after the value, a BOM, nesting deeper than the limit, and a
/// top level that is not an object.
struct JSONParser {
    private let p: Bytes
    private var i = 0
    private var out: FieldCollector
    private let maxDepth: Int

    init(_ p: Bytes, limits: PayloadLimits) {
        self.p = p
        self.out = FieldCollector(source: p, limits: limits)
        self.maxDepth = limits.effectiveDepth
    }

    mutating func parse() throws(PayloadError) -> FieldCollector {
        if p.isEmpty { throw PayloadError(.emptyBody, "empty body", offset: 0) }
        if UTF8Bytes.hasBOM(p) { throw PayloadError(.byteOrderMark, "byte order mark before JSON text", offset: 0) }
        skipWhitespace()
        guard i < p.count else { throw PayloadError(.emptyBody, "body is only whitespace", offset: i) }
        guard p[i] == UInt8(ascii: "{") else {
            if p[i] >= 0x80, UTF8Bytes.sequenceLength(p, i) == nil { throw invalidUTF8(at: i) }
            throw PayloadError(.topLevelNotObject, "top-level value must be an object, found " + describeByte(p[i]),
                               offset: i)
        }
        try parseObject(parent: -1, pathHash: FoldedPathHasher(), depth: 1)
        skipWhitespace()
        if i < p.count {
            throw PayloadError(.trailingData, "data after the top-level object", offset: i)
        }
        return out
    }

    // MARK: Structure

    /// The object at `i`, whose members go under field `parent` (-1: the top level);
    /// `pathHash` has hashed the case-folded path of `parent`, and each member's path extends it.
    private mutating func parseObject(parent: Int, pathHash: FoldedPathHasher, depth: Int) throws(PayloadError) {
        if depth > maxDepth {
            throw PayloadError(.tooDeep, "nesting deeper than " + String(maxDepth), offset: i, path: out.path(parent))
        }
        i += 1  // {
        skipWhitespace()
        if i < p.count && p[i] == UInt8(ascii: "}") { i += 1; return }
        while true {
            guard i < p.count else { throw unexpectedEnd("unterminated object") }
            guard p[i] == UInt8(ascii: "\"") else { throw unexpected("expected a string key", parent: parent) }
            let keyOffset = i
            let key = try parseString()
            try checkKey(key, offset: keyOffset, parent: parent)
            var childHash = pathHash
            if parent >= 0 { childHash.combine(UInt8(ascii: ".")) }
            withBytes(key) { childHash.combine(folding: $0) }
            skipWhitespace()
            guard i < p.count else { throw unexpectedEnd("unterminated object") }
            guard p[i] == UInt8(ascii: ":") else {
                throw unexpected("expected ':' after key " + quoted(out.string(key)), parent: parent)
            }
            i += 1
            skipWhitespace()
            try parseValue(parent: parent, element: -1, key: key, pathHash: childHash, keyOffset: keyOffset, depth: depth)
            skipWhitespace()
            guard i < p.count else { throw unexpectedEnd("unterminated object") }
            switch p[i] {
            case UInt8(ascii: ","):
                i += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                i += 1
                return
            default:
                throw unexpected("expected ',' or '}'", parent: parent)
            }
        }
    }

    /// The array at `i`, field `parent`; its elements are named by position.
    private mutating func parseArray(parent: Int, pathHash: FoldedPathHasher, depth: Int) throws(PayloadError) {
        if depth > maxDepth {
            throw PayloadError(.tooDeep, "nesting deeper than " + String(maxDepth), offset: i, path: out.path(parent))
        }
        i += 1  // [
        skipWhitespace()
        if i < p.count && p[i] == UInt8(ascii: "]") { i += 1; return }
        var n = 0
        while true {
            var elementHash = pathHash
            elementHash.combine(UInt8(ascii: "."))
            for digit in String(n).utf8 { elementHash.combine(digit) }
            try parseValue(parent: parent, element: n, key: .empty, pathHash: elementHash, keyOffset: i, depth: depth)
            n += 1
            skipWhitespace()
            guard i < p.count else { throw unexpectedEnd("unterminated array") }
            switch p[i] {
            case UInt8(ascii: ","):
                i += 1
                skipWhitespace()
            case UInt8(ascii: "]"):
                i += 1
                return
            default:
                throw unexpected("expected ',' or ']'", parent: parent)
            }
        }
    }

    /// Parses the value at `i` and records it as member `key` (or element `element`) of
    /// `parent`. Containers are recorded before their members so fields stay in document order.
    private mutating func parseValue(parent: Int, element: Int, key: ByteSpan, pathHash: FoldedPathHasher,
                                     keyOffset: Int, depth: Int) throws(PayloadError) {
        guard i < p.count else { throw unexpectedEnd("expected a value") }
        let field = PendingField(parent: parent, element: element, key: key)
        let kind: PayloadValue.Kind
        let value: ByteSpan
        switch p[i] {
        case UInt8(ascii: "{"):
            try out.add(kind: .object, parent: parent, element: element, key: key, value: .empty,
                        pathHash: pathHash.value, offset: keyOffset)
            try parseObject(parent: out.entries.count - 1, pathHash: pathHash, depth: depth + 1)
            return
        case UInt8(ascii: "["):
            try out.add(kind: .array, parent: parent, element: element, key: key, value: .empty,
                        pathHash: pathHash.value, offset: keyOffset)
            try parseArray(parent: out.entries.count - 1, pathHash: pathHash, depth: depth + 1)
            return
        case UInt8(ascii: "\""):
            (kind, value) = (.string, try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            (kind, value) = (.number, try parseNumber(field))
        case UInt8(ascii: "t"):
            (kind, value) = (.bool, try parseLiteral("true", field))
        case UInt8(ascii: "f"):
            (kind, value) = (.bool, try parseLiteral("false", field))
        case UInt8(ascii: "n"):
            (kind, value) = (.null, try parseLiteral("null", field))
        case UInt8(ascii: "+"), UInt8(ascii: "."):
            throw PayloadError(.invalidNumber, "number must start with '-' or a digit", offset: i, path: path(of: field))
        case UInt8(ascii: "N"), UInt8(ascii: "I"):
            throw PayloadError(.invalidNumber, "NaN and Infinity are not JSON numbers", offset: i, path: path(of: field))
        default:
            throw unexpected("expected a value", parent: parent)
        }
        try out.add(kind: kind, parent: parent, element: element, key: key, value: value,
                    pathHash: pathHash.value, offset: keyOffset)
    }

    /// A value being read, not yet recorded: where its path comes from, for errors.
    private struct PendingField {
        var parent: Int
        var element: Int
        var key: ByteSpan
    }

    private func path(of field: PendingField) -> String {
        let name = field.element >= 0 ? String(field.element) : out.string(field.key)
        return field.parent < 0 ? name : out.path(field.parent) + "." + name
    }

    // MARK: Tokens

    /// Reads a string starting at the opening quote. The common case (no escapes) is a span of
    /// the body; a string with escapes is decoded into the collector's buffer.
    private mutating func parseString() throws(PayloadError) -> ByteSpan {
        let open = i
        i += 1
        let start = i
        // Printable ASCII, the bulk of any payment body, in a tight loop on a local index.
        var j = i
        let count = p.count
        while j < count {
            let b = p[j]
            guard b >= 0x20, b < 0x80, b != UInt8(ascii: "\""), b != UInt8(ascii: "\\") else { break }
            j += 1
        }
        i = j
        while i < p.count {
            let b = p[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return ByteSpan(start: start, end: i - 1, isDecoded: false)
            }
            if b == UInt8(ascii: "\\") { break }
            try stepRaw(b)
        }
        guard i < p.count else { throw PayloadError(.unexpectedEnd, "unterminated string", offset: open) }
        let decodedStart = out.decoded.count
        out.decoded.append(contentsOf: Bytes(rebasing: p[start..<i]))
        while i < p.count {
            let b = p[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return ByteSpan(start: decodedStart, end: out.decoded.count, isDecoded: true)
            }
            if b == UInt8(ascii: "\\") {
                try parseEscape()
                continue
            }
            let from = i
            try stepRaw(b)
            out.decoded.append(contentsOf: Bytes(rebasing: p[from..<i]))
        }
        throw PayloadError(.unexpectedEnd, "unterminated string", offset: open)
    }

    /// Calls `body` with the bytes of a span the parser made.
    private func withBytes(_ span: ByteSpan, _ body: (Bytes) -> Void) {
        if span.isDecoded {
            out.decoded.withUnsafeBufferPointer { body(Bytes(rebasing: $0[span.start..<span.end])) }
        } else {
            body(Bytes(rebasing: p[span.start..<span.end]))
        }
    }

    /// Advances over one unescaped character inside a string, validating it.
    @inline(__always)
    private mutating func stepRaw(_ b: UInt8) throws(PayloadError) {
        if b < 0x20 {
            throw PayloadError(.controlCharacter, "unescaped control character " + describeByte(b) + " in string",
                               offset: i)
        }
        if b < 0x80 { i += 1; return }
        guard let n = UTF8Bytes.sequenceLength(p, i) else { throw invalidUTF8(at: i) }
        i += n
    }

    /// Decodes one escape at `i` (the backslash) into the collector's buffer.
    private mutating func parseEscape() throws(PayloadError) {
        let at = i
        guard i + 1 < p.count else { throw PayloadError(.unexpectedEnd, "unterminated escape", offset: at) }
        let c = p[i + 1]
        i += 2
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.decoded.append(c)
        case UInt8(ascii: "b"): out.decoded.append(0x08)
        case UInt8(ascii: "f"): out.decoded.append(0x0C)
        case UInt8(ascii: "n"): out.decoded.append(0x0A)
        case UInt8(ascii: "r"): out.decoded.append(0x0D)
        case UInt8(ascii: "t"): out.decoded.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4(escapeAt: at)
            if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw PayloadError(.loneSurrogate, "low surrogate \\u" + String(scalar, radix: 16, uppercase: true)
                                   + " without a high surrogate before it", offset: at)
            }
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                guard i + 1 < p.count, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u") else {
                    throw PayloadError(.loneSurrogate, "high surrogate \\u" + String(scalar, radix: 16, uppercase: true)
                                       + " not followed by a low surrogate", offset: at)
                }
                let lowAt = i
                i += 2
                let low = try hex4(escapeAt: lowAt)
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw PayloadError(.loneSurrogate, "high surrogate \\u" + String(scalar, radix: 16, uppercase: true)
                                       + " not followed by a low surrogate", offset: at)
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            if scalar == 0 {
                throw PayloadError(.nulCharacter, "\\u0000 in string (C backends truncate at NUL)", offset: at)
            }
            UTF8Bytes.append(scalar: scalar, to: &out.decoded)
        default:
            throw PayloadError(.invalidEscape, "invalid escape \\" + (c >= 0x21 && c < 0x7F
                               ? String(UnicodeScalar(c)) : describeByte(c)), offset: at)
        }
    }

    /// Four hex digits at `i`, after a `\u` that started at `escapeAt`.
    private mutating func hex4(escapeAt: Int) throws(PayloadError) -> UInt32 {
        guard i + 4 <= p.count else {
            throw PayloadError(.invalidEscape, "\\u needs four hex digits", offset: escapeAt)
        }
        var v: UInt32 = 0
        for k in 0..<4 {
            let b = p[i + k]
            let d: UInt8
            switch b {
            case 0x30...0x39: d = b - 0x30
            case 0x41...0x46: d = b - 0x41 + 10
            case 0x61...0x66: d = b - 0x61 + 10
            default: throw PayloadError(.invalidEscape, "\\u needs four hex digits", offset: escapeAt)
            }
            v = v << 4 | UInt32(d)
        }
        i += 4
        return v
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, kept as text.
    private mutating func parseNumber(_ field: PendingField) throws(PayloadError) -> ByteSpan {
        let start = i
        func fail(_ what: String) -> PayloadError {
            PayloadError(.invalidNumber, what, offset: start, path: path(of: field))
        }
        if p[i] == UInt8(ascii: "-") { i += 1 }
        guard i < p.count, UTF8Bytes.isDigit(p[i]) else {
            if i < p.count && (p[i] == UInt8(ascii: "I") || p[i] == UInt8(ascii: "N")) {
                throw fail("NaN and Infinity are not JSON numbers")
            }
            throw fail("expected a digit after '-'")
        }
        if p[i] == UInt8(ascii: "0") {
            i += 1
            if i < p.count && UTF8Bytes.isDigit(p[i]) { throw fail("number with a leading zero") }
        } else {
            skipDigits()
        }
        if i < p.count && p[i] == UInt8(ascii: ".") {
            i += 1
            guard i < p.count, UTF8Bytes.isDigit(p[i]) else { throw fail("expected a digit after '.'") }
            skipDigits()
        }
        if i < p.count && (p[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            if i < p.count && (p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < p.count, UTF8Bytes.isDigit(p[i]) else { throw fail("expected a digit in the exponent") }
            skipDigits()
        }
        // `1.2.3`, `0x10`, `1e5e`, `1-2`: the token goes on, which is no number.
        if i < p.count {
            let b = p[i]
            if UTF8Bytes.isLetter(b) || UTF8Bytes.isDigit(b) || b == UInt8(ascii: ".")
                || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") {
                throw fail("malformed number")
            }
        }
        return ByteSpan(start: start, end: i, isDecoded: false)
    }

    private mutating func skipDigits() {
        while i < p.count && UTF8Bytes.isDigit(p[i]) { i += 1 }
    }

    private mutating func parseLiteral(_ word: StaticString, _ field: PendingField) throws(PayloadError) -> ByteSpan {
        let n = word.utf8CodeUnitCount
        guard UTF8Bytes.hasPrefix(p, at: i, word),
              i + n == p.count || !(UTF8Bytes.isLetter(p[i + n]) || UTF8Bytes.isDigit(p[i + n])) else {
            throw PayloadError(.invalidLiteral, "invalid literal (expected true, false or null)", offset: i, path: path(of: field))
        }
        i += n
        return ByteSpan(start: i - n, end: i, isDecoded: false)
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while i < p.count {
            switch p[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    // MARK: Keys and errors

    /// Keys are field-path components: non-empty, no `.`, no control characters, bounded length.
    /// Checked on the bytes; a String is made only for the error message.
    private func checkKey(_ key: ByteSpan, offset: Int, parent: Int) throws(PayloadError) {
        var problem: String? = nil
        withBytes(key) { bytes in
            if bytes.isEmpty { problem = "empty key"; return }
            for b in bytes {
                if b == UInt8(ascii: ".") {
                    problem = "key " + quoted(out.string(key)) + " contains '.', the field-path separator"
                    return
                }
                if b < 0x20 || b == 0x7F {
                    problem = "key " + quoted(out.string(key)) + " contains a control character"
                    return
                }
            }
        }
        if let problem { throw PayloadError(.invalidKey, problem, offset: offset, path: out.path(parent)) }
        try out.checkLength(byteCount: key.count, offset: offset) { out.string(key) }
    }

    private func unexpected(_ expectation: String, parent: Int) -> PayloadError {
        if p[i] >= 0x80, UTF8Bytes.sequenceLength(p, i) == nil { return invalidUTF8(at: i) }
        return PayloadError(.unexpectedCharacter, "unexpected " + describeByte(p[i]) + ", " + expectation,
                            offset: i, path: out.path(parent))
    }

    private func unexpectedEnd(_ what: String) -> PayloadError {
        PayloadError(.unexpectedEnd, what + " at end of body", offset: i)
    }

    private func invalidUTF8(at offset: Int) -> PayloadError {
        PayloadError(.invalidUTF8, "invalid UTF-8 byte " + describeByte(p[offset]), offset: offset)
    }
}
