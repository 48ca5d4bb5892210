internal import COpenSSL
import Glibc

/// Whether and how a listener asks clients for a certificate (mTLS).
public struct TLSClientVerification: Sendable, Equatable {
    /// PEM file of the CAs whose client certificates are accepted.
    public var certificateAuthorities: String
    /// `true`: a client without a certificate fails the handshake. `false`: a certificate is
    /// asked for but may be absent (one that is sent must still verify).
    public var required: Bool

    public init(certificateAuthorities: String, required: Bool) {
        self.certificateAuthorities = certificateAuthorities
        self.required = required
    }
}

/// A certificate served to clients whose SNI name matches one of `names`: exact host names or
/// `*.example.com` (one leftmost label, as certificates themselves match).
public struct TLSSNICertificate: Sendable, Equatable {
    public var names: [String]
    public var files: TLSCertificateFiles

    public init(names: [String], files: TLSCertificateFiles) {
        self.names = names
        self.files = files
    }
}

public struct TLSServerConfiguration: Sendable {
    /// Served when the client sends no SNI name or one no `sni` entry matches.
    public var certificate: TLSCertificateFiles
    public var sni: [TLSSNICertificate] = []
    /// ALPN protocols in server preference order. A client whose list shares none of them gets
    /// no ALPN answer (and is served HTTP/1.1) rather than an alert.
    public var alpn: [String] = ["h2", "http/1.1"]
    public var clientVerification: TLSClientVerification?
    /// Separates the sessions of different listeners: a ticket from one never resumes on another.
    public var sessionContext: String = "sluice"
    public var ticketKeys: TLSTicketKeyRing = .shared
    /// Server-side session cache entries (TLS 1.2 clients without ticket support); 0 = off.
    public var sessionCacheSize: Int = 4096

    public init(certificate: TLSCertificateFiles) {
        self.certificate = certificate
    }

    /// TLS 1.2 suites: ECDHE key exchange and AEAD ciphers only (no RSA key exchange, no CBC).
    /// TLS 1.3 suites are all AEAD; OpenSSL's defaults are kept.
    public static let tls12Ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"
}

/// An immutable server-side OpenSSL context for one listener: its certificates (default + SNI),
/// protocol versions, ciphers, ALPN preference, session tickets and client verification.
/// Built once per policy generation; connections keep the context they started with, so a
/// reload with new certificates affects new connections only. Safe to use from every loop.
public final class TLSServerContext: @unchecked Sendable {
    public let configuration: TLSServerConfiguration
    /// SSL_CTX of the default certificate; its callbacks (SNI, tickets, ALPN) serve all handshakes.
    let primary: OpaquePointer
    private let exactNames: [String: OpaquePointer]
    /// Keyed by the part after "*.".
    private let wildcardNames: [String: OpaquePointer]
    private let allContexts: [OpaquePointer]
    /// ALPN preference in wire format (length-prefixed), owned for the callback.
    private let alpnWire: UnsafeMutableBufferPointer<UInt8>

