import SluicePolicy
import SluiceTLS

/// Turns a listener's `tls` policy into an OpenSSL server context, and checks its files for
/// `sluice check`. Every problem is reported at the policy line that names the file.
public enum ListenerTLS {
    /// Every certificate, key and CA problem of every TLS listener (empty = all usable).
    public static func problems(in policy: PolicySnapshot) -> [PolicyError] {
        policy.listeners.flatMap { listener in listener.tls.map(problems(in:)) ?? [] }
            + policy.clusters.flatMap { cluster in cluster.tls.map(UpstreamTLS.problems(in:)) ?? [] }
    }

    static func problems(in tls: ListenerTLSPolicy) -> [PolicyError] {
        var errors = problems(with: tls.certificate)
        for entry in tls.sni { errors += problems(with: entry.paths) }
        if let clientCA = tls.clientCA, let location = tls.clientCALocation {
            errors += TLSCertificateCheck.problems(withCertificateAuthorities: clientCA).map { location.error($0.message) }
        }
        return errors
    }

    private static func problems(with paths: TLSCertificatePaths) -> [PolicyError] {
        TLSCertificateCheck.problems(with: files(paths)).map { problem in
            (problem.subject == .key ? paths.keyLocation : paths.certificateLocation).error(problem.message)
        }
    }

    private static func files(_ paths: TLSCertificatePaths) -> TLSCertificateFiles {
        TLSCertificateFiles(certificateChain: paths.certificate, privateKey: paths.key)
    }

    /// The server context for a TLS listener. Fails with the file problems (file:line:column)
    /// or, for anything the checks do not catch, OpenSSL's reason at the `certificate:` line.
    static func makeContext(for listener: ListenerPolicy, tls: ListenerTLSPolicy) throws(ConfigurationError) -> TLSServerContext {
        let errors = problems(in: tls)
        guard errors.isEmpty else {
            throw ConfigurationError(message: errors.map(\.description).joined(separator: "\n"))
        }
        var configuration = TLSServerConfiguration(certificate: files(tls.certificate))
        configuration.sni = tls.sni.map { TLSSNICertificate(names: $0.names, files: files($0.paths)) }
        configuration.alpn = tls.alpn
        configuration.clientVerification = tls.clientCA.map {
            TLSClientVerification(certificateAuthorities: $0, required: tls.clientCertificate == .required)
        }
        configuration.sessionContext = "sluice/" + listener.name
        do {
            return try TLSServerContext(configuration: configuration)
        } catch {
            throw ConfigurationError(message: tls.certificate.certificateLocation.error(
                "listener '\(listener.name)': \(error.description)").description)
        }
    }
}
