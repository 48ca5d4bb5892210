internal import CNghttp2
import SluiceHTTP

/// A downstream HTTP/2 connection as a pure state machine over nghttp2's server session: bytes
/// in, events out; calls in, bytes out. No sockets, no event loop: the owner of the socket feeds
/// `receive`, writes what `takeOutput` hands back, and stops when `wantsRead` and `wantsWrite`
/// are both false. Confined to one thread (the connection's event loop).
public final class HTTP2ServerSession: NGHTTP2Endpoint {
    let settings: HTTP2Settings
    private let clock: () -> Duration
    var session: OpaquePointer?

    /// Frames nghttp2 has produced and the caller has not taken yet (whole frames only).
    @exclusivity(unchecked) var output: [UInt8] = []
    /// `takeOutput` stops asking nghttp2 for frames once this much is waiting.
    let outputChunkLimit = 64 * 1024

    /// Events produced since the caller last collected them.
    var events: [HTTP2Event] = []
    var streams = StreamTable<StreamState>()
    /// Where each response head is built for nghttp2.
    let nameValues = NameValueBlock()
    /// The stream whose header block is being received: its header callbacks (one per field)
    /// skip the dictionary. Set when the block begins, cleared when its frame is complete.
    var streamReceivingHeaders: StreamState?
    /// Streams the application reset whose RST_STREAM is not sent yet (those are not the
    /// client's fault, so they do not count against its reset budget).
    var applicationResets: Set<Int32> = []
    /// The application ended the connection with an error code itself.
    var terminatedByApplication = false

    /// Stream-order and closed-stream rules nghttp2 does not enforce, checked on frame headers.
    var audit = ClientFrameAudit()
    /// What reaches nghttp2 never ends inside a frame header (see `WholeFrameHeaders`).
    private var frameHeaders = WholeFrameHeaders(prefaceLength: 24)

    private var resetBudget: AbuseBudget
    private var controlBudget: AbuseBudget
    private var emptyDataBudget: AbuseBudget
    private var inertBudget: AbuseBudget
    /// Response body bytes queued on all streams, not yet handed to the output.
    var pendingDataTotal = 0
    /// DATA frames sent, and WINDOW_UPDATE frames received and charged to the inert budget: a
    /// client reading a download sends about one per DATA frame (two with the connection's), so
    /// those are free; only the ones beyond are charged. A client with a 1 KiB window sends
    /// 60,000 of them for a 60 MB download, and was cut off as a flood.
    var dataFramesSent = 0
    private var windowUpdatesSeen = 0
    private var windowUpdatesCharged = 0

    /// How many of `count` new WINDOW_UPDATE frames exceed two per DATA frame sent (plus 1,000).
    private func chargedWindowUpdates(_ count: Int) -> Int {
        guard count > 0 else { return 0 }
        windowUpdatesSeen += count
        let excess = max(0, windowUpdatesSeen - 2 * dataFramesSent - 1_000) - windowUpdatesCharged
        guard excess > 0 else { return 0 }
        windowUpdatesCharged += excess
        return excess
    }

    /// Set when the connection must end; once set nghttp2 is no longer driven and `output`
    /// ends with Sluice's own GOAWAY.
    private(set) var failure: HTTP2ConnectionError?
    /// A limit tripped inside a callback: the callback returned NGHTTP2_ERR_CALLBACK_FAILURE.
    var tripped: HTTP2ConnectionError?
    /// The last GOAWAY nghttp2 sent (its error code), and nghttp2's last error message.
    var sentGoAwayCode: UInt32?
    /// The code of the GOAWAY `fail` wrote itself (nghttp2 never sees that frame).
    private var ownGoAwayCode: UInt32?
    /// The error code of the GOAWAY this session sent last, if it sent one (metrics): its own
    /// (a limit Sluice enforces: rapid reset, floods, stream checks) or nghttp2's.
    public var lastGoAwayCode: UInt32? { ownGoAwayCode ?? sentGoAwayCode }
    var libraryMessage: String?

    /// Graceful shutdown: the opaque data of the PING whose ACK triggers the final GOAWAY.
    static let shutdownPingData: [UInt8] = Array("sluice-d".utf8)
    var shutdownState: ShutdownState = .none
    enum ShutdownState { case none, noticeSent, finalSent }

