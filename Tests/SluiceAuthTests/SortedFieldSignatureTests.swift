import Foundation
@testable import SluiceAuth
import SluicePayload
import XCTest

/// WeChat Pay v2 (MD5 / HMAC-SHA256 over sorted XML fields) and Alipay RSA2 notify (sorted form
/// fields) against the spec's vectors (§1, §3).
final class SortedFieldSignatureTests: XCTestCase {
    static let key = Array("192006250b4c09247ec02edce69f6a2d".utf8)

    func xml(_ fields: [(String, String)]) throws -> PaymentPayload {
        let body = "<xml>" + fields.map { "<\($0.0)><![CDATA[\($0.1)]]></\($0.0)>" }.joined() + "</xml>"
        return try PaymentPayload.parse(Array(body.utf8), format: .xml)
    }

    func testWeChatV2OfficialExample() throws {
        let payload = try xml([("appid", "wxd930ea5d5a258f4f"), ("mch_id", "10000100"), ("device_info", "1000"), ("body", "test"),
                               ("nonce_str", "ibuaiVcKdpRxkhJA"), ("sign", "ignored")])
        XCTAssertEqual(String(decoding: SortedFieldSignatures.content(payload, excluding: ["sign"]), as: UTF8.self),
                       "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA")
        XCTAssertEqual(SortedFieldSignatures.weChatV2Signature(payload, key: Self.key, algorithm: .md5), "9A0A8659F005D6984697E2CA0A9CF3B7")
        XCTAssertEqual(SortedFieldSignatures.weChatV2Signature(payload, key: Self.key, algorithm: .hmacSHA256),
                       "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6")
    }

    static let unifiedOrder: [(String, String)] = [
        ("appid", "wx2421b1c4370ec43b"), ("attach", "支付测试"), ("body", "JSAPI支付测试"), ("mch_id", "10000100"),
        ("nonce_str", "1add1a30ac87aa2db72f57a2375d8fec"), ("notify_url", "http://wxpay.wxutil.com/pub_v2/pay/notify.v2.php"),
        ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"), ("out_trade_no", "1415659990"), ("spbill_create_ip", "14.23.150.211"),
        ("total_fee", "1"), ("trade_type", "JSAPI"), ("device_info", ""),
    ]

    func testWeChatV2UnifiedOrderAndNotifyVectors() throws {
        let order = try xml(Self.unifiedOrder)
        XCTAssertEqual(SortedFieldSignatures.weChatV2Signature(order, key: Self.key, algorithm: .md5), "9CC64E39AE7A5E9DFC106EEDF1B4A6F8")
        XCTAssertEqual(SortedFieldSignatures.weChatV2Signature(order, key: Self.key, algorithm: .hmacSHA256),
                       "33692E38A15DF172027A217DCAA81A55DD329A5B196311F1CC7C8239A680B51F")
        let notify = try xml([("return_code", "SUCCESS"), ("appid", "wx2421b1c4370ec43b"), ("attach", "支付测试"), ("bank_type", "CFT"),
                              ("coupon_count", "1"), ("coupon_fee", "10"), ("coupon_id", "10000"), ("coupon_type", "CASH"),
                              ("fee_type", "CNY"), ("is_subscribe", "N"), ("mch_id", "10000100"),
                              ("nonce_str", "5d2b6c2a8db53831f7eda20af46e531c"), ("openid", "oUpF8uMEb4qRXf22hE3X68TekukE"),
                              ("out_trade_no", "1409811653"), ("result_code", "SUCCESS"), ("time_end", "20140903131540"),
                              ("total_fee", "1"), ("trade_type", "JSAPI"), ("transaction_id", "1004400740201409030005092168"),
                              ("sign", "B39FB45FD6EBDDA63086D0D7C87C152A")])
        XCTAssertEqual(SortedFieldSignatures.weChatV2Signature(notify, key: Self.key, algorithm: .md5), "B39FB45FD6EBDDA63086D0D7C87C152A")
        // A one-byte change of a field or the key changes it.
        var changed = Self.unifiedOrder
        changed[9].1 = "2"
        XCTAssertNotEqual(SortedFieldSignatures.weChatV2Signature(try xml(changed), key: Self.key, algorithm: .md5),
                          "9CC64E39AE7A5E9DFC106EEDF1B4A6F8")
        var otherKey = Self.key
        otherKey[0] ^= 1
        XCTAssertNotEqual(SortedFieldSignatures.weChatV2Signature(order, key: otherKey, algorithm: .md5), "9CC64E39AE7A5E9DFC106EEDF1B4A6F8")
    }

