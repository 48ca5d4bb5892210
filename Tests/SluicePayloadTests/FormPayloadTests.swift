import SluicePayload
import XCTest

final class FormPayloadTests: XCTestCase {
    let alipayNotify = "gmt_create=2015-11-27+15%3A45%3A57&charset=utf-8&seller_email=zhuzhanghu%40alitest.com"
        + "&subject=%E6%B5%8B%E8%AF%95&sign=YDIuwVt3PSk1wLWtqZMFqnwR6p5W8G8f%2BXI%2Bb%2F%3D%3D"
        + "&buyer_id=2088102169940354&invoice_amount=0.01&notify_id=4a758e36a5f0b8ec6c4f3d7f1e43d42bhu"
        + "&fund_bill_list=%5B%7B%22amount%22%3A%220.01%22%2C%22fundChannel%22%3A%22ALIPAYACCOUNT%22%7D%5D"
        + "&notify_type=trade_status_sync&trade_status=TRADE_SUCCESS&receipt_amount=0.01&app_id=2016080300154586"
        + "&buyer_pay_amount=0.01&sign_type=RSA2&seller_id=2088102168108132&gmt_payment=2015-11-27+15%3A45%3A58"
        + "&notify_time=2015-11-27+15%3A45%3A58&version=1.0&out_trade_no=20150423001001&total_amount=0.01"
        + "&trade_no=2015112700001000330000152351&auth_app_id=2016080300154586&buyer_logon_id=chl***%40sandbox.com"
        + "&point_amount=0.00&empty="

    func testAlipayNotify() throws {
        let payload = try XCTUnwrap(parseOK(alipayNotify, .form))
        XCTAssertEqual(payload.format, .form)
        XCTAssertEqual(payload["gmt_create"]?.text, "2015-11-27 15:45:57")
        XCTAssertEqual(payload["seller_email"]?.text, "zhuzhanghu@alitest.com")
        XCTAssertEqual(payload["subject"]?.text, "测试")
        XCTAssertEqual(payload["sign"]?.text, "YDIuwVt3PSk1wLWtqZMFqnwR6p5W8G8f+XI+b/==")
        XCTAssertEqual(payload["sign_type"]?.text, "RSA2")
        XCTAssertEqual(payload["fund_bill_list"]?.text, #"[{"amount":"0.01","fundChannel":"ALIPAYACCOUNT"}]"#)
        XCTAssertEqual(payload["total_amount"]?.text, "0.01")
        XCTAssertNil(payload["total_amount"]?.integerValue)
        XCTAssertEqual(payload["buyer_id"]?.integerValue, 2088102169940354)
        XCTAssertEqual(payload["buyer_logon_id"]?.text, "chl***@sandbox.com")
        XCTAssertEqual(payload["empty"]?.text, "")
        XCTAssertEqual(payload["empty"]?.kind, .text)
        XCTAssertEqual(payload.topLevelFields.first?.name, "gmt_create")
        XCTAssertEqual(payload.topLevelFields.last?.name, "empty")
        XCTAssertEqual(payload.topLevelFields.count, 26)
        // Alipay's canonical string: sorted, without sign and sign_type.
        let canonical = payload.topLevelFields
            .filter { $0.name != "sign" && $0.name != "sign_type" && !$0.value.text.isEmpty }
            .sorted { $0.name < $1.name }
            .map { $0.name + "=" + $0.value.text }
        XCTAssertEqual(canonical.first, "app_id=2016080300154586")
        XCTAssertEqual(canonical.last, "version=1.0")

        // A nested JSON document inside a form value can be parsed again.
        let inner = try PaymentPayload.parse(Array(#"{"list":\#(payload["fund_bill_list"]!.text)}"#.utf8), format: .json)
        XCTAssertEqual(inner["list.0.fundChannel"]?.text, "ALIPAYACCOUNT")
    }

    func testDecoding() throws {
        let table: [(form: String, value: String)] = [
            ("v=a+b", "a b"),
            ("v=a%20b", "a b"),
            ("v=%2B", "+"),
            ("v=%25", "%"),
            ("v=%e6%b5%8b", "测"),
            ("v=a=b", "a=b"),
            ("v=", ""),
            ("v=测试", "测试"),
            ("v=%26%3D", "&="),
        ]
        for (form, value) in table {
            let payload = try XCTUnwrap(parseOK(form, .form), form)
            XCTAssertEqual(payload["v"]?.text, value, form)
        }
        XCTAssertEqual(parseOK("", .form)?.fields.count, 0)
        XCTAssertEqual(parseOK("a%5F1=x", .form)?["a_1"]?.text, "x", "names are decoded")
    }

    func testRejections() {
        assertRejections([
            RejectCase("truncated escape at end", "a=1%", .invalidPercentEscape),
            RejectCase("truncated escape one digit", "a=1%4", .invalidPercentEscape),
            RejectCase("escape before &", "a=%4&b=1", .invalidPercentEscape),
            RejectCase("non-hex escape", "a=%zz", .invalidPercentEscape),
            RejectCase("%u escape", "a=%u0041", .invalidPercentEscape),
            RejectCase("escape in name", "a%G=1", .invalidPercentEscape),
            RejectCase("decoded invalid UTF-8", "a=%FF", .invalidUTF8),
            RejectCase("decoded overlong", "a=%C0%AE", .invalidUTF8),
            RejectCase("decoded truncated UTF-8", "a=%E6%B5", .invalidUTF8),
            RejectCase("decoded surrogate", "a=%ED%A0%80", .invalidUTF8),
            RejectCase("raw invalid UTF-8", bytes: Array("a=".utf8) + [0xFF], .invalidUTF8),
            RejectCase("decoded NUL", "a=x%00y", .nulCharacter),
            RejectCase("duplicate name", "out_trade_no=1&out_trade_no=2", .duplicateKey),
            RejectCase("duplicate via escape", "sign=1&%73ign=2", .duplicateKey),
            RejectCase("duplicate ignoring case", "sign=1&Sign=2", .duplicateKey),
            RejectCase("empty name", "=1", .emptyKey),
            RejectCase("empty segment", "a=1&&b=2", .emptyKey),
            RejectCase("leading &", "&a=1", .emptyKey),
            RejectCase("trailing &", "a=1&", .emptyKey),
            RejectCase("missing =", "a=1&b", .formMissingEquals),
            RejectCase("semicolon separator", "a=1;b=2", .formSemicolon),
            RejectCase("raw newline", "a=1\n", .controlCharacter),
            RejectCase("raw CR LF", "a=1\r\n", .controlCharacter),
            RejectCase("dotted name", "out.trade_no=1", .invalidKey),
            RejectCase("PHP array name", "amount[total]=1", .invalidKey),
            RejectCase("space in name", "a+b=1", .invalidKey),
            RejectCase("encoded name to empty-ish", "%20=1", .invalidKey),
            RejectCase("BOM", "\u{FEFF}a=1", .byteOrderMark),
        ], .form)
        assertRejections([
            RejectCase("too many", "a=1&b=2&c=3", .tooManyFields),
            RejectCase("long name", "abcdefghi=1", .keyTooLong),
        ], .form, limits: PayloadLimits(maxDepth: 32, maxFields: 2, maxKeyLength: 8))
    }

    func testErrorOffset() {
        let error = refusal(Array("a=1&b=%4x".utf8), .form)
        XCTAssertEqual(error?.reason, .invalidPercentEscape)
        XCTAssertEqual(error?.offset, 6)
        XCTAssertEqual(error?.message, #"'%' not followed by two hex digits in value of "b" at offset 6"#)
    }
}
