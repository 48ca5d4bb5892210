import SluiceHTTP

/// One stream's state on the Sluice side of the nghttp2 session.
final class StreamState {
    let id: Int32

    // Request head being assembled from header callbacks.
    var method: String?
    var path: String?
    var authority: String?
    /// Reserved for a typical request's fields: appended one by one from nghttp2's callbacks.
    var headers = HTTPHeaders(reservingCapacity: 12)
    var cookies: [String] = []
    var headerListBytes = 0
    /// Set when the head broke a limit Sluice enforces; the stream gets `rejection` instead of
    /// reaching the application.
    var rejection: LocalReply?

    /// The application was given `.request` for this stream.
    var announced = false
    /// The application has been told the stream is gone (so close does not tell it twice).
    var resetAnnounced = false
    /// The application itself reset the stream (not counted against the client).
    var resetByApplication = false

    // Request body: the bytes of the DATA frame being received, and flow-control bookkeeping.
    var frameBytes: [UInt8] = []
    /// Body bytes received and not yet returned with `consume`.
    var unconsumed = 0

    // Response body.
    var responseStarted = false
    var outbound = OutboundBytes()
    var outboundEnded = false
    /// Trailer fields to send once the body is out (`finishResponse(streamID:trailers:)`).
    var trailers: [(name: String, value: String)]?
    /// nghttp2 was told NGHTTP2_ERR_DEFERRED and waits for `nghttp2_session_resume_data`.
    var deferred = false
    /// A Sluice-made reply to a request that had not ended: reset the stream (NO_ERROR) once
    /// the reply is out, so the client stops sending its body (RFC 9113 section 8.1).
    var resetAfterReply = false

    init(id: Int32) { self.id = id }

    var pendingOutbound: Int { outbound.pending }
    func appendOutbound(_ bytes: UnsafeRawBufferPointer) { outbound.append(bytes) }
    func takeOutbound(_ count: Int, into destination: inout [UInt8]) { outbound.take(count, into: &destination) }

    /// The request head as the neutral model has it, `Host` first (from `:authority` when there
    /// is one). The stream's fields move into it, not copied: the stream keeps none (trailers
    /// start a list of their own).
    func takeRequestHead() -> HTTPRequestHead {
        var fields = HTTPHeaders()
        swap(&fields, &headers)
        if let authority {
            // A Host that differs from :authority was refused before this (RFC 9113 8.3.1).
            fields.remove(name: "host")
            fields.insertLowercased(name: "host", value: authority, at: 0)
        }
        if !cookies.isEmpty { fields.appendLowercased(name: "cookie", value: cookies.joined(separator: "; ")) }
        return HTTPRequestHead(method: method ?? "", target: path ?? "", version: .http2, headers: fields)
    }
}
