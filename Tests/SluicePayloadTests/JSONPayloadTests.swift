import SluicePayload
import XCTest

final class JSONPayloadTests: XCTestCase {
    let order = """
    {"appid":"wxd678efh567hg6787","mchid":"1900000001","description":"tea",\
    "out_trade_no":"T20260101-0001","notify_url":"https://merchant.example/notify",\
    "amount":{"total":100,"currency":"CNY"},"payer":{"openid":"o4GgauInH_RCEdvrrNGrntXDuXXX"}}
    """

    func testWeChatV3OrderLookups() throws {
        let payload = try XCTUnwrap(parseOK(order, .json))
        XCTAssertEqual(payload.format, .json)
        XCTAssertEqual(payload["mchid"], PayloadValue(kind: .string, text: "1900000001"))
        XCTAssertEqual(payload["mchid"]?.integerValue, nil, "a JSON string is not an integer")
        XCTAssertEqual(payload["amount.total"]?.kind, .number)
        XCTAssertEqual(payload["amount.total"]?.text, "100")
        XCTAssertEqual(payload["amount.total"]?.integerValue, 100)
        XCTAssertEqual(payload["amount.currency"]?.stringValue, "CNY")
        XCTAssertEqual(payload["payer.openid"]?.text, "o4GgauInH_RCEdvrrNGrntXDuXXX")
        XCTAssertEqual(payload["amount"]?.kind, .object)
        XCTAssertNil(payload["amount.missing"])
        XCTAssertNil(payload[""])
        XCTAssertNil(payload["total"])
        XCTAssertEqual(payload.topLevelFields.map(\.name),
                       ["appid", "mchid", "description", "out_trade_no", "notify_url", "amount", "payer"])
        XCTAssertEqual(payload.topLevelFields[5].value.kind, .object)
        XCTAssertEqual(payload.fields.map(\.name),
                       ["appid", "mchid", "description", "out_trade_no", "notify_url", "amount", "amount.total",
                        "amount.currency", "payer", "payer.openid"])
    }

