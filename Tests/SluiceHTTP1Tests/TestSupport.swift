import SluiceHTTP
import SluiceHTTP1
import XCTest


/// What one parse call did, as a value tests can compare.
enum Outcome<Head> {
    case needMore
    case complete(Head, consumed: Int)
    case failed(HTTP1Error)
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func parseRequest(_ input: [UInt8], with parser: inout RequestHeadParser) -> Outcome<ParsedRequestHead> {
    input.withUnsafeBytes { raw in
        do throws(HTTP1Error) {
            switch try parser.parse(raw) {
            case .needMore: return .needMore
            case .complete(let head, let consumed): return .complete(head, consumed: consumed)
            }
        } catch {
            return .failed(error)
        }
    }
}

func parseResponse(_ input: [UInt8], method: String, with parser: inout ResponseHeadParser) -> Outcome<ParsedResponseHead> {
    input.withUnsafeBytes { raw in
        do throws(HTTP1Error) {
            switch try parser.parse(raw, requestMethod: method) {
            case .needMore: return .needMore
            case .complete(let head, let consumed): return .complete(head, consumed: consumed)
            }
        } catch {
            return .failed(error)
        }
    }
}

/// Feeds `input` as the parser's callers do: all bytes so far, one more byte each call. Returns
/// the first outcome that is not `.needMore` (or `.needMore` if the bytes run out).
func parseRequestByteByByte(_ input: [UInt8], limits: HTTP1Limits = HTTP1Limits()) -> Outcome<ParsedRequestHead> {
    var parser = RequestHeadParser(limits: limits)
    for end in 1...max(input.count, 1) {
        let outcome = parseRequest(Array(input.prefix(end)), with: &parser)
        if case .needMore = outcome { continue }
        return outcome
    }
    return .needMore
}

func parseResponseByteByByte(_ input: [UInt8], method: String = "GET") -> Outcome<ParsedResponseHead> {
    var parser = ResponseHeadParser(limits: HTTP1Limits())
    for end in 1...max(input.count, 1) {
        let outcome = parseResponse(Array(input.prefix(end)), method: method, with: &parser)
        if case .needMore = outcome { continue }
        return outcome
    }
    return .needMore
}

/// Parses a complete request head in one call and again byte by byte; both must agree.
func requestHead(_ text: String, limits: HTTP1Limits = HTTP1Limits(),
                 file: StaticString = #filePath, line: UInt = #line) -> ParsedRequestHead? {
    var parser = RequestHeadParser(limits: limits)
    let whole = parseRequest(bytes(text), with: &parser)
    let pieces = parseRequestByteByByte(bytes(text), limits: limits)
    guard case .complete(let head, let consumed) = whole else {
        XCTFail("expected a complete head, got \(whole)", file: file, line: line)
        return nil
    }
    guard case .complete(let head2, let consumed2) = pieces else {
        XCTFail("byte by byte: expected a complete head, got \(pieces)", file: file, line: line)
        return nil
    }
    XCTAssertEqual(head.head, head2.head, file: file, line: line)
    XCTAssertEqual(consumed, consumed2, file: file, line: line)
    return head
}

/// The request must be rejected with this status and reason, whole and byte by byte.
func assertRequestRejected(_ text: String, _ status: Int, _ reason: String, limits: HTTP1Limits = HTTP1Limits(),
                           file: StaticString = #filePath, line: UInt = #line) {
    var parser = RequestHeadParser(limits: limits)
    for (how, outcome) in [("whole", parseRequest(bytes(text), with: &parser)),
                           ("byte by byte", parseRequestByteByByte(bytes(text), limits: limits))] {
        guard case .failed(let error) = outcome else {
            XCTFail("\(how): expected \(status) \(reason), got \(outcome)", file: file, line: line)
            continue
        }
        XCTAssertEqual(error.status, status, "\(how): \(error)", file: file, line: line)
        XCTAssertEqual(error.reason, reason, "\(how): \(error)", file: file, line: line)
        XCTAssertFalse(error.message.isEmpty, file: file, line: line)
    }
}

func responseHead(_ text: String, method: String = "GET",
                  file: StaticString = #filePath, line: UInt = #line) -> ParsedResponseHead? {
    var parser = ResponseHeadParser(limits: HTTP1Limits())
    let whole = parseResponse(bytes(text), method: method, with: &parser)
    let pieces = parseResponseByteByByte(bytes(text), method: method)
    guard case .complete(let head, let consumed) = whole, case .complete(let head2, let consumed2) = pieces else {
        XCTFail("expected a complete head, got \(whole) / \(pieces)", file: file, line: line)
        return nil
    }
    XCTAssertEqual(head.head, head2.head, file: file, line: line)
    XCTAssertEqual(consumed, consumed2, file: file, line: line)
    return head
}

func assertResponseRejected(_ text: String, _ reason: String, method: String = "GET",
                            file: StaticString = #filePath, line: UInt = #line) {
    var parser = ResponseHeadParser(limits: HTTP1Limits())
    for (how, outcome) in [("whole", parseResponse(bytes(text), method: method, with: &parser)),
                           ("byte by byte", parseResponseByteByByte(bytes(text), method: method))] {
        guard case .failed(let error) = outcome else {
            XCTFail("\(how): expected 502 \(reason), got \(outcome)", file: file, line: line)
            continue
        }
        XCTAssertEqual(error.status, 502, "\(how): \(error)", file: file, line: line)
        XCTAssertEqual(error.reason, reason, "\(how): \(error)", file: file, line: line)
    }
}

/// Runs a chunked body through a decoder in the given pieces; returns the data, the bytes
/// consumed in total and whether it finished, or the error.
func decodeChunked(_ input: [UInt8], splits: [Int] = [], maxTrailerBytes: Int = 8192) -> Result<(data: [UInt8], consumed: Int, finished: Bool), Error> {
    var decoder = ChunkedDecoder(maxTrailerBytes: maxTrailerBytes)
    var data: [UInt8] = []
    var offset = 0
    var finished = false
    let bounds = (splits.filter { $0 > 0 && $0 < input.count } + [input.count]).sorted()
    do {
        for bound in bounds where bound > offset && !finished {
            // Like a socket adapter: unconsumed bytes are offered again with the next read.
            let piece = Array(input[offset..<bound])
            let (consumed, done) = try piece.withUnsafeBytes { raw in
                try decoder.decode(raw) { data.append(contentsOf: $0) }
            }
            offset += consumed
            finished = done
        }
    } catch {
        return .failure(error)
    }
    return .success((data, offset, finished))
}
