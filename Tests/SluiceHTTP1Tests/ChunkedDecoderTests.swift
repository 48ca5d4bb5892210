import SluiceHTTP1
import SluiceTestSupport
import XCTest

final class ChunkedDecoderTests: XCTestCase {
    private let corpus = bytes("5\r\nhello\r\n1A;name=value;x\r\nabcdefghijklmnopqrstuvwxyz\r\n"
        + "000010\r\n0123456789ABCDEF\r\n0;last\r\nTrailer-One: a\r\nX: \r\n\r\nNEXT")
    private let corpusData = bytes("hello" + "abcdefghijklmnopqrstuvwxyz" + "0123456789ABCDEF")

    private func assertDecodes(_ input: [UInt8], splits: [Int] = [], data: [UInt8], consumed: Int,
                               file: StaticString = #filePath, line: UInt = #line) {
        switch decodeChunked(input, splits: splits) {
        case .success(let result):
            XCTAssertEqual(result.data, data, file: file, line: line)
            XCTAssertEqual(result.consumed, consumed, file: file, line: line)
            XCTAssertTrue(result.finished, file: file, line: line)
        case .failure(let error):
            XCTFail("\(error)", file: file, line: line)
        }
    }

    private func assertRejected(_ text: String, _ reason: String, maxTrailerBytes: Int = 8192,
                                file: StaticString = #filePath, line: UInt = #line) {
        let input = bytes(text)
        for splits in [[], Array(1..<max(input.count, 1))] {
            guard case .failure(let error) = decodeChunked(input, splits: splits, maxTrailerBytes: maxTrailerBytes) else {
                XCTFail("expected \(reason) for \(text.debugDescription)", file: file, line: line)
                continue
            }
            XCTAssertEqual((error as? HTTP1Error)?.status, 400, file: file, line: line)
            XCTAssertEqual((error as? HTTP1Error)?.reason, reason, file: file, line: line)
        }
    }

    func testWholeCorpus() {
        assertDecodes(corpus, data: corpusData, consumed: corpus.count - 4)
    }

    func testSplitAtEveryByteBoundary() {
        assertDecodes(corpus, splits: Array(1..<corpus.count), data: corpusData, consumed: corpus.count - 4)
        for cut in 1..<corpus.count {
            assertDecodes(corpus, splits: [cut], data: corpusData, consumed: corpus.count - 4)
        }
    }

    func testRandomSplits() {
        var random = SplitMix64(seed: 0x5EED)
        for _ in 0..<300 {
            let cuts = (0..<Int.random(in: 1...8, using: &random)).map { _ in Int.random(in: 1..<corpus.count, using: &random) }
            assertDecodes(corpus, splits: cuts, data: corpusData, consumed: corpus.count - 4)
        }
    }

    func testDataIsHandedOutZeroCopyInOneSlicePerChunk() throws {
        let input = bytes("3\r\nabc\r\n0\r\n\r\n")
        var decoder = ChunkedDecoder()
        var slices: [UnsafeRawBufferPointer] = []
        try input.withUnsafeBytes { raw in
            let result = try decoder.decode(raw) { slices.append($0) }
            XCTAssertEqual(result.consumed, input.count)
            XCTAssertTrue(result.finished)
            XCTAssertEqual(slices.count, 1)
            XCTAssertEqual(slices.first?.baseAddress, raw.baseAddress! + 3)
            XCTAssertEqual(slices.first?.count, 3)
        }
        XCTAssertTrue(decoder.isFinished)
    }

    func testAfterTheEndNothingMoreIsConsumed() throws {
        var decoder = ChunkedDecoder()
        let end = bytes("0\r\n\r\n")
        _ = try end.withUnsafeBytes { try decoder.decode($0) { _ in } }
        let more = bytes("5\r\nhello\r\n")
        let result = try more.withUnsafeBytes { try decoder.decode($0) { _ in XCTFail("no data after the end") } }
        XCTAssertEqual(result.consumed, 0)
        XCTAssertTrue(result.finished)
    }

    func testNotFinishedMidBody() {
        guard case .success(let result) = decodeChunked(bytes("5\r\nhel")) else { return XCTFail("failed") }
        XCTAssertEqual(result.data, bytes("hel"))
        XCTAssertFalse(result.finished)
    }

    func testUpperAndLowerCaseHexAndLargestSizes() throws {
        assertDecodes(bytes("a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n"),
                      data: bytes("01234567890123456789"), consumed: 35)
        // 2^62 exactly is allowed, 16 digits with leading zeros too: only the header is parsed here.
        for size in ["4000000000000000", "0000000000000001"] {
            guard case .success(let result) = decodeChunked(bytes(size + "\r\n")) else {
                return XCTFail("\(size) rejected")
            }
            XCTAssertFalse(result.finished)
        }
    }

