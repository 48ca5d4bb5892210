@testable import SluiceHTTP1
import SluiceHTTP
import XCTest

/// A backend connection's responses reuse the long field values that repeat from the previous
/// response (same position, same bytes), and never hand out a stale one.
final class RepeatedFieldValuesTests: XCTestCase {
    private struct NotParsed: Error { let outcome: String }

    /// The parsed head; a head that does not parse whole fails the test (it is thrown).
    private func head(_ text: String, _ parser: inout ResponseHeadParser) throws -> HTTPResponseHead {
        let outcome = parseResponse(Array(text.utf8), method: "GET", with: &parser)
        guard case .complete(let parsed, _) = outcome else { throw NotParsed(outcome: "\(outcome)") }
        return parsed.head
    }

    private func storage(_ value: String?) -> UnsafePointer<UInt8>? {
        value?.utf8.withContiguousStorageIfAvailable { $0.baseAddress } ?? nil
    }

    func testRepeatedLongValuesAreTheSameStringsAndChangedOnesAreNew() throws {
        var parser = ResponseHeadParser()
        let first = try head("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 07 Dec 2026 05:00:00 GMT\r\n"
                             + "Content-Length: 2\r\n\r\n", &parser)
        let second = try head("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 07 Dec 2026 05:00:01 GMT\r\n"
                              + "Content-Length: 2\r\n\r\n", &parser)
        XCTAssertEqual(second.headers["content-type"], "application/json")
        XCTAssertEqual(second.headers["date"], "Mon, 07 Dec 2026 05:00:01 GMT", "a value that changed is read anew")
        XCTAssertEqual(storage(first.headers["content-type"]), storage(second.headers["content-type"]), "the repeated value is reused")
        XCTAssertNotEqual(storage(first.headers["date"]), storage(second.headers["date"]))

        // Fields in another order: each value is compared where it now stands, never misplaced.
        let third = try head("HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 05:00:01 GMT\r\nContent-Type: application/json\r\n"
                             + "Content-Length: 2\r\n\r\n", &parser)
        XCTAssertEqual(third.headers["content-type"], "application/json")
        XCTAssertEqual(third.headers["date"], "Mon, 07 Dec 2026 05:00:01 GMT")
        // Same length, different bytes.
        let fourth = try head("HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 05:00:01 GMT\r\nContent-Type: application/jsoN\r\n"
                              + "Content-Length: 2\r\n\r\n", &parser)
        XCTAssertEqual(fourth.headers["content-type"], "application/jsoN")
        XCTAssertEqual(storage(third.headers["date"]), storage(fourth.headers["date"]))
    }

    func testShortValuesAndOnesPastTheSlotsAreAlwaysNew() {
        var kept = RepeatedFieldValues(slots: 2)
        let text = Array("a-value-of-more-than-fifteen-bytes".utf8)
        text.withUnsafeBytes { raw in
            let bytes = HeadBytes(bytes: raw)
            let all = 0..<raw.count
            // Both strings of each pair are kept alive, so a freed one's address cannot come back.
            let (a, b) = (kept.string(bytes, all, position: 1), kept.string(bytes, all, position: 1))
            XCTAssertEqual(storage(a), storage(b))
            let (c, d) = (kept.string(bytes, all, position: 2), kept.string(bytes, all, position: 2))
            XCTAssertEqual(c, d)
            XCTAssertNotEqual(storage(c), storage(d), "past the slots nothing is kept")
            XCTAssertEqual(kept.string(bytes, 0..<7, position: 0), "a-value")
            var none = RepeatedFieldValues(slots: 0)
            let (e, f) = (none.string(bytes, all, position: 0), none.string(bytes, all, position: 0))
            XCTAssertNotEqual(storage(e), storage(f))
        }
    }
}
