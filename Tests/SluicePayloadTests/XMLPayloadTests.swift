import SluicePayload
import XCTest

final class XMLPayloadTests: XCTestCase {
    let unifiedOrder = """
    <xml>
       <appid>wx2421b1c4370ec43b</appid>
       <attach>支付测试</attach>
       <body>JSAPI支付测试</body>
       <mch_id>10000100</mch_id>
       <nonce_str>1add1a30ac87aa2db72f57a2375d8fec</nonce_str>
       <notify_url>https://wxpay.example/pub_v2/pay/notify.v2.php</notify_url>
       <openid>oUpF8uMuAJO_M2pxb1Q9zNjWeS6o</openid>
       <out_trade_no>1415659990</out_trade_no>
       <spbill_create_ip>14.23.150.211</spbill_create_ip>
       <total_fee>1</total_fee>
       <trade_type>JSAPI</trade_type>
       <sign>0CB01533B8C1EF103065174F50BCA001</sign>
    </xml>
    """

    let notify = """
    <?xml version="1.0" encoding="UTF-8"?>
    <xml><appid><![CDATA[wx2421b1c4370ec43b]]></appid>
    <attach><![CDATA[支付测试]]></attach>
    <bank_type><![CDATA[CFT]]></bank_type>
    <fee_type><![CDATA[CNY]]></fee_type>
    <is_subscribe><![CDATA[Y]]></is_subscribe>
    <mch_id><![CDATA[10000100]]></mch_id>
    <nonce_str><![CDATA[5d2b6c2a8db53831f7eda20af46e531c]]></nonce_str>
    <openid><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></openid>
    <out_trade_no><![CDATA[1409811653]]></out_trade_no>
    <result_code><![CDATA[SUCCESS]]></result_code>
    <return_code><![CDATA[SUCCESS]]></return_code>
    <sign><![CDATA[B552ED6B279343CB493C5DD0D78AB241]]></sign>
    <time_end><![CDATA[20140903131540]]></time_end>
    <total_fee>1</total_fee>
    <coupon_fee><![CDATA[10]]></coupon_fee>
    <coupon_count><![CDATA[1]]></coupon_count>
    <coupon_type><![CDATA[CASH]]></coupon_type>
    <coupon_id><![CDATA[10000]]></coupon_id>
    <trade_type><![CDATA[JSAPI]]></trade_type>
    <transaction_id><![CDATA[1004400740201409030005092168]]></transaction_id>
    </xml>
    """

    func testUnifiedOrder() throws {
        let payload = try XCTUnwrap(parseOK(unifiedOrder, .xml))
        XCTAssertEqual(payload.format, .xml)
        XCTAssertEqual(payload.topLevelFields.map(\.name),
                       ["appid", "attach", "body", "mch_id", "nonce_str", "notify_url", "openid", "out_trade_no",
                        "spbill_create_ip", "total_fee", "trade_type", "sign"])
        XCTAssertEqual(payload["attach"]?.text, "支付测试")
        XCTAssertEqual(payload["total_fee"]?.kind, .text)
        XCTAssertEqual(payload["total_fee"]?.integerValue, 1)
        XCTAssertEqual(payload["mch_id"]?.stringValue, "10000100")
        XCTAssertEqual(payload.fields, payload.topLevelFields)
    }

    func testNotifyWithCDATA() throws {
        let payload = try XCTUnwrap(parseOK(notify, .xml))
        XCTAssertEqual(payload.topLevelFields.map(\.name),
                       ["appid", "attach", "bank_type", "fee_type", "is_subscribe", "mch_id", "nonce_str", "openid",
                        "out_trade_no", "result_code", "return_code", "sign", "time_end", "total_fee", "coupon_fee",
                        "coupon_count", "coupon_type", "coupon_id", "trade_type", "transaction_id"])
        XCTAssertEqual(payload["return_code"]?.text, "SUCCESS")
        XCTAssertEqual(payload["transaction_id"]?.text, "1004400740201409030005092168")
        XCTAssertEqual(payload["transaction_id"]?.integerValue, nil, "does not fit Int64")
        XCTAssertEqual(payload["coupon_fee"]?.integerValue, 10)
        // Sorted canonicalisation input, as WeChat v2 signing needs it.
        let sorted = payload.topLevelFields.filter { $0.name != "sign" }.sorted { $0.name < $1.name }
        XCTAssertEqual(sorted.first?.name, "appid")
        XCTAssertEqual(sorted.last?.name, "transaction_id")
    }

