import XCTest
import SluiceGuards
import SluiceHTTP
@testable import SluiceProxy

/// The chain's contract, in process: order, first rejection wins, shadow rejections and
/// annotations carry on, later guards see what earlier ones learned.
final class GuardChainTests: XCTestCase {
    struct ScriptedGuard: RequestGuard {
        let name: String
        let counters = GuardCounters()
        let verdict: GuardVerdict
        var setsMerchant: String?
        let seen: SeenLog

        func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
            seen.append("\(name):\(request.merchantID ?? "-")")
            if let setsMerchant { request.merchantID = setsMerchant }
            return verdict
        }
    }

    final class SeenLog: @unchecked Sendable {
        private(set) var entries: [String] = []
        func append(_ entry: String) { entries.append(entry) }
    }

    struct HeaderRemover: HeadRewritingGuard {
        let name = "auth"
        let counters = GuardCounters()
        let header: String
        func rewrite(_ head: inout HTTPRequestHead) { head.headers.remove(name: header) }
    }

    func testAChainOfHeadRewritersRewritesTheHeadAloneAndCounts() async {
        let first = HeaderRemover(header: "x-sluice-merchant")
        let second = HeaderRemover(header: "x-other")
        let chain = GuardChain(guards: [first, second])
        XCTAssertNotNil(chain.headRewriters, "a chain of head rewriters is run on the head")
        var head = HTTPRequestHead(method: "GET", target: "/q", version: .http1_1,
                                   headers: HTTPHeaders([("host", "x"), ("X-Sluice-Merchant", "1900000666"), ("x-other", "1"), ("x-kept", "2")]))
        chain.rewriteHead(&head)
        XCTAssertEqual(head.headers.map(\.name), ["host", "x-kept"])
        XCTAssertEqual([first.counters.evaluated, second.counters.evaluated], [1, 1])

        // The same guard in the full chain (with a guard that needs the request) rewrites there.
        let seen = SeenLog()
        let mixed = GuardChain(guards: [HeaderRemover(header: "x-sluice-merchant"), ScriptedGuard(name: "limit", verdict: .proceed, seen: seen)])
        XCTAssertNil(mixed.headRewriters)
        var guardRequest = request()
        guardRequest.head.headers.add(name: "X-Sluice-Merchant", value: "1900000666")
        _ = await mixed.evaluate(&guardRequest, readBody: { _ in nil })
        XCTAssertNil(guardRequest.head.headers["x-sluice-merchant"])
        XCTAssertEqual(seen.entries, ["limit:-"])
    }

    private func request() -> GuardRequest {
        GuardRequest(head: HTTPRequestHead(method: "POST", target: "/pay", version: .http1_1, headers: HTTPHeaders([("host", "x")])),
                     routeName: "pay", routeIsCore: true, clientAddress: "127.0.0.1")
    }

    func testFirstRejectionEndsTheChainAndCarriesEarlierAnnotations() async {
        let seen = SeenLog()
        var annotation = HTTPHeaders()
        annotation.add(name: "RateLimit", value: "\"burst\";r=0;t=1")
        let reject = LocalReply.json(status: 429, reason: "rate_limited", message: "slow down")
        let auth = ScriptedGuard(name: "auth", verdict: .proceed, setsMerchant: "1900000001", seen: seen)
        let shadow = ScriptedGuard(name: "shadow", verdict: .shadowReject(reason: "would_limit"), seen: seen)
        let annotate = ScriptedGuard(name: "annotate", verdict: .annotate(annotation), seen: seen)
        let limit = ScriptedGuard(name: "limit", verdict: .reject(reject), seen: seen)
        let never = ScriptedGuard(name: "never", verdict: .proceed, seen: seen)
        let chain = GuardChain(guards: [auth, shadow, annotate, limit, never])

        var guardRequest = request()
        let outcome = await chain.evaluate(&guardRequest, readBody: { _ in nil })

        XCTAssertEqual(seen.entries, ["auth:-", "shadow:1900000001", "annotate:1900000001", "limit:1900000001"])
        XCTAssertEqual(outcome.rejectedBy, "limit")
        XCTAssertEqual(outcome.reply?.status, 429)
        XCTAssertEqual(outcome.reply?.headers["ratelimit"], "\"burst\";r=0;t=1")
        XCTAssertEqual(outcome.shadowRejections, ["shadow:would_limit"])
        XCTAssertEqual(guardRequest.merchantID, "1900000001")
        XCTAssertEqual([auth, shadow, annotate, limit, never].map(\.counters.evaluated), [1, 1, 1, 1, 0])
        XCTAssertEqual(limit.counters.rejected, 1)
        XCTAssertEqual(shadow.counters.shadowRejected, 1)
        XCTAssertEqual(shadow.counters.rejected, 0)
    }

    func testAllProceedGivesNoReplyAndTheAnnotations() async {
        let seen = SeenLog()
        var annotation = HTTPHeaders()
        annotation.add(name: "RateLimit-Policy", value: "\"burst\";q=100;w=1")
        let chain = GuardChain(guards: [ScriptedGuard(name: "a", verdict: .annotate(annotation), seen: seen),
                                        ScriptedGuard(name: "b", verdict: .proceed, seen: seen)])
        var guardRequest = request()
        let outcome = await chain.evaluate(&guardRequest, readBody: { _ in nil })
        XCTAssertNil(outcome.reply)
        XCTAssertEqual(outcome.responseHeaders["ratelimit-policy"], "\"burst\";q=100;w=1")
        XCTAssertEqual(seen.entries, ["a:-", "b:-"])
    }
}
