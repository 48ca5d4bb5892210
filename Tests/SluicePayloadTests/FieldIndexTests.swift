import SluicePayload
import XCTest

/// The field index behind lookups and duplicate detection: small bodies are scanned, larger ones
/// use a hash table; both must agree with a plain reference (exact lookup, duplicates after case
/// folding), including across the switch from one to the other.
final class FieldIndexTests: XCTestCase {
    /// A flat JSON object with these keys, each value its key's position.
    private func object(_ keys: [String]) -> [UInt8] {
        Array(("{" + keys.enumerated().map { "\"\($0.element)\":\($0.offset)" }.joined(separator: ",") + "}").utf8)
    }

    func testLookupsOnEitherSideOfTheScanLimit() throws {
        for count in [1, 15, 16, 17, 33, 64, 65, 300] {
            let keys = (0..<count).map { "k_\($0)" }
            let payload = try XCTUnwrap(parseOK(object(keys), .json))
            XCTAssertEqual(payload.fields.count, count)
            for (position, key) in keys.enumerated() {
                XCTAssertEqual(payload[key]?.text, String(position), "\(count) fields: \(key)")
                XCTAssertEqual(payload[PayloadPath(key)]?.text, String(position), "\(count) fields: prepared \(key)")
                XCTAssertNil(payload[key.uppercased()], "lookup is exact: \(key.uppercased())")
            }
            XCTAssertNil(payload["k_\(count)"])
            XCTAssertNil(payload[PayloadPath("missing")])
        }
    }

    /// `withFields` reads the same fields in place as the subscripts do: on both sides of the
    /// scan limit, nested and array paths, decoded (escaped) strings, exact case only.
    func testFieldsReadInPlaceAgreeWithTheSubscripts() throws {
        for count in [3, 40] {
            let keys = (0..<count).map { "k_\($0)" }
            var json = String(decoding: object(keys), as: UTF8.self)
            json.removeLast()
            json += #","amount":{"total":100,"currency":"CN\u0059"},"items":[{"sku":"a\"b"}],"none":null}"#
            let payload = try XCTUnwrap(parseOK(json, .json))
            payload.withFields { fields in
                for path in keys + ["amount", "amount.total", "amount.currency", "items.0.sku", "items", "none"] {
                    let expected = payload[path]
                    guard let k = fields.position(of: PayloadPath(path)) else { return XCTFail("\(count) fields: \(path) not found") }
                    XCTAssertEqual(fields.kind(at: k), expected?.kind, path)
                    XCTAssertEqual(Array(fields.bytes(at: k)), expected?.withUTF8 { Array($0) }, path)
                    XCTAssertEqual(fields.value(at: k), expected, path)
                }
                XCTAssertEqual(String(decoding: fields.bytes(at: fields.position(of: PayloadPath("amount.currency"))!), as: UTF8.self), "CNY")
                XCTAssertEqual(String(decoding: fields.bytes(at: fields.position(of: PayloadPath("items.0.sku"))!), as: UTF8.self), "a\"b")
                XCTAssertEqual(PayloadValue.integer(fields.kind(at: fields.position(of: PayloadPath("amount.total"))!),
                                                    fields.bytes(at: fields.position(of: PayloadPath("amount.total"))!)), 100)
                for missing in ["AMOUNT.total", "amount.Total", "amount.total.x", "items.1.sku", "k_\(count)", "total", ""] {
                    XCTAssertNil(fields.position(of: PayloadPath(missing)), "\(count) fields: \(missing)")
                }
            }
        }
    }

    func testDuplicatesAfterFoldingAreFoundAtAnyPosition() {
        for count in [2, 16, 17, 40, 200] {
            var keys = (0..<count - 1).map { "field\($0)" }
            for (spelling, reason) in [("field0", "exact"), ("FIELD0", "case"), ("Field\(count - 2)", "case")] {
                keys.append(spelling)
                let error = refusal(object(keys), .json)
                XCTAssertEqual(error?.reason, .duplicateKey, "\(count) fields, \(reason) duplicate \(spelling)")
                keys.removeLast()
            }
            // U+212A KELVIN SIGN folds to k, U+017F LONG S to s.
            keys.append("kelvin")
            keys.append("\u{212A}elvin")
            XCTAssertEqual(refusal(object(keys), .json)?.reason, .duplicateKey, "\(count) fields, Kelvin sign")
            keys.removeLast(2)
            keys.append("sum")
            keys.append("\u{017F}um")
            XCTAssertEqual(refusal(object(keys), .json)?.reason, .duplicateKey, "\(count) fields, long s")
            keys.removeLast(2)
            // U+0131 DOTLESS I and U+0130 DOTTED I fold to i in Go's encoding/json.
            // And `_`/`-` count for nothing: fastjson binds notifyUrl and notify-url to notify_url.
            for dotted in ["not\u{131}fy_url", "NOT\u{130}FY_URL", "notifyUrl", "notify-url", "NOTIFYURL"] {
                keys.append("notify_url")
                keys.append(dotted)
                XCTAssertEqual(refusal(object(keys), .json)?.reason, .duplicateKey, "\(count) fields, \(dotted)")
                keys.removeLast(2)
            }
        }
    }

    func testNestedPathsAreIndexedByTheirWholePath() throws {
        // `a.b` inside `a` and `b` at the top are different fields; `A.b` folds onto `a.b`.
        let body = #"{"a":{"b":1,"c":[{"d":2},{"d":3}]},"b":4}"#
        let payload = try XCTUnwrap(parseOK(body, .json))
        XCTAssertEqual(payload["a.b"]?.text, "1")
        XCTAssertEqual(payload["b"]?.text, "4")
        XCTAssertEqual(payload["a.c.0.d"]?.text, "2")
        XCTAssertEqual(payload[PayloadPath("a.c.1.d")]?.text, "3")
        XCTAssertNil(payload["a.c.2.d"])
        XCTAssertEqual(refusal(Array(#"{"a":{"b":1,"B":2}}"#.utf8), .json)?.reason, .duplicateKey)
        XCTAssertEqual(refusal(Array(#"{"a":{"b":1},"A":{"c":2}}"#.utf8), .json)?.reason, .duplicateKey)
    }

    func testTopLevelFieldsAreTheMembersOfTheOuterObject() throws {
        let payload = try XCTUnwrap(parseOK(#"{"x":1,"o":{"x":2,"p":{"q":3}},"l":[4,5],"y":"z"}"#, .json))
        XCTAssertEqual(payload.topLevelFields.map(\.name), ["x", "o", "l", "y"])
        XCTAssertEqual(payload.topLevelFields.map(\.value.text), ["1", "", "", "z"])
    }
}