    public init(configuration: TLSServerConfiguration) throws(TLSError) {
        OpenSSLErrors.clear()
        var built: [OpaquePointer] = []
        var exact: [String: OpaquePointer] = [:]
        var wildcard: [String: OpaquePointer] = [:]
        let wire = try Self.wireFormat(configuration.alpn)
        do throws(TLSError) {
            let primary = try Self.makeContext(certificate: configuration.certificate, configuration: configuration)
            built.append(primary)
            for entry in configuration.sni {
                let context = try Self.makeContext(certificate: entry.files, configuration: configuration)
                built.append(context)
                for name in entry.names {
                    let name = name.lowercased()
                    if name.hasPrefix("*.") {
                        wildcard[String(name.dropFirst(2))] = context
                    } else {
                        exact[name] = context
                    }
                }
            }
            self.primary = primary
        } catch {
            built.forEach { SSL_CTX_free($0) }
            wire.deallocate()
            throw error
        }
        alpnWire = wire
        self.configuration = configuration
        exactNames = exact
        wildcardNames = wildcard
        allContexts = built
        let ring = Unmanaged.passUnretained(configuration.ticketKeys).toOpaque()
        for context in built {
            _ = sluice_SSL_CTX_set_app_data(context, ring)
            SSL_CTX_set_alpn_select_cb(context, alpnSelectCallback, Unmanaged.passUnretained(self).toOpaque())
        }
        _ = sluice_SSL_CTX_set_tlsext_servername_callback(primary, serverNameCallback)
        _ = sluice_SSL_CTX_set_tlsext_servername_arg(primary, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        allContexts.forEach { SSL_CTX_free($0) }
        alpnWire.deallocate()
    }

    /// The context whose certificate answers `serverName`: an exact name first, then a wildcard
    /// for its parent domain; nil = the default certificate.
    func context(forServerName serverName: String) -> OpaquePointer? {
        let name = serverName.lowercased()
        if let context = exactNames[name] { return context }
        if let dot = name.firstIndex(of: "."), let context = wildcardNames[String(name[name.index(after: dot)...])] {
            return context
        }
        return nil
    }

    /// The ALPN protocol this context picks from a client's wire-format list (for callbacks and tests).
    func selectALPN(client: UnsafePointer<UInt8>, count: Int) -> (UnsafePointer<UInt8>, UInt8)? {
        var out: UnsafeMutablePointer<UInt8>?
        var outLength: UInt8 = 0
        let result = SSL_select_next_proto(&out, &outLength, alpnWire.baseAddress, UInt32(alpnWire.count),
                                           client, UInt32(count))
        guard result == OPENSSL_NPN_NEGOTIATED, let out else { return nil }
        return (UnsafePointer(out), outLength)
    }

    /// A fresh SSL for an accepted connection. Internal: TLSConnection owns it.
    func makeSSL() -> OpaquePointer? { SSL_new(primary) }

    private static func makeContext(certificate: TLSCertificateFiles,
                                    configuration: TLSServerConfiguration) throws(TLSError) -> OpaquePointer {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw .fromQueue("cannot create an SSL context") }
        do throws(TLSError) {
            try applyProtocolSettings(context)
            try loadCertificate(certificate, into: context)
            try configureSessions(context, configuration: configuration)
            if let verification = configuration.clientVerification {
                try configureClientVerification(context, verification)
            }
            return context
        } catch {
            SSL_CTX_free(context)
            throw error
        }
    }

    /// TLS 1.2+, modern suites, server cipher preference, no compression or renegotiation,
    /// partial writes, read-ahead (one read(2) fills several records).
    static func applyProtocolSettings(_ context: OpaquePointer) throws(TLSError) {
        guard sluice_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1 else {
            throw .fromQueue("cannot set the minimum TLS version")
        }
        guard SSL_CTX_set_cipher_list(context, TLSServerConfiguration.tls12Ciphers) == 1 else {
            throw .fromQueue("cannot set the TLS 1.2 cipher list")
        }
        SSL_CTX_set_options(context, sluice_SSL_OP_NO_COMPRESSION | sluice_SSL_OP_CIPHER_SERVER_PREFERENCE
                            | sluice_SSL_OP_NO_RENEGOTIATION | sluice_SSL_OP_IGNORE_UNEXPECTED_EOF)
        // RELEASE_BUFFERS: an idle connection gives back OpenSSL's record buffers (~34 KiB),
        // as nginx does; they are taken again when records flow.
        _ = sluice_SSL_CTX_set_mode(context, sluice_SSL_MODE_ENABLE_PARTIAL_WRITE | sluice_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                                    | sluice_SSL_MODE_RELEASE_BUFFERS)
        _ = sluice_SSL_CTX_set_read_ahead(context, 1)
        SSL_CTX_set_default_passwd_cb(context, refusePassphrase)
    }

