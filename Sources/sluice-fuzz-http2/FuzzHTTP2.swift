// Fuzz target for the downstream HTTP/2 session (HTTP2ServerSession: nghttp2's server session
// with Sluice's callbacks, header checks, frame audit and abuse budgets), the code a hostile
// client's frames reach first.
//
// Input: byte 0 holds flags (bit 0: the application answers each request, with a head, a body
// and, every third one, trailers; or resets it; bit 1: small limits — 4 streams, 256-byte header
// lists, small abuse budgets; bit 2: Sluice's frame audit off, so nghttp2 alone judges the
// frames), bytes 1–2 a big-endian number whose remainder modulo (frames length + 1) is the split
// point; the rest is what the client sends after its connection preface (which the target
// sends first). Invariants:
// - no crash, and every event names a stream the client could open (odd id > 0) and comes in
//   an order a stream can have (a request first; data and trailers only on a stream whose request
//   has not ended; nothing after a reset);
// - what `takeOutput` hands back is whole frames, and when `receive` throws, a GOAWAY carrying
//   the thrown code is in the output, and every later `receive` throws again;
// - without answers and without the frame audit (nghttp2 and Sluice's callbacks alone), the
//   same outcome whether the bytes arrive whole or cut in two at the split point: the same
//   events, or a connection error both ways.
//
// `swift build` gives a replay tool (arguments: files or corpus directories); with
// `-sanitize=fuzzer,address -DSLUICE_LIBFUZZER` (`make fuzz`) a libFuzzer binary.
import SluiceFuzzSupport
import SluiceHTTP
import SluiceHTTP2

private let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP2(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 3 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let answers = input[0] & 1 != 0
    let audit = input[0] & 4 == 0
    let settings = FuzzSettings.make(small: input[0] & 2 != 0, audit: audit)
    let frames = Array(input[3...])
    let split = (Int(input[1]) << 8 | Int(input[2])) % (frames.count + 1)

    let cut = Connection.run(settings: settings, answers: answers, chunks: [preface + frames[..<split], Array(frames[split...])])
    // With the frame audit on, how reads are cut may legitimately change the outcome: the audit
    // judges a whole read before nghttp2 sees any of it, while nghttp2 resets a stream on a
    // malformed field before its header block is complete. A client that breaks a stream rule
    // after such a field then ends the connection when both arrive in one read, but not when
    // the reset came first (late frames on a stream the server reset are allowed).
    if !answers && !audit {
        let whole = Connection.run(settings: settings, answers: false, chunks: [preface + frames])
        // A read that ends the connection returns no events (the GOAWAY is what the client
        // gets), so after a failure only the failure must be the same.
        // Nothing to compare when the split run stopped reading after its first part (nghttp2
        // drops input once it wants no more, e.g. after the client's GOAWAY with no stream
        // open), or when a stream was reset: the RST_STREAM sent between the two reads makes
        // later frames on that stream legal (ignored), where in one read they end the connection.
        let resetBetween = cut.events.contains { $0.hasPrefix("streamReset") }
        let same = cut.stoppedReading || resetBetween || (whole.failure == nil ? whole == cut : cut.failure != nil)
        fuzzRequire(same, "split at \(split) of \(frames.count): whole \(whole) vs split \(cut)")
    }
    return 0
}

enum FuzzSettings {
    static func make(small: Bool, audit: Bool) -> HTTP2Settings {
        var settings = HTTP2Settings()
        settings.streamChecks = audit
        if small {
            settings.maxConcurrentStreams = 4
            settings.maxHeaderListSize = 256
            settings.maxResetsPerWindow = 4
            settings.maxControlFramesPerWindow = 8
            settings.maxEmptyDataFramesPerWindow = 4
            settings.maxControlFramesQueued = 16
            settings.maxContinuationFrames = 2
            settings.initialWindowSize = 1024
        }
        return settings
    }
}

/// One client connection driven through the session: what it saw, for comparing two runs.
struct Connection: Equatable {
    var events: [String] = []
    var failure: HTTP2ConnectionError?
    /// The session wanted no more input before the last part was read (as the proxy does, the
    /// rest was then not passed).
    var stoppedReading = false

    static func run(settings: HTTP2Settings, answers: Bool, chunks: [[UInt8]]) -> Connection {
        // A clock that never moves: the abuse budgets then depend on the input only.
        guard let session = try? HTTP2ServerSession(settings: settings, clock: { .zero }) else {
            fuzzRequire(false, "the session could not be made")
            return Connection()
        }
        var seen = Connection()
        var streams = StreamRules()
        var answered = 0
        drainOutput(session)
        for (index, chunk) in chunks.enumerated() {
            if index > 0 && !session.wantsRead {
                seen.stoppedReading = true
                return seen
            }
            let events: [HTTP2Event]
            do throws(HTTP2ConnectionError) {
                events = try receive(chunk, session)
            } catch {
                seen.failure = error
                let goAways = drainOutput(session)
                fuzzRequire(goAways.contains(error.code), "receive threw \(error) but the output's GOAWAYs carry \(goAways)")
                let again = Result { () throws(HTTP2ConnectionError) in try session.receive(UnsafeRawBufferPointer(start: nil, count: 0)) }
                fuzzRequire(again == .failure(error), "receive after \(error) gave \(again)")
                return seen
            }
            for event in events {
                streams.check(event)
                seen.events.append("\(event)")
                if answers { answer(event, session, &answered) }
            }
            drainOutput(session)
        }
        return seen
    }

