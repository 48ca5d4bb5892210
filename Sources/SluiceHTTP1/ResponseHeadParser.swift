import SluiceHTTP

/// Strict incremental parser of HTTP/1.1 response heads from upstream. The same calling
/// convention as `RequestHeadParser`; every error has status 502, since it is the backend,
/// not the client, that sent something wrong.
public struct ResponseHeadParser {
    public let limits: HTTP1Limits
    private var scanner = HeadScanner()
    /// The backend's long field values from its previous response on this connection.
    private var repeatedValues = RepeatedFieldValues(slots: 16)

    public init(limits: HTTP1Limits = HTTP1Limits()) {
        self.limits = limits
    }

    public mutating func reset() { scanner.reset() }

    /// - Parameter requestMethod: the method of the request this answers (`HEAD` responses
    ///   have no body whatever their fields say).
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, requestMethod: String) throws(HTTP1Error) -> HeadParseResult<ParsedResponseHead> {
        do throws(HTTP1Error) {
            return try parseHead(bytes, requestMethod: requestMethod)
        } catch {
            if error == .badRequestLine { throw HTTP1Error.badStatusLine.asUpstreamError() }
            throw error.asUpstreamError()
        }
    }

    private mutating func parseHead(_ bytes: UnsafeRawBufferPointer, requestMethod: String) throws(HTTP1Error) -> HeadParseResult<ParsedResponseHead> {
        guard let found = try scanner.scan(bytes, limits: limits, allowLeadingCRLF: false, startLineLimit: .max)
        else { return .needMore }
        let view = HeadBytes(bytes: bytes)
        let line = try StatusLine(view, found.start..<found.startLineEnd)
        let fields = try FieldSection(view, found.startLineEnd + 2..<found.end - 2, repeated: &repeatedValues)

        if fields.chunked {
            if fields.contentLength != nil { throw .contentLengthWithTransferEncoding }
            if line.version == .http1_0 { throw .transferEncodingInHTTP10 }
        }
        let framing: BodyFraming
        if line.status < 200 || line.status == 204 || line.status == 304 || requestMethod == "HEAD" {
            framing = .none
        } else if fields.chunked {
            framing = .chunked
        } else if let length = fields.contentLength {
            framing = .contentLength(length)
        } else {
            framing = .untilClose
        }
        let keepAlive: Bool
        if framing == .untilClose || fields.connectionClose {
            keepAlive = false
        } else {
            keepAlive = line.version == .http1_1 || fields.connectionKeepAlive
        }
        let head = HTTPResponseHead(status: line.status, reason: line.reason, version: line.version,
                                    headers: fields.headers)
        return .complete(ParsedResponseHead(head: head, framing: framing, keepAlive: keepAlive), consumed: found.end)
    }
}
