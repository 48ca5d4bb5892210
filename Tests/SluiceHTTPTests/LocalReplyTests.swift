import SluiceHTTP
import XCTest

/// The gateway's own answers: problem+json, and the same answer in WeChat Pay v2's XML for the
/// routes whose clients read `return_code` (`replies: wechatpay_v2`).
final class LocalReplyTests: XCTestCase {
    func testAProblemInWeChatPayV2ShapeKeepsItsStatusCodeAndDetail() {
        let problem = LocalReply.problem(status: 429, error: "rate_limited", detail: "too many calls ]]> slow down", retryAfter: 2)
        let xml = problem.inWeChatPayV2Shape()
        XCTAssertEqual(xml.status, 429)
        XCTAssertEqual(xml.reason, problem.reason)
        XCTAssertEqual(xml.headers["content-type"], "application/xml")
        XCTAssertEqual(xml.headers["retry-after"], "2", "other fields stay")
        XCTAssertEqual(String(decoding: xml.body, as: UTF8.self),
                       "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[too many calls ]]]]><![CDATA[> slow down]]>"
                       + "</return_msg><err_code><![CDATA[rate_limited]]></err_code></xml>\n")
    }

    func testAnswersThatAreNoProblemStayAsTheyAre() {
        let stored = LocalReply(status: 200, headers: HTTPHeaders([("content-type", "application/xml")]), body: Array("<xml/>".utf8),
                                reason: "idempotent_replay")
        XCTAssertEqual(stored.inWeChatPayV2Shape(), stored)
        let once = LocalReply.json(status: 400, reason: "bad", message: "m").inWeChatPayV2Shape()
        XCTAssertEqual(once.inWeChatPayV2Shape(), once, "reshaped once only")
    }
}
