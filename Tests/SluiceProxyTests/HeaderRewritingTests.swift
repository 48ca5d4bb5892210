import XCTest
import SluiceHTTP
@testable import SluiceProxy

/// What the backend and the client see of a head that crossed Sluice.
final class HeaderRewritingTests: XCTestCase {
    private func upstreamText(_ headers: [(String, String)], version: HTTPVersion = .http1_1,
                              framing: UpstreamFraming = .none, scheme: String = "http", peerIsTrusted: Bool = false) -> String {
        var bytes: [UInt8] = []
        var head = HTTPRequestHead(method: "POST", target: "/v3/pay?x=1", version: version, headers: HTTPHeaders(headers))
        HeaderRewriting.removeConnectionOptions(from: &head.headers)  // as the pipeline does first
        HeaderRewriting.writeUpstreamRequest(head, framing: framing, clientAddress: "10.0.0.9", peerIsTrusted: peerIsTrusted,
                                             requestID: "rid-1", scheme: scheme, endpointName: "10.0.0.1:8080", into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    func testHopByHopAndConnectionNamedFieldsNeverReachTheBackend() {
        let text = upstreamText([
            ("Host", "api.example.com"), ("Connection", "keep-alive, X-Secret"), ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Upgrade", "h2c"), ("Proxy-Connection", "x"),
            ("Transfer-Encoding", "chunked"), ("Content-Length", "5"), ("Expect", "100-continue"),
            ("Proxy-Authorization", "Basic x"), ("Trailer", "x-sum"), ("Authorization", "WECHATPAY2-SHA256-RSA2048 sig"),
        ], framing: .length(5))
        XCTAssertEqual(text, """
            POST /v3/pay?x=1 HTTP/1.1\r
            host: api.example.com\r
            authorization: WECHATPAY2-SHA256-RSA2048 sig\r
            x-forwarded-for: 10.0.0.9\r
            x-forwarded-proto: http\r
            x-request-id: rid-1\r
            via: 1.1 sluice\r
            content-length: 5\r
            \r

            """)
    }

    /// An HTTP/1.0 request may come without Host (health checks of load balancers do); the
    /// HTTP/1.1 request sent upstream must carry one: the endpoint's name. A client's Host is kept.
    func testARequestWithoutHostGetsTheEndpointsNameUpstream() {
        let without = upstreamText([("user-agent", "check/1")], version: .http1_0)
        XCTAssertEqual(without, """
            POST /v3/pay?x=1 HTTP/1.1\r
            user-agent: check/1\r
            x-forwarded-for: 10.0.0.9\r
            x-forwarded-proto: http\r
            x-request-id: rid-1\r
            via: 1.0 sluice\r
            host: 10.0.0.1:8080\r
            \r

            """)
        let with = upstreamText([("Host", "pay.example")], version: .http1_0)
        XCTAssertEqual(with.components(separatedBy: "host: ").count, 2, "one Host, the client's")
        XCTAssertTrue(with.contains("host: pay.example\r\n"))
    }

    func testForwardingFieldsFromAnUntrustedPeerAreReplaced() {
        let text = upstreamText([
            ("host", "h"), ("x-forwarded-for", "6.6.6.6"), ("forwarded", "for=6.6.6.6"), ("x-real-ip", "6.6.6.6"),
            ("x-forwarded-host", "6.6.6.6"), ("x_forwarded_for", "6.6.6.6"), ("x_real_ip", "6.6.6.6"), ("x_request_id", "6.6.6.6"),
            ("x.forwarded.for", "6.6.6.6"), ("x+real~ip", "6.6.6.6"),
            ("connection", "x-forwarded-for, traceparent"), ("traceparent", "00-6.6.6.6"),
        ])
        XCTAssertTrue(text.contains("x-forwarded-for: 10.0.0.9\r\n"), text)
        XCTAssertFalse(text.contains("6.6.6.6"), "a client cannot claim to be someone else: \(text)")
    }

    /// The request id sent upstream is the one the pipeline settled on (the client's when it
    /// was acceptable, else its own), once: never a client's raw field beside it.
    func testForwardingFieldsAppendToWhatATrustedProxySentAndTheRequestIDIsThePipelines() {
        let text = upstreamText([
            ("host", "h"), ("x-forwarded-for", "203.0.113.7"), ("x-forwarded-for", "198.51.100.2"),
            ("x-forwarded-proto", "https"), ("via", "1.1 edge"), ("x-request-id", "client-chosen"), ("x-real-ip", "203.0.113.7"),
        ], version: .http2, framing: .chunked, scheme: "https", peerIsTrusted: true)
        XCTAssertTrue(text.contains("x-forwarded-for: 203.0.113.7, 198.51.100.2, 10.0.0.9\r\n"), text)
        XCTAssertTrue(text.contains("x-real-ip: 203.0.113.7\r\n"), text)
        XCTAssertTrue(text.contains("x-forwarded-proto: https\r\n"), text)
        XCTAssertFalse(text.contains("x-forwarded-proto: http\r\n"), "a client must not choose the scheme the backend sees")
        XCTAssertTrue(text.contains("via: 1.1 edge, 2 sluice\r\n"), text)
        XCTAssertTrue(text.contains("x-request-id: rid-1\r\n"), text)
        XCTAssertFalse(text.contains("client-chosen"), text)
        XCTAssertTrue(text.hasSuffix("transfer-encoding: chunked\r\n\r\n"), text)
    }

    func testResponseLosesHopByHopAndCarriesOurRequestID() {
        let upstream = HTTPResponseHead(status: 200, headers: HTTPHeaders([
            ("Content-Type", "application/json"), ("Connection", "close, X-Internal"), ("X-Internal", "node-7"),
            ("Transfer-Encoding", "chunked"), ("X-Request-Id", "backend-made"), ("Via", "1.0 legacy"),
        ]))
        let head = HeaderRewriting.downstreamResponse(from: upstream, requestID: "rid-2")
        XCTAssertEqual(head.headers.fields.map(\.name), ["content-type", "x-request-id", "via"])
        XCTAssertEqual(head.headers["x-request-id"], "rid-2")
        XCTAssertEqual(head.headers["via"], "1.0 legacy, 1.1 sluice")
    }
}
