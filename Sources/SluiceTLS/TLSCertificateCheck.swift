internal import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// A certificate chain file and its private key, both PEM.
public struct TLSCertificateFiles: Sendable, Hashable {
    public var certificateChain: String
    public var privateKey: String

    public init(certificateChain: String, privateKey: String) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }
}

/// One thing wrong with a certificate, key or CA file, said so an operator can act on it.
public struct TLSCertificateProblem: Sendable, Equatable, CustomStringConvertible {
    /// Which file the problem is about (so a caller can point at the right policy line).
    public enum Subject: Sendable, Equatable { case certificate, key, certificateAuthority }
    public var subject: Subject
    public var message: String

    public init(subject: Subject, message: String) {
        self.subject = subject
        self.message = message
    }

    public var description: String { message }
}

/// The checks `sluice check` and policy loading run on certificate files, before OpenSSL gets to
/// them: missing or unreadable files, files that hold no PEM certificate or key, a key that does
/// not belong to the certificate, a certificate outside its validity period.
public enum TLSCertificateCheck {
    /// Problems with a certificate chain and key pair; empty when they are usable.
    /// `unixTime` is "now" (tests pass a fixed time).
    public static func problems(with files: TLSCertificateFiles, unixTime: Int? = nil) -> [TLSCertificateProblem] {
        var problems: [TLSCertificateProblem] = []
        defer { OpenSSLErrors.clear() }
        let certificate = readCertificate(files.certificateChain, subject: .certificate, problems: &problems)
        let key = readKey(files.privateKey, problems: &problems)
        defer {
            if let certificate { X509_free(certificate) }
            if let key { EVP_PKEY_free(key) }
        }
        if let certificate {
            problems += validityProblems(certificate, path: files.certificateChain, unixTime: unixTime)
            if let key, X509_check_private_key(certificate, key) != 1 {
                // A chain written CA first (as some bundles ship) has the key's certificate further
                // down: said as such, since "does not match" sends the operator after the key.
                let message = if let position = position(ofCertificateFor: key, in: files.certificateChain) {
                    "certificate chain \(files.certificateChain) has the certificate of private key \(files.privateKey) in "
                        + "position \(position), after another: the server's own certificate must come first, then its intermediates"
                } else {
                    "private key \(files.privateKey) does not match certificate \(files.certificateChain)"
                }
                problems.append(TLSCertificateProblem(subject: .certificate, message: message))
            }
        }
        return problems
    }

    /// Problems with a file of CA certificates (for client-certificate verification).
    public static func problems(withCertificateAuthorities path: String) -> [TLSCertificateProblem] {
        var problems: [TLSCertificateProblem] = []
        defer { OpenSSLErrors.clear() }
        if let certificate = readCertificate(path, subject: .certificateAuthority, problems: &problems) {
            X509_free(certificate)
        }
        return problems
    }

    /// Where (1 is first) the certificate that `key` belongs to sits among a PEM file's
    /// certificates; nil when none of them.
    private static func position(ofCertificateFor key: OpaquePointer, in path: String) -> Int? {
        guard let bio = BIO_new_file(path, "r") else { return nil }
        defer { BIO_free(bio) }
        var position = 0
        while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
            defer { X509_free(certificate) }
            position += 1
            if X509_check_private_key(certificate, key) == 1 { return position }
        }
        return nil
    }

    /// The first certificate in a PEM file, or nil after reporting why not.
    private static func readCertificate(_ path: String, subject: TLSCertificateProblem.Subject,
                                        problems: inout [TLSCertificateProblem]) -> OpaquePointer? {
        guard let bio = openReadable(path, subject: subject, problems: &problems) else { return nil }
        defer { BIO_free(bio) }
        guard let certificate = PEM_read_bio_X509(bio, nil, nil, nil) else {
            problems.append(TLSCertificateProblem(subject: subject, message: "\(path) holds no PEM certificate"))
            return nil
        }
        return certificate
    }

    private static func readKey(_ path: String, problems: inout [TLSCertificateProblem]) -> OpaquePointer? {
        guard let bio = openReadable(path, subject: .key, problems: &problems) else { return nil }
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, refusePassphrase, nil) else {
            problems.append(TLSCertificateProblem(
                subject: .key, message: "\(path) holds no PEM private key (or an encrypted one, which Sluice cannot use)"))
            return nil
        }
        return key
    }

    private static func openReadable(_ path: String, subject: TLSCertificateProblem.Subject,
                                     problems: inout [TLSCertificateProblem]) -> OpaquePointer? {
        guard let file = fopen(path, "r") else {
            let reason = String(cString: strerror(errno))
            problems.append(TLSCertificateProblem(subject: subject, message: "cannot read \(path): \(reason)"))
            return nil
        }
        fclose(file)
        guard let bio = BIO_new_file(path, "r") else {
            problems.append(TLSCertificateProblem(subject: subject, message: "cannot read \(path)"))
            return nil
        }
        return bio
    }

    private static func validityProblems(_ certificate: OpaquePointer, path: String, unixTime: Int?) -> [TLSCertificateProblem] {
        var now = time_t(unixTime ?? Int(time(nil)))
        var problems: [TLSCertificateProblem] = []
        if let notAfter = X509_get0_notAfter(certificate), X509_cmp_time(notAfter, &now) < 0 {
            problems.append(TLSCertificateProblem(
                subject: .certificate, message: "certificate \(path) expired on \(format(notAfter)) (notAfter)"))
        }
        if let notBefore = X509_get0_notBefore(certificate), X509_cmp_time(notBefore, &now) > 0 {
            problems.append(TLSCertificateProblem(
                subject: .certificate, message: "certificate \(path) is not valid before \(format(notBefore)) (notBefore)"))
        }
        return problems
    }

    /// "2024-05-01 12:00:00 UTC".
    static func format(_ asn1Time: UnsafePointer<ASN1_TIME>) -> String {
        var parts = tm()
        guard ASN1_TIME_to_tm(asn1Time, &parts) == 1 else { return "an unreadable date" }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }
}

/// A passphrase callback that refuses: without one OpenSSL would prompt on the terminal.
let refusePassphrase: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in
    -1
}
