import SluiceHTTP
import SluicePayload

/// A request body the proxy read completely before the guards that asked for it (the body
/// phase). The same bytes are forwarded, so what the guards judged is what the backend gets,
/// and a retry can send them again.
///
/// Guards read payment fields through `payload()`: the body is parsed once, strictly (see
/// SluicePayload), whichever guards ask, and a body that does not parse is refused by the
/// first guard that needs it (`LocalReply.invalidBody`). Loop-confined, like the request.
public final class RequestBody: @unchecked Sendable {
    public let bytes: [UInt8]
    /// The request's Content-Type, which decides how `payload()` parses.
    public let contentType: String?
    private var parsed: Result<PaymentPayload, PayloadError>?
    private var digest: String?

    public init(bytes: [UInt8], contentType: String?) {
        self.bytes = bytes
        self.contentType = contentType
    }

    /// SHA-256 of the body as lower-case hex, computed once whichever guards ask (auth's
    /// signed body hash, idempotency's request fingerprint).
    public var sha256Hex: String {
        if let digest { return digest }
        let computed = bytes.isEmpty ? Digests.emptySHA256Hex : Digests.sha256Hex(bytes)
        digest = computed
        return computed
    }

    /// The body's fields (JSON, XML or form, by Content-Type), parsed on first use.
    public func payload() throws(PayloadError) -> PaymentPayload {
        if let parsed { return try parsed.get() }
        let result = Result { () throws(PayloadError) -> PaymentPayload in
            let format = try PayloadFormat.detect(contentType: contentType ?? "")
            return try PaymentPayload.parse(bytes, format: format)
        }
        parsed = result
        return try result.get()
    }
}

extension LocalReply {
    /// 400 for a body that cannot be read strictly: the reason code says what is wrong.
    public static func invalidBody(_ error: PayloadError) -> LocalReply {
        .json(status: 400, reason: "invalid_body", message: error.description)
    }
}
