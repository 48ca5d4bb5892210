/// The body formats payment APIs use, and how to tell them from a Content-Type header.
public enum PayloadFormat: String, Sendable, Hashable, CaseIterable {
    /// `application/json` (RFC 8259): WeChat Pay v3, merchant APIs.
    case json
    /// `text/xml`, `application/xml`: the flat `<xml>…</xml>` of WeChat Pay v2.
    case xml
    /// `application/x-www-form-urlencoded`: Alipay notifications and gateway calls.
    case form

    /// The format for a Content-Type value such as `application/json; charset=utf-8`, or nil when
    /// the media type is not one of these or the header is unacceptable (see `detect` for why).
    public init?(contentType: String) {
        guard let format = try? PayloadFormat.detect(contentType: contentType) else { return nil }
        self = format
    }

    /// Like `init?(contentType:)` but says why: `unsupported_media_type`, `invalid_content_type`
    /// (malformed, or `charset` given twice) or `unsupported_charset`.
    ///
    /// The media type is case-insensitive. A `charset` parameter, when present, must be UTF-8 for
    /// every format: the extractor reads UTF-8, and a backend that honours `charset=gbk` would
    /// decode the same bytes into different fields (for XML the declaration is checked too).
    public static func detect(contentType: String) throws(PayloadError) -> PayloadFormat {
        if let format = commonForm(contentType) { return format }
        let bytes = Array(contentType.utf8)
        var i = 0
        func invalid(_ why: String) -> PayloadError {
            PayloadError(.invalidContentType, "Content-Type " + quoted(contentType) + ": " + why)
        }
        func skipOWS() {
            while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
        }
        func token() -> [UInt8] {
            let start = i
            while i < bytes.count && isTokenByte(bytes[i]) { i += 1 }
            return bytes[start..<i].map(UTF8Bytes.lowerASCII)
        }

        skipOWS()
        let type = token()
        guard !type.isEmpty, i < bytes.count, bytes[i] == UInt8(ascii: "/") else {
            throw invalid("expected type/subtype")
        }
        i += 1
        let subtype = token()
        guard !subtype.isEmpty else { throw invalid("expected type/subtype") }
        let media = String(decoding: type + [UInt8(ascii: "/")] + subtype, as: UTF8.self)
        let format: PayloadFormat
        switch media {
        case "application/json": format = .json
        case "text/xml", "application/xml": format = .xml
        case "application/x-www-form-urlencoded": format = .form
        default:
            throw PayloadError(.unsupportedMediaType, "media type " + quoted(media) + " is not JSON, XML or form data")
        }

        var sawCharset = false
        while true {
            skipOWS()
            if i == bytes.count { break }
            guard bytes[i] == UInt8(ascii: ";") else { throw invalid("expected ';' between parameters") }
            i += 1
            skipOWS()
            if i == bytes.count { break }
            if bytes[i] == UInt8(ascii: ";") { continue }
            let name = token()
            guard !name.isEmpty, i < bytes.count, bytes[i] == UInt8(ascii: "=") else {
                throw invalid("expected name=value parameter")
            }
            i += 1
            var value: [UInt8] = []
            if i < bytes.count && bytes[i] == UInt8(ascii: "\"") {
                i += 1
                var closed = false
                while i < bytes.count {
                    let b = bytes[i]
                    if b == UInt8(ascii: "\"") { closed = true; i += 1; break }
                    if b == UInt8(ascii: "\\") {
                        i += 1
                        guard i < bytes.count else { break }
                    }
                    value.append(bytes[i])
                    i += 1
                }
                guard closed else { throw invalid("unterminated quoted parameter value") }
            } else {
                value = token()
                guard !value.isEmpty else { throw invalid("empty parameter value") }
            }
            if name == Array("charset".utf8) {
                if sawCharset { throw invalid("charset given twice") }
                sawCharset = true
                let charset = value.map(UTF8Bytes.lowerASCII)
                if charset != Array("utf-8".utf8) && charset != Array("utf8".utf8) {
                    let shown = String(decoding: value, as: UTF8.self)
                    throw PayloadError(.unsupportedCharset, "charset " + quoted(shown) + " for " + media
                                       + ": only UTF-8 bodies are accepted (a backend decoding "
                                       + shown + " would read different fields)")
                }
            }
        }
        return format
    }
}

extension PayloadFormat {
    /// The spellings nearly every client sends, which `detect` would accept as they are.
    private static let commonForms: [(spelling: String, format: PayloadFormat)] = [
        ("application/json", .json), ("application/json; charset=utf-8", .json), ("application/json;charset=utf-8", .json),
        ("application/x-www-form-urlencoded", .form), ("application/x-www-form-urlencoded; charset=utf-8", .form),
        ("application/x-www-form-urlencoded;charset=utf-8", .form),
        ("text/xml", .xml), ("text/xml; charset=utf-8", .xml), ("application/xml", .xml), ("application/xml; charset=utf-8", .xml),
    ]

    /// The format of a Content-Type that is one of `commonForms` (ASCII case ignored), found
    /// without building anything: `detect` runs once per request with a body.
    private static func commonForm(_ contentType: String) -> PayloadFormat? {
        withUTF8Bytes(contentType) { header in
            for (spelling, format) in commonForms where spelling.utf8.count == header.count {
                let same = withUTF8Bytes(spelling) { known in
                    for k in 0..<known.count where UTF8Bytes.lowerASCII(header[k]) != known[k] { return false }
                    return true
                }
                if same { return format }
            }
            return nil
        }
    }
}

/// RFC 9110 `tchar`.
private func isTokenByte(_ b: UInt8) -> Bool {
    if UTF8Bytes.isLetter(b) || UTF8Bytes.isDigit(b) { return true }
    switch b {
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
         UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
         UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        return true
    default:
        return false
    }
}
