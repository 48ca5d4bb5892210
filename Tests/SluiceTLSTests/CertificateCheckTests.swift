import SluiceTestSupport
import XCTest
@testable import SluiceTLS

final class CertificateCheckTests: XCTestCase {
    func files(_ certificate: String, _ key: String) -> TLSCertificateFiles {
        TLSCertificateFiles(certificateChain: TestCertificates.path(certificate), privateKey: TestCertificates.path(key))
    }

    func testAMatchingValidPairHasNoProblems() {
        XCTAssertEqual(TLSCertificateCheck.problems(with: files("gateway.pem", "gateway.key")), [])
        XCTAssertEqual(TLSCertificateCheck.problems(withCertificateAuthorities: TestCertificates.path("client-ca.pem")), [])
    }

    func testMissingFilesAreNamed() {
        let problems = TLSCertificateCheck.problems(with: files("nope.pem", "nope.key"))
        XCTAssertEqual(problems.map(\.subject), [.certificate, .key])
        XCTAssertTrue(problems[0].message.hasPrefix("cannot read \(TestCertificates.path("nope.pem")): No such file"), problems[0].message)
    }

    func testFilesOfTheWrongKind() {
        let problems = TLSCertificateCheck.problems(with: files("gateway.key", "gateway.pem"))
        XCTAssertEqual(problems.map(\.message), [
            "\(TestCertificates.path("gateway.key")) holds no PEM certificate",
            "\(TestCertificates.path("gateway.pem")) holds no PEM private key (or an encrypted one, which Sluice cannot use)",
        ])
    }

    func testKeyMismatch() {
        let problems = TLSCertificateCheck.problems(with: files("gateway.pem", "stray.key"))
        XCTAssertEqual(problems, [TLSCertificateProblem(
            subject: .certificate,
            message: "private key \(TestCertificates.path("stray.key")) does not match certificate \(TestCertificates.path("gateway.pem"))")])
    }

    func testAChainWrittenCAFirstSaysSo() throws {
        // A bundle as some CAs ship it: the CA, then the server's certificate.
        let chain = TestCertificates.path("ca-first-chain.pem")
        let ca = try String(contentsOfFile: TestCertificates.path("ca.pem"), encoding: .utf8)
        let leaf = try String(contentsOfFile: TestCertificates.path("gateway.pem"), encoding: .utf8)
        try (ca + leaf).write(toFile: chain, atomically: true, encoding: .utf8)
        let problems = TLSCertificateCheck.problems(with: TLSCertificateFiles(certificateChain: chain, privateKey: TestCertificates.path("gateway.key")))
        XCTAssertEqual(problems.map(\.message), [
            "certificate chain \(chain) has the certificate of private key \(TestCertificates.path("gateway.key")) in position 2, "
                + "after another: the server's own certificate must come first, then its intermediates",
        ])
        // Written the right way round, the same two certificates are fine.
        try (leaf + ca).write(toFile: chain, atomically: true, encoding: .utf8)
        XCTAssertEqual(TLSCertificateCheck.problems(with: TLSCertificateFiles(certificateChain: chain, privateKey: TestCertificates.path("gateway.key"))), [])
    }

    func testExpiredAndNotYetValid() {
        let expired = TLSCertificateCheck.problems(with: files("expired.pem", "expired.key"))
        XCTAssertEqual(expired.map(\.message),
                       ["certificate \(TestCertificates.path("expired.pem")) expired on 2020-01-02 00:00:00 UTC (notAfter)"])
        // 2019-06-01: before its notBefore.
        let early = TLSCertificateCheck.problems(with: files("expired.pem", "expired.key"), unixTime: 1_559_347_200)
        XCTAssertEqual(early.map(\.message),
                       ["certificate \(TestCertificates.path("expired.pem")) is not valid before 2020-01-01 00:00:00 UTC (notBefore)"])
    }

    func testContextBuildingReportsTheSameProblems() {
        XCTAssertThrowsError(try TLSServerContext(configuration: TLSServerConfiguration(certificate: files("gateway.pem", "stray.key")))) { error in
            XCTAssertTrue("\(error)".contains("does not match certificate"), "\(error)")
        }
    }

    func testSNINamesSelectContexts() throws {
        var configuration = TLSServerConfiguration(certificate: files("gateway.pem", "gateway.key"))
        configuration.sni = [
            TLSSNICertificate(names: ["api.example.com"], files: files("api.pem", "api.key")),
            TLSSNICertificate(names: ["*.pay.example.com"], files: files("pay.pem", "pay.key")),
        ]
        let context = try TLSServerContext(configuration: configuration)
        let api = context.context(forServerName: "API.example.com")
        let pay = context.context(forServerName: "eu.pay.example.com")
        XCTAssertNotNil(api)
        XCTAssertNotNil(pay)
        XCTAssertNotEqual(api, pay)
        XCTAssertNil(context.context(forServerName: "pay.example.com"))
        XCTAssertNil(context.context(forServerName: "a.b.pay.example.com"))
        XCTAssertNil(context.context(forServerName: "gateway.test"))
    }
}
