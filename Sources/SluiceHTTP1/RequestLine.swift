import SluiceHTTP

/// `method SP request-target SP HTTP-version`, with exactly one SP between the parts.
struct RequestLine {
    var method: String
    var target: String
    var version: HTTPVersion
    /// The authority of an absolute-form target (`GET http://pay.example/x HTTP/1.1`): the
    /// request's host, whatever its Host field says (RFC 9112 §3.2.2); `target` is then the
    /// origin form (`/x`).
    var authority: String?

    init(_ bytes: HeadBytes, _ line: Range<Int>, maxURIBytes: Int) throws(HTTP1Error) {
        var index = line.lowerBound
        while index < line.upperBound, ASCII.isToken(bytes[index]) { index += 1 }
        guard index < line.upperBound else { throw .badRequestLine }
        guard bytes[index] == ASCII.space else { throw .invalidMethod }
        guard index > line.lowerBound else { throw .badRequestLine }
        let methodRange = line.lowerBound..<index

        let targetStart = index + 1
        index = targetStart
        while index < line.upperBound, bytes[index] != ASCII.space { index += 1 }
        guard index < line.upperBound, index > targetStart else { throw .badRequestLine }
        let targetRange = targetStart..<index
        let versionRange = index + 1..<line.upperBound

        guard let method = Self.method(bytes, methodRange) else { throw .methodNotImplemented }
        version = try Self.version(bytes, versionRange)
        if targetRange.count > maxURIBytes { throw .uriTooLong }
        self.method = method
        if let (authorityRange, pathStart) = try Self.checkTarget(bytes, targetRange, isOptions: method == "OPTIONS") {
            authority = bytes.string(authorityRange)
            let rest = pathStart..<targetRange.upperBound
            target = rest.isEmpty ? "/" : bytes[pathStart] == ASCII.slash ? bytes.string(rest) : "/" + bytes.string(rest)
        } else {
            target = bytes.string(targetRange)
        }
    }

    /// The methods Sluice forwards, as static Strings (no allocation). Method names are
    /// case-sensitive: `get` is another, unknown, method.
    private static func method(_ bytes: HeadBytes, _ range: Range<Int>) -> String? {
        switch range.count {
        case 3:
            if bytes.equals(range, "GET") { return "GET" }
            if bytes.equals(range, "PUT") { return "PUT" }
        case 4:
            if bytes.equals(range, "POST") { return "POST" }
            if bytes.equals(range, "HEAD") { return "HEAD" }
        case 5:
            if bytes.equals(range, "PATCH") { return "PATCH" }
        case 6:
            if bytes.equals(range, "DELETE") { return "DELETE" }
        case 7:
            if bytes.equals(range, "OPTIONS") { return "OPTIONS" }
        default:
            break
        }
        return nil
    }

    /// `HTTP/1.1` or `HTTP/1.0`; another well-formed `HTTP/d.d` is 505, anything else 400.
    static func version(_ bytes: HeadBytes, _ range: Range<Int>) throws(HTTP1Error) -> HTTPVersion {
        if bytes.equals(range, "HTTP/1.1") { return .http1_1 }
        if bytes.equals(range, "HTTP/1.0") { return .http1_0 }
        if range.count == 8, bytes.equals(range.lowerBound..<range.lowerBound + 5, "HTTP/"),
           ASCII.isDigit(bytes[range.lowerBound + 5]), bytes[range.lowerBound + 6] == UInt8(ascii: "."),
           ASCII.isDigit(bytes[range.lowerBound + 7]) {
            throw .versionNotSupported
        }
        throw .invalidVersion
    }

    /// Origin-form, or `*` for OPTIONS; visible ASCII only.
    /// Origin form (or `*` for OPTIONS): nil. Absolute form with `http` or `https`
    /// (RFC 9112 §3.2.2: a server MUST accept it): the authority and where the path starts.
    private static func checkTarget(_ bytes: HeadBytes, _ range: Range<Int>,
                                    isOptions: Bool) throws(HTTP1Error) -> (authority: Range<Int>, pathStart: Int)? {
        for index in range where !ASCII.isVisible(bytes[index]) { throw .invalidTarget }
        let first = bytes[range.lowerBound]
        if first == ASCII.slash { return nil }
        if first == ASCII.asterisk, range.count == 1, isOptions { return nil }
        guard isAbsoluteForm(bytes, range) else { throw .invalidTarget }
        for scheme: StaticString in ["http://", "https://"] {
            let length = scheme.utf8CodeUnitCount
            guard range.count >= length, bytes.equalsIgnoringCase(range.lowerBound..<range.lowerBound + length, scheme) else { continue }
            var end = range.lowerBound + length
            while end < range.upperBound, bytes[end] != ASCII.slash, bytes[end] != UInt8(ascii: "?") { end += 1 }
            let authority = range.lowerBound + length..<end
            // No userinfo (`user@host`: RFC 9110 §4.2.4), nothing but a host and port.
            guard !authority.isEmpty, ASCII.isHostValue(bytes, authority) else { throw .invalidTarget }
            return (authority, end)
        }
        throw .absoluteForm
    }

    /// `scheme ":" ...` with scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1).
    private static func isAbsoluteForm(_ bytes: HeadBytes, _ range: Range<Int>) -> Bool {
        guard ASCII.isAlpha(bytes[range.lowerBound]) else { return false }
        for index in range.dropFirst() {
            let byte = bytes[index]
            if byte == ASCII.colon { return true }
            let schemeByte = ASCII.isAlpha(byte) || ASCII.isDigit(byte)
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            if !schemeByte { return false }
        }
        return false
    }
}

/// The request target as the HTTP/1.1 parser takes it, for tools that must say what the proxy
/// would do with a target (`sluice explain`): the origin form (an absolute-form target turned
/// into its path and query, as RFC 9112 §3.2.2 has servers accept it), or the error the parser
/// answers with.
public enum RequestTarget {
    public static func originForm(method: String, target: String) throws(HTTP1Error) -> String {
        let line = Array("\(method) \(target) HTTP/1.1".utf8)
        let parsed = line.withUnsafeBytes { raw -> Result<String, HTTP1Error> in
            do throws(HTTP1Error) {
                return .success(try RequestLine(HeadBytes(bytes: raw), 0..<raw.count, maxURIBytes: .max).target)
            } catch {
                return .failure(error)
            }
        }
        return try parsed.get()
    }
}
