import SluiceHTTP
import Yams

/// TLS to a cluster's endpoints (`tls:` in a cluster).
public struct ClusterTLSPolicy: Sendable, Equatable {
    /// Verify the endpoint's certificate chain and name. `false` only for lab backends.
    public var verify = true
    /// PEM file of trusted CAs (resolved against the policy file); nil = the system trust store.
    public var ca: String?
    public var caLocation: PolicyLocation?
    /// The SNI name sent, and the name the certificate must carry; nil = the endpoint's host.
    public var sni: String?
    /// `subject_cn_fallback: true`: accept a certificate named only in its subject's CN (no
    /// subjectAltName), for old private CAs. Off by default, as in RFC 6125 and browsers.
    public var subjectCommonNameFallback = false

    public init() {}
}

extension PolicyFileReader {
    func readClusterTLS(_ node: Node, of cluster: String) -> ClusterTLSPolicy? {
        guard let fields = mapping(node, what: "tls of \(cluster)", allowed: ["verify", "ca", "sni", "subject_cn_fallback"]) else { return nil }
        var tls = ClusterTLSPolicy()
        if let node = fields["verify"], let value = flag(node) { tls.verify = value }
        if let node = fields["subject_cn_fallback"], let value = flag(node) { tls.subjectCommonNameFallback = value }
        if let node = fields["ca"], let path = filePath(node) {
            tls.ca = path
            tls.caLocation = location(of: node)
        }
        if let node = fields["sni"], let name = text(node, expected: "a host name") {
            // The name the certificate is checked against: anything else (empty, `host:port`)
            // would leave only the chain checked.
            if HostSyntax.isCertificateName(name) { tls.sni = name } else {
                report("sni '\(name)' is not a host name or IP address to check the certificate against", at: node)
            }
        }
        return tls
    }
}
