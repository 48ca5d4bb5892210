import CNghttp2
import SluiceHTTP
import SluiceHTTP2
import XCTest

/// Frame types and flags as raw numbers, for building and reading frames by hand.
enum FrameType: UInt8 {
    case data = 0, headers = 1, priority = 2, rstStream = 3, settings = 4, pushPromise = 5
    case ping = 6, goAway = 7, windowUpdate = 8, continuation = 9
}

enum Flag {
    static let endStream: UInt8 = 0x1
    static let ack: UInt8 = 0x1
    static let endHeaders: UInt8 = 0x4
    static let padded: UInt8 = 0x8
}

/// One frame read back from the server's output.
struct Frame {
    var type: UInt8
    var flags: UInt8
    var streamID: Int32
    var payload: [UInt8]
    /// A HEADERS frame's fields, decoded as the frames were read.
    var fields: [(String, String)] = []
    /// The names among them sent as never-indexed literals (HPACK's "never indexed").
    var neverIndexed: [String] = []

    func field(_ name: String) -> String? { fields.first { $0.0 == name }?.1 }

    var kind: FrameType? { FrameType(rawValue: type) }
    func has(_ flag: UInt8) -> Bool { flags & flag != 0 }

    /// RST_STREAM's or GOAWAY's error code.
    var errorCode: UInt32 {
        let at = kind == .goAway ? 4 : 0
        return readUInt32(payload, at)
    }

    var goAwayLastStreamID: Int32 { Int32(bitPattern: readUInt32(payload, 0) & 0x7fff_ffff) }
    var windowIncrement: UInt32 { readUInt32(payload, 0) & 0x7fff_ffff }
}

func readUInt32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) }
}

/// Hand-built client frames. HPACK blocks use literal fields without indexing and without
/// Huffman, so any name or value (malformed ones included) can be sent.
enum Build {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func frame(_ type: FrameType, flags: UInt8 = 0, stream: Int32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        frame(type: type.rawValue, flags: flags, stream: stream, payload)
    }

    /// A frame of any type, extensions and unknown ones included.
    static func frame(type: UInt8, flags: UInt8 = 0, stream: Int32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        var out: [UInt8] = [UInt8(truncatingIfNeeded: payload.count >> 16), UInt8(truncatingIfNeeded: payload.count >> 8),
                            UInt8(truncatingIfNeeded: payload.count), type, flags]
        out += uint32(UInt32(bitPattern: stream))
        return out + payload
    }

    static func uint32(_ value: UInt32) -> [UInt8] {
        [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
         UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    static func settings(_ entries: [(UInt16, UInt32)] = []) -> [UInt8] {
        var payload: [UInt8] = []
        for (id, value) in entries { payload += [UInt8(id >> 8), UInt8(id & 0xff)] + uint32(value) }
        return frame(.settings, payload)
    }

    static let settingsAck = frame(.settings, flags: Flag.ack)

    static func hpackInteger(_ value: Int, prefixBits: Int, first: UInt8) -> [UInt8] {
        let limit = (1 << prefixBits) - 1
        if value < limit { return [first | UInt8(value)] }
        var out = [first | UInt8(limit)]
        var rest = value - limit
        while rest >= 128 { out.append(UInt8(rest % 128 + 128)); rest /= 128 }
        out.append(UInt8(rest))
        return out
    }

    static func block(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in fields {
            out.append(0x00)
            out += hpackInteger(name.utf8.count, prefixBits: 7, first: 0) + Array(name.utf8)
            out += hpackInteger(value.utf8.count, prefixBits: 7, first: 0) + Array(value.utf8)
        }
        return out
    }

    static func headers(stream: Int32, _ fields: [(String, String)], endStream: Bool = true, endHeaders: Bool = true) -> [UInt8] {
        var flags: UInt8 = 0
        if endStream { flags |= Flag.endStream }
        if endHeaders { flags |= Flag.endHeaders }
        return frame(.headers, flags: flags, stream: stream, block(fields))
    }

    static func get(_ path: String = "/", authority: String = "pay.example", extra: [(String, String)] = []) -> [(String, String)] {
        [(":method", "GET"), (":scheme", "https"), (":authority", authority), (":path", path)] + extra
    }

    static func post(_ path: String, extra: [(String, String)] = []) -> [(String, String)] {
        [(":method", "POST"), (":scheme", "https"), (":authority", "pay.example"), (":path", path)] + extra
    }

    static func data(stream: Int32, _ bytes: [UInt8], endStream: Bool = false) -> [UInt8] {
        frame(.data, flags: endStream ? Flag.endStream : 0, stream: stream, bytes)
    }

    static func rst(stream: Int32, code: UInt32 = 0x8) -> [UInt8] { frame(.rstStream, stream: stream, uint32(code)) }
    static func ping(_ byte: UInt8 = 1) -> [UInt8] { frame(.ping, [UInt8](repeating: byte, count: 8)) }
    static func windowUpdate(stream: Int32, _ increment: UInt32) -> [UInt8] { frame(.windowUpdate, stream: stream, uint32(increment)) }
}

/// The server session under test with a hand-driven client on the other side.
final class Wire {
    let server: HTTP2ServerSession
    /// Manual clock for the abuse budgets.
    let now: Clock
    private var inflater: OpaquePointer?
    /// Output not yet parsed into frames (only whole frames are expected, but be tolerant).
    private var pending: [UInt8] = []

    final class Clock: @unchecked Sendable { var value: Duration = .zero }

    init(_ settings: HTTP2Settings = HTTP2Settings(), handshake: Bool = true) throws {
        let clock = Clock()
        now = clock
        server = try HTTP2ServerSession(settings: settings, clock: { clock.value })
        XCTAssertEqual(nghttp2_hd_inflate_new(&inflater), 0)
        if handshake {
            _ = try send(Build.preface + Build.settings() + Build.settingsAck)
            let frames = read()
            XCTAssertEqual(frames.first?.kind, .settings, "the server speaks first with SETTINGS")
        }
    }

    deinit { nghttp2_hd_inflate_del(inflater) }

    /// Bytes in the client's HPACK dynamic table: what the server's fields have put there.
    var decoderTableSize: Int { nghttp2_hd_inflate_get_dynamic_table_size(inflater) }

    func send(_ bytes: [UInt8]) throws(HTTP2ConnectionError) -> [HTTP2Event] {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(HTTP2ConnectionError) -> [HTTP2Event] in try server.receive(raw) }
        }
        return try result.get()
    }

