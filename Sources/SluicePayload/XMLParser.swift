/// The flat XML of WeChat Pay v2, and nothing more:
///
///     <?xml version="1.0" encoding="UTF-8"?>          (optional, only at offset 0)
///     <xml><return_code><![CDATA[SUCCESS]]></return_code><total_fee>1</total_fee></xml>
///
/// A root `<xml>` whose children each hold text or exactly one CDATA section. Not a general XML
/// parser: every construct that lets two XML parsers (or a parser and a regex) disagree is
/// refused with its own reason: DOCTYPE and ENTITY declarations (XXE, billion laughs), processing
/// instructions, comments (`<total_fee>1<!---->00</total_fee>` is 100 to one reader and 1 to
/// another), attributes, nesting below the root's children, mismatched tags, duplicate names,
/// entities other than the five predefined ones, character references to non-characters or to
/// ASCII characters (a reader that does not decode `&#49;` reads another value),
/// text mixed with CDATA, carriage returns in values (conforming parsers turn CR LF into LF,
/// hand-written ones do not), declared encodings other than UTF-8, invalid UTF-8, and anything
/// but whitespace outside the root.
struct XMLParser {
    private let p: Bytes
    private var i = 0
    private var out: FieldCollector
    private var scratch: [UInt8] = []

    init(_ p: Bytes, limits: PayloadLimits) {
        self.p = p
        self.out = FieldCollector(source: p, limits: limits)
    }

    mutating func parse() throws(PayloadError) -> FieldCollector {
        if p.isEmpty { throw PayloadError(.emptyBody, "empty body", offset: 0) }
        if UTF8Bytes.hasBOM(p) { throw PayloadError(.byteOrderMark, "byte order mark before XML", offset: 0) }
        if UTF8Bytes.hasPrefix(p, at: 0, "<?xml"), p.count > 5, isSpace(p[5]) || p[5] == UInt8(ascii: "?") {
            try parseDeclaration()
        }
        skipSpace()
        guard i < p.count else { throw PayloadError(.emptyBody, "no root element", offset: i) }
        guard p[i] == UInt8(ascii: "<") else { throw textOutsideRoot() }
        if try classifyMarkup() == .cdata {
            throw PayloadError(.xmlTextOutsideRoot, "CDATA section outside the root element", offset: i)
        }
        try parseRoot()
        skipSpace()
        if i < p.count {
            guard p[i] == UInt8(ascii: "<") else { throw textOutsideRoot() }
            _ = try classifyMarkup()
            throw PayloadError(.trailingData, "content after the root element", offset: i)
        }
        return out
    }

    // MARK: Prolog

    /// `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`: version 1.0 required first,
    /// then optional encoding (UTF-8 only) and standalone, in that order, each once.
    private mutating func parseDeclaration() throws(PayloadError) {
        let start = 0
        i = 5
        var stage = 0  // 0: expect version; 1: version seen; 2: encoding seen; 3: standalone seen
        while true {
            let hadSpace = skipSpace()
            guard i < p.count else { throw PayloadError(.unexpectedEnd, "unterminated XML declaration", offset: start) }
            if UTF8Bytes.hasPrefix(p, at: i, "?>") {
                guard stage > 0 else { throw declarationError("XML declaration without version") }
                i += 2
                return
            }
            guard hadSpace else { throw declarationError("malformed XML declaration") }
            let nameStart = i
            while i < p.count && UTF8Bytes.isLetter(p[i]) { i += 1 }
            let name = UTF8Bytes.string(p, nameStart..<i)
            skipSpace()
            guard i < p.count, p[i] == UInt8(ascii: "=") else { throw declarationError("malformed XML declaration") }
            i += 1
            skipSpace()
            guard i < p.count, p[i] == UInt8(ascii: "\"") || p[i] == UInt8(ascii: "'") else {
                throw declarationError("malformed XML declaration")
            }
            let quote = p[i]
            i += 1
            let valueStart = i
            while i < p.count && p[i] != quote {
                guard p[i] >= 0x20 && p[i] < 0x7F && p[i] != UInt8(ascii: "<") else {
                    throw declarationError("malformed XML declaration")
                }
                i += 1
            }
            guard i < p.count else { throw PayloadError(.unexpectedEnd, "unterminated XML declaration", offset: start) }
            let value = UTF8Bytes.string(p, valueStart..<i)
            i += 1
            switch (name, stage) {
            case ("version", 0):
                guard value == "1.0" else { throw declarationError("XML version " + quoted(value) + " (only 1.0)") }
                stage = 1
            case ("encoding", 1):
                let lower = String(decoding: value.utf8.map(UTF8Bytes.lowerASCII), as: UTF8.self)
                guard lower == "utf-8" || lower == "utf8" else {
                    throw PayloadError(.unsupportedCharset, "XML declares encoding " + quoted(value)
                                       + ": only UTF-8 is accepted", offset: valueStart)
                }
                stage = 2
            case ("standalone", 1), ("standalone", 2):
                guard value == "yes" || value == "no" else { throw declarationError("standalone must be yes or no") }
                stage = 3
            default:
                throw declarationError("unexpected " + quoted(name) + " in XML declaration")
            }
        }
    }

