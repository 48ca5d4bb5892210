internal import COpenSSL

/// Why a downstream TLS handshake failed, as a word an operator's dashboard can group by (the
/// `reason` of `sluice_tls_handshake_failures_total`). "failed" alone could not tell clients
/// still on TLS 1.0 from clients that reject a freshly rotated certificate.
public enum TLSHandshakeFailure: String, Sendable, CaseIterable {
    /// The client offers only versions the listener refuses (below TLS 1.2).
    case protocolVersion = "protocol_version"
    /// Bytes that are no TLS handshake: cleartext OpenSSL does not name as HTTP (DELETE, PATCH,
    /// OPTIONS, an h2c preface), or garbage.
    case notTLS = "not_tls"
    /// No cipher suite, group or signature algorithm in common.
    case noSharedCipher = "no_shared_cipher"
    /// Plain HTTP sent to the TLS port, with a method OpenSSL recognises (GET, POST, HEAD, PUT,
    /// CONNECT).
    case plainHTTP = "plain_http"
    /// The listener asks for a client certificate: none came, or it did not verify.
    case clientCertificate = "client_certificate"
    /// The client refused the listener's certificate (unknown CA, expired, bad, wrong name).
    case certificateRejected = "certificate_rejected_by_client"
    /// No ALPN protocol in common.
    case noApplicationProtocol = "no_application_protocol"
    /// The client closed or reset the connection mid-handshake.
    case closed
    case other

    /// The class of OpenSSL's reason code (`ERR_GET_REASON` of the failing error).
    static func classify(reason: Int32) -> TLSHandshakeFailure {
        switch reason {
        case SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION, SSL_R_VERSION_TOO_LOW:
            return .protocolVersion
        case SSL_R_WRONG_VERSION_NUMBER, SSL_R_UNKNOWN_PROTOCOL, SSL_R_PACKET_LENGTH_TOO_LONG:
            // (What OpenSSL says of a record header that is none: "PATCH / H…", "PRI * HTT…".)
            return .notTLS
        case SSL_R_NO_SHARED_CIPHER, SSL_R_NO_SHARED_GROUPS, SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
            return .noSharedCipher
        case SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST:
            return .plainHTTP
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, SSL_R_CERTIFICATE_VERIFY_FAILED:
            return .clientCertificate
        case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE, SSL_R_TLSV1_ALERT_UNKNOWN_CA, SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED,
             SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN, SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE, SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
            return .certificateRejected
        case SSL_R_NO_APPLICATION_PROTOCOL, SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
            return .noApplicationProtocol
        default:
            return .other
        }
    }
}
