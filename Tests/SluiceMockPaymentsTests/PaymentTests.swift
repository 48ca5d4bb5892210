import Foundation
import XCTest
import SluiceMockPayments

final class PaymentRequestsTests: XCTestCase {
    func order(_ total: String) -> [UInt8] {
        Array(#"{"mchid":"1900000001","out_trade_no":"T-1","amount":{"total":\#(total),"currency":"CNY"},"notify_url":"http://a:1/n"}"#.utf8)
    }

    func testJSONAmountsAreIntegerFen() throws {
        let ok = try PaymentRequests.createOrder(json: order("100")).get()
        XCTAssertEqual(ok, CreateOrder(mchid: "1900000001", outTradeNo: "T-1", totalFen: 100, notifyURL: "http://a:1/n"))
        for bad in ["1.5", "\"100\"", "1e2", "0", "-5", "null"] {
            guard case .failure(let error) = PaymentRequests.createOrder(json: order(bad)) else {
                return XCTFail("amount \(bad) was accepted")
            }
            XCTAssertEqual(error.code, "PARAM_ERROR")
        }
        XCTAssertThrowsError(try PaymentRequests.createOrder(json: Array("{\"mchid\":".utf8)).get())
        XCTAssertThrowsError(try PaymentRequests.createOrder(json: Array(#"{"mchid":"1","amount":{"total":1}}"#.utf8)).get())
    }

    func testXMLUnifiedOrder() throws {
        let xml = "<xml><appid>wx1</appid><mch_id>10000100</mch_id><out_trade_no><![CDATA[X-9]]></out_trade_no><total_fee>1</total_fee></xml>"
        XCTAssertEqual(try PaymentRequests.createOrder(xml: Array(xml.utf8)).get(),
                       CreateOrder(mchid: "10000100", outTradeNo: "X-9", totalFen: 1, notifyURL: nil))
        for fee in ["1.00", "", "-1", "0", "１"] {
            let bad = xml.replacingFirst("<total_fee>1</total_fee>", with: "<total_fee>\(fee)</total_fee>")
            XCTAssertThrowsError(try PaymentRequests.createOrder(xml: Array(bad.utf8)).get(), fee)
        }
        XCTAssertThrowsError(try PaymentRequests.createOrder(xml: Array("<xml><mch_id>1</xml>".utf8)).get())
    }

    func testRefundRequest() throws {
        let body = #"{"out_trade_no":"T-1","out_refund_no":"R-1","amount":{"refund":30,"total":100,"currency":"CNY"}}"#
        XCTAssertEqual(try PaymentRequests.refund(json: Array(body.utf8)).get(),
                       RefundRequest(mchid: nil, outTradeNo: "T-1", outRefundNo: "R-1", refundFen: 30))
        let fractional = body.replacingFirst("30", with: "0.3")
        XCTAssertThrowsError(try PaymentRequests.refund(json: Array(fractional.utf8)).get())
    }

    func testMiniJSON() throws {
        let v = try MiniJSON.parse(#" {"a":[1,-2.5e3,true,null],"b":"x\"\u00e9\n"} "#)
        XCTAssertEqual(v["a"], .array([.number("1"), .number("-2.5e3"), .bool(true), .null]))
        XCTAssertEqual(v["b"]?.string, "x\"é\n")
        for bad in ["{", "{\"a\":}", "[1,]", "01x", "\"\u{01}\"", "{} x"] {
            XCTAssertThrowsError(try MiniJSON.parse(bad), bad)
        }
        // A surrogate pair is one character; two different emoji stay two (each surrogate had
        // become U+FFFD); a lone surrogate or a bad hex digit is an error.
        XCTAssertEqual(try MiniJSON.parse(#""\ud83d\ude00""#).string, "\u{1F600}")
        XCTAssertNotEqual(try MiniJSON.parse(#""\ud83d\ude00""#).string, try MiniJSON.parse(#""\ud83d\ude01""#).string)
        for bad in [#""\ud83d""#, #""\ud83dx""#, #""\ud83d\u0041""#, #""\ude00""#, #""\u+041""#] {
            XCTAssertThrowsError(try MiniJSON.parse(bad), bad)
        }
    }
}

final class PaymentLedgerTests: XCTestCase {
    func testDuplicatesAreCountedPerMerchantAndOrder() {
        let ledger = PaymentLedger()
        XCTAssertFalse(ledger.execute(mchid: "m1", outTradeNo: "A", totalFen: 100).duplicate)
        XCTAssertFalse(ledger.execute(mchid: "m2", outTradeNo: "A", totalFen: 100).duplicate, "another merchant's A")
        let again = ledger.execute(mchid: "m1", outTradeNo: "A", totalFen: 999)
        XCTAssertTrue(again.duplicate)
        XCTAssertEqual(again.order.totalFen, 100, "the first execution stands")
        XCTAssertEqual(again.order.executions, 2)
        let c = ledger.counts
        XCTAssertEqual(c.orders, 2)
        XCTAssertEqual(c.paymentsExecuted, 3)
        XCTAssertEqual(c.duplicatePayments, 1)
        XCTAssertEqual(c.amountExecutedFen, 200)
        XCTAssertEqual(ledger.duplicates().map { "\($0.mchid)/\($0.outTradeNo)x\($0.executions)" }, ["m1/Ax2"])
    }

    /// Ids are compared byte for byte, as a binary unique index does: canonically equivalent
    /// spellings, which Swift's String equality makes equal, are different ids (and orders).
    func testIdsAreComparedByTheirBytes() {
        let ledger = PaymentLedger()
        for (a, b) in [("N-\u{E9}", "N-e\u{301}"), ("N-K", "N-\u{212A}")] {
            XCTAssertEqual(a, b, "Swift's String equality, which the ledger must not use")
            XCTAssertTrue(ledger.receiveNotification(id: a).processed)
            XCTAssertTrue(ledger.receiveNotification(id: b).processed, b)
            XCTAssertFalse(ledger.execute(mchid: "m1", outTradeNo: a, totalFen: 1).duplicate)
            XCTAssertFalse(ledger.execute(mchid: "m1", outTradeNo: b, totalFen: 1).duplicate, b)
        }
        XCTAssertEqual(ledger.counts.duplicateNotifications, 0)
        XCTAssertEqual(ledger.counts.duplicatePayments, 0)
        XCTAssertTrue(ledger.receiveNotification(id: "N-\u{E9}").duplicate, "the same bytes again")
    }

    func testNotificationsAreProcessedOncePerID() {
        let ledger = PaymentLedger()
        XCTAssertEqual(ledger.receiveNotification(id: "EV-1").processed, true)
        XCTAssertEqual(ledger.receiveNotification(id: "EV-1").duplicate, true)
        XCTAssertEqual(ledger.receiveNotification(id: "EV-2").processed, true)
        XCTAssertEqual(ledger.receiveNotification(id: nil).processed, true, "without an id every delivery is new")
        XCTAssertEqual(ledger.counts.notificationsProcessed, 3)
        XCTAssertEqual(ledger.counts.duplicateNotifications, 1)
    }

    func testRefundsQueriesAndCloses() {
        let ledger = PaymentLedger()
        _ = ledger.execute(mchid: "m1", outTradeNo: "A", totalFen: 100)
        guard case .refunded(let id, false) = ledger.refund(mchid: nil, outTradeNo: "A", outRefundNo: "R1", amountFen: 60) else {
            return XCTFail("first refund")
        }
        XCTAssertEqual(ledger.refund(mchid: "m1", outTradeNo: "A", outRefundNo: "R1", amountFen: 60), .refunded(refundID: id, duplicate: true))
        XCTAssertEqual(ledger.refund(mchid: nil, outTradeNo: "A", outRefundNo: "R2", amountFen: 50), .exceedsRemaining(remainingFen: 40))
        XCTAssertEqual(ledger.refund(mchid: nil, outTradeNo: "nope", outRefundNo: "R3", amountFen: 1), .orderNotFound)
        XCTAssertEqual(ledger.query(mchid: "m1", outTradeNo: "A")?.state, "REFUND")
        XCTAssertEqual(ledger.query(mchid: "m1", outTradeNo: "A")?.refundedFen, 60)
        XCTAssertNil(ledger.query(mchid: "m2", outTradeNo: "A"))
        XCTAssertNotNil(ledger.close(mchid: nil, outTradeNo: "A"))
        XCTAssertNil(ledger.close(mchid: nil, outTradeNo: "B"))
        let c = ledger.counts
        XCTAssertEqual([c.refunds, c.duplicateRefunds, c.refundsRejected, c.refundedFen, c.queries, c.queriesNotFound, c.closes],
                       [1, 1, 2, 60, 3, 1, 1])
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
