@testable import SluiceRedis
import XCTest

/// The check `sluice check` runs on multi-key scripts for a cluster: keys built from these shapes
/// must land on one slot for every request.
final class RedisKeyShapeTests: XCTestCase {
    let merchant = RedisKeyShape.Part.value("merchant", mayHoldBraces: false, mayBeEmpty: false)

    func testKeysSharingAFixedNonEmptyTagPass() {
        let a = RedisKeyShape([.text("idem:{"), merchant, .text("}:a:"), .value("header", mayHoldBraces: true, mayBeEmpty: true)])
        let b = RedisKeyShape([.text("idem:{"), merchant, .text("}:b")])
        XCTAssertNil(RedisKeyShape.spanProblem([a, b]), "what follows the tag does not matter")
        XCTAssertNil(RedisKeyShape.spanProblem([RedisKeyShape([.text("one-key-only")])]), "a single key cannot span slots")
        XCTAssertNil(RedisKeyShape.spanProblem([RedisKeyShape([.text("x{fixed}1")]), RedisKeyShape([.text("y{fixed}2")])]))
    }

    func testKeysThatCouldSpanSlotsAreRefused() {
        let noTag = RedisKeyShape([.text("idem:"), merchant])
        XCTAssertEqual(RedisKeyShape.spanProblem([noTag, noTag]), "key idem:<merchant> has no hash tag")
        let other = RedisKeyShape([.text("idem:{"), .value("route", mayHoldBraces: false, mayBeEmpty: false), .text("}")])
        let mine = RedisKeyShape([.text("idem:{"), merchant, .text("}")])
        XCTAssertEqual(RedisKeyShape.spanProblem([mine, other]), "keys idem:{<merchant>} and idem:{<route>} have different hash tags")
        let maybeEmpty = RedisKeyShape([.text("idem:{"), .value("merchant", mayHoldBraces: false, mayBeEmpty: true), .text("}:x")])
        XCTAssertEqual(RedisKeyShape.spanProblem([maybeEmpty, maybeEmpty]), "key idem:{<merchant>}:x has a hash tag that may be empty")
        let bracesFirst = RedisKeyShape([.value("header", mayHoldBraces: true, mayBeEmpty: false), .text(":{t}")])
        XCTAssertNotNil(RedisKeyShape.spanProblem([bracesFirst, bracesFirst]))
        let bracesInside = RedisKeyShape([.text("{"), .value("header", mayHoldBraces: true, mayBeEmpty: false), .text("}")])
        XCTAssertNotNil(RedisKeyShape.spanProblem([bracesInside, bracesInside]))
        let unclosed = RedisKeyShape([.text("idem:{"), merchant])
        XCTAssertEqual(RedisKeyShape.spanProblem([unclosed, unclosed]), "key idem:{<merchant> opens a hash tag it does not close")
        XCTAssertEqual(RedisKeyShape.spanProblem([RedisKeyShape([.text("a{}b")]), RedisKeyShape([.text("a{}b")])]),
                       "key a{}b has a hash tag that may be empty")
    }
}