    func testTextDecoding() throws {
        let table: [(xml: String, value: String)] = [
            ("<a>plain</a>", "plain"),
            ("<a></a>", ""),
            ("<a/>", ""),
            ("<a />", ""),
            ("<a >x</a >", "x"),
            ("<a>&lt;&gt;&amp;&quot;&apos;</a>", "<>&\"'"),
            ("<a>x &#x4e2d;&#128512;&#xE9; y</a>", "x 中😀é y"),
            ("<a><![CDATA[<b>&amp;</b>]]></a>", "<b>&amp;</b>"),
            ("<a><![CDATA[]]></a>", ""),
            ("<a><![CDATA[]]]]></a>", "]]"),
            ("<a> spaced </a>", " spaced "),
            ("<a>a > b</a>", "a > b"),
            ("<a>line\none</a>", "line\none"),
        ]
        for (xml, value) in table {
            let payload = try XCTUnwrap(parseOK("<xml>" + xml + "</xml>", .xml), xml)
            XCTAssertEqual(payload["a"]?.text, value, xml)
        }
        XCTAssertEqual(parseOK("<xml/>", .xml)?.topLevelFields.count, 0)
        XCTAssertEqual(parseOK("\n<?xml version='1.0'?><xml></xml>\n".dropFirst().description, .xml)?.fields.count, 0)
        XCTAssertEqual(parseOK("<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\" ?>\r\n<xml><a>1</a></xml>\r\n",
                               .xml)?["a"]?.integerValue, 1)
        XCTAssertNil(parseOK("<xml><a> 1</a></xml>", .xml)?["a"]?.integerValue)
        XCTAssertNil(parseOK("<xml><a>01</a></xml>", .xml)?["a"]?.integerValue)
    }

    func testXXERefused() {
        let xxe = """
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
        <xml><return_code>&xxe;</return_code></xml>
        """
        guard let error = refusal(Array(xxe.utf8), .xml) else { return XCTFail("XXE accepted") }
        XCTAssertEqual(error.reason, .xmlDoctype)
        XCTAssertEqual(error.reason.rawValue, "xml_doctype")
        XCTAssertEqual(error.offset, 39)
    }

