import XCTest
import SluiceMockPayments

final class BackendBehaviourTests: XCTestCase {
    func testControlBodySetsEverythingOrNothing() throws {
        var b = BackendBehaviour()
        try b.apply(control: Array(#"{"mode":"slow","slow":"250ms","error_rate":0.25,"latency":"fixed:3ms"}"#.utf8))
        XCTAssertEqual(b.mode, .slow)
        XCTAssertEqual(b.slowMs, 250)
        XCTAssertEqual(b.errorRate, 0.25)
        XCTAssertEqual(b.latency, .fixed(ms: 3))

        let before = b
        XCTAssertThrowsError(try b.apply(control: Array(#"{"mode":"fail","error_rate":2}"#.utf8)))
        XCTAssertEqual(b, before, "a control body with one bad setting changes nothing")
        XCTAssertThrowsError(try b.apply(control: Array(#"{"moed":"fail"}"#.utf8))) { error in
            XCTAssertTrue("\(error)".contains("unknown setting 'moed'"))
        }
        XCTAssertThrowsError(try b.apply(control: Array("[1]".utf8)))
        XCTAssertThrowsError(try b.set("notify_url", to: "https://example/notify"))
        try b.set("notify_url", to: "http://127.0.0.1:9/notify")
        XCTAssertEqual(NotifyTarget(url: b.notifyURL), NotifyTarget(url: "http://127.0.0.1:9/notify"))
        XCTAssertEqual(NotifyTarget(url: "http://127.0.0.1:9")?.path, "/")
        try b.apply(control: Array(#"{"notify_copies":10,"notify_signing_key":"/k.pem","notify_serial":"PUB_KEY_ID_DEMO"}"#.utf8))
        XCTAssertEqual([String(b.notifyCopies), b.notifySigningKey, b.notifySerial], ["10", "/k.pem", "PUB_KEY_ID_DEMO"])
        XCTAssertThrowsError(try b.set("notify_copies", to: "0"))
        XCTAssertThrowsError(try b.set("notify_serial", to: "a b"))
    }

    func testPlans() throws {
        var rng = SplitMix64(seed: 7)
        var b = BackendBehaviour()
        XCTAssertEqual(b.plan(using: &rng), .answer(delayMs: 0))
        b.mode = .stop
        XCTAssertEqual(b.plan(using: &rng), .drop)
        b.mode = .fail
        XCTAssertEqual(b.plan(using: &rng), .fail(status: 503, delayMs: 0))
        b.mode = .slow
        b.slowMs = 100
        b.latency = .fixed(ms: 5)
        XCTAssertEqual(b.plan(using: &rng), .answer(delayMs: 105))

        b.mode = .normal
        b.errorRate = 0.1
        let plans = (0..<10000).map { _ in b.plan(using: &rng) }
        let errors = plans.filter { if case .fail(500, _) = $0 { return true } else { return false } }.count
        XCTAssertEqual(Double(errors) / 10000, 0.1, accuracy: 0.015)
    }
}