    func testArraysAndScalars() throws {
        let body = #"""
        { "items" : [ {"name":"tea","qty":2}, {"name":"cup","qty":1} ], "flags":[true,false,null],
          "empty_obj":{}, "empty_arr":[], "nested":[[1,[2]]] }
        """#
        let payload = try XCTUnwrap(parseOK(body, .json))
        XCTAssertEqual(payload["items"]?.kind, .array)
        XCTAssertEqual(payload["items.0.name"]?.text, "tea")
        XCTAssertEqual(payload["items.1.qty"]?.integerValue, 1)
        XCTAssertNil(payload["items.2.name"])
        XCTAssertEqual(payload["flags.0"]?.boolValue, true)
        XCTAssertEqual(payload["flags.1"]?.boolValue, false)
        XCTAssertEqual(payload["flags.2"]?.isNull, true)
        XCTAssertEqual(payload["flags.2"]?.stringValue, nil)
        XCTAssertEqual(payload["empty_obj"]?.kind, .object)
        XCTAssertEqual(payload["empty_arr"]?.kind, .array)
        XCTAssertEqual(payload["nested.0.1.0"]?.text, "2")
        XCTAssertEqual(payload.topLevelFields.map(\.name), ["items", "flags", "empty_obj", "empty_arr", "nested"])
    }

    func testNumbersStayText() throws {
        let table: [(literal: String, integer: Int64?)] = [
            ("100", 100), ("100.0", nil), ("1e2", nil), ("1E+2", nil), ("-0", 0), ("0", 0), ("-1", -1),
            ("9223372036854775807", Int64.max), ("9223372036854775808", nil),
            ("-9223372036854775808", Int64.min), ("-9223372036854775809", nil),
            ("0.5", nil), ("-0.0", nil), ("123456789012345678901234567890", nil), ("1.5e-3", nil),
        ]
        for (literal, integer) in table {
            let payload = try XCTUnwrap(parseOK("{\"n\":\(literal)}", .json), literal)
            XCTAssertEqual(payload["n"]?.kind, .number, literal)
            XCTAssertEqual(payload["n"]?.text, literal, literal)
            XCTAssertEqual(payload["n"]?.integerValue, integer, literal)
        }
        let quoted = try XCTUnwrap(parseOK(#"{"n":"100"}"#, .json))
        XCTAssertEqual(quoted["n"]?.kind, .string)
        XCTAssertNil(quoted["n"]?.integerValue, "the string \"100\" is not an integer")
    }

    func testStringEscapes() throws {
        let table: [(json: String, decoded: String)] = [
            (#""plain""#, "plain"),
            (#""a\"b\\c\/d""#, "a\"b\\c/d"),
            (#""\b\f\n\r\t""#, "\u{8}\u{C}\n\r\t"),
            (#""\u0041\u00e9\u4E2D""#, "Aé中"),
            (#""\ud83d\ude00""#, "😀"),
            (#""x\uD834\uDD1Ey""#, "x𝄞y"),
            (#""测试 raw UTF-8 😀""#, "测试 raw UTF-8 😀"),
            (#""mixed 中\n文""#, "mixed 中\n文"),
        ]
        for (json, decoded) in table {
            let payload = try XCTUnwrap(parseOK("{\"s\":\(json)}", .json), json)
            XCTAssertEqual(payload["s"]?.text, decoded, json)
        }
        let key = try XCTUnwrap(parseOK(#"{"\u006dchid":"1"}"#, .json))
        XCTAssertEqual(key["mchid"]?.text, "1", "escaped keys are decoded before lookup")
    }

    func testRejections() {
        let deep = String(repeating: "{\"a\":", count: 32) + "1" + String(repeating: "}", count: 32)
        let tooDeep = String(repeating: "{\"a\":", count: 33) + "1" + String(repeating: "}", count: 33)
        let deepArray = "{\"a\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"
        XCTAssertNotNil(parseOK(deep, .json))
        assertRejections([
            RejectCase("empty body", "", .emptyBody),
            RejectCase("only whitespace", " \n\t", .emptyBody),
            RejectCase("duplicate key", #"{"mchid":"1","mchid":"2"}"#, .duplicateKey),
            RejectCase("duplicate key nested", #"{"amount":{"total":1,"total":100}}"#, .duplicateKey),
            RejectCase("duplicate key deep in array", #"{"a":[{"x":1},{"y":1,"y":2}]}"#, .duplicateKey),
            RejectCase("duplicate via escape", #"{"mchid":"1","\u006dchid":"2"}"#, .duplicateKey),
            RejectCase("duplicate ignoring case", #"{"mchid":"1","MchId":"2"}"#, .duplicateKey),
            RejectCase("duplicate via kelvin sign", "{\"k\":1,\"\u{212A}\":2}", .duplicateKey),
            RejectCase("duplicate via long s", "{\"s\":1,\"\u{17F}\":2}", .duplicateKey),
            RejectCase("invalid escape", #"{"a":"\x41"}"#, .invalidEscape),
            RejectCase("invalid escape \\U", #"{"a":"\U0041"}"#, .invalidEscape),
            RejectCase("short unicode escape", #"{"a":"\u12"}"#, .invalidEscape),
            RejectCase("non-hex unicode escape", #"{"a":"\u12G4"}"#, .invalidEscape),
            RejectCase("lone high surrogate", #"{"a":"\uD800"}"#, .loneSurrogate),
            RejectCase("high surrogate then char", #"{"a":"\uD800x"}"#, .loneSurrogate),
            RejectCase("two high surrogates", #"{"a":"\uD800\uD800"}"#, .loneSurrogate),
            RejectCase("lone low surrogate", #"{"a":"\uDC00"}"#, .loneSurrogate),
            RejectCase("escaped NUL", #"{"a":"x\u0000y"}"#, .nulCharacter),
            RejectCase("invalid UTF-8 in string", bytes: Array(#"{"a":""#.utf8) + [0xFF] + Array(#""}"#.utf8), .invalidUTF8),
            RejectCase("overlong slash", bytes: Array(#"{"a":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8), .invalidUTF8),
            RejectCase("UTF-8 surrogate", bytes: Array(#"{"a":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8), .invalidUTF8),
            RejectCase("truncated UTF-8", bytes: Array(#"{"a":""#.utf8) + [0xE4, 0xB8] + Array(#""}"#.utf8), .invalidUTF8),
            RejectCase("above U+10FFFF", bytes: Array(#"{"a":""#.utf8) + [0xF4, 0x90, 0x80, 0x80] + Array(#""}"#.utf8), .invalidUTF8),
            RejectCase("invalid UTF-8 outside string", bytes: Array(#"{"a":1"#.utf8) + [0xFF] + [0x7D], .invalidUTF8),
            RejectCase("raw newline in string", "{\"a\":\"x\ny\"}", .controlCharacter),
            RejectCase("raw tab in string", "{\"a\":\"x\ty\"}", .controlCharacter),
            RejectCase("raw NUL in string", bytes: Array(#"{"a":""#.utf8) + [0] + Array(#""}"#.utf8), .controlCharacter),
            RejectCase("too deep objects", tooDeep, .tooDeep),
            RejectCase("too deep arrays", deepArray, .tooDeep),
            RejectCase("trailing object", #"{"a":1}{"a":2}"#, .trailingData),
            RejectCase("trailing garbage", #"{"a":1} x"#, .trailingData),
            RejectCase("trailing NUL", bytes: Array(#"{"a":1}"#.utf8) + [0], .trailingData),
            RejectCase("BOM", "\u{FEFF}{\"a\":1}", .byteOrderMark),
            RejectCase("leading zero", #"{"a":01}"#, .invalidNumber),
            RejectCase("negative leading zero", #"{"a":-01}"#, .invalidNumber),
            RejectCase("plus sign", #"{"a":+1}"#, .invalidNumber),
            RejectCase("leading dot", #"{"a":.5}"#, .invalidNumber),
            RejectCase("trailing dot", #"{"a":1.}"#, .invalidNumber),
            RejectCase("dot before exponent", #"{"a":1.e5}"#, .invalidNumber),
            RejectCase("empty exponent", #"{"a":1e}"#, .invalidNumber),
            RejectCase("signed empty exponent", #"{"a":1e+}"#, .invalidNumber),
            RejectCase("NaN", #"{"a":NaN}"#, .invalidNumber),
            RejectCase("Infinity", #"{"a":Infinity}"#, .invalidNumber),
            RejectCase("-Infinity", #"{"a":-Infinity}"#, .invalidNumber),
            RejectCase("lone minus", #"{"a":-}"#, .invalidNumber),
            RejectCase("hex", #"{"a":0x10}"#, .invalidNumber),
            RejectCase("two dots", #"{"a":1.2.3}"#, .invalidNumber),
            RejectCase("top-level array", #"[{"a":1}]"#, .topLevelNotObject),
            RejectCase("top-level string", #""a""#, .topLevelNotObject),
            RejectCase("top-level number", "1", .topLevelNotObject),
            RejectCase("key with dot", #"{"a.b":1}"#, .invalidKey),
            RejectCase("empty key", #"{"":1}"#, .invalidKey),
            RejectCase("key with control", #"{"a\u0001":1}"#, .invalidKey),
            RejectCase("trailing comma object", #"{"a":1,}"#, .unexpectedCharacter),
            RejectCase("trailing comma array", #"{"a":[1,]}"#, .unexpectedCharacter),
            RejectCase("single quotes", #"{'a':1}"#, .unexpectedCharacter),
            RejectCase("unquoted key", #"{a:1}"#, .unexpectedCharacter),
            RejectCase("comment", "{\"a\":1 /* x */}", .unexpectedCharacter),
            RejectCase("missing colon", #"{"a" 1}"#, .unexpectedCharacter),
            RejectCase("True", #"{"a":True}"#, .unexpectedCharacter),
            RejectCase("truthy", #"{"a":tru}"#, .invalidLiteral),
            RejectCase("nullx", #"{"a":nullx}"#, .invalidLiteral),
            RejectCase("unterminated string", #"{"a":"abc"#, .unexpectedEnd),
            RejectCase("unterminated object", #"{"a":1"#, .unexpectedEnd),
            RejectCase("unterminated array", #"{"a":[1"#, .unexpectedEnd),
            RejectCase("vertical tab whitespace", "{\u{B}\"a\":1}", .unexpectedCharacter),
        ], .json)
    }

    func testLimits() {
        let limits = PayloadLimits(maxDepth: 3, maxFields: 4, maxKeyLength: 8)
        XCTAssertNotNil(parseOK(#"{"a":{"b":{"c":1}}}"#, .json, limits: limits))
        assertRejections([
            RejectCase("depth 4", #"{"a":{"b":{"c":{}}}}"#, .tooDeep),
            RejectCase("five fields", #"{"a":1,"b":2,"c":3,"d":4,"e":5}"#, .tooManyFields),
            RejectCase("array elements count", #"{"a":[1,2,3,4]}"#, .tooManyFields),
            RejectCase("long key", #"{"abcdefghi":1}"#, .keyTooLong),
        ], .json, limits: limits)
    }

    func testErrorMessagesNameKeyAndOffset() {
        let body = Array(#"{"mchid":"1900000001","amount":{"total":1,"total":2}}"#.utf8)
        guard let error = refusal(body, .json) else { return XCTFail("accepted") }
        XCTAssertEqual(error.reason, .duplicateKey)
        XCTAssertEqual(error.reason.rawValue, "duplicate_key")
        XCTAssertEqual(error.offset, 42)
        XCTAssertEqual(error.path, "amount")
        XCTAssertEqual(error.message, #"duplicate key "total" in "amount" at offset 42"#)
        XCTAssertEqual(error.description, #"duplicate_key: duplicate key "total" in "amount" at offset 42"#)

        let top = Array(#"{"mchid":"1","mchid":"2"}"#.utf8)
        XCTAssertEqual(refusal(top, .json)?.message, #"duplicate key "mchid" at offset 13"#)

        let hostile = Array(#"{"a\"b\\\u2028":1,"a\"b\\\u2028":2}"#.utf8)
        XCTAssertEqual(refusal(hostile, .json)?.detail, #"duplicate key "a\"b\\\u{2028}""#)
        let control = Array(#"{"a\n":1}"#.utf8)
        XCTAssertEqual(refusal(control, .json)?.detail, #"key "a\u{a}" contains a control character"#)
    }

    func testParseFromRawBufferAndSlice() throws {
        let bytes = Array(order.utf8)
        let fromRaw = try bytes.withUnsafeBytes { raw throws(PayloadError) in
            try PaymentPayload.parse(raw, format: .json)
        }
        XCTAssertEqual(fromRaw["amount.total"]?.integerValue, 100)
        let padded = [0x20] + bytes + [0x20]
        let fromSlice = try PaymentPayload.parse(padded[1...], format: .json)
        XCTAssertEqual(fromSlice["out_trade_no"]?.text, "T20260101-0001")
        let fromUTF8View = try PaymentPayload.parse(order.utf8, format: .json)
        XCTAssertEqual(fromUTF8View.topLevelFields.count, 7)
        let nonContiguous = try PaymentPayload.parse(bytes.lazy.map { $0 }, format: .json)
        XCTAssertEqual(nonContiguous["payer.openid"]?.text, "o4GgauInH_RCEdvrrNGrntXDuXXX")
    }
}