    func testRejections() {
        let root = { (inner: String) in "<xml>" + inner + "</xml>" }
        assertRejections([
            RejectCase("empty", "", .emptyBody),
            RejectCase("whitespace", "  \n", .emptyBody),
            RejectCase("declaration only", "<?xml version=\"1.0\"?>", .emptyBody),
            RejectCase("doctype", "<!DOCTYPE xml><xml/>", .xmlDoctype),
            RejectCase("lowercase doctype", "<!doctype xml><xml/>", .xmlDoctype),
            RejectCase("doctype inside root", root("<!DOCTYPE a>"), .xmlDoctype),
            RejectCase("entity declaration", root("<!ENTITY a \"b\">"), .xmlEntityDeclaration),
            RejectCase("external entity reference", root("<a>&xxe;</a>"), .xmlUnknownEntity),
            RejectCase("unknown entity", root("<a>&nbsp;</a>"), .xmlUnknownEntity),
            RejectCase("bare ampersand", root("<a>a & b</a>"), .xmlUnknownEntity),
            RejectCase("uppercase entity", root("<a>&LT;</a>"), .xmlUnknownEntity),
            RejectCase("NUL reference", root("<a>&#0;</a>"), .xmlInvalidCharacterReference),
            // ASCII never needs one, and a backend that does not decode it reads another value.
            RejectCase("ASCII digit reference", root("<mch_id>190000000&#49;</mch_id>"), .xmlInvalidCharacterReference),
            RejectCase("ASCII hex reference", root("<out_trade_no>T&#x4e;</out_trade_no>"), .xmlInvalidCharacterReference),
            RejectCase("tab reference", root("<a>&#x9;</a>"), .xmlInvalidCharacterReference),
            RejectCase("CR reference", root("<a>&#13;</a>"), .xmlInvalidCharacterReference),
            RejectCase("DEL reference", root("<a>&#127;</a>"), .xmlInvalidCharacterReference),
            RejectCase("control reference", root("<a>&#x1;</a>"), .xmlInvalidCharacterReference),
            RejectCase("surrogate reference", root("<a>&#xD800;</a>"), .xmlInvalidCharacterReference),
            RejectCase("FFFE reference", root("<a>&#xFFFE;</a>"), .xmlInvalidCharacterReference),
            RejectCase("too large reference", root("<a>&#x110000;</a>"), .xmlInvalidCharacterReference),
            RejectCase("empty reference", root("<a>&#;</a>"), .xmlInvalidCharacterReference),
            RejectCase("hex digits in decimal reference", root("<a>&#1F;</a>"), .xmlInvalidCharacterReference),
            RejectCase("PI inside", root("<?php echo 1; ?>"), .xmlProcessingInstruction),
            RejectCase("PI before root", "<?xml-stylesheet href=\"a\"?><xml/>", .xmlProcessingInstruction),
            RejectCase("declaration not first", " <?xml version=\"1.0\"?><xml/>", .xmlProcessingInstruction),
            RejectCase("second declaration", "<?xml version=\"1.0\"?><?xml version=\"1.0\"?><xml/>", .xmlProcessingInstruction),
            RejectCase("PI after root", "<xml/><?pi?>", .xmlProcessingInstruction),
            RejectCase("declaration without version", "<?xml encoding=\"UTF-8\"?><xml/>", .xmlDeclaration),
            RejectCase("version 1.1", "<?xml version=\"1.1\"?><xml/>", .xmlDeclaration),
            RejectCase("unknown pseudo-attribute", "<?xml version=\"1.0\" foo=\"bar\"?><xml/>", .xmlDeclaration),
            RejectCase("GBK declaration", "<?xml version=\"1.0\" encoding=\"GBK\"?><xml/>", .unsupportedCharset),
            RejectCase("comment in value", root("<total_fee>1<!---->00</total_fee>"), .xmlComment),
            RejectCase("comment between", root("<a>1</a><!-- x -->"), .xmlComment),
            RejectCase("comment before root", "<!-- x --><xml/>", .xmlComment),
            RejectCase("comment after root", "<xml/><!-- x -->", .xmlComment),
            RejectCase("attribute on child", root("<a b=\"1\">x</a>"), .xmlAttribute),
            RejectCase("attribute on root", "<xml lang=\"en\"><a>1</a></xml>", .xmlAttribute),
            RejectCase("namespace on root", "<xml xmlns:x=\"urn:x\"/>", .xmlAttribute),
            RejectCase("nested element", root("<a><b>1</b></a>"), .xmlNestedElement),
            RejectCase("element after text", root("<a>1<b/></a>"), .xmlNestedElement),
            RejectCase("element after CDATA", root("<a><![CDATA[1]]><b/></a>"), .xmlNestedElement),
            RejectCase("mismatched tag", root("<a>1</b>"), .xmlMismatchedTag),
            RejectCase("mismatched root", "<xml><a>1</a></XML>", .xmlMismatchedTag),
            RejectCase("duplicate child", root("<total_fee>1</total_fee><total_fee>100</total_fee>"), .duplicateKey),
            RejectCase("duplicate child ignoring case", root("<sign>a</sign><SIGN>b</SIGN>"), .duplicateKey),
            RejectCase("duplicate empty child", root("<a/><a></a>"), .duplicateKey),
            RejectCase("wrong root", "<root><a>1</a></root>", .xmlRootName),
            RejectCase("uppercase root", "<XML></XML>", .xmlRootName),
            RejectCase("text in root", "<xml>hello<a>1</a></xml>", .xmlMixedContent),
            RejectCase("CDATA in root", "<xml><![CDATA[x]]></xml>", .xmlMixedContent),
            RejectCase("text and CDATA", root("<a>1<![CDATA[2]]></a>"), .xmlMixedContent),
            RejectCase("whitespace then CDATA", root("<a> <![CDATA[2]]></a>"), .xmlMixedContent),
            RejectCase("CDATA then text", root("<a><![CDATA[2]]>3</a>"), .xmlMixedContent),
            RejectCase("two CDATA", root("<a><![CDATA[1]]><![CDATA[2]]></a>"), .xmlMixedContent),
            RejectCase("text before root", "x<xml/>", .xmlTextOutsideRoot),
            RejectCase("text after root", "<xml/>x", .xmlTextOutsideRoot),
            RejectCase("second root", "<xml/><xml/>", .trailingData),
            RejectCase("CDATA before root", "<![CDATA[x]]><xml/>", .xmlTextOutsideRoot),
            RejectCase("invalid UTF-8 in text", bytes: Array("<xml><a>".utf8) + [0xC3, 0x28] + Array("</a></xml>".utf8), .invalidUTF8),
            RejectCase("invalid UTF-8 in CDATA", bytes: Array("<xml><a><![CDATA[".utf8) + [0xFF] + Array("]]></a></xml>".utf8), .invalidUTF8),
            RejectCase("invalid UTF-8 outside root", bytes: Array("<xml/>".utf8) + [0xFE], .invalidUTF8),
            RejectCase("invalid UTF-8 in name", bytes: Array("<xml><a".utf8) + [0xFF] + Array(">1</a></xml>".utf8), .invalidUTF8),
            RejectCase("U+FFFF", root("<a>\u{FFFF}</a>"), .xmlInvalidCharacter),
            RejectCase("carriage return", root("<a>1\r\n2</a>"), .xmlCarriageReturn),
            RejectCase("carriage return in CDATA", root("<a><![CDATA[1\r2]]></a>"), .xmlCarriageReturn),
            RejectCase("control character", root("<a>\u{1}</a>"), .controlCharacter),
            RejectCase("NUL", bytes: Array("<xml><a>".utf8) + [0] + Array("</a></xml>".utf8), .nulCharacter),
            RejectCase("namespaced name", root("<x:a>1</x:a>"), .invalidKey),
            RejectCase("dotted name", root("<a.b>1</a.b>"), .invalidKey),
            RejectCase("non-ASCII name", root("<金额>1</金额>"), .invalidKey),
            RejectCase("unterminated CDATA", root("<a><![CDATA[1"), .unexpectedEnd),
            RejectCase("unterminated root", "<xml><a>1</a>", .unexpectedEnd),
            RejectCase("unterminated child", "<xml><a>1", .unexpectedEnd),
            RejectCase("]]> in text", root("<a>x]]>y</a>"), .xmlMalformed),
            RejectCase("space after <", root("< a>1</a>"), .xmlMalformed),
            RejectCase("BOM", "\u{FEFF}<xml/>", .byteOrderMark),
            RejectCase("unknown declaration", root("<!FOO>"), .xmlMalformed),
        ], .xml)
        assertRejections([
            RejectCase("too many children", root("<a>1</a><b>2</b><c>3</c>"), .tooManyFields),
            RejectCase("long name", root("<abcdefghi>1</abcdefghi>"), .keyTooLong),
        ], .xml, limits: PayloadLimits(maxDepth: 32, maxFields: 2, maxKeyLength: 8))
    }
}
