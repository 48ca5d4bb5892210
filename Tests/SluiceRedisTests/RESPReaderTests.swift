@testable import SluiceRedis
import XCTest

/// The reply parser: one-line replies read directly, the rest by hiredis, in order, wherever the
/// socket's reads happen to split the bytes.
final class RESPReaderTests: XCTestCase {
    /// Replies of every kind, the one-line ones among others, and what they parse to.
    let stream: [(String, RedisReply)] = [
        ("+OK\r\n", .status("OK")),
        ("$-1\r\n", .null),
        (":42\r\n", .integer(42)),
        (":-7\r\n", .integer(-7)),
        ("*2\r\n:1\r\n$3\r\nabc\r\n", .array([.integer(1), .bulk(Array("abc".utf8))])),
        ("+OK\r\n", .status("OK")),
        ("-NOSCRIPT No matching script\r\n", .error("NOSCRIPT No matching script")),
        ("$5\r\nhe\r\no\r\n", .bulk(Array("he\r\no".utf8))),
        (":123456789012345678\r\n", .integer(123_456_789_012_345_678)),
        (":1234567890123456789\r\n", .integer(1_234_567_890_123_456_789)),  // 19 digits: hiredis's
        ("$-1\r\n", .null),
        ("+\r\n", .status("")),
        ("*-1\r\n", .null),
    ]

    func testEverySplitOfTheBytesGivesTheSameRepliesInOrder() {
        let bytes = Array(stream.map(\.0).joined().utf8)
        let expected = stream.map(\.1)
        for cut in 0...bytes.count {
            let reader = RESPReader()
            var replies: [RedisReply] = []
            for part in [bytes[..<cut], bytes[cut...]] {
                XCTAssertTrue(Array(part).withUnsafeBytes { reader.read($0) { replies.append($0) } }, "cut at \(cut)")
            }
            XCTAssertEqual(replies, expected, "cut at \(cut)")
        }
    }

    func testByteByByte() {
        let bytes = Array(stream.map(\.0).joined().utf8)
        let reader = RESPReader()
        var replies: [RedisReply] = []
        for byte in bytes {
            XCTAssertTrue([byte].withUnsafeBytes { reader.read($0) { replies.append($0) } })
        }
        XCTAssertEqual(replies, stream.map(\.1))
    }

    func testOneLineRepliesAreReadWithoutHiredis() {
        let text = "+OK\r\n$-1\r\n:5\r\n-ERR x\r\n"
        Array(text.utf8).withUnsafeBytes { bytes in
            var at = 0
            var replies: [RedisReply] = []
            while let (reply, length) = RESPReader.lineReply(bytes, from: at) {
                replies.append(reply)
                at += length
            }
            XCTAssertEqual(at, bytes.count)
            XCTAssertEqual(replies, [.status("OK"), .null, .integer(5), .error("ERR x")])
        }
        for other in ["+OK\r", ":12a\r\n", ":\r\n", ":+1\r\n", "$3\r\nabc\r\n", "*1\r\n:1\r\n", ":1234567890123456789\r\n", "?x\r\n"] {
            Array(other.utf8).withUnsafeBytes { XCTAssertNil(RESPReader.lineReply($0, from: 0), other) }
        }
    }

    func testAMalformedReplyIsAProtocolErrorAfterTheGoodOnes() {
        let reader = RESPReader()
        var replies: [RedisReply] = []
        let ok = Array("+OK\r\n?bad\r\n".utf8).withUnsafeBytes { reader.read($0) { replies.append($0) } }
        XCTAssertFalse(ok)
        XCTAssertEqual(replies, [.status("OK")])
        let integer = RESPReader()
        XCTAssertFalse(Array(":12a\r\n".utf8).withUnsafeBytes { integer.read($0) { _ in } }, "hiredis still judges what is not plain")
    }
}