    func testEmptyBodyWithoutTrailers() {
        assertDecodes(bytes("0\r\n\r\n"), data: [], consumed: 5)
    }

    func testSizeSyntax() {
        assertRejected(" 5\r\nhello\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("5 \r\nhello\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("0x5\r\nhello\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("-5\r\nhello\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("+5\r\nhello\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("\r\nhello\r\n0\r\n\r\n", "bad_chunk")
        assertRejected(";ext\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("g\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("5\nhello\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("5\r\rhello\r\n0\r\n\r\n", "bad_chunk")
    }

    func testSizeOverflow() {
        assertRejected("4000000000000001\r\n", "chunk_size_too_large")
        assertRejected("ffffffffffffffff\r\n", "chunk_size_too_large")
        assertRejected("00000000000000001\r\n", "chunk_size_too_large")  // 17 digits
        assertRejected("1ffffffffffffffffffff\r\n", "chunk_size_too_large")
    }

    func testExtensions() {
        let withExtensions = bytes("3;a=b;c=\"d e\"\r\nabc\r\n0\r\n\r\n")
        assertDecodes(withExtensions, data: bytes("abc"), consumed: withExtensions.count)
        assertRejected("3;a\u{0}b\r\nabc\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("3;a\nb\r\nabc\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("3;a\rb\r\nabc\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("3;" + String(repeating: "x", count: 5000) + "\r\nabc\r\n0\r\n\r\n", "chunk_line_too_long")
    }

    func testDataMustBeFollowedByExactlyCRLF() {
        assertRejected("3\r\nabcd\r\n0\r\n\r\n", "bad_chunk")
        assertRejected("3\r\nabc\n0\r\n\r\n", "bad_chunk")
        assertRejected("3\r\nabc\r0\r\n\r\n", "bad_chunk")
        assertRejected("3\r\nab\r\n0\r\n\r\n", "bad_chunk")
    }

    func testTrailerShape() {
        let trailers = bytes("0\r\nA: 1\r\nB-c:\r\n\r\n")
        assertDecodes(trailers, data: [], consumed: trailers.count)
        assertRejected("0\r\n folded: x\r\n\r\n", "bad_chunk")
        assertRejected("0\r\n: x\r\n\r\n", "bad_chunk")
        assertRejected("0\r\nNoColon\r\n\r\n", "bad_chunk")
        assertRejected("0\r\nA : x\r\n\r\n", "bad_chunk")
        assertRejected("0\r\nA: x\u{0}\r\n\r\n", "bad_chunk")
        assertRejected("0\r\nA: x\n\r\n", "bad_chunk")
        assertRejected("0\r\n\n", "bad_chunk")
        assertRejected("0\r\n\r\r", "bad_chunk")
    }

    func testTrailerSizeLimit() {
        let trailer = "0\r\nX: " + String(repeating: "a", count: 100) + "\r\n\r\n"
        assertRejected(trailer, "trailer_too_large", maxTrailerBytes: 64)
    }

    func testOnDataErrorsPropagate() {
        struct Stop: Error {}
        var decoder = ChunkedDecoder()
        XCTAssertThrowsError(try bytes("3\r\nabc\r\n").withUnsafeBytes { raw in
            try decoder.decode(raw) { _ in throw Stop() }
        }) { XCTAssertTrue($0 is Stop) }
    }

    /// Trailer fields are kept (names lower-cased, values trimmed), whatever the split; a body
    /// without them leaves `trailers` empty.
    func testTrailerFieldsAreKeptAtEverySplit() throws {
        let input = bytes("4\r\nbody\r\n0\r\nGrpc-Status: 0\r\ngrpc-message:  all good \r\nX-Empty:\r\n\r\nNEXT")
        for splits in [[], Array(1..<input.count)] {
            var decoder = ChunkedDecoder()
            var offset = 0
            for bound in (splits + [input.count]) where bound > offset && !decoder.isFinished {
                let piece = Array(input[offset..<bound])
                offset += try piece.withUnsafeBytes { try decoder.decode($0) { _ in }.consumed }
            }
            XCTAssertTrue(decoder.isFinished)
            XCTAssertEqual(decoder.trailers.map { "\($0.name)=\($0.value)" }, ["grpc-status=0", "grpc-message=all good", "x-empty="])
        }
        var plain = ChunkedDecoder()
        _ = try bytes("3\r\nabc\r\n0\r\n\r\n").withUnsafeBytes { try plain.decode($0) { _ in } }
        XCTAssertTrue(plain.isFinished)
        XCTAssertTrue(plain.trailers.isEmpty)
    }
}
