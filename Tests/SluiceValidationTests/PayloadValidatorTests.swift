import SluicePayload
@testable import SluiceValidation
import XCTest

/// Each rule kind against the shapes a malformed payment takes, numbers checked as the text sent.
final class PayloadValidatorTests: XCTestCase {
    private func order() -> ValidationPolicy {
        var rule = ValidationPolicy(name: "order")
        var mchid = FieldRule(path: "mchid")
        mchid.required = true
        mchid.type = .string
        var no = FieldRule(path: "out_trade_no")
        no.required = true
        no.type = .string
        no.minLength = 6
        no.maxLength = 32
        no.allowedCharacters = AllowedCharacters("A-Za-z0-9_*|-")
        var total = FieldRule(path: "amount.total")
        total.required = true
        total.type = .integer
        total.minimum = 1
        total.maximum = 100_000
        total.maxPerMerchant = ["big": 10_000_000]
        var currency = FieldRule(path: "amount.currency")
        currency.type = .string
        currency.oneOf = ["CNY"]
        var notify = FieldRule(path: "notify_url")
        notify.type = .string
        notify.url = URLRule()
        notify.url?.hosts = ["*.merchant.example", "pay.example"]
        var amount = FieldRule(path: "amount")
        amount.type = .object
        rule.fields = [mchid, no, amount, total, currency, notify]
        return rule
    }

    private func check(_ json: String, _ rule: ValidationPolicy? = nil, merchant: String? = nil) throws -> Violation? {
        let payload = try PaymentPayload.parse(Array(json.utf8), format: .json)
        return PayloadValidator.validate(payload, rule ?? order(), merchant: merchant)
    }

    private let good = #"{"mchid":"1900000001","out_trade_no":"T-0001","amount":{"total":100,"currency":"CNY"},"notify_url":"https://shop.merchant.example/n"}"#

    func testAGoodOrderPasses() throws {
        XCTAssertNil(try check(good))
    }

