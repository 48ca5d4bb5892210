import SluiceHTTP

/// Why a request failed authentication: a stable code for clients, logs and metrics. The reply
/// says which check failed and never anything secret (no expected signature, no key material).
public enum AuthFailure: String, Error, Sendable, CaseIterable {
    case missingSignature = "missing_signature"
    case malformedAuthorization = "malformed_authorization"
    case unknownMerchant = "unknown_merchant"
    case unknownSerial = "unknown_serial"
    case badSignature = "bad_signature"
    case timestampOutOfWindow = "timestamp_out_of_window"
    case replayedNonce = "replayed_nonce"
    /// Signed by one merchant, naming another (a `mchid` query parameter): 403.
    case merchantMismatch = "merchant_mismatch"

    var message: String {
        switch self {
        case .missingSignature: return "the request carries no signature for this route's schemes"
        case .malformedAuthorization: return "the signature headers are not well-formed"
        case .unknownMerchant: return "no credentials for this merchant"
        case .unknownSerial: return "no key with this serial"
        case .badSignature: return "the signature does not match the request"
        case .timestampOutOfWindow: return "the timestamp is outside the accepted window"
        case .replayedNonce: return "this nonce was already used"
        case .merchantMismatch: return "the request names another merchant than the one that signed it"
        }
    }

    /// 401 with a problem body and, in `WWW-Authenticate`, the schemes the route accepts; 403
    /// for a merchant that is who it says, asking for another's. `message`: said instead of the
    /// code's general words where the scheme knows better where the signature was looked for.
    func reply(challenge: String?, message: String? = nil) -> LocalReply {
        let message = message ?? self.message
        guard self != .merchantMismatch else { return LocalReply.json(status: 403, reason: rawValue, message: message) }
        var reply = LocalReply.json(status: 401, reason: rawValue, message: message)
        if let challenge { reply.headers.appendLowercased(name: "www-authenticate", value: challenge) }
        return reply
    }
}
