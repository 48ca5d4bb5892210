internal import COpenSSL
import Glibc
import SluiceHTTP

public struct TLSClientConfiguration: Sendable {
    /// Verify the server's certificate chain and name. Off only for tests and lab backends.
    public var verifyPeer: Bool = true
    /// PEM file of trusted CAs; nil = the system's default trust store.
    public var certificateAuthorities: String?
    /// ALPN protocols to offer (e.g. ["http/1.1"]); empty = no ALPN extension.
    public var alpn: [String] = []
    /// A client certificate, for upstreams that require mTLS.
    public var certificate: TLSCertificateFiles?
    /// Accept a certificate whose only name is its subject's CN (no subjectAltName at all), as
    /// OpenSSL does by default. Off: RFC 6125 §6.4.4 and every browser look at the SANs alone;
    /// on only for old private CAs that issue CN-only certificates.
    public var acceptsSubjectCommonName: Bool = false

    public init(verifyPeer: Bool = true, certificateAuthorities: String? = nil, alpn: [String] = [],
                certificate: TLSCertificateFiles? = nil, acceptsSubjectCommonName: Bool = false) {
        self.verifyPeer = verifyPeer
        self.certificateAuthorities = certificateAuthorities
        self.alpn = alpn
        self.certificate = certificate
        self.acceptsSubjectCommonName = acceptsSubjectCommonName
    }
}

/// An immutable client-side OpenSSL context (TLS to upstreams): versions and ciphers as on the
/// server side, trust anchors, ALPN offer, optional client certificate. Safe from every loop.
public final class TLSClientContext: @unchecked Sendable {
    public let configuration: TLSClientConfiguration
    let context: OpaquePointer

    public init(configuration: TLSClientConfiguration) throws(TLSError) {
        OpenSSLErrors.clear()
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw .fromQueue("cannot create an SSL context") }
        do throws(TLSError) {
            try TLSServerContext.applyProtocolSettings(context)
            if configuration.verifyPeer {
                if let path = configuration.certificateAuthorities {
                    let problems = TLSCertificateCheck.problems(withCertificateAuthorities: path)
                    if !problems.isEmpty { throw TLSError(problems.map(\.message).joined(separator: "; ")) }
                    guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
                        throw .fromQueue("cannot load CA file \(path)")
                    }
                } else if SSL_CTX_set_default_verify_paths(context) != 1 {
                    throw .fromQueue("cannot load the system trust store")
                }
                SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            } else {
                SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
            }
            if !configuration.alpn.isEmpty {
                let wire = try TLSServerContext.wireFormat(configuration.alpn)
                defer { wire.deallocate() }
                // Returns 0 on success (unlike most of OpenSSL).
                guard SSL_CTX_set_alpn_protos(context, wire.baseAddress, UInt32(wire.count)) == 0 else {
                    throw .fromQueue("cannot set the ALPN protocols")
                }
            }
            if let certificate = configuration.certificate {
                try TLSServerContext.loadCertificate(certificate, into: context)
            }
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.context = context
        self.configuration = configuration
    }

    deinit { SSL_CTX_free(context) }

    /// An SSL for one connection to `serverName` (sent as SNI when it is a name). With peer
    /// verification on, the certificate must name `serverName`: nil when there is no name to
    /// check or OpenSSL refuses to set it, never an SSL that checks the chain alone, which
    /// accepted any certificate the CA had signed for any name (an empty name set none; `10.0.0`
    /// was taken for an address, refused as one, and then nothing was checked). Addresses are
    /// told by `inet_pton`; anything else is a name the certificate must match, in its
    /// subjectAltName entries only (unless `acceptsSubjectCommonName`), with no partial-label
    /// wildcards (`pay*.example.com`).
    func makeSSL(serverName: String?) -> OpaquePointer? {
        guard let ssl = SSL_new(context) else { return nil }
        let name = serverName ?? ""
        let address = HostSyntax.isIPAddress(name)
        if !name.isEmpty && !address { _ = sluice_SSL_set_tlsext_host_name(ssl, name) }
        guard configuration.verifyPeer else { return ssl }
        let subjectRule = configuration.acceptsSubjectCommonName ? 0 : UInt32(X509_CHECK_FLAG_NEVER_CHECK_SUBJECT)
        X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl), subjectRule | UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
        let checked = !name.isEmpty && (address ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1
                                                : SSL_set1_host(ssl, name) == 1)
        guard checked else {
            SSL_free(ssl)
            return nil
        }
        return ssl
    }
}