    /// Feeds `chunk` from an allocation of exactly its size, so that AddressSanitizer catches a
    /// read past its end.
    private static func receive(_ chunk: [UInt8], _ session: HTTP2ServerSession) throws(HTTP2ConnectionError) -> [HTTP2Event] {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk.count, alignment: 1)
        defer { copy.deallocate() }
        copy.copyBytes(from: chunk)
        return try session.receive(UnsafeRawBufferPointer(copy))
    }

    /// What an application does with each event: forwards body bytes (reopening the window),
    /// answers requests (a third with trailers, every fifth reset instead), replies to rejects.
    private static func answer(_ event: HTTP2Event, _ session: HTTP2ServerSession, _ answered: inout Int) {
        switch event {
        case .request(let streamID, _, _):
            answered += 1
            if answered % 5 == 0 {
                session.resetStream(streamID, errorCode: HTTP2ErrorCode.cancel)
                return
            }
            var head = HTTPResponseHead(status: 200)
            head.headers.add(name: "content-type", value: "application/json")
            session.sendResponse(streamID: streamID, head: head, endStream: false)
            session.sendData(streamID: streamID, bytes: Array("{\"code\":\"SUCCESS\"}".utf8), endStream: answered % 3 != 0)
            if answered % 3 == 0 {
                var trailers = HTTPHeaders()
                trailers.add(name: "grpc-status", value: "0")
                session.finishResponse(streamID: streamID, trailers: trailers)
            }
        case .data(let streamID, let bytes, _):
            session.consume(streamID: streamID, bytes: bytes.count)
        case .rejected(let streamID, let reply):
            session.sendLocalReply(streamID: streamID, reply: reply)
        case .trailers, .streamReset, .goAway:
            break
        }
    }

    /// Takes all the output there is; it must be whole frames. Returns the error codes of the
    /// GOAWAY frames in it.
    @discardableResult
    private static func drainOutput(_ session: HTTP2ServerSession) -> [UInt32] {
        var goAways: [UInt32] = []
        while true {
            var bytes: [UInt8] = []
            session.takeOutput(into: &bytes)
            if bytes.isEmpty { return goAways }
            var offset = 0
            while offset < bytes.count {
                fuzzRequire(bytes.count - offset >= 9, "output ends inside a frame header")
                let length = Int(bytes[offset]) << 16 | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
                let type = bytes[offset + 3]
                fuzzRequire(bytes.count - offset - 9 >= length, "output ends inside a frame of type \(type)")
                if type == 0x7 && length >= 8 {
                    let code = bytes[(offset + 13)..<(offset + 17)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    goAways.append(code)
                }
                offset += 9 + length
            }
        }
    }
}

/// The order of events a stream can have.
struct StreamRules {
    private enum State { case receiving, ended }
    private var states: [Int32: State] = [:]

    mutating func check(_ event: HTTP2Event) {
        switch event {
        case .request(let streamID, let head, let endStream):
            open(streamID, "request")
            fuzzRequire(head.version == .http2, "a request on stream \(streamID) that is not HTTP/2")
            states[streamID] = endStream ? .ended : .receiving
        case .rejected(let streamID, let reply):
            open(streamID, "reject")
            fuzzRequire((400..<600).contains(reply.status), "a reject with status \(reply.status)")
            states[streamID] = .ended
        case .data(let streamID, _, let endStream):
            fuzzRequire(states[streamID] == .receiving, "data on stream \(streamID), which is \(String(describing: states[streamID]))")
            if endStream { states[streamID] = .ended }
        case .trailers(let streamID, _):
            fuzzRequire(states[streamID] == .receiving, "trailers on stream \(streamID), which is \(String(describing: states[streamID]))")
            states[streamID] = .ended
        case .streamReset(let streamID, _):
            fuzzRequire(streamID > 0 && streamID % 2 == 1, "a reset of stream \(streamID), which no client opens")
            // A stream reset before its request was complete may never have produced an event.
            states[streamID] = .ended
        case .goAway:
            break
        }
    }

    private func open(_ streamID: Int32, _ what: String) {
        fuzzRequire(streamID > 0 && streamID % 2 == 1, "a \(what) on stream \(streamID), which no client opens")
        fuzzRequire(states[streamID] == nil, "a second \(what) on stream \(streamID)")
    }
}

#if SLUICE_LIBFUZZER
/// The entry point SwiftPM's `--defsym main=sluice_fuzz_http2_main` names: libFuzzer's driver.
@_cdecl("sluice_fuzz_http2_main")
public func libFuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    fuzzDriverMain(argc, argv, entry: fuzzHTTP2)
}
#else
@main
enum FuzzHTTP2Replay {
    static func main() {
        FuzzReplay.main("sluice-fuzz-http2", entry: fuzzHTTP2)
    }
}
#endif
