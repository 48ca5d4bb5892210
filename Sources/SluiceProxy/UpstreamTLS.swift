import SluicePolicy
import SluiceTLS

/// Turns a cluster's `tls` policy into an OpenSSL client context (ALPN offers the cluster's
/// protocol: `http/1.1`, or `h2`).
enum UpstreamTLS {
    static func problems(in tls: ClusterTLSPolicy) -> [PolicyError] {
        guard let ca = tls.ca, let location = tls.caLocation else { return [] }
        return TLSCertificateCheck.problems(withCertificateAuthorities: ca).map { location.error($0.message) }
    }

    static func makeContext(for cluster: ClusterPolicy, tls: ClusterTLSPolicy) throws(ConfigurationError) -> TLSClientContext {
        let errors = problems(in: tls)
        guard errors.isEmpty else { throw ConfigurationError(message: errors.map(\.description).joined(separator: "\n")) }
        do {
            return try TLSClientContext(configuration: TLSClientConfiguration(
                verifyPeer: tls.verify, certificateAuthorities: tls.ca, alpn: [cluster.protocol == .h2 ? "h2" : "http/1.1"],
                acceptsSubjectCommonName: tls.subjectCommonNameFallback))
        } catch {
            throw ConfigurationError(message: "cluster '\(cluster.name)': \(error.description)")
        }
    }
}
