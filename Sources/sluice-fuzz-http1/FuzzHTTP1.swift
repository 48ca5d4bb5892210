// Fuzz target for the HTTP/1.1 codec: RequestHeadParser, ResponseHeadParser, ChunkedDecoder.
//
// Input: byte 0 holds flags (bit 0: small limits, bit 1: the response answers a HEAD request),
// bytes 1–2 a big-endian number whose remainder modulo (message length + 1) is the split
// point; the rest is the message. The message is read three ways — as a client's pipelined
// requests, as a backend's responses, as a bare chunked body — once arriving whole and once in
// two reads cut at the split point. Invariants: no crash, `consumed` within the bytes offered,
// a chunked read that does not end the body consumes all of it, and the same events either way.
//
// `swift build` gives a replay tool (arguments: files or corpus directories); with
// `-sanitize=fuzzer,address -DSLUICE_LIBFUZZER` (`make fuzz`) a libFuzzer binary.
import SluiceFuzzSupport
import SluiceHTTP
import SluiceHTTP1

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP1(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 3 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let smallLimits = input[0] & 1 != 0
    let method = input[0] & 2 != 0 ? "HEAD" : "GET"
    let message = UnsafeRawBufferPointer(rebasing: input[3...])
    let split = (Int(input[1]) << 8 | Int(input[2])) % (message.count + 1)

    for mode in [Connection.Mode.requests, .responses(method: method), .chunkedBody] {
        let whole = Connection.events(mode, smallLimits: smallLimits, message, cuts: [])
        let cut = Connection.events(mode, smallLimits: smallLimits, message, cuts: [split])
        fuzzRequire(whole == cut, "\(mode) split at \(split) of \(message.count): whole \(whole) vs split \(cut)")
    }
    return 0
}

/// What a connection saw, in order: comparable between deliveries.
enum Event: Equatable {
    case request(ParsedRequestHead, consumed: Int)
    case response(ParsedResponseHead, consumed: Int)
    case body([UInt8], complete: Bool)
    case failed(HTTP1Error)
    /// Input ended inside a head.
    case partialHead
    /// Input ended with the connection still open and nothing pending.
    case idle

    static func == (left: Event, right: Event) -> Bool {
        switch (left, right) {
        case let (.request(a, ca), .request(b, cb)):
            a.head == b.head && a.framing == b.framing && a.keepAlive == b.keepAlive
                && a.expectsContinue == b.expectsContinue && ca == cb
        case let (.response(a, ca), .response(b, cb)):
            a.head == b.head && a.framing == b.framing && a.keepAlive == b.keepAlive && ca == cb
        case let (.body(a, ca), .body(b, cb)): a == b && ca == cb
        case let (.failed(a), .failed(b)): a == b
        case (.partialHead, .partialHead), (.idle, .idle): true
        default: false
        }
    }
}

/// One side of a connection reading a byte stream as the proxy does: a head, then its body by
/// its framing, then the next head while the connection is kept alive.
struct Connection {
    enum Mode: CustomStringConvertible {
        case requests
        case responses(method: String)
        case chunkedBody

        var description: String {
            switch self {
            case .requests: "requests"
            case .responses(let method): "responses to \(method)"
            case .chunkedBody: "chunked body"
            }
        }
    }

    private enum Phase {
        case head
        case fixed(remaining: Int, thenClose: Bool)
        case chunked(ChunkedDecoder, thenClose: Bool)
        case untilClose
        case closed
    }

    private let mode: Mode
    private let maxTrailerBytes: Int
    private var requestParser: RequestHeadParser
    private var responseParser: ResponseHeadParser
    private var phase: Phase
    private var offset = 0
    /// The end of the bytes read so far.
    private var received = 0
    private var body: [UInt8] = []
    private(set) var events: [Event] = []

    private init(mode: Mode, smallLimits: Bool) {
        let limits = smallLimits ? HTTP1Limits(maxHeaderBytes: 256, maxURIBytes: 48, maxHeaderCount: 8) : HTTP1Limits()
        self.mode = mode
        maxTrailerBytes = smallLimits ? 32 : 8192
        requestParser = RequestHeadParser(limits: limits)
        responseParser = ResponseHeadParser(limits: limits)
        if case .chunkedBody = mode {
            phase = .chunked(ChunkedDecoder(maxTrailerBytes: maxTrailerBytes), thenClose: true)
        } else {
            phase = .head
        }
    }

    /// The events for `message` delivered in reads ending at `cuts` and then at its end.
    static func events(_ mode: Mode, smallLimits: Bool, _ message: UnsafeRawBufferPointer, cuts: [Int]) -> [Event] {
        var connection = Connection(mode: mode, smallLimits: smallLimits)
        for end in cuts + [message.count] {
            connection.read(message, upTo: end)
        }
        connection.finish()
        return connection.events
    }

