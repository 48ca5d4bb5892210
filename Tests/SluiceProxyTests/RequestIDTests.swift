import XCTest
@testable import SluiceProxy

/// Gateway-made request ids: short enough to be a Swift small string (no allocation), URL- and
/// header-safe, unique per loop, and still unique once the counter wraps.
final class RequestIDTests: XCTestCase {
    let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    func testIdsAreFifteenSafeCharactersAndUnique() {
        var generator = RequestIDGenerator()
        var seen = Set<String>()
        for _ in 0..<100_000 {
            let id = generator.next()
            XCTAssertEqual(id.utf8.count, RequestIDGenerator.length)
            XCTAssertTrue(id.utf8.allSatisfy(alphabet.contains), id)
            XCTAssertTrue(RequestPipeline.isAcceptableRequestID(id), id)
            seen.insert(id)
        }
        XCTAssertEqual(seen.count, 100_000)
    }

    func testTwoLoopsDrawDifferentPrefixes() {
        var (a, b) = (RequestIDGenerator(), RequestIDGenerator())
        XCTAssertNotEqual(a.next().prefix(10), b.next().prefix(10))
    }

    func testTheCounterWrapsToANewPrefix() {
        var generator = RequestIDGenerator(counter: (1 << 30) - 3)
        let before = (0..<2).map { _ in generator.next() }
        let after = (0..<2).map { _ in generator.next() }
        XCTAssertEqual(before.map { String($0.suffix(5)) }, ["____-", "_____"], "the last counts before the wrap: 2^30 - 2, 2^30 - 1")
        XCTAssertEqual(before[0].prefix(10), before[1].prefix(10))
        XCTAssertEqual(after[0].suffix(5), "AAAAB", "the count starts again at 1")
        XCTAssertNotEqual(after[0].prefix(10), before[1].prefix(10), "with a new prefix")
        XCTAssertEqual(after[0].prefix(10), after[1].prefix(10))
        XCTAssertEqual(Set(before + after).count, 4)
    }
}
