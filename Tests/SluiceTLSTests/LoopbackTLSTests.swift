import XCTest
import SluiceIO
import SluiceTestSupport
@testable import SluiceTLS

/// Handshakes and echo between two TLSConnections over 127.0.0.1 on a real event loop.
final class LoopbackTLSTests: EventLoopTestCase {
    static func files(_ name: String) -> TLSCertificateFiles {
        TLSCertificateFiles(certificateChain: TestCertificates.path(name + ".pem"), privateKey: TestCertificates.path(name + ".key"))
    }

    static func serverContext(alpn: [String] = ["http/1.1"], verification: TLSClientVerification? = nil) throws -> TLSServerContext {
        var configuration = TLSServerConfiguration(certificate: files("gateway"))
        configuration.sni = [TLSSNICertificate(names: ["api.example.com"], files: files("api"))]
        configuration.alpn = alpn
        configuration.clientVerification = verification
        return try TLSServerContext(configuration: configuration)
    }

    struct Outcome: Sendable {
        var reply: String
        var clientALPN: String?
        var serverALPN: String?
        var serverSawName: String?
        var clientSawSubject: String?
        var serverSawSubject: String?
        var version: String
    }

    /// One TLS server connection that echoes until EOF; one client that sends `message`.
    func echo(server: TLSServerContext, client: TLSClientContext, serverName: String?, message: String) async throws -> Outcome {
        try await onLoop { loop -> Outcome in
            let listener = try TCPListener(address: SocketAddress(host: "127.0.0.1", port: 0)!, on: loop)
            defer { listener.close() }
            let serverSide = Mutable<TLSConnection?>(nil)
            loop.spawn {
                guard let tcp = try? await listener.accept(), let tls = try? TLSConnection(accepted: tcp, context: server) else { return }
                serverSide.value = tls
                defer { tls.close() }
                guard (try? await tls.handshake(deadline: .after(.seconds(5)))) != nil else { return }
                let buffer = ByteBuffer()
                while let count = try? await tls.read(into: buffer, deadline: .after(.seconds(5))), count > 0 {
                    let bytes = Array(buffer.readableBytes)
                    buffer.consume(bytes.count)
                    try? await tls.write(bytes, deadline: .after(.seconds(5)))
                }
            }
            let connection = try await TLSConnection.connect(to: listener.localAddress, on: loop, context: client,
                                                             serverName: serverName, deadline: .after(.seconds(5)))
            try await connection.write(head: Array(message.utf8), body: UnsafeRawBufferPointer(start: nil, count: 0),
                                       deadline: .after(.seconds(5)))
            let buffer = ByteBuffer()
            while buffer.readableCount < message.utf8.count {
                if try await connection.read(into: buffer, deadline: .after(.seconds(5))) == 0 { break }
            }
            connection.close()
            let server = serverSide.value
            return Outcome(reply: String(decoding: buffer.readableBytes, as: UTF8.self),
                           clientALPN: connection.negotiatedALPN, serverALPN: server?.negotiatedALPN,
                           serverSawName: server?.serverName, clientSawSubject: connection.peerCertificateSubject,
                           serverSawSubject: server?.peerCertificateSubject, version: connection.protocolVersion)
        }
    }

    /// A handshake that must fail: it did not connect, and the error names `reason`.
    func assertRefused(server: TLSServerContext, client: TLSClientContext, serverName: String?,
                       because reason: String = "certificate verify failed", _ message: String,
                       file: StaticString = #filePath, line: UInt = #line) async throws {
        do {
            _ = try await echo(server: server, client: client, serverName: serverName, message: "x")
            XCTFail(message, file: file, line: line)
        } catch let error as IOError {
            XCTAssertTrue(error.operation.contains(reason), "\(serverName ?? "nil"): \(error)", file: file, line: line)
        }
    }

    func testHandshakeEchoALPNAndSNI() async throws {
        let client = try TLSClientContext(configuration: TLSClientConfiguration(
            certificateAuthorities: TestCertificates.path("ca.pem"), alpn: ["h2", "http/1.1"]))
        let outcome = try await echo(server: Self.serverContext(), client: client, serverName: "api.example.com",
                                     message: String(repeating: "payment ", count: 5000))
        XCTAssertEqual(outcome.reply, String(repeating: "payment ", count: 5000))
        XCTAssertEqual(outcome.clientALPN, "http/1.1")
        XCTAssertEqual(outcome.serverALPN, "http/1.1")
        XCTAssertEqual(outcome.serverSawName, "api.example.com")
        XCTAssertEqual(outcome.clientSawSubject, "CN=api.example.com")
        XCTAssertEqual(outcome.version, "TLSv1.3")
        XCTAssertNil(outcome.serverSawSubject)
    }

