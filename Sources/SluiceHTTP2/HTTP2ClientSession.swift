internal import CNghttp2
public import SluiceHTTP

/// What the bytes an upstream sent meant, in order.
public enum HTTP2ClientEvent: Sendable, Equatable {
    /// The final response head (1xx heads are dropped). `endStream`: no body follows.
    case response(streamID: Int32, head: HTTPResponseHead, endStream: Bool)
    /// Response body bytes of one DATA frame. Call `consume` once they are relayed: the
    /// stream's window only reopens then, so a slow client slows only its own stream.
    case data(streamID: Int32, bytes: [UInt8], endStream: Bool)
    /// Trailer fields; they end the response.
    case trailers(streamID: Int32, headers: HTTPHeaders)
    /// The stream ended before its response did: reset by the server (its error code; REFUSED_STREAM
    /// means the request was not processed), or cut off by the connection ending.
    case streamClosed(streamID: Int32, errorCode: UInt32)
    /// The server is going away: streams above `lastStreamID` were not processed.
    case goAway(lastStreamID: Int32, errorCode: UInt32)
}

/// An HTTP/2 connection to an upstream as a pure state machine over nghttp2's client session,
/// the mirror of `HTTP2ServerSession`: requests in, bytes out; bytes in, events out. Many
/// requests share one connection, each on its own stream. Confined to one thread.
public final class HTTP2ClientSession: NGHTTP2Endpoint {
    var session: OpaquePointer?
    @exclusivity(unchecked) var output: [UInt8] = []
    let outputChunkLimit = 64 * 1024
    var events: [HTTP2ClientEvent] = []
    var streams = StreamTable<ClientStream>()
    /// What reaches nghttp2 never ends inside a frame header (see `WholeFrameHeaders`); the
    /// server sends no preface before its frames.
    private var frameHeaders = WholeFrameHeaders(prefaceLength: 0)
    /// Where each request head is built for nghttp2.
    let nameValues = NameValueBlock()
    private(set) var failure: HTTP2ConnectionError?
    /// The server sent GOAWAY: no new streams on this connection.
    public internal(set) var goingAway = false

