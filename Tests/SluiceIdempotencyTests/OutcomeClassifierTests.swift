@testable import SluiceIdempotency
import SluiceGuards
import SluiceHTTP
import XCTest

/// What each way a request can end makes of its record. The money rule: whatever may have
/// executed is never released.
final class OutcomeClassifierTests: XCTestCase {
    private let classifier = OutcomeClassifier(storeHeaders: ["content-type", "set-cookie"], maxStoredBody: 8,
                                               releaseStatuses: [429, 503], storeSuccessOnly: false)

    private func head(_ status: Int, _ fields: [(String, String)] = [("content-type", "application/json")]) -> HTTPResponseHead {
        HTTPResponseHead(status: status, headers: HTTPHeaders(fields))
    }

    private func outcome(sent: Bool = true, failure: RequestFailure? = nil, head: HTTPResponseHead? = nil, body: [UInt8]? = nil) -> RequestOutcome {
        RequestOutcome(route: "pay", attempt: sent ? 1 : 0, status: head?.status ?? 502, failure: failure, responseHead: head, responseBody: body)
    }

    func testNothingSentOrNoConnectionReleases() {
        XCTAssertEqual(classifier.completion(for: outcome(sent: false, failure: .localReply)), .release, "a later guard refused")
        XCTAssertEqual(classifier.completion(for: outcome(sent: false, failure: .clientGone)), .release)
        XCTAssertEqual(classifier.completion(for: outcome(failure: .upstreamConnectFailed)), .release)
        XCTAssertEqual(classifier.completion(for: outcome(failure: .upstreamConnectTimeout)), .release)
    }

    func testSentWithoutAnAnswerIsUnknown() {
        for failure: RequestFailure in [.upstreamTimeout, .upstreamReset, .upstreamBadResponse, .clientGone, .clientTimeout] {
            XCTAssertEqual(classifier.completion(for: outcome(failure: failure)), .unknown, "\(failure)")
        }
    }

    func testACompleteAnswerIsStoredWithOnlyTheNamedSafeFields() {
        let answer = head(201, [("content-type", "application/json"), ("set-cookie", "s=1"), ("x-other", "1")])
        XCTAssertEqual(classifier.completion(for: outcome(head: answer, body: Array("{}".utf8))),
                       .done(StoredResponse(status: 201, headers: [.init(name: "content-type", value: "application/json")], body: Array("{}".utf8))))
        XCTAssertEqual(classifier.completion(for: outcome(head: head(400), body: [])),
                       .done(StoredResponse(status: 400, headers: [.init(name: "content-type", value: "application/json")], body: [])),
                       "errors are replayed too, as the draft says")
    }

    func testAnswersThatMeanNotDoneRelease() {
        XCTAssertEqual(classifier.completion(for: outcome(head: head(429), body: [])), .release)
        XCTAssertEqual(classifier.completion(for: outcome(head: head(503), body: [])), .release)
        let notify = OutcomeClassifier(storeHeaders: [], maxStoredBody: 8, releaseStatuses: [], storeSuccessOnly: true)
        XCTAssertEqual(notify.completion(for: outcome(head: head(500), body: [])), .release, "the provider's resend must reach the backend")
        XCTAssertEqual(notify.completion(for: outcome(head: head(204), body: [])), .done(StoredResponse(status: 204, headers: [], body: [])))
    }

    func testATooLargeBodyCompletesWithoutAReplay() {
        let completion = classifier.completion(for: outcome(head: head(200), body: Array(repeating: 65, count: 9)))
        XCTAssertEqual(completion, .done(StoredResponse(status: 200, headers: [.init(name: "content-type", value: "application/json")],
                                                         body: [], isReplayable: false)))
    }

    func testAnAnswerCutShortIsKeptOnlyWhenItsWholeBodyWasCaptured() {
        let whole = head(200, [("content-length", "2")])
        XCTAssertEqual(classifier.completion(for: outcome(failure: .clientGone, head: whole, body: Array("{}".utf8))),
                       .done(StoredResponse(status: 200, headers: [], body: Array("{}".utf8))))
        XCTAssertEqual(classifier.completion(for: outcome(failure: .clientGone, head: whole, body: Array("{".utf8))), .unknown)
        XCTAssertEqual(classifier.completion(for: outcome(failure: .upstreamReset, head: head(200), body: Array("{".utf8))), .unknown,
                       "no length: the body may be incomplete")
    }
}
