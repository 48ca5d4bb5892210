/// Where a value stands in a policy file, kept in the snapshot for checks that run after
/// loading (certificate files are checked by `sluice check` and at reload, against this place).
public struct PolicyLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// A problem reported at this place.
    public func error(_ message: String) -> PolicyError {
        PolicyError(file: file, line: line, column: column, message: message)
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A certificate chain and its key, as paths resolved against the policy file's directory.
public struct TLSCertificatePaths: Sendable, Equatable {
    public var certificate: String
    public var key: String
    /// Where `certificate:` and `key:` were given (for file problems found later).
    public var certificateLocation: PolicyLocation
    public var keyLocation: PolicyLocation

    public init(certificate: String, key: String, certificateLocation: PolicyLocation, keyLocation: PolicyLocation) {
        self.certificate = certificate
        self.key = key
        self.certificateLocation = certificateLocation
        self.keyLocation = keyLocation
    }
}

/// A certificate chosen by the SNI name a client asks for.
public struct SNICertificatePolicy: Sendable, Equatable {
    /// Lowercased host names, exact or `*.example.com`.
    public var names: [String]
    public var paths: TLSCertificatePaths
}

/// Whether a client certificate must be presented (with `client_ca`).
public enum ClientCertificateMode: String, Sendable, CaseIterable {
    case optional
    case required
}

/// TLS termination on a listener (`tls:` in a listener).
public struct ListenerTLSPolicy: Sendable, Equatable {
    public var certificate: TLSCertificatePaths
    public var sni: [SNICertificatePolicy] = []
    /// ALPN protocols in server preference order.
    public var alpn: [String] = ListenerTLSPolicy.defaultALPN
    /// PEM file of CAs for client certificates (mTLS); nil = clients are not asked.
    public var clientCA: String?
    public var clientCALocation: PolicyLocation?
    public var clientCertificate: ClientCertificateMode = .required
    public var handshakeTimeout: Duration = ListenerTLSPolicy.defaultHandshakeTimeout

    public static let defaultHandshakeTimeout = Duration.seconds(10)

    /// Both are served: a client that offers h2 gets HTTP/2, any other HTTP/1.1. A listener may
    /// list only `http/1.1` to keep HTTP/2 off.
    public static let defaultALPN = ["h2", "http/1.1"]
    /// Protocols the policy knows by name (the ones not yet servable get a specific message).
    public static let knownALPN: [String] = ["h2", "http/1.1"]

    public init(certificate: TLSCertificatePaths) {
        self.certificate = certificate
    }
}