    func testWeChatV2AlgorithmFromSignTypeOrLength() {
        XCTAssertEqual(SortedFieldSignatures.weChatV2Algorithm(signType: nil, signature: String(repeating: "A", count: 32)), .md5)
        XCTAssertEqual(SortedFieldSignatures.weChatV2Algorithm(signType: "HMAC-SHA256", signature: String(repeating: "A", count: 64)), .hmacSHA256)
        XCTAssertNil(SortedFieldSignatures.weChatV2Algorithm(signType: "MD5", signature: String(repeating: "A", count: 64)))
        XCTAssertNil(SortedFieldSignatures.weChatV2Algorithm(signType: "SHA1", signature: String(repeating: "A", count: 40)))
    }

    static let alipayNotify = "app_id=2015102700040153&body=%E5%A4%A7%E4%B9%90%E9%80%8F2.1&buyer_id=2088102116773037&charset=utf-8"
        + "&gmt_close=2016-07-19+14%3A10%3A46&gmt_create=2016-07-19+14%3A10%3A44&gmt_payment=2016-07-19+14%3A10%3A47"
        + "&notify_id=4a91b7a78a503640467525113fb7d8bg8e&notify_time=2016-07-19+14%3A10%3A49&notify_type=trade_status_sync"
        + "&out_trade_no=0719141034-6418&refund_fee=0.00&seller_id=2088102119685838&subject=%E5%A4%A7%E4%B9%90%E9%80%8F2.1"
        + "&total_amount=2.00&trade_no=2016071921001003030200089909&trade_status=TRADE_SUCCESS&version=1.0&sign_type=RSA2"
        + "&sign=gN8LAZ4pWwtaBdLdQJGcwFrGc5LqMdrkYe1ttItJWfHSiewwIr7Y3PMnNwVmjbrRzFej72zUskeqbw7%2F4fqDtSkVW71ptz%2B9MlemLeTbSdUsg%2B%2Bw1bInj2odbSi6s02MhPT9kNjCAXeyzYgmjDuWigwixKnzZoTeWOdTN%2BZ7GL4NZ6w32KlAMyWNiZYqSjvtx5qlFmF%2FQ00Jox%2FbbyFoO1yExFU17mKlzhfdIAmO2Z%2F0Z%2FXrqfvutUuLObD1tZx0oNvO0nRz1pbuWsOhF4t4macvQGW7MchK4x%2FjfYv4ZmZJFIO863Q1ZQE%2FgPRHWv3SM0NtVZaqRP3KfWTPRs1BAQ%3D%3D"

    func testAlipayNotifyVector() throws {
        let payload = try PaymentPayload.parse(Array(Self.alipayNotify.utf8), format: .form)
        let content = SortedFieldSignatures.content(payload, excluding: ["sign", "sign_type"])
        XCTAssertEqual(String(decoding: content, as: UTF8.self),
                       "app_id=2015102700040153&body=大乐透2.1&buyer_id=2088102116773037&charset=utf-8&gmt_close=2016-07-19 14:10:46"
                       + "&gmt_create=2016-07-19 14:10:44&gmt_payment=2016-07-19 14:10:47&notify_id=4a91b7a78a503640467525113fb7d8bg8e"
                       + "&notify_time=2016-07-19 14:10:49&notify_type=trade_status_sync&out_trade_no=0719141034-6418&refund_fee=0.00"
                       + "&seller_id=2088102119685838&subject=大乐透2.1&total_amount=2.00&trade_no=2016071921001003030200089909"
                       + "&trade_status=TRADE_SUCCESS&version=1.0")
        let key = try RSAPublicKey(pemFile: Bundle.module.url(forResource: "Vectors/wechatpay-go-test-key.pub", withExtension: "pem")!.path)
        let signature = try XCTUnwrap(payload["sign"].flatMap { Base64.decode(Substring($0.text)) })
        XCTAssertTrue(key.verify(content, signature: signature))
        var changed = content
        changed[changed.count - 2] ^= 1
        XCTAssertFalse(key.verify(changed, signature: signature))
    }
}
