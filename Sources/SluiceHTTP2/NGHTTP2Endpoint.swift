internal import CNghttp2

/// What the server and client sessions share: an nghttp2 session whose frames are collected in
/// `output` for the owner of the socket to write, and events collected for it to take.
protocol NGHTTP2Endpoint: AnyObject {
    associatedtype Event
    var session: OpaquePointer? { get }
    var output: [UInt8] { get set }
    var outputChunkLimit: Int { get }
    var events: [Event] { get set }
    /// The connection has ended with an error: nghttp2 is no longer driven.
    var hasFailed: Bool { get }
    /// Asks nghttp2 for frames into `output`.
    func flush()
}

// The sessions' public API forwards to these (a protocol's extension cannot be more visible
// than the protocol, which stays internal: it names nghttp2 internals).
extension NGHTTP2Endpoint {
    /// Events produced since the last call (also those noticed while sending).
    func collectEvents() -> [Event] {
        guard !events.isEmpty else { return [] }
        let taken = events
        events.removeAll(keepingCapacity: true)
        return taken
    }

    /// Appends the bytes to write to the socket now (whole frames, up to about 64 KiB per call),
    /// or nothing. Write them and call again until it adds nothing. Passing an empty buffer
    /// swaps storage instead of copying.
    func moveOutput(into buffer: inout [UInt8]) {
        if output.count < outputChunkLimit { flush() }
        guard !output.isEmpty else { return }
        if buffer.isEmpty {
            swap(&buffer, &output)
        } else {
            buffer.append(contentsOf: output)
            output.removeAll(keepingCapacity: true)
        }
    }

    /// The session still reads from the peer.
    var sessionWantsRead: Bool {
        guard !hasFailed, let session else { return false }
        return nghttp2_session_want_read(session) != 0
    }

    /// There are bytes to write (now, or once the peer opens its flow-control window).
    var sessionWantsWrite: Bool {
        if !output.isEmpty { return true }
        guard !hasFailed, let session else { return false }
        return nghttp2_session_want_write(session) != 0
    }
}

/// Makes an nghttp2 session: callbacks filled by `install`, options set by `configure`, then
/// `create` (server or client constructor) with both; both are freed again after it.
func makeNGHTTP2Session(install: (OpaquePointer) -> Void, configure: (OpaquePointer) -> Void,
                        create: (_ callbacks: OpaquePointer, _ option: OpaquePointer) -> OpaquePointer?) throws(HTTP2ConnectionError) -> OpaquePointer {
    var callbacks: OpaquePointer?
    guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
        throw HTTP2ConnectionError(code: HTTP2ErrorCode.internalError, reason: "nghttp2_callbacks")
    }
    defer { nghttp2_session_callbacks_del(callbacks) }
    install(callbacks)
    var option: OpaquePointer?
    guard nghttp2_option_new(&option) == 0, let option else {
        throw HTTP2ConnectionError(code: HTTP2ErrorCode.internalError, reason: "nghttp2_option")
    }
    defer { nghttp2_option_del(option) }
    // Window updates follow `consume`: a slow reader stalls only its own stream.
    nghttp2_option_set_no_auto_window_update(option, 1)
    configure(option)
    guard let session = create(callbacks, option) else {
        throw HTTP2ConnectionError(code: HTTP2ErrorCode.internalError, reason: "nghttp2_session")
    }
    return session
}
