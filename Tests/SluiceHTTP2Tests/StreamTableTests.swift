@testable import SluiceHTTP2
import XCTest

/// The open-addressing stream table against a Dictionary doing the same: inserts, replacements,
/// removals inside probe runs (the backward shift must keep every later entry reachable), growth,
/// and ids chosen to collide.
final class StreamTableTests: XCTestCase {
    final class Stream {
        let id: Int32
        init(_ id: Int32) { self.id = id }
    }

    func testAgreesWithADictionaryOverRandomOperations() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<20 {
            var table = StreamTable<Stream>()
            var reference: [Int32: Stream] = [:]
            // Odd ids as clients open them, plus ids spaced by powers of two (same home slot).
            let pool: [Int32] = (0..<200).map { Int32(2 * $0 + 1) } + (1...40).map { Int32($0) << 16 | 1 }
            for step in 0..<4000 {
                let id = pool.randomElement(using: &generator)!
                switch Int.random(in: 0..<10, using: &generator) {
                case 0..<5:
                    let stream = Stream(id)
                    table[id] = stream
                    reference[id] = stream
                case 5..<9:
                    XCTAssertTrue(table.removeValue(forKey: id) === reference.removeValue(forKey: id), "round \(round) step \(step)")
                default:
                    table[id] = nil
                    reference[id] = nil
                }
                XCTAssertEqual(table.count, reference.count)
                if step % 97 == 0 {
                    for id in pool { XCTAssertTrue(table[id] === reference[id], "round \(round) step \(step) id \(id)") }
                    XCTAssertEqual(Set(table.keys), Set(reference.keys))
                }
            }
            table.removeAll()
            XCTAssertTrue(table.isEmpty)
            XCTAssertNil(table[1])
        }
    }

    func testGrowsPastItsFirstCapacityAndKeepsEveryStream() {
        var table = StreamTable<Stream>()
        let ids = (0..<1000).map { Int32(2 * $0 + 1) }
        for id in ids { table[id] = Stream(id) }
        XCTAssertEqual(table.count, 1000)
        for id in ids { XCTAssertEqual(table[id]?.id, id) }
        for id in ids where id % 3 == 0 { table[id] = nil }
        for id in ids { XCTAssertEqual(table[id]?.id, id % 3 == 0 ? nil : id) }
        XCTAssertNil(table[0], "stream 0 is the connection, never a stream")
        XCTAssertNil(table[2])
    }
}
