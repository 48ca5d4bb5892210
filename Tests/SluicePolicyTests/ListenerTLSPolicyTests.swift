import SluicePolicy
import XCTest

final class ListenerTLSPolicyTests: XCTestCase {
    func testPathsResolveAgainstThePolicyDirectoryAndDefaultsApply() throws {
        let policy = try PolicyLoader.load(sources: [(path: "/etc/sluice/gateway.yaml", text: """
            listeners:
              - name: secure
                address: 127.0.0.1:8443
                tls:
                  certificate: certs/gateway.pem
                  key: /keys/gateway.key
                  sni: [{names: [API.example.com], certificate: certs/api.pem, key: certs/api.key}]
                  client_ca: certs/ca.pem
              - name: plain
                address: 127.0.0.1:8080
            clusters:
              - {name: c, endpoints: [127.0.0.1:9001]}
            routes:
              - {name: r, class: core, match: {prefix: /}, cluster: c}
            """)])
        let tls = try XCTUnwrap(policy.listeners[0].tls)
        XCTAssertNil(policy.listeners[1].tls)
        XCTAssertEqual(tls.certificate.certificate, "/etc/sluice/certs/gateway.pem")
        XCTAssertEqual(tls.certificate.key, "/keys/gateway.key")
        XCTAssertEqual(tls.certificate.certificateLocation, PolicyLocation(file: "/etc/sluice/gateway.yaml", line: 5, column: 20))
        XCTAssertEqual(tls.sni.map(\.names), [["api.example.com"]])
        XCTAssertEqual(tls.sni[0].paths.key, "/etc/sluice/certs/api.key")
        XCTAssertEqual(tls.alpn, ["h2", "http/1.1"])
        XCTAssertEqual(tls.clientCA, "/etc/sluice/certs/ca.pem")
        XCTAssertEqual(tls.clientCertificate, .required)
        XCTAssertEqual(tls.handshakeTimeout, .seconds(10))
    }
}
