/// A malformed or unacceptable HTTP/1.1 message. The connection answers with `status` (when the
/// peer is a client) and closes: after a framing error the byte stream cannot be trusted.
public struct HTTP1Error: Error, Sendable, Equatable {
    /// 400, 414, 417, 431, 501, 505 for requests; 502 for anything wrong in a response.
    public var status: Int
    /// A short machine word for logs and metrics, e.g. `content_length_with_transfer_encoding`.
    public var reason: String
    /// Human text.
    public var message: String

    public init(status: Int, reason: String, message: String) {
        self.status = status
        self.reason = reason
        self.message = message
    }

    static func badRequest(_ reason: String, _ message: String) -> HTTP1Error {
        HTTP1Error(status: 400, reason: reason, message: message)
    }

    /// The same problem found in a response from upstream: the client sees 502. Content-Length
    /// together with Transfer-Encoding is named `upstream_bad_framing` (a smuggling attempt or a
    /// broken backend); other reasons keep their word.
    func asUpstreamError() -> HTTP1Error {
        let word = reason == "content_length_with_transfer_encoding" ? "upstream_bad_framing" : reason
        return HTTP1Error(status: 502, reason: word, message: "upstream response: " + message)
    }
}

// The catalogue of rejections, so that each reason word is spelled once.
extension HTTP1Error {
    static var headerTooLarge: HTTP1Error {
        HTTP1Error(status: 431, reason: "header_too_large", message: "no end of head within the header size limit")
    }
    static var tooManyHeaders: HTTP1Error {
        HTTP1Error(status: 431, reason: "too_many_headers", message: "more header fields than allowed")
    }
    static var uriTooLong: HTTP1Error {
        HTTP1Error(status: 414, reason: "uri_too_long", message: "request target longer than allowed")
    }
    static var bareLF: HTTP1Error { .badRequest("bare_lf", "line ending without CR") }
    static var bareCR: HTTP1Error { .badRequest("bare_cr", "CR not followed by LF") }
    static var badRequestLine: HTTP1Error {
        .badRequest("bad_request_line", "request line is not `method SP target SP version`")
    }
    static var invalidMethod: HTTP1Error { .badRequest("invalid_method", "method is not a token") }
    static var methodNotImplemented: HTTP1Error {
        HTTP1Error(status: 501, reason: "method_not_implemented", message: "method not supported")
    }
    static var invalidTarget: HTTP1Error { .badRequest("invalid_target", "request target is not in origin form") }
    static var absoluteForm: HTTP1Error {
        .badRequest("absolute_form_not_supported", "absolute-form request target with a scheme other than http or https")
    }
    static var invalidVersion: HTTP1Error { .badRequest("invalid_version", "malformed HTTP version") }
    static var versionNotSupported: HTTP1Error {
        HTTP1Error(status: 505, reason: "version_not_supported", message: "only HTTP/1.1 and HTTP/1.0 are supported")
    }
    static var invalidHost: HTTP1Error { .badRequest("invalid_host", "the Host value is not a host and optional port") }
    static var missingHost: HTTP1Error { .badRequest("missing_host", "HTTP/1.1 request without Host") }
    static var duplicateHost: HTTP1Error { .badRequest("duplicate_host", "more than one Host field") }
    static var duplicateContentType: HTTP1Error { .badRequest("duplicate_content_type", "more than one Content-Type field") }
    static var obsFold: HTTP1Error { .badRequest("obs_fold", "obsolete line folding") }
    static var emptyFieldName: HTTP1Error { .badRequest("empty_field_name", "field line with an empty name") }
    static var whitespaceBeforeColon: HTTP1Error {
        .badRequest("whitespace_before_colon", "whitespace between field name and colon")
    }
    static var invalidFieldName: HTTP1Error { .badRequest("invalid_field_name", "field name is not a token") }
    static var invalidFieldValue: HTTP1Error {
        .badRequest("invalid_field_value", "control character in a field value")
    }
    static var invalidContentLength: HTTP1Error {
        .badRequest("invalid_content_length", "Content-Length is not a non-negative decimal integer")
    }
    static var conflictingContentLength: HTTP1Error {
        .badRequest("conflicting_content_length", "Content-Length values differ")
    }
    static var unsupportedTransferEncoding: HTTP1Error {
        .badRequest("unsupported_transfer_encoding", "Transfer-Encoding other than a single `chunked`")
    }
    static var transferEncodingInHTTP10: HTTP1Error {
        .badRequest("transfer_encoding_in_http10", "Transfer-Encoding in an HTTP/1.0 message")
    }
    static var contentLengthWithTransferEncoding: HTTP1Error {
        .badRequest("content_length_with_transfer_encoding", "both Content-Length and Transfer-Encoding")
    }
    static var unsupportedExpectation: HTTP1Error {
        HTTP1Error(status: 417, reason: "unsupported_expectation", message: "Expect other than 100-continue")
    }
    static var badStatusLine: HTTP1Error {
        .badRequest("bad_status_line", "status line is not `HTTP/1.x SP 3DIGIT SP reason`")
    }
    static var badChunk: HTTP1Error { .badRequest("bad_chunk", "malformed chunked encoding") }
    static var chunkSizeTooLarge: HTTP1Error { .badRequest("chunk_size_too_large", "chunk size above 2^62") }
    static var chunkLineTooLong: HTTP1Error {
        .badRequest("chunk_line_too_long", "chunk size line with extensions longer than 4 KiB")
    }
    static var trailerTooLarge: HTTP1Error { .badRequest("trailer_too_large", "chunked trailer section too large") }
}