    private func declarationError(_ what: String) -> PayloadError {
        PayloadError(.xmlDeclaration, what, offset: i)
    }

    // MARK: Elements

    private mutating func parseRoot() throws(PayloadError) {
        let tagStart = i
        i += 1
        let name = try parseName()
        guard name == "xml" else {
            throw PayloadError(.xmlRootName, "root element is " + quoted(name) + ", expected \"xml\"", offset: tagStart)
        }
        if try finishStartTag(name: name) { return }
        while true {
            skipSpace()
            guard i < p.count else { throw PayloadError(.unexpectedEnd, "no </xml> before end of body", offset: i) }
            guard p[i] == UInt8(ascii: "<") else {
                throw PayloadError(.xmlMixedContent, "text directly inside <xml>", offset: i)
            }
            if i + 1 < p.count && p[i + 1] == UInt8(ascii: "/") {
                try parseEndTag(expected: name)
                return
            }
            if try classifyMarkup() == .cdata {
                throw PayloadError(.xmlMixedContent, "CDATA section directly inside <xml>", offset: i)
            }
            try parseChild()
        }
    }

    /// One child of the root: `<name>text</name>`, `<name><![CDATA[…]]></name>` or `<name/>`.
    private mutating func parseChild() throws(PayloadError) {
        let tagStart = i
        i += 1
        let name = try parseName()
        try out.checkLength(name, offset: tagStart + 1)
        var value = ""
        if try !finishStartTag(name: name) {
            if UTF8Bytes.hasPrefix(p, at: i, "<![CDATA[") {
                value = try parseCDATA(element: name)
                guard UTF8Bytes.hasPrefix(p, at: i, "</") else {
                    if i < p.count && p[i] == UInt8(ascii: "<") {
                        if try classifyMarkup() == .cdata {
                            throw PayloadError(.xmlMixedContent, "more than one CDATA section in <" + name + ">", offset: i)
                        }
                        throw PayloadError(.xmlNestedElement, "element nested inside <" + name + ">", offset: i)
                    }
                    if i < p.count {
                        throw PayloadError(.xmlMixedContent, "text after the CDATA section in <" + name + ">", offset: i)
                    }
                    throw PayloadError(.unexpectedEnd, "no </" + name + "> before end of body", offset: i)
                }
            } else {
                value = try parseText(element: name)
                guard UTF8Bytes.hasPrefix(p, at: i, "</") else {
                    if try classifyMarkup() == .cdata {
                        throw PayloadError(.xmlMixedContent, "text and CDATA mixed in <" + name + ">", offset: i)
                    }
                    throw PayloadError(.xmlNestedElement, "element nested inside <" + name + ">", offset: i)
                }
            }
            try parseEndTag(expected: name)
        }
        try out.add(name: name, value: value, offset: tagStart + 1)
    }

