import SluicePayload
import XCTest

final class ContentTypeTests: XCTestCase {
    func testRecognisedMediaTypes() {
        let table: [(header: String, format: PayloadFormat?)] = [
            ("application/json", .json),
            ("application/json; charset=utf-8", .json),
            ("Application/JSON;charset=UTF-8", .json),
            ("application/json ; charset=\"utf-8\"", .json),
            ("application/json; charset=utf8", .json),
            ("text/xml", .xml),
            ("text/xml; charset=UTF-8", .xml),
            ("application/xml", .xml),
            ("application/x-www-form-urlencoded", .form),
            ("application/x-www-form-urlencoded; charset=utf-8", .form),
            ("application/x-www-form-urlencoded;", .form),
            ("application/json; foo=bar", .json),
            ("text/plain", nil),
            ("multipart/form-data; boundary=x", nil),
            ("application/json; charset=gbk", nil),
            ("", nil),
            ("application", nil),
        ]
        for (header, format) in table {
            XCTAssertEqual(PayloadFormat(contentType: header), format, header)
        }
    }

    func testReasons() {
        func reason(_ header: String) -> PayloadError.Reason? {
            do throws(PayloadError) {
                _ = try PayloadFormat.detect(contentType: header)
                return nil
            } catch {
                return error.reason
            }
        }
        XCTAssertEqual(reason("application/json; charset=gbk"), .unsupportedCharset)
        XCTAssertEqual(reason("application/x-www-form-urlencoded; charset=GB2312"), .unsupportedCharset)
        XCTAssertEqual(reason("text/xml; charset=ISO-8859-1"), .unsupportedCharset)
        XCTAssertEqual(reason("application/json; charset=utf-8; charset=gbk"), .invalidContentType)
        XCTAssertEqual(reason("text/html"), .unsupportedMediaType)
        XCTAssertEqual(reason("application/json; charset"), .invalidContentType)
        XCTAssertEqual(reason("application/json; charset=\"utf-8"), .invalidContentType)
        XCTAssertEqual(reason("application/json x"), .invalidContentType)
        XCTAssertNil(reason("application/json"))
        do throws(PayloadError) {
            _ = try PayloadFormat.detect(contentType: "application/json; charset=gbk")
        } catch {
            XCTAssertTrue(error.message.contains("gbk"), error.message)
            XCTAssertTrue(error.message.contains("UTF-8"), error.message)
        }
    }
}

final class PayloadValueTests: XCTestCase {
    func testIntegerValue() {
        let table: [(kind: PayloadValue.Kind, text: String, integer: Int64?)] = [
            (.number, "100", 100), (.number, "-0", 0), (.number, "100.0", nil), (.number, "1e2", nil),
            (.string, "100", nil), (.text, "100", 100), (.text, "007", nil), (.text, "+1", nil),
            (.text, " 1", nil), (.text, "1 ", nil), (.text, "", nil), (.text, "-", nil),
            (.text, "9223372036854775807", .max), (.text, "9223372036854775808", nil),
            (.text, "-9223372036854775808", .min), (.text, "١٠٠", nil), (.bool, "true", nil), (.null, "null", nil),
        ]
        for (kind, text, integer) in table {
            XCTAssertEqual(PayloadValue(kind: kind, text: text).integerValue, integer, "\(kind) \(text)")
        }
    }

    func testAccessorsAndDescription() {
        XCTAssertEqual(PayloadValue(kind: .string, text: "a").stringValue, "a")
        XCTAssertEqual(PayloadValue(kind: .text, text: "a").stringValue, "a")
        XCTAssertNil(PayloadValue(kind: .number, text: "1").stringValue)
        XCTAssertEqual(PayloadValue(kind: .bool, text: "false").boolValue, false)
        XCTAssertNil(PayloadValue(kind: .string, text: "true").boolValue)
        XCTAssertTrue(PayloadValue(kind: .object, text: "").isContainer)
        XCTAssertEqual(PayloadValue(kind: .string, text: "a\"b").description, #""a\"b""#)
        XCTAssertEqual(PayloadValue(kind: .number, text: "1e2").description, "1e2")
    }

    func testReasonCodesAreUniqueAndSnakeCase() {
        let codes = PayloadError.Reason.allCases.map(\.rawValue)
        XCTAssertEqual(Set(codes).count, codes.count)
        for code in codes {
            XCTAssertTrue(code.allSatisfy { $0 == "_" || ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") }, code)
        }
    }
}