    func testAmountsMustBeIntegersAsSent() throws {
        for (total, code) in [("1.5", "wrong_type"), ("100.0", "wrong_type"), ("1e2", "wrong_type"), ("\"100\"", "wrong_type"),
                              ("0", "out_of_range"), ("-5", "out_of_range"), ("100001", "out_of_range"), ("true", "wrong_type"),
                              ("null", "missing_field")] {
            let violation = try check(good.replacingOccurrences(of: #""total":100"#, with: "\"total\":\(total)"))
            XCTAssertEqual(violation?.code, code, total)
            XCTAssertEqual(violation?.field, "amount.total", total)
        }
        // A merchant's own maximum overrides the rule's.
        let large = good.replacingOccurrences(of: #""total":100"#, with: #""total":5000000"#)
        XCTAssertEqual(try check(large)?.code, "out_of_range")
        XCTAssertNil(try check(large, merchant: "big"))
    }

    /// `merchant: true`: the body's merchant id is the one auth verified, byte for byte. A signer
    /// naming another merchant, or its own id spelled otherwise (`01900000001`, which a numeric
    /// field reads as the same), is refused; so is any value when no merchant was verified.
    func testAMerchantFieldMustBeTheVerifiedMerchant() throws {
        var rule = order()
        rule.fields[0].isMerchant = true
        XCTAssertNil(try check(good, rule, merchant: "1900000001"))
        for (mchid, merchant) in [("1900000002", "1900000001"), ("01900000001", "1900000001"), ("1900000001 ", "1900000001"),
                                  ("1900000001", nil)] as [(String, String?)] {
            let body = good.replacingOccurrences(of: #""mchid":"1900000001""#, with: "\"mchid\":\"\(mchid)\"")
            let violation = try check(body, rule, merchant: merchant)
            XCTAssertEqual(violation?.code, "merchant_mismatch", "\(mchid) signed by \(merchant ?? "nobody")")
            XCTAssertEqual(violation?.field, "mchid")
        }
        // The same order from XML (v2's mch_id), as text.
        var v2 = ValidationPolicy(name: "v2")
        var mchID = FieldRule(path: "mch_id")
        mchID.type = .string
        mchID.isMerchant = true
        v2.fields = [mchID]
        let xml = try PaymentPayload.parse(Array("<xml><mch_id>1900000002</mch_id></xml>".utf8), format: .xml)
        XCTAssertNil(PayloadValidator.validate(xml, v2, merchant: "1900000002"))
        XCTAssertEqual(PayloadValidator.validate(xml, v2, merchant: "1900000001")?.code, "merchant_mismatch")
    }

    func testWechatPayV2RefusalsAreXML() {
        var rule = ValidationPolicy(name: "v2")
        rule.style = .wechatpayV2
        let reply = ValidationReplies.refusal(Violation(code: "invalid_characters", field: "out_trade_no",
                                                        detail: "out_trade_no may only contain [A-Za-z]]>"), rule: rule)
        XCTAssertEqual(reply.status, 400)
        XCTAssertEqual(reply.headers["content-type"], "application/xml")
        XCTAssertEqual(String(decoding: reply.body, as: UTF8.self),
                       "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[out_trade_no may only contain [A-Za-z]]]]><![CDATA[>]]>"
                       + "</return_msg><err_code><![CDATA[PARAM_ERROR]]></err_code><err_code_des><![CDATA[invalid_characters]]></err_code_des></xml>\n")
    }

    func testStringsLengthsCharactersValuesAndURLs() throws {
        let cases: [(String, String, String, String)] = [
            (#""out_trade_no":"T-0001""#, #""out_trade_no":"T-1""#, "too_short", "out_trade_no"),
            (#""out_trade_no":"T-0001""#, "\"out_trade_no\":\"\(String(repeating: "x", count: 33))\"", "too_long", "out_trade_no"),
            (#""out_trade_no":"T-0001""#, #""out_trade_no":"T 0001/x""#, "invalid_characters", "out_trade_no"),
            (#""out_trade_no":"T-0001""#, #""out_trade_no":"订单00001""#, "invalid_characters", "out_trade_no"),
            (#""currency":"CNY""#, #""currency":"USD""#, "not_allowed_value", "amount.currency"),
            (#""mchid":"1900000001","#, "", "missing_field", "mchid"),
            (#""mchid":"1900000001""#, #""mchid":1900000001"#, "wrong_type", "mchid"),
            ("https://shop.merchant.example/n", "http://shop.merchant.example/n", "invalid_url", "notify_url"),
            ("https://shop.merchant.example/n", "https://evil.example/n", "invalid_url", "notify_url"),
            ("https://shop.merchant.example/n", "https://merchant.example/n", "invalid_url", "notify_url"),
            ("https://shop.merchant.example/n", "https://user@shop.merchant.example/n", "invalid_url", "notify_url"),
            ("https://shop.merchant.example/n", "shop.merchant.example/n", "invalid_url", "notify_url"),
            ("https://shop.merchant.example/n", #"https://evil.example\\.merchant.example/n"#, "invalid_url", "notify_url"),
            ("https://shop.merchant.example/n", "https://evil%2Eexample.merchant.example/n", "invalid_url", "notify_url"),
            (#""currency":"CNY""#, #""Currency":"USD""#, "field_name_case", "amount.currency"),
            (#""amount":{"total":100,"currency":"CNY"}"#, #""Amount":{"total":100,"currency":"CNY"}"#, "field_name_case", "amount"),
            (#""amount":{"total":100,"currency":"CNY"}"#, #""amount":[100]"#, "wrong_type", "amount"),
        ]
        for (from, to, code, field) in cases {
            let violation = try check(good.replacingOccurrences(of: from, with: to))
            XCTAssertEqual(violation?.code, code, to)
            XCTAssertEqual(violation?.field, field, to)
        }
        XCTAssertNil(try check(good.replacingOccurrences(of: "https://shop.merchant.example/n", with: "https://pay.example:8443/n?x=1")))
    }

    func testStrictRulesRefuseFieldsTheyDoNotList() throws {
        var rule = order()
        rule.strict = true
        XCTAssertNil(try check(good, rule))
        let extra = try check(good.replacingOccurrences(of: #""mchid":"1900000001""#, with: #""mchid":"1900000001","debug":true"#), rule)
        XCTAssertEqual(extra, Violation(code: "unknown_field", field: "debug", detail: "debug is not a field of this API"))
        var items = FieldRule(path: "items.*.sku")
        items.type = .string
        var list = FieldRule(path: "items")
        list.type = .array
        var element = FieldRule(path: "items.*")
        element.type = .object
        rule.fields += [list, element, items]
        XCTAssertNil(try check(good.replacingOccurrences(of: "}}", with: #"}},"items":[{"sku":"a"},{"sku":"b"}]}"#).replacingOccurrences(of: "}}}", with: "}}"), rule))
    }

    func testLengthsCountCharactersNotBytes() throws {
        var rule = ValidationPolicy(name: "lengths")
        var description = FieldRule(path: "description")
        description.type = .string
        description.minLength = 3
        description.maxLength = 4
        var code = FieldRule(path: "code")
        code.type = .string
        code.minLength = 2
        code.maxLength = 3
        code.allowedCharacters = AllowedCharacters("a-z")
        rule.fields = [description, code]
        func verdict(_ text: String, code value: String = "ab") throws -> String? {
            try check(#"{"description":"\#(text)","code":"\#(value)"}"#, rule)?.code
        }
        XCTAssertNil(try verdict("形象店铺"), "4 characters in 12 bytes")
        XCTAssertNil(try verdict("形象店"))
        XCTAssertEqual(try verdict("形象店铺子"), "too_long")
        XCTAssertEqual(try verdict("形象"), "too_short", "2 characters in 6 bytes")
        XCTAssertEqual(try verdict("ab"), "too_short")
        XCTAssertNil(try verdict("abcd"))
        XCTAssertEqual(try verdict("abcde"), "too_long")
        XCTAssertEqual(try verdict("abc", code: "a"), "too_short")
        XCTAssertEqual(try verdict("abc", code: "abcd"), "too_long")
        XCTAssertEqual(try verdict("abc", code: "a1"), "invalid_characters")
        XCTAssertEqual(try verdict("abc", code: "aé"), "invalid_characters", "2 characters, one outside the set")
        XCTAssertEqual(try verdict("abc", code: "éé"), "invalid_characters")
        XCTAssertEqual(try verdict("abc", code: "éééé"), "too_long", "length is checked before characters")
    }

    func testCharacterSetsParseRanges() {
        XCTAssertNotNil(AllowedCharacters("A-Za-z0-9_*|-"))
        XCTAssertNil(AllowedCharacters("z-a"))
        XCTAssertNil(AllowedCharacters("a b"))
        XCTAssertTrue(AllowedCharacters("0-9")!.admits("0123"))
        XCTAssertFalse(AllowedCharacters("0-9")!.admits("12a"))
    }
}