    /// After the element name: optional whitespace, then `>` or `/>`. Returns true for `/>`.
    private mutating func finishStartTag(name: String) throws(PayloadError) -> Bool {
        let hadSpace = skipSpace()
        guard i < p.count else { throw PayloadError(.unexpectedEnd, "unterminated tag <" + name, offset: i) }
        if p[i] == UInt8(ascii: ">") { i += 1; return false }
        if UTF8Bytes.hasPrefix(p, at: i, "/>") { i += 2; return true }
        if hadSpace && (UTF8Bytes.isLetter(p[i]) || p[i] == UInt8(ascii: "_") || p[i] == UInt8(ascii: ":") || p[i] >= 0x80) {
            throw PayloadError(.xmlAttribute, "attribute on <" + name + ">", offset: i)
        }
        throw malformed("unexpected " + describeByte(p[i]) + " in tag <" + name + ">")
    }

    /// `</name>` with optional whitespace before `>`; `name` must close the open element.
    private mutating func parseEndTag(expected: String) throws(PayloadError) {
        let at = i
        i += 2
        let name = try parseName()
        guard name == expected else {
            throw PayloadError(.xmlMismatchedTag, "</" + name + "> closes <" + expected + ">", offset: at)
        }
        skipSpace()
        guard i < p.count else { throw PayloadError(.unexpectedEnd, "unterminated tag </" + name, offset: i) }
        guard p[i] == UInt8(ascii: ">") else { throw malformed("unexpected " + describeByte(p[i]) + " in </" + name + ">") }
        i += 1
    }