    /// - Parameters:
    ///   - streamWindow: how much of one response may arrive before it is relayed.
    ///   - connectionWindow: the same for all responses together.
    public init(streamWindow: Int = 256 * 1024, connectionWindow: Int = 4 << 20) throws(HTTP2ConnectionError) {
        output.reserveCapacity(outputChunkLimit + 32 * 1024)
        let user = Unmanaged.passUnretained(self).toOpaque()
        let created = try makeNGHTTP2Session(install: Self.install, configure: { _ in }, create: { callbacks, option in
            var created: OpaquePointer?
            return nghttp2_session_client_new2(&created, callbacks, user, option) == 0 ? created : nil
        })
        session = created
        let entries = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(clamping: streamWindow)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        var rv = entries.withUnsafeBufferPointer {
            nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), $0.baseAddress, $0.count)
        }
        if rv == 0 && connectionWindow > 65_535 {
            rv = nghttp2_session_set_local_window_size(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: connectionWindow))
        }
        guard rv == 0 else { throw HTTP2ConnectionError(code: HTTP2ErrorCode.internalError, reason: "nghttp2_settings") }
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    // MARK: Requests

    /// Streams that may still be opened now (the server's SETTINGS_MAX_CONCURRENT_STREAMS minus
    /// those open); 0 once the connection is going away or failed.
    public var availableStreams: Int {
        guard failure == nil, !goingAway, let session else { return 0 }
        let limit = Int(nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS))
        return max(0, limit - streams.count)
    }

    public var openStreams: Int { streams.count }

    /// Opens a stream with the request head. `fields` are the regular header fields (lower-case
    /// names); connection-specific ones are dropped, except `te: trailers` (RFC 9113 §8.2.2). With `endStream` false the body follows through
    /// `sendData`. Nil when no stream can be opened now.
    public func submitRequest(method: String, scheme: String, authority: String, path: String, fields: HTTPHeaders,
                              endStream: Bool) -> Int32? {
        guard failure == nil, !goingAway, let session else { return nil }
        var pairs: [(name: String, value: String)] = [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path)]
        for field in fields where !field.name.hasPrefix(":") && field.name != "host"
            && (!Self.connectionSpecific.contains(field.name) || (field.name == "te" && field.value == "trailers")) {
            pairs.append((field.name, field.value))
        }
        let stream = ClientStream()
        stream.outboundEnded = endStream
        var streamID: Int32 = -1
        nameValues.with(pairs) { nva in
            if endStream {
                streamID = nghttp2_submit_request(session, nil, nva.baseAddress, nva.count, nil, nil)
            } else {
                var provider = Self.dataProvider()
                streamID = nghttp2_submit_request(session, nil, nva.baseAddress, nva.count, &provider, nil)
            }
        }
        guard streamID > 0 else { return nil }
        stream.id = streamID
        streams[streamID] = stream
        return streamID
    }

    static let connectionSpecific: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"]

    /// Queues request body bytes (copied); they go out as the server's window allows.
    public func sendData(streamID: Int32, bytes: UnsafeRawBufferPointer, endStream: Bool) {
        guard failure == nil, let session, let stream = streams[streamID], !stream.outboundEnded else { return }
        if bytes.count > 0 { stream.appendOutbound(bytes) }
        stream.outboundEnded = endStream
        if stream.deferred {
            stream.deferred = false
            _ = nghttp2_session_resume_data(session, streamID)
        }
    }

    /// Request body bytes queued for the stream and not yet sent.
    public func pendingDataBytes(streamID: Int32) -> Int { streams[streamID]?.pendingOutbound ?? 0 }

    /// `bytes` of the stream's response were relayed: reopen that much of the windows.
    public func consume(streamID: Int32, bytes: Int) {
        guard failure == nil, let session, bytes > 0 else { return }
        if streams[streamID] != nil {
            _ = nghttp2_session_consume(session, streamID, bytes)
        } else {
            _ = nghttp2_session_consume_connection(session, bytes)
        }
    }

    /// Cancels a stream (RST_STREAM); no further events come for it.
    public func resetStream(_ streamID: Int32, errorCode: UInt32 = HTTP2ErrorCode.cancel) {
        guard failure == nil, let session, let stream = streams[streamID] else { return }
        stream.cancelled = true
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode)
    }

    /// Ends the connection politely (GOAWAY NO_ERROR) once idle, or now.
    public func goAway() {
        guard failure == nil, let session else { return }
        goingAway = true
        _ = nghttp2_session_terminate_session(session, HTTP2ErrorCode.noError)
    }

    // MARK: Bytes

    public func receive(_ bytes: UnsafeRawBufferPointer) throws(HTTP2ConnectionError) -> [HTTP2ClientEvent] {
        if let failure { throw failure }
        guard let session else { return takeEvents() }
        if bytes.count > 0 {
            let rv = frameHeaders.pass(bytes) { piece in
                nghttp2_session_mem_recv(session, piece.baseAddress!.assumingMemoryBound(to: UInt8.self), piece.count)
            }
            if rv < 0 {
                let error = HTTP2ServerSession.connectionError(forLibraryError: Int32(rv))
                fail(error)
                throw error
            }
        }
        flush()
        if let failure { throw failure }
        return takeEvents()
    }

    func flush() {
        guard failure == nil, let session else { return }
        let rv = nghttp2_session_send(session)
        if rv < 0 { fail(HTTP2ServerSession.connectionError(forLibraryError: rv)) }
    }

    /// Events produced since the last call (also those noticed while sending).
    public func takeEvents() -> [HTTP2ClientEvent] { collectEvents() }
    /// Appends the bytes to write to the socket now (whole frames, up to about 64 KiB per call),
    /// or nothing. Write them and call again until it adds nothing.
    public func takeOutput(into buffer: inout [UInt8]) { moveOutput(into: &buffer) }
    /// The session still reads from the peer.
    public var wantsRead: Bool { sessionWantsRead }
    /// There are bytes to write (now, or once the peer opens its flow-control window).
    public var wantsWrite: Bool { sessionWantsWrite }
    var hasFailed: Bool { failure != nil }

    /// The connection is unusable (protocol error, or the socket ended): every open stream is
    /// reported closed.
    public func fail(_ error: HTTP2ConnectionError) {
        guard failure == nil else { return }
        failure = error
        for id in streams.keys.sorted() where !(streams[id]?.cancelled ?? true) {
            events.append(.streamClosed(streamID: id, errorCode: error.code))
        }
        streams.removeAll()
    }
}

/// One request stream's state on the client side.
final class ClientStream {
    var id: Int32 = 0
    var status = 0
    var headers = HTTPHeaders()
    var responseAnnounced = false
    var ended = false
    var cancelled = false
    var frameBytes: [UInt8] = []
    var outbound = OutboundBytes()
    var outboundEnded = false
    var deferred = false

    var pendingOutbound: Int { outbound.pending }
    func appendOutbound(_ bytes: UnsafeRawBufferPointer) { outbound.append(bytes) }
}