    /// Sends and expects the connection to survive.
    func events(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [HTTP2Event] {
        do { return try send(bytes) } catch {
            XCTFail("connection error \(error)", file: file, line: line)
            return []
        }
    }

    /// Answers every `.rejected` event as the proxy does; fails on any other event.
    func answerRejections(_ events: [HTTP2Event], file: StaticString = #filePath, line: UInt = #line) {
        for event in events {
            guard case .rejected(let streamID, let reply) = event else {
                XCTFail("expected only rejections, got \(event)", file: file, line: line)
                continue
            }
            server.sendLocalReply(streamID: streamID, reply: reply)
        }
        XCTAssertFalse(events.isEmpty, "no rejection", file: file, line: line)
    }

    /// Sends and expects a connection error.
    func connectionError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> HTTP2ConnectionError? {
        do {
            _ = try send(bytes)
            XCTFail("expected a connection error", file: file, line: line)
            return nil
        } catch { return error }
    }

    /// Everything the server wants to write now, as frames.
    func read() -> [Frame] {
        var chunk: [UInt8] = []
        while true {
            chunk.removeAll(keepingCapacity: true)
            server.takeOutput(into: &chunk)
            if chunk.isEmpty { break }
            pending += chunk
        }
        var frames: [Frame] = []
        var at = 0
        while pending.count - at >= 9 {
            let length = Int(pending[at]) << 16 | Int(pending[at + 1]) << 8 | Int(pending[at + 2])
            guard pending.count - at >= 9 + length else { break }
            let stream = Int32(bitPattern: readUInt32(pending, at + 5) & 0x7fff_ffff)
            var frame = Frame(type: pending[at + 3], flags: pending[at + 4], streamID: stream,
                              payload: Array(pending[at + 9..<at + 9 + length]))
            if frame.kind == .headers { (frame.fields, frame.neverIndexed) = fields(frame) }
            frames.append(frame)
            at += 9 + length
        }
        pending.removeFirst(at)
        return frames
    }

    /// Decodes a HEADERS frame's block (in the order the server sent them: HPACK is stateful).
    private func fields(_ frame: Frame) -> ([(String, String)], [String]) {
        var out: [(String, String)] = []
        var neverIndexed: [String] = []
        var payload = frame.payload
        if frame.has(Flag.padded) { payload = Array(payload[1..<payload.count - Int(payload[0])]) }
        var input = payload[...]
        while true {
            var nv = nghttp2_nv()
            var flags: Int32 = 0
            let used = input.withUnsafeBufferPointer { buf in
                nghttp2_hd_inflate_hd2(inflater, &nv, &flags, buf.baseAddress, buf.count, 1)
            }
            XCTAssertGreaterThanOrEqual(used, 0, "HPACK decode")
            if used < 0 { return (out, neverIndexed) }
            input = input.dropFirst(used)
            if flags & Int32(NGHTTP2_HD_INFLATE_EMIT.rawValue) != 0 {
                let name = String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self)
                out.append((name, String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)))
                if nv.flags & UInt8(NGHTTP2_NV_FLAG_NO_INDEX.rawValue) != 0 { neverIndexed.append(name) }
            }
            if flags & Int32(NGHTTP2_HD_INFLATE_FINAL.rawValue) != 0 {
                nghttp2_hd_inflate_end_headers(inflater)
                return (out, neverIndexed)
            }
            if used == 0 && input.isEmpty { return (out, neverIndexed) }
        }
    }
}

extension HTTP2Event {
    var streamID: Int32? {
        switch self {
        case .request(let id, _, _), .data(let id, _, _), .trailers(let id, _), .streamReset(let id, _), .rejected(let id, _): return id
        case .goAway: return nil
        }
    }
}
