import SluiceTLS

/// TLS to Redis (every node of a cluster): whom to trust, which name the certificates must
/// carry, and an optional client certificate (Redis's `tls-auth-clients`).
public struct RedisTLSSettings: Sendable, Hashable {
    /// PEM file of trusted CAs; nil: the system's trust store.
    public var certificateAuthorities: String?
    /// The name every node's certificate must carry; nil: the address the client connects to
    /// (an IP address is then checked against the certificate's IP entries).
    public var serverName: String?
    public var certificate: TLSCertificateFiles?
    /// Accept a node certificate named only in its subject's CN (no subjectAltName): off, as in
    /// RFC 6125; on for old private CAs (`subject_cn_fallback: true`).
    public var acceptsSubjectCommonName = false

    public init(certificateAuthorities: String? = nil, serverName: String? = nil, certificate: TLSCertificateFiles? = nil,
                acceptsSubjectCommonName: Bool = false) {
        self.certificateAuthorities = certificateAuthorities
        self.serverName = serverName
        self.certificate = certificate
        self.acceptsSubjectCommonName = acceptsSubjectCommonName
    }

    /// The OpenSSL client context (peer verification always on); throws with OpenSSL's reason.
    public func makeContext() throws(TLSError) -> TLSClientContext {
        try TLSClientContext(configuration: TLSClientConfiguration(
            verifyPeer: true, certificateAuthorities: certificateAuthorities, certificate: certificate,
            acceptsSubjectCommonName: acceptsSubjectCommonName))
    }
}
