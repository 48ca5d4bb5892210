import SluiceSharedRedis
import XCTest

/// Nonce claims under `deny` carry an owner token written straight into the SET command.
final class OwnerTokenTests: XCTestCase {
    /// The bytes written are a RESP bulk string whose content is what the returned range names,
    /// the same form `next()` makes, and never the same twice (across the digit-count changes).
    func testTokensAppendedAsBulkStringsAreWellFormedAndUnique() {
        let tokens = OwnerTokens()
        var seen = Set<String>()
        for _ in 0..<2000 {
            var command = Array("*1\r\n".utf8)
            let range = tokens.appendNextBulk(to: &command)
            let token = String(decoding: command[range], as: UTF8.self)
            XCTAssertEqual(String(decoding: command, as: UTF8.self), "*1\r\n$\(token.utf8.count)\r\n\(token)\r\n")
            let parts = token.split(separator: ":")
            XCTAssertEqual(parts.count, 2, token)
            XCTAssertTrue(parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber } }, token)
            XCTAssertTrue(seen.insert(token).inserted, "token \(token) given twice")
        }
        XCTAssertEqual(tokens.next().split(separator: ":").first, seen.first.map { $0.split(separator: ":")[0] })
    }
}
