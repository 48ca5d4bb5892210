import Foundation
import SluiceGuards
import SluicePolicy

/// What a listener's established connections were set up with and a reload may change: its TLS
/// certificates (file contents, not only paths: a renewal writes new bytes to the same path),
/// SNI names, ALPN and client-certificate rules, and its HTTP/2 settings. A reload that changes
/// it retires the listener's open connections (HTTP/2: graceful GOAWAY; HTTP/1.1: closed after
/// the current response), so that they move to the new generation within the time their
/// requests in flight take, instead of living on with the old certificate for hours.
enum ConnectionSettingsFingerprint {
    static func of(_ listener: ListenerPolicy) -> String {
        var text = "protocol=\(listener.protocol.rawValue);h2=\(listener.http2)"
        if let tls = listener.tls {
            text += ";cert=\(fileDigest(tls.certificate.certificate)),\(fileDigest(tls.certificate.key))"
            for entry in tls.sni {
                text += ";sni=\(entry.names.joined(separator: ",")):\(fileDigest(entry.paths.certificate)),\(fileDigest(entry.paths.key))"
            }
            text += ";alpn=\(tls.alpn.joined(separator: ","))"
            if let clientCA = tls.clientCA { text += ";client_ca=\(fileDigest(clientCA)),\(tls.clientCertificate.rawValue)" }
        }
        return text
    }

    /// A file that cannot be read digests as its path: the reload that needs it fails anyway.
    private static func fileDigest(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "unreadable:" + path }
        return Digests.sha256Hex(Array(data))
    }
}