    /// An element name at `i`: `[A-Za-z_][A-Za-z0-9_-]*`. Namespaced (`a:b`), dotted or
    /// non-ASCII names are refused as `invalid_key`.
    private mutating func parseName() throws(PayloadError) -> String {
        let start = i
        while i < p.count {
            switch p[i] {
            case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ">"), UInt8(ascii: "/"), UInt8(ascii: "<"),
                 UInt8(ascii: "="), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "&"):
                break
            default:
                i += 1
                continue
            }
            break
        }
        guard i > start else {
            guard i < p.count else { throw PayloadError(.unexpectedEnd, "unterminated tag", offset: i) }
            throw malformed("expected an element name, found " + describeByte(p[i]))
        }
        var plain = UTF8Bytes.isLetter(p[start]) || p[start] == UInt8(ascii: "_")
        for k in start..<i where !UTF8Bytes.isPlainNameByte(p[k]) { plain = false; break }
        guard plain else {
            if let bad = UTF8Bytes.firstInvalid(Bytes(rebasing: p[start..<i])) {
                throw PayloadError(.invalidUTF8, "invalid UTF-8 in element name", offset: start + bad)
            }
            throw PayloadError(.invalidKey, "element name " + quoted(UTF8Bytes.string(p, start..<i))
                               + " is not [A-Za-z_][A-Za-z0-9_-]*", offset: start)
        }
        return UTF8Bytes.string(p, start..<i)
    }

    // MARK: Content

    /// `<![CDATA[ … ]]>` at `i`: the bytes between, checked as XML characters, not decoded.
    private mutating func parseCDATA(element: String) throws(PayloadError) -> String {
        let open = i
        i += 9
        let start = i
        while i < p.count {
            let b = p[i]
            if b == UInt8(ascii: "]") && UTF8Bytes.hasPrefix(p, at: i, "]]>") {
                let s = UTF8Bytes.string(p, start..<i)
                i += 3
                return s
            }
            try stepChar(b, element: element)
        }
        throw PayloadError(.unexpectedEnd, "unterminated CDATA section in <" + element + ">", offset: open)
    }

    /// Character data up to the next `<`, with the five predefined entities and numeric
    /// character references decoded. No references: one slice, one String.
    private mutating func parseText(element: String) throws(PayloadError) -> String {
        let start = i
        var decoding = false
        while i < p.count {
            let b = p[i]
            if b == UInt8(ascii: "<") {
                return decoding ? String(decoding: scratch, as: UTF8.self) : UTF8Bytes.string(p, start..<i)
            }
            if b == UInt8(ascii: "&") {
                if !decoding {
                    decoding = true
                    scratch.removeAll(keepingCapacity: true)
                    scratch.append(contentsOf: Bytes(rebasing: p[start..<i]))
                }
                try parseReference(element: element)
                continue
            }
            if b == UInt8(ascii: ">") && i >= 2 && p[i - 1] == UInt8(ascii: "]") && p[i - 2] == UInt8(ascii: "]") {
                throw malformed("']]>' in text of <" + element + ">")
            }
            let from = i
            try stepChar(b, element: element)
            if decoding { scratch.append(contentsOf: Bytes(rebasing: p[from..<i])) }
        }
        throw PayloadError(.unexpectedEnd, "no </" + element + "> before end of body", offset: i)
    }

    /// Advances over one character of content, refusing what XML 1.0 forbids (C0 controls other
    /// than tab and LF, U+FFFE, U+FFFF), carriage returns, and invalid UTF-8.
    @inline(__always)
    private mutating func stepChar(_ b: UInt8, element: String) throws(PayloadError) {
        if b >= 0x20 && b < 0x80 { i += 1; return }
        if b == 0x09 || b == 0x0A { i += 1; return }
        if b == 0x0D {
            throw PayloadError(.xmlCarriageReturn, "carriage return in <" + element
                               + "> (XML parsers normalise line ends, others do not)", offset: i)
        }
        if b < 0x20 {
            throw PayloadError(b == 0 ? .nulCharacter : .controlCharacter,
                               "control character " + describeByte(b) + " in <" + element + ">", offset: i)
        }
        guard let n = UTF8Bytes.sequenceLength(p, i) else {
            throw PayloadError(.invalidUTF8, "invalid UTF-8 byte " + describeByte(b) + " in <" + element + ">", offset: i)
        }
        if n == 3 && b == 0xEF && p[i + 1] == 0xBF && p[i + 2] >= 0xBE {
            throw PayloadError(.xmlInvalidCharacter, "U+FFFE/U+FFFF is not an XML character", offset: i)
        }
        i += n
    }

    /// `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` `&#NNN;` `&#xHHH;` at `i`, appended to `scratch`.
    private mutating func parseReference(element: String) throws(PayloadError) {
        let at = i
        var end = i + 1
        while end < p.count && end - at <= 12 && p[end] != UInt8(ascii: ";") { end += 1 }
        guard end < p.count, p[end] == UInt8(ascii: ";") else {
            throw PayloadError(.xmlUnknownEntity, "'&' that does not start a reference in <" + element + ">", offset: at)
        }
        let body = Bytes(rebasing: p[(at + 1)..<end])
        i = end + 1
        if body.elementsEqual("lt".utf8) { scratch.append(UInt8(ascii: "<")); return }
        if body.elementsEqual("gt".utf8) { scratch.append(UInt8(ascii: ">")); return }
        if body.elementsEqual("amp".utf8) { scratch.append(UInt8(ascii: "&")); return }
        if body.elementsEqual("quot".utf8) { scratch.append(UInt8(ascii: "\"")); return }
        if body.elementsEqual("apos".utf8) { scratch.append(UInt8(ascii: "'")); return }
        guard body.first == UInt8(ascii: "#") else {
            let name = UTF8Bytes.firstInvalid(body) == nil ? String(decoding: body, as: UTF8.self) : "?"
            throw PayloadError(.xmlUnknownEntity, "unknown entity " + quoted("&" + name + ";") + " in <"
                               + element + "> (only the five predefined entities)", offset: at)
        }
        let hex = body.count > 1 && body[1] == UInt8(ascii: "x")
        let digits = body.dropFirst(hex ? 2 : 1)
        func invalidRef() -> PayloadError {
            PayloadError(.xmlInvalidCharacterReference,
                         "invalid character reference &" + String(decoding: body, as: UTF8.self) + ";", offset: at)
        }
        guard !digits.isEmpty else { throw invalidRef() }
        var v: UInt32 = 0
        for d in digits {
            let n: UInt32
            switch d {
            case 0x30...0x39: n = UInt32(d - 0x30)
            case 0x41...0x46 where hex: n = UInt32(d - 0x41 + 10)
            case 0x61...0x66 where hex: n = UInt32(d - 0x61 + 10)
            default: throw invalidRef()
            }
            v = v * (hex ? 16 : 10) + n
            if v > 0x10FFFF { throw invalidRef() }
        }
        let isChar = v == 0x9 || v == 0xA || v == 0xD || (0x20...0xD7FF).contains(v)
            || (0xE000...0xFFFD).contains(v) || (0x10000...0x10FFFF).contains(v)
        guard isChar else { throw invalidRef() }
        // An ASCII character never needs a reference (the five entities cover markup), and a
        // backend that does not decode them reads another value than the one checked and signed:
        // `<mch_id>190000000&#49;</mch_id>` was bound to the signer here and booked as
        // `190000000&#49;` there. References to other characters (PHP's DOM writes Chinese text
        // as `&#x4e2d;`) cannot spell the ASCII-only fields that are bound or checked.
        guard v >= 0x80 else {
            throw PayloadError(.xmlInvalidCharacterReference,
                               "character reference &" + String(decoding: body, as: UTF8.self) + "; to an ASCII character in <" + element
                               + "> (refused: parsers that do not decode it read another value; write the character itself)", offset: at)
        }
        UTF8Bytes.append(scalar: v, to: &scratch)
    }

    // MARK: Markup that is refused

    private enum Markup { case cdata, other }

    /// At a `<`: throws for comments, DOCTYPE, ENTITY, processing instructions and other `<!`
    /// declarations; returns `.cdata` for a CDATA section and `.other` for a tag.
    private func classifyMarkup() throws(PayloadError) -> Markup {
        if UTF8Bytes.hasPrefix(p, at: i, "<!--") {
            throw PayloadError(.xmlComment, "XML comment (refused: parsers disagree on text around it)", offset: i)
        }
        if UTF8Bytes.hasPrefix(p, at: i, "<!DOCTYPE", caseInsensitive: true) {
            throw PayloadError(.xmlDoctype, "DOCTYPE declaration (refused: external entities)", offset: i)
        }
        if UTF8Bytes.hasPrefix(p, at: i, "<!ENTITY", caseInsensitive: true) {
            throw PayloadError(.xmlEntityDeclaration, "ENTITY declaration (refused: external entities)", offset: i)
        }
        if UTF8Bytes.hasPrefix(p, at: i, "<![CDATA[") { return .cdata }
        if UTF8Bytes.hasPrefix(p, at: i, "<!") {
            throw malformed("markup declaration")
        }
        if UTF8Bytes.hasPrefix(p, at: i, "<?") {
            throw PayloadError(.xmlProcessingInstruction,
                               "processing instruction (only one leading <?xml …?> declaration)", offset: i)
        }
        return .other
    }

    // MARK: Helpers

    @inline(__always)
    private func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    @discardableResult
    private mutating func skipSpace() -> Bool {
        let start = i
        while i < p.count && isSpace(p[i]) { i += 1 }
        return i > start
    }

    private func textOutsideRoot() -> PayloadError {
        if p[i] >= 0x80, UTF8Bytes.sequenceLength(p, i) == nil {
            return PayloadError(.invalidUTF8, "invalid UTF-8 byte " + describeByte(p[i]), offset: i)
        }
        return PayloadError(.xmlTextOutsideRoot, "text outside the root element", offset: i)
    }

    private func malformed(_ what: String) -> PayloadError {
        PayloadError(.xmlMalformed, what, offset: i)
    }
}