    func testDefaultCertificateWithoutSNIAndVerificationByIP() async throws {
        let client = try TLSClientContext(configuration: TLSClientConfiguration(certificateAuthorities: TestCertificates.path("ca.pem")))
        let outcome = try await echo(server: Self.serverContext(alpn: ["h2", "http/1.1"]), client: client,
                                     serverName: "127.0.0.1", message: "hello")
        XCTAssertEqual(outcome.reply, "hello")
        XCTAssertEqual(outcome.clientSawSubject, "CN=gateway.test")
        XCTAssertNil(outcome.clientALPN)
    }

    func testClientRefusesAnUntrustedServer() async throws {
        let client = try TLSClientContext(configuration: TLSClientConfiguration(
            certificateAuthorities: TestCertificates.path("client-ca.pem")))
        try await assertRefused(server: Self.serverContext(), client: client, serverName: "gateway.test", "handshake should fail")
    }

    /// With verification on, a connection needs a name the certificate can be checked against:
    /// an empty name, `host:port` or `10.0.0` left only the chain checked, so any certificate the
    /// CA signed, for any name, was accepted (a payment to an impostor backend).
    func testNoCertificateNameToCheckIsAConnectFailureNotAChainOnlyCheck() async throws {
        let client = try TLSClientContext(configuration: TLSClientConfiguration(certificateAuthorities: TestCertificates.path("ca.pem")))
        for name in ["", nil] as [String?] {
            try await assertRefused(server: Self.serverContext(), client: client, serverName: name,
                                    because: "no host name or IP address to check", "connected without a name to check: \(name ?? "nil")")
        }
        // Spellings that are neither a name nor an address are checked as names, and fail.
        for name in ["gateway.test:8443", "10.0.0", "gateway test"] {
            try await assertRefused(server: Self.serverContext(), client: client, serverName: name, "connected with a chain-only check: \(name)")
        }
        // A wrong but well-formed name is refused by the check itself.
        try await assertRefused(server: Self.serverContext(), client: client, serverName: "payments.internal",
                                "a certificate for gateway.test passed as payments.internal")
    }

    /// A certificate named only in its subject's CN (no subjectAltName) is refused, as RFC 6125
    /// and browsers refuse it (OpenSSL's default falls back to the CN); `subject_cn_fallback`
    /// accepts it, still only for that name.
    func testSubjectCommonNameOnlyCertificateNeedsTheFallback() async throws {
        var configuration = TLSServerConfiguration(certificate: Self.files("legacy"))
        configuration.alpn = ["http/1.1"]
        let server = try TLSServerContext(configuration: configuration)
        let strict = try TLSClientContext(configuration: TLSClientConfiguration(certificateAuthorities: TestCertificates.path("ca.pem")))
        try await assertRefused(server: server, client: strict, serverName: "legacy.internal", "a CN-only certificate passed the name check")
        let lenient = try TLSClientContext(configuration: TLSClientConfiguration(
            certificateAuthorities: TestCertificates.path("ca.pem"), acceptsSubjectCommonName: true))
        let outcome = try await echo(server: server, client: lenient, serverName: "legacy.internal", message: "pay")
        XCTAssertEqual(outcome.reply, "pay")
        try await assertRefused(server: server, client: lenient, serverName: "other.internal", "the CN fallback accepted another name")
    }

    func testRequiredClientCertificate() async throws {
        let verification = TLSClientVerification(certificateAuthorities: TestCertificates.path("client-ca.pem"), required: true)
        let server = try Self.serverContext(verification: verification)
        let withCertificate = try TLSClientContext(configuration: TLSClientConfiguration(
            certificateAuthorities: TestCertificates.path("ca.pem"), certificate: Self.files("client")))
        let outcome = try await echo(server: server, client: withCertificate, serverName: "gateway.test", message: "mtls")
        XCTAssertEqual(outcome.reply, "mtls")
        XCTAssertEqual(outcome.serverSawSubject, "CN=client-1,O=Acme Payments")

        // Without a certificate the server aborts the handshake (TLS 1.3: the client learns it
        // on its first read).
        let without = try TLSClientContext(configuration: TLSClientConfiguration(certificateAuthorities: TestCertificates.path("ca.pem")))
        do {
            let outcome = try await echo(server: server, client: without, serverName: "gateway.test", message: "mtls")
            XCTAssertEqual(outcome.reply, "")
        } catch is IOError {}
    }
}

/// A box the test's tasks share on one loop.
final class Mutable<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