    /// Loads a chain and key after the clear-message checks (missing, not PEM, mismatch, expired).
    static func loadCertificate(_ files: TLSCertificateFiles, into context: OpaquePointer) throws(TLSError) {
        let problems = TLSCertificateCheck.problems(with: files)
        if !problems.isEmpty {
            throw TLSError(problems.map(\.message).joined(separator: "; "))
        }
        guard SSL_CTX_use_certificate_chain_file(context, files.certificateChain) == 1 else {
            throw .fromQueue("cannot load certificate chain \(files.certificateChain)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, files.privateKey, SSL_FILETYPE_PEM) == 1 else {
            throw .fromQueue("cannot load private key \(files.privateKey)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw .fromQueue("private key \(files.privateKey) does not match certificate \(files.certificateChain)")
        }
    }

    /// The session id context: the listener's, and where it verifies clients, a SHA-256 over it,
    /// the client-CA file's bytes and whether a certificate is required. A session (ticket or
    /// cache entry) resumes only under the context it was made in, so once a reload changes the
    /// trusted CAs, the sessions of certificates verified under the old ones no longer resume
    /// (they did, merchant and all, until the session expired).
    static func sessionIDContext(_ configuration: TLSServerConfiguration) -> [UInt8] {
        guard let verification = configuration.clientVerification else {
            return Array(configuration.sessionContext.utf8.prefix(Int(SSL_MAX_SID_CTX_LENGTH)))
        }
        var material = Array(configuration.sessionContext.utf8) + [0, verification.required ? 1 : 0]
        if let file = fopen(verification.certificateAuthorities, "rb") {
            defer { fclose(file) }
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let count = fread(&chunk, 1, chunk.count, file)
                if count <= 0 { break }
                material += chunk[0..<count]
            }
        }
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        _ = SHA256(material, material.count, &digest)
        return Array(digest.prefix(Int(SSL_MAX_SID_CTX_LENGTH)))
    }

    private static func configureSessions(_ context: OpaquePointer, configuration: TLSServerConfiguration) throws(TLSError) {
        let id = sessionIDContext(configuration)
        guard SSL_CTX_set_session_id_context(context, id, UInt32(id.count)) == 1 else {
            throw .fromQueue("cannot set the session id context")
        }
        guard SSL_CTX_set_tlsext_ticket_key_evp_cb(context, ticketKeyCallback) == 1 else {
            throw .fromQueue("cannot install the session ticket key callback")
        }
        // A ticket must not outlive the key that can decrypt it (current + previous).
        let lifetime = configuration.ticketKeys.rotationInterval.components.seconds
        _ = SSL_CTX_set_timeout(context, Int(max(60, lifetime)))
        _ = SSL_CTX_set_num_tickets(context, 1)
        if configuration.sessionCacheSize > 0 {
            _ = sluice_SSL_CTX_set_session_cache_mode(context, sluice_SSL_SESS_CACHE_SERVER)
            _ = sluice_SSL_CTX_sess_set_cache_size(context, configuration.sessionCacheSize)
        } else {
            _ = sluice_SSL_CTX_set_session_cache_mode(context, 0)
        }
    }

    private static func configureClientVerification(_ context: OpaquePointer,
                                                    _ verification: TLSClientVerification) throws(TLSError) {
        let path = verification.certificateAuthorities
        let problems = TLSCertificateCheck.problems(withCertificateAuthorities: path)
        if !problems.isEmpty { throw TLSError(problems.map(\.message).joined(separator: "; ")) }
        guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
            throw .fromQueue("cannot load client CA file \(path)")
        }
        guard let names = SSL_load_client_CA_file(path) else {
            throw .fromQueue("cannot read CA names from \(path)")
        }
        SSL_CTX_set_client_CA_list(context, names)
        let mode = SSL_VERIFY_PEER | (verification.required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0)
        SSL_CTX_set_verify(context, mode, nil)
    }

    /// ["h2", "http/1.1"] → "\u{2}h2\u{8}http/1.1".
    static func wireFormat(_ protocols: [String]) throws(TLSError) -> UnsafeMutableBufferPointer<UInt8> {
        var bytes: [UInt8] = []
        for name in protocols {
            let utf8 = Array(name.utf8)
            guard !utf8.isEmpty, utf8.count <= 255 else { throw TLSError("invalid ALPN protocol name '\(name)'") }
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        _ = buffer.initialize(from: bytes)
        return UnsafeMutableBufferPointer(rebasing: buffer[0..<bytes.count])
    }
}

/// Switches the handshake to the SNI certificate's context (unknown names keep the default).
private let serverNameCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = { ssl, _, arg in
    guard let ssl, let arg, let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else {
        return SSL_TLSEXT_ERR_OK
    }
    let server = Unmanaged<TLSServerContext>.fromOpaque(arg).takeUnretainedValue()
    if let context = server.context(forServerName: String(cString: name)) {
        _ = SSL_set_SSL_CTX(ssl, context)
    }
    return SSL_TLSEXT_ERR_OK
}

/// Picks the first of the server's protocols the client offers; none → no ALPN (HTTP/1.1).
private let alpnSelectCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
                                                UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?) -> Int32 = { _, out, outLength, client, clientLength, arg in
    guard let out, let outLength, let client, let arg else { return SSL_TLSEXT_ERR_NOACK }
    let server = Unmanaged<TLSServerContext>.fromOpaque(arg).takeUnretainedValue()
    guard let (selected, length) = server.selectALPN(client: client, count: Int(clientLength)) else {
        return SSL_TLSEXT_ERR_NOACK
    }
    out.pointee = selected
    outLength.pointee = length
    return SSL_TLSEXT_ERR_OK
}
