import SluiceHTTP

/// Strict incremental parser of HTTP/1.1 request heads (RFC 9112 §2–§3, §5–§6).
///
/// Pass all buffered bytes from the start of the head on every call; the parser remembers how
/// far it scanned, so a head arriving in pieces costs O(its length) in total. After `.complete`
/// the parser is ready for the next head (bytes from `consumed` on); `reset()` abandons a
/// partial head. A thrown error means: answer `status` and close the connection.
public struct RequestHeadParser {
    public let limits: HTTP1Limits
    private var scanner = HeadScanner()
    /// The request line of the head in progress, parsed as soon as it was complete.
    private var requestLine: RequestLine?

    public init(limits: HTTP1Limits = HTTP1Limits()) {
        self.limits = limits
    }

    public mutating func reset() {
        scanner.reset()
        requestLine = nil
    }

    /// The line's first token (after any leading CRLFs) runs past the longest method Sluice
    /// forwards (`OPTIONS`, 7 bytes) without a space.
    private static func methodOutlastsEveryKnownOne(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var start = 0
        while start < bytes.count, bytes[start] == ASCII.cr || bytes[start] == ASCII.lf { start += 1 }
        guard bytes.count - start > 8 else { return false }
        return bytes[start..<start + 8].allSatisfy(ASCII.isToken)
    }

    public mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTP1Error) -> HeadParseResult<ParsedRequestHead> {
        // "OPTIONS" SP target SP "HTTP/1.1": a longer line cannot hold a target within the limit
        // with a method we implement.
        let lineLimit = limits.maxURIBytes + 17
        let view = HeadBytes(bytes: bytes)
        // The request line is parsed the moment it is complete: `GET /path` without a version
        // (HTTP/0.9) is answered 400 at once instead of waiting for a head that never comes.
        var found: HeadScanner.Head?
        do {
            found = try scanner.scan(bytes, limits: limits, allowLeadingCRLF: true, startLineLimit: lineLimit,
                                     pauseAfterStartLine: requestLine == nil)
        } catch where error == .uriTooLong && requestLine == nil && Self.methodOutlastsEveryKnownOne(bytes) {
            // RFC 9112 §3: a method longer than any implemented one is 501, not a long target.
            throw .methodNotImplemented
        }
        if requestLine == nil, let range = scanner.startLine {
            requestLine = try RequestLine(view, range, maxURIBytes: limits.maxURIBytes)
            found = try scanner.scan(bytes, limits: limits, allowLeadingCRLF: true, startLineLimit: lineLimit)
        }
        guard let found, let line = requestLine else { return .needMore }
        requestLine = nil
        // Client heads keep nothing between requests: an idle client connection holds no strings.
        var notKept = RepeatedFieldValues(slots: 0)
        let fields = try FieldSection(view, found.startLineEnd + 2..<found.end - 2, repeated: &notKept)

        switch fields.hostCount {
        case 0 where line.version == .http1_1: throw .missingHost
        case 0, 1: break
        default: throw .duplicateHost
        }
        // The gateway reads a body by one Content-Type; a backend given two may read it by the
        // other (a JSON order that is also a form naming another merchant and amount).
        if fields.contentTypeCount > 1 { throw .duplicateContentType }
        if fields.chunked {
            if line.version == .http1_0 { throw .transferEncodingInHTTP10 }
            if fields.contentLength != nil { throw .contentLengthWithTransferEncoding }
        }
        if fields.expectation == .unsupported { throw .unsupportedExpectation }

        let framing: BodyFraming
        if fields.chunked {
            framing = .chunked
        } else if let length = fields.contentLength {
            framing = .contentLength(length)
        } else {
            framing = .none
        }
        let keepAlive = line.version == .http1_1
            ? !fields.connectionClose
            : fields.connectionKeepAlive && !fields.connectionClose
        var headers = fields.headers
        if let authority = line.authority {
            // The absolute-form target names the host; the Host field is ignored (RFC 9112 §3.2.2).
            headers.remove(name: "host")
            headers.insertLowercased(name: "host", value: authority, at: 0)
        }
        let head = HTTPRequestHead(method: line.method, target: line.target, version: line.version, headers: headers)
        // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored.
        let parsed = ParsedRequestHead(head: head, framing: framing, keepAlive: keepAlive,
                                       expectsContinue: fields.expectation == .continue100 && line.version == .http1_1)
        return .complete(parsed, consumed: found.end)
    }
}