    /// - Parameter clock: monotonic time, for the abuse budgets (tests pass a manual clock).
    public init(settings: HTTP2Settings = HTTP2Settings(), clock: (() -> Duration)? = nil) throws {
        self.settings = settings
        if let clock {
            self.clock = clock
        } else {
            let start = ContinuousClock.now
            self.clock = { ContinuousClock.now - start }
        }
        let now = self.clock()
        resetBudget = AbuseBudget(capacity: settings.maxResetsPerWindow, window: settings.abuseWindow, now: now)
        controlBudget = AbuseBudget(capacity: settings.maxControlFramesPerWindow, window: settings.abuseWindow, now: now)
        emptyDataBudget = AbuseBudget(capacity: settings.maxEmptyDataFramesPerWindow, window: settings.abuseWindow, now: now)
        inertBudget = AbuseBudget(capacity: settings.maxInertFramesPerWindow, window: settings.abuseWindow, now: now)
        audit.enforcesStreamRules = settings.streamChecks

        let user = Unmanaged.passUnretained(self).toOpaque()
        let created = try makeNGHTTP2Session(install: Self.install, configure: { option in
            nghttp2_option_set_max_outbound_ack(option, settings.maxControlFramesQueued)
            nghttp2_option_set_max_settings(option, settings.maxSettingsEntries)
            nghttp2_option_set_max_continuations(option, settings.maxContinuationFrames)
            // nghttp2's own rapid-reset limiter (Debian's CVE-2023-44487 backport) stays on as a
            // backstop, looser than Sluice's budget so Sluice's answers first (ENHANCE_YOUR_CALM
            // rather than nghttp2's INTERNAL_ERROR).
            let backstop = UInt64(max(settings.maxResetsPerWindow, 1)) * 5
            nghttp2_option_set_stream_reset_rate_limit(option, backstop, backstop / 10 + 1)
        }, create: { callbacks, option in
            var created: OpaquePointer?
            return nghttp2_session_server_new2(&created, callbacks, user, option) == 0 ? created : nil
        })
        session = created

        let entries: [nghttp2_settings_entry] = [
            entry(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings.maxConcurrentStreams),
            entry(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings.initialWindowSize),
            entry(NGHTTP2_SETTINGS_MAX_FRAME_SIZE, settings.maxFrameSize),
            entry(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings.maxHeaderListSize),
            // No RFC 7540 priority tree: less work per frame, closed streams not retained.
            entry(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1),
        ]
        var rv = entries.withUnsafeBufferPointer {
            nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), $0.baseAddress, $0.count)
        }
        if rv == 0 && settings.connectionWindowSize > 65_535 {
            rv = nghttp2_session_set_local_window_size(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0,
                                                       Int32(clamping: settings.connectionWindowSize))
        }
        guard rv == 0 else {
            throw HTTP2ConnectionError(code: HTTP2ErrorCode.internalError, reason: "nghttp2_settings")
        }
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    // MARK: Input

    /// Feeds received bytes; returns the events they produced, in order (and any produced while
    /// sending since the last call). Throws when the connection must end: a GOAWAY is then
    /// queued in the output; send it, then close.
    public func receive(_ bytes: UnsafeRawBufferPointer) throws(HTTP2ConnectionError) -> [HTTP2Event] {
        if let failure { throw failure }
        guard let session else { return takeEvents() }
        if bytes.count > 0 {
            // The audit reads every frame header; its stream rules apply with `streamChecks`,
            // its count of inert frames always.
            if let violation = audit.inspect(bytes) {
                fail(violation)
                throw violation
            }
            let (inert, windowUpdates) = audit.takeInertFrames()
            let charged = inert + chargedWindowUpdates(windowUpdates)
            if charged > 0 && !inertBudget.spend(charged, now: clock()) {
                let flood = HTTP2ConnectionError(code: HTTP2ErrorCode.enhanceYourCalm, reason: "inert_frame_flood")
                fail(flood)
                throw flood
            }
            let rv = frameHeaders.pass(bytes) { piece in
                nghttp2_session_mem_recv(session, piece.baseAddress!.assumingMemoryBound(to: UInt8.self), piece.count)
            }
            if rv < 0 {
                let error = tripped ?? Self.connectionError(forLibraryError: Int32(rv))
                fail(error)
                throw error
            }
        }
        // Send at once what the input caused (ACKs, resets nghttp2 decided on, a GOAWAY): resets
        // reach the application and the reset budget now, and a connection error nghttp2
        // detected itself shows as the GOAWAY it sends.
        flush()
        if failure == nil && !terminatedByApplication, let code = sentGoAwayCode, code != HTTP2ErrorCode.noError {
            failure = HTTP2ConnectionError(code: code, reason: libraryMessage ?? "protocol_error")
        }
        if let failure { throw failure }
        return takeEvents()
    }

    // MARK: Output

    /// Asks nghttp2 for frames into `output` until it has none or the chunk limit is reached.
    func flush() {
        guard failure == nil, let session else { return }
        let rv = nghttp2_session_send(session)
        if rv < 0 {
            fail(tripped ?? Self.connectionError(forLibraryError: rv))
        }
    }

    /// Events produced since the last call (also those noticed while sending).
    public func takeEvents() -> [HTTP2Event] { collectEvents() }
    /// Appends the bytes to write to the socket now (whole frames, up to about 64 KiB per call),
    /// or nothing. Write them and call again until it adds nothing.
    public func takeOutput(into buffer: inout [UInt8]) { moveOutput(into: &buffer) }
    /// Frees the output buffer while it is empty (an idle connection's): it grows again with
    /// the next frames. Reserving it whole per connection held 96 KiB per idle connection.
    public func releaseIdleBuffers() {
        if output.isEmpty { output = [] }
        nameValues.release()
    }
    /// The session still reads from the peer.
    public var wantsRead: Bool { sessionWantsRead }
    /// There are bytes to write (now, or once the peer opens its flow-control window).
    public var wantsWrite: Bool { sessionWantsWrite }
    var hasFailed: Bool { failure != nil }

    /// Ends the connection because of `error`: nghttp2 is no longer driven, and a GOAWAY made
    /// here (nghttp2's own queue may hold thousands of ACKs a flooder asked for) ends the output.
    func fail(_ error: HTTP2ConnectionError) {
        guard failure == nil else { return }
        failure = error
        ownGoAwayCode = error.code
        let lastStreamID = session.map { nghttp2_session_get_last_proc_stream_id($0) } ?? 0
        let debug = Array(error.reason.utf8.prefix(256))
        appendFrameHeader(length: 8 + debug.count, type: 0x7, flags: 0, streamID: 0)
        appendUInt32(UInt32(bitPattern: lastStreamID) & 0x7fff_ffff)
        appendUInt32(error.code)
        output.append(contentsOf: debug)
    }

    private func appendFrameHeader(length: Int, type: UInt8, flags: UInt8, streamID: Int32) {
        output.append(UInt8(truncatingIfNeeded: length >> 16))
        output.append(UInt8(truncatingIfNeeded: length >> 8))
        output.append(UInt8(truncatingIfNeeded: length))
        output.append(type)
        output.append(flags)
        appendUInt32(UInt32(bitPattern: streamID))
    }

    private func appendUInt32(_ value: UInt32) {
        output.append(UInt8(truncatingIfNeeded: value >> 24))
        output.append(UInt8(truncatingIfNeeded: value >> 16))
        output.append(UInt8(truncatingIfNeeded: value >> 8))
        output.append(UInt8(truncatingIfNeeded: value))
    }

    static func connectionError(forLibraryError code: Int32) -> HTTP2ConnectionError {
        switch code {
        case NGHTTP2_ERR_FLOODED.rawValue:
            // More SETTINGS/PING ACKs queued than maxControlFramesQueued: the client sends
            // control frames and does not read the answers.
            return HTTP2ConnectionError(code: HTTP2ErrorCode.enhanceYourCalm, reason: "outbound_queue_flood")
        case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS.rawValue:
            return HTTP2ConnectionError(code: HTTP2ErrorCode.enhanceYourCalm, reason: "continuation_flood")
        case NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue:
            return HTTP2ConnectionError(code: HTTP2ErrorCode.protocolError, reason: "bad_preface")
        default:
            let text = nghttp2_strerror(code).map { String(cString: $0) } ?? "nghttp2 error \(code)"
            return HTTP2ConnectionError(code: HTTP2ErrorCode.internalError, reason: text)
        }
    }

    // MARK: Abuse budgets (called from the callbacks)

    /// Spends one reset token; trips the connection when the budget is gone.
    func countReset() -> Bool {
        if resetBudget.spend(now: clock()) { return true }
        trip(HTTP2ConnectionError(code: HTTP2ErrorCode.enhanceYourCalm, reason: "rapid_reset"))
        return false
    }

    func countControlFrame() -> Bool {
        if controlBudget.spend(now: clock()) { return true }
        trip(HTTP2ConnectionError(code: HTTP2ErrorCode.enhanceYourCalm, reason: "control_frame_flood"))
        return false
    }

    func countEmptyData() -> Bool {
        if emptyDataBudget.spend(now: clock()) { return true }
        trip(HTTP2ConnectionError(code: HTTP2ErrorCode.enhanceYourCalm, reason: "empty_data_flood"))
        return false
    }

    private func trip(_ error: HTTP2ConnectionError) {
        if tripped == nil { tripped = error }
    }
}

private func entry(_ id: nghttp2_settings_id, _ value: Int) -> nghttp2_settings_entry {
    nghttp2_settings_entry(settings_id: Int32(id.rawValue), value: UInt32(clamping: value))
}