    /// Handles the bytes `message[offset..<end]`, the unconsumed ones from earlier reads included.
    private mutating func read(_ message: UnsafeRawBufferPointer, upTo end: Int) {
        received = end
        while offset < end {
            // Each call sees a fresh exact-size buffer, as after a socket read into a new buffer.
            let pending = UnsafeRawBufferPointer(rebasing: message[offset..<end])
            switch phase {
            case .closed:
                return
            case .head:
                guard withExactCopy(of: pending, { parseHead($0) }) else { return }
            case .fixed(let remaining, let thenClose):
                let take = min(remaining, pending.count)
                body += pending.prefix(take)
                offset += take
                if take == remaining {
                    endBody(thenClose: thenClose)
                } else {
                    phase = .fixed(remaining: remaining - take, thenClose: thenClose)
                }
            case .chunked(var decoder, let thenClose):
                let result: (consumed: Int, finished: Bool)
                do {
                    result = try withExactCopy(of: pending) { buffer in
                        try decoder.decode(buffer) { slice in
                            let inside = slice.isEmpty || (slice.baseAddress! >= buffer.baseAddress!
                                && slice.baseAddress! + slice.count <= buffer.baseAddress! + buffer.count)
                            fuzzRequire(inside, "onData slice outside the input")
                            fuzzRequire(!slice.isEmpty, "onData called with no data")
                            body += slice
                        }
                    }
                } catch let error as HTTP1Error {
                    fail(error)
                    return
                } catch {
                    fuzzRequire(false, "ChunkedDecoder threw a non-HTTP1Error: \(error)")
                    return
                }
                fuzzRequire(result.consumed >= 0 && result.consumed <= pending.count,
                            "chunked consumed \(result.consumed) of \(pending.count)")
                fuzzRequire(result.finished || result.consumed == pending.count,
                            "chunked body not finished but consumed \(result.consumed) of \(pending.count)")
                fuzzRequire(result.finished == decoder.isFinished, "finished disagrees with isFinished")
                offset += result.consumed
                if result.finished {
                    endBody(thenClose: thenClose)
                } else {
                    phase = .chunked(decoder, thenClose: thenClose)
                }
            case .untilClose:
                body += pending
                offset = end
            }
        }
    }

    /// Parses a head from `buffer` (all bytes since the head began). False when more are needed
    /// or the connection failed.
    private mutating func parseHead(_ buffer: UnsafeRawBufferPointer) -> Bool {
        let framing: BodyFraming
        let keepAlive: Bool
        let consumed: Int
        do throws(HTTP1Error) {
            switch mode {
            case .requests:
                guard case .complete(let head, let count) = try requestParser.parse(buffer) else { return false }
                fuzzRequire(head.framing != .untilClose, "a request framed until close")
                events.append(.request(head, consumed: count))
                (framing, keepAlive, consumed) = (head.framing, head.keepAlive, count)
            case .responses(let method):
                guard case .complete(let head, let count) = try responseParser.parse(buffer, requestMethod: method)
                else { return false }
                events.append(.response(head, consumed: count))
                (framing, keepAlive, consumed) = (head.framing, head.keepAlive, count)
            case .chunkedBody:
                fatalError("no heads in a bare chunked body")
            }
        } catch {
            if case .responses = mode { fuzzRequire(error.status == 502, "response error with status \(error.status)") }
            fuzzRequire(!error.reason.isEmpty && !error.message.isEmpty, "error without reason or message: \(error)")
            fail(error)
            return false
        }
        fuzzRequire(consumed > 0 && consumed <= buffer.count, "head consumed \(consumed) of \(buffer.count)")
        offset += consumed
        switch framing {
        case .none:
            endBody(thenClose: !keepAlive, emit: false)
        case .contentLength(let length):
            fuzzRequire(length >= 0, "negative Content-Length \(length)")
            if length == 0 { endBody(thenClose: !keepAlive) } else { phase = .fixed(remaining: length, thenClose: !keepAlive) }
        case .chunked:
            phase = .chunked(ChunkedDecoder(maxTrailerBytes: maxTrailerBytes), thenClose: !keepAlive)
        case .untilClose:
            fuzzRequire(!keepAlive, "a body until close on a kept-alive connection")
            phase = .untilClose
        }
        return true
    }

    private mutating func endBody(thenClose: Bool, emit: Bool = true) {
        if emit { events.append(.body(body, complete: true)) }
        body = []
        phase = thenClose ? .closed : .head
    }

    private mutating func fail(_ error: HTTP1Error) {
        events.append(.failed(error))
        phase = .closed
    }

    /// The end of the input: says what was left open.
    private mutating func finish() {
        switch phase {
        case .head:
            events.append(offset < received ? .partialHead : .idle)
        case .fixed, .chunked, .untilClose:
            events.append(.body(body, complete: false))
        case .closed:
            break
        }
    }
}

#if SLUICE_LIBFUZZER
/// The entry point SwiftPM's `--defsym main=sluice_fuzz_http1_main` names: libFuzzer's driver.
@_cdecl("sluice_fuzz_http1_main")
public func libFuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    fuzzDriverMain(argc, argv, entry: fuzzHTTP1)
}
#else
@main
enum FuzzHTTP1Replay {
    static func main() {
        FuzzReplay.main("sluice-fuzz-http1", entry: fuzzHTTP1)
    }
}
#endif
