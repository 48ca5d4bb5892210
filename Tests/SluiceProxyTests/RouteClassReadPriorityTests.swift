import XCTest

/// The pipeline tells the client connection its request's route class, so that the loop reads
/// connections that serve non-core routes after the others (`ReadPriority`); only when the
/// policy has both classes.
final class RouteClassReadPriorityTests: PipelineTestCase {
    func testCoreAndNonCoreRoutesAreReported() async throws {
        let pay = TestDownstream(method: "POST", target: "/v3/pay/transactions/jsapi", headers: [("content-type", "application/json")],
                                 body: Array(#"{"out_trade_no":"T1"}"#.utf8))
        try await serve(pay, upstream: ScriptedUpstream(.respond(status: 200)))
        XCTAssertEqual(pay.routedAsCore, true)
        let query = TestDownstream(target: "/v3/pay/transactions/out-trade-no/T1")
        try await serve(query, upstream: ScriptedUpstream(.respond(status: 200)))
        XCTAssertEqual(query.routedAsCore, false)
        XCTAssertEqual(query.status, 200, "served, not refused")
    }

    func testAPolicyWithOneClassLeavesPriorityAlone() async throws {
        let routes = """
              - {name: all, class: noncore, match: {prefix: /}, cluster: backend}
            """
        let query = TestDownstream(target: "/v3/pay/transactions/out-trade-no/T1")
        try await serve(query, upstream: ScriptedUpstream(.respond(status: 200)), routes: routes)
        XCTAssertNil(query.routedAsCore)
        XCTAssertEqual(query.status, 200)
    }
}
