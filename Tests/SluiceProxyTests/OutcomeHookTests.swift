import SluiceGuards
import SluiceHTTP
import XCTest

/// Every exit path tells each registered observer exactly once, with whose failure it was.
final class OutcomeHookTests: PipelineTestCase {
    static let order = Array(#"{"mchid":"1900000001","out_trade_no":"T1","amount":{"total":100}}"#.utf8)

    func payRequest() -> TestDownstream {
        TestDownstream(method: "POST", target: "/v3/pay/transactions/jsapi", headers: [("content-type", "application/json")],
                       body: Self.order)
    }

    func testRelayedResponseIsToldOnceWithCapturedBody() async throws {
        let observer = RecordingObserver(capture: 8)
        let upstream = ScriptedUpstream(.respond(status: 201, body: Array("0123456789abcdef".utf8)))
        let client = payRequest()
        try await serve(client, guards: ["pay": [ObservingGuard("probe", observer: observer)]], upstream: upstream)
        XCTAssertEqual(client.status, 201)
        XCTAssertEqual(observer.outcomes.count, 1)
        let outcome = try XCTUnwrap(observer.outcomes.first)
        XCTAssertEqual(outcome.route, "pay")
        XCTAssertEqual(outcome.cluster, "backend")
        XCTAssertEqual(outcome.endpoint, "127.0.0.1:9")
        XCTAssertEqual(outcome.attempt, 1)
        XCTAssertEqual(outcome.status, 201)
        XCTAssertNil(outcome.failure)
        XCTAssertEqual(outcome.responseHead?.status, 201)
        XCTAssertEqual(outcome.responseBody, Array("01234567".utf8), "capped at what the observer asked for")
        XCTAssertGreaterThan(outcome.latencyNanoseconds, 0)
        XCTAssertEqual(upstream.received.first?.body, Self.order)
    }

    func testALaterGuardsRejectionIsToldToEarlierObservers() async throws {
        let first = RecordingObserver()
        let upstream = ScriptedUpstream(.respond(status: 200))
        let client = payRequest()
        let refusal = LocalReply.json(status: 429, reason: "rate_limited", message: "slow down")
        try await serve(client, guards: ["pay": [ObservingGuard("permit", observer: first),
                                                 ObservingGuard("limit", observer: nil, rejection: refusal)]],
                        upstream: upstream)
        XCTAssertEqual(client.status, 429)
        XCTAssertEqual(first.outcomes.map(\.status), [429])
        XCTAssertEqual(first.outcomes.first?.failure, .localReply)
        XCTAssertEqual(first.outcomes.first?.attempt, 0)
        XCTAssertEqual(upstream.connections, 0, "nothing went upstream")
    }

    func testConnectFailureIsTheUpstreams() async throws {
        let observer = RecordingObserver()
        let client = payRequest()
        try await serve(client, guards: ["pay": [ObservingGuard("probe", observer: observer)]], upstream: ScriptedUpstream(.refuse))
        XCTAssertEqual(client.status, 502)
        XCTAssertEqual(observer.outcomes.map(\.failure), [.upstreamConnectFailed])
        XCTAssertEqual(observer.outcomes.first?.failure?.isUpstreamFailure, true)
    }

    func testNoAnswerWithinPerTryIsAnUpstreamTimeout() async throws {
        let observer = RecordingObserver()
        let client = payRequest()
        try await serve(client, guards: ["pay": [ObservingGuard("probe", observer: observer)]], upstream: ScriptedUpstream(.hang))
        XCTAssertEqual(client.status, 504)
        XCTAssertEqual(observer.outcomes.map(\.failure), [.upstreamTimeout])
    }

    func testUpstreamClosingMidBodyIsAResetAndTheClientSeesAnAbort() async throws {
        let observer = RecordingObserver()
        let client = payRequest()
        try await serve(client, guards: ["pay": [ObservingGuard("probe", observer: observer)]],
                        upstream: ScriptedUpstream(.closeMidBody(declared: 100, partial: Array("partial".utf8))))
        XCTAssertTrue(client.aborted, "a truncated body must not look like a success")
        XCTAssertEqual(observer.outcomes.count, 1)
        XCTAssertEqual(observer.outcomes.first?.failure, .upstreamReset)
    }

    func testClientGoneMidResponseIsTheClientsNotTheBackends() async throws {
        let observer = RecordingObserver()
        let client = payRequest()
        client.goneAfterResponseHead = true
        try await serve(client, guards: ["pay": [ObservingGuard("probe", observer: observer)]],
                        upstream: ScriptedUpstream(.respond(status: 200, body: Array(repeating: 0x61, count: 10))))
        XCTAssertEqual(observer.outcomes.map(\.failure), [.clientGone])
        XCTAssertEqual(observer.outcomes.first?.failure?.isUpstreamFailure, false)
    }

    func testStalledRequestBodyIsA408AndTheClientsFault() async throws {
        let observer = RecordingObserver()
        let client = TestDownstream(method: "POST", target: "/v3/pay/transactions/jsapi", chunks: [Array("{\"mch".utf8)],
                                    declaredLength: 1000)
        client.bodyStalls = true
        try await serve(client, guards: ["pay": [ObservingGuard("probe", observer: observer)]],
                        upstream: ScriptedUpstream(.respond(status: 200)))
        XCTAssertEqual(client.status, 408)
        XCTAssertEqual(client.localReply?.reason, "client_body_timeout")
        XCTAssertEqual(observer.outcomes.map(\.failure), [.clientTimeout])
    }

    func testRoutesWithoutGuardsTellNobodyAndStillForward() async throws {
        let upstream = ScriptedUpstream(.respond(status: 200))
        let client = TestDownstream(target: "/v3/pay/transactions/out-trade-no/T1?mchid=1900000001")
        try await serve(client, upstream: upstream)
        XCTAssertEqual(client.status, 200)
        XCTAssertEqual(upstream.received.first?.head.target, "/v3/pay/transactions/out-trade-no/T1?mchid=1900000001")
    }
}
