import SluiceHTTP
import SluiceHTTP1
import SluiceTestSupport
import XCTest

/// A deterministic mini fuzz: random and mutated inputs from a seeded PRNG must never crash,
/// and every input must give the same outcome whether it arrives whole, one byte at a time,
/// or in random pieces.
final class RandomInputTests: XCTestCase {
    private let requestSeeds = [
        "GET /pay?x=1 HTTP/1.1\r\nHost: api\r\nConnection: keep-alive\r\n\r\n",
        "\r\nPOST /v3/pay HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n",
        "PUT /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: Keep-Alive\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\nX-A: one, two\r\nContent-Length: 5, 5\r\n\r\n",
    ]
    private let responseSeeds = [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 204\r\nServer: x\r\n\r\n",
    ]
    private let chunkedSeed = "4\r\nWiki\r\n5;a=b\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\n"
    /// Bytes that matter to the grammar, so mutations hit the interesting branches often.
    private let interesting: [UInt8] = Array(" \t\r\n:;,/*0123456789aAfFxX-+\"".utf8) + [0, 0x7F, 0x80, 0xFF, 0x0B]

    private func mutate(_ seed: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var input = seed
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let position = input.isEmpty ? 0 : Int.random(in: 0..<input.count, using: &random)
            let byte = Bool.random(using: &random) ? interesting.randomElement(using: &random)!
                                                   : UInt8.random(in: 0...255, using: &random)
            switch Int.random(in: 0..<5, using: &random) {
            case 0 where !input.isEmpty: input[position] = byte
            case 1: input.insert(byte, at: position)
            case 2 where !input.isEmpty: input.remove(at: position)
            case 3: input = Array(input.prefix(position))
            default:
                let length = min(Int.random(in: 1...6, using: &random), input.count - position)
                if length > 0 { input.insert(contentsOf: input[position..<position + length], at: position) }
            }
        }
        return input
    }

    private func inputs(seeds: [String], count: Int, seed: UInt64) -> [[UInt8]] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { round in
            if round % 5 == 0 {
                let length = Int.random(in: 0...80, using: &random)
                return (0..<length).map { _ in
                    Bool.random(using: &random) ? interesting.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
                }
            }
            return mutate(bytes(seeds.randomElement(using: &random)!), &random)
        }
    }

    private func describe<H>(_ outcome: Outcome<H>, _ key: (H) -> String) -> String {
        switch outcome {
        case .needMore: "needMore"
        case .complete(let head, let consumed): "complete \(consumed) \(key(head))"
        case .failed(let error): "failed \(error.status) \(error.reason)"
        }
    }

    private func requestKey(_ parsed: ParsedRequestHead) -> String {
        "\(parsed.head) \(parsed.framing) \(parsed.keepAlive) \(parsed.expectsContinue)"
    }

    private func responseKey(_ parsed: ParsedResponseHead) -> String {
        "\(parsed.head) \(parsed.framing) \(parsed.keepAlive)"
    }

    func testRandomRequestHeads() {
        let limits = HTTP1Limits(maxHeaderBytes: 200, maxURIBytes: 40, maxHeaderCount: 6)
        var random = SplitMix64(seed: 42)
        var tally: [String: Int] = [:]
        for input in inputs(seeds: requestSeeds, count: 400, seed: 1) {
            var parser = RequestHeadParser(limits: limits)
            let whole = describe(parseRequest(input, with: &parser), requestKey)
            let byByte = describe(parseRequestByteByByte(input, limits: limits), requestKey)
            XCTAssertEqual(whole, byByte, "input \(input)")
            // Random pieces, always passing everything received so far.
            var pieces = RequestHeadParser(limits: limits)
            var end = 0
            var piecewise = "needMore"
            while end < input.count {
                end = min(input.count, end + Int.random(in: 1...16, using: &random))
                piecewise = describe(parseRequest(Array(input.prefix(end)), with: &pieces), requestKey)
                if piecewise != "needMore" { break }
            }
            if !input.isEmpty { XCTAssertEqual(whole, piecewise, "input \(input)") }
            tally[String(whole.prefix(while: { $0 != " " })), default: 0] += 1
        }
        // The corpus must reach every kind of outcome, or the test proves little.
        XCTAssertGreaterThan(tally["complete"] ?? 0, 20, "\(tally)")
        XCTAssertGreaterThan(tally["failed"] ?? 0, 100, "\(tally)")
        XCTAssertGreaterThan(tally["needMore"] ?? 0, 20, "\(tally)")
    }

    func testRandomResponseHeads() {
        var tally: [String: Int] = [:]
        for input in inputs(seeds: responseSeeds, count: 300, seed: 2) {
            for method in ["GET", "HEAD"] {
                var parser = ResponseHeadParser(limits: HTTP1Limits())
                let whole = describe(parseResponse(input, method: method, with: &parser), responseKey)
                let byByte = describe(parseResponseByteByByte(input, method: method), responseKey)
                XCTAssertEqual(whole, byByte, "input \(input)")
                if whole.hasPrefix("failed") { XCTAssertTrue(whole.hasPrefix("failed 502"), whole) }
                tally[String(whole.prefix(while: { $0 != " " })), default: 0] += 1
            }
        }
        XCTAssertGreaterThan(tally["complete"] ?? 0, 20, "\(tally)")
        XCTAssertGreaterThan(tally["failed"] ?? 0, 100, "\(tally)")
    }

    func testRandomChunkedBodies() {
        var random = SplitMix64(seed: 3)
        var tally: [String: Int] = [:]
        for input in inputs(seeds: [chunkedSeed], count: 400, seed: 4) {
            let whole = decodeChunked(input, maxTrailerBytes: 24)
            let byByte = decodeChunked(input, splits: Array(0..<input.count), maxTrailerBytes: 24)
            let cuts = (0..<3).map { _ in Int.random(in: 0...max(input.count, 1), using: &random) }
            let randomly = decodeChunked(input, splits: cuts, maxTrailerBytes: 24)
            func key(_ result: Result<(data: [UInt8], consumed: Int, finished: Bool), Error>) -> String {
                switch result {
                case .success(let value): "ok \(value.data) \(value.consumed) \(value.finished)"
                case .failure(let error): "failed \(error)"
                }
            }
            XCTAssertEqual(key(whole), key(byByte), "input \(input)")
            XCTAssertEqual(key(whole), key(randomly), "input \(input)")
            tally[String(key(whole).prefix(2)), default: 0] += 1
        }
        XCTAssertGreaterThan(tally["ok"] ?? 0, 20, "\(tally)")
        XCTAssertGreaterThan(tally["fa"] ?? 0, 100, "\(tally)")
    }
}
