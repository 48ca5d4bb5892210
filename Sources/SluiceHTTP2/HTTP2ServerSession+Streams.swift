internal import CNghttp2
public import SluiceHTTP

/// Response-side fields an HTTP/2 message must not carry (RFC 9113 8.2.2): told apart by length
/// first (every response field is checked, and a set lookup hashes each name).
func isConnectionSpecific(_ name: String) -> Bool {
    switch name.utf8.count {
    case 2: return name == "te"
    case 7: return name == "upgrade"
    case 10: return name == "connection" || name == "keep-alive"
    case 16: return name == "proxy-connection"
    case 17: return name == "transfer-encoding"
    default: return false
    }
}

extension HTTP2ServerSession {
    /// Sends a response head. Connection-specific fields (and any the `connection` field names)
    /// are dropped. A 1xx status is sent as an interim head. With `endStream` false, the body
    /// follows through `sendData`.
    public func sendResponse(streamID: Int32, head: HTTPResponseHead, endStream: Bool) {
        guard failure == nil, let session, let stream = streams[streamID], !stream.responseStarted else { return }
        let interim = head.status < 200
        let nominated = head.headers.tokens(for: "connection")
        func skip(_ name: String) -> Bool {
            name.utf8.first == UInt8(ascii: ":") || isConnectionSpecific(name) || (!nominated.isEmpty && nominated.contains(name))
        }
        if !interim {
            stream.responseStarted = true
            stream.outboundEnded = endStream
        }
        nameValues.with(head.headers, leading: (":status", String(head.status)), skip: skip) { fields in
            // nghttp2 copies the fields before these calls return.
            if interim {
                _ = nghttp2_submit_headers(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, nil, fields.baseAddress, fields.count, nil)
            } else if endStream {
                _ = nghttp2_submit_response(session, streamID, fields.baseAddress, fields.count, nil)
            } else {
                var provider = Self.dataProvider()
                _ = nghttp2_submit_response(session, streamID, fields.baseAddress, fields.count, &provider)
            }
        }
    }

    /// Ends the response body with trailer fields (a HEADERS frame after the last DATA, as gRPC
    /// needs). Connection-specific fields are dropped; with none left it is a plain end.
    public func finishResponse(streamID: Int32, trailers: HTTPHeaders) {
        guard failure == nil, let session, let stream = streams[streamID],
              stream.responseStarted, !stream.outboundEnded else { return }
        let kept = trailers.filter { !$0.name.hasPrefix(":") && !isConnectionSpecific($0.name) }
        if !kept.isEmpty { stream.trailers = kept.map { (name: $0.name, value: $0.value) } }
        stream.outboundEnded = true
        if stream.deferred {
            stream.deferred = false
            _ = nghttp2_session_resume_data(session, streamID)
        }
    }

    /// Queues response body bytes for a stream (copied into the stream's own buffer); they go
    /// out as the client's flow-control window allows. Keep `pendingDataBytes` bounded.
    public func sendData(streamID: Int32, bytes: UnsafeRawBufferPointer, endStream: Bool) {
        guard failure == nil, let session, let stream = streams[streamID],
              stream.responseStarted, !stream.outboundEnded else { return }
        if bytes.count > 0 {
            stream.appendOutbound(bytes)
            pendingDataTotal += bytes.count
        }
        stream.outboundEnded = endStream
        if stream.deferred {
            stream.deferred = false
            _ = nghttp2_session_resume_data(session, streamID)
        }
    }

    public func sendData(streamID: Int32, bytes: [UInt8], endStream: Bool) {
        bytes.withUnsafeBytes { sendData(streamID: streamID, bytes: $0, endStream: endStream) }
    }

    /// Response body bytes queued for the stream and not yet handed to `takeOutput`.
    public func pendingDataBytes(streamID: Int32) -> Int {
        streams[streamID]?.pendingOutbound ?? 0
    }

    /// The same for every stream of the connection together.
    public var pendingDataBytesOnConnection: Int { pendingDataTotal }

    /// The application has forwarded `bytes` of the stream's request body: reopen that much
    /// of the stream and connection windows.
    public func consume(streamID: Int32, bytes: Int) {
        guard failure == nil, let session, let stream = streams[streamID] else { return }
        let count = min(bytes, stream.unconsumed)
        guard count > 0 else { return }
        stream.unconsumed -= count
        _ = nghttp2_session_consume(session, streamID, count)
    }

    /// Resets a stream (RST_STREAM). The application gets no `.streamReset` for it.
    public func resetStream(_ streamID: Int32, errorCode: UInt32) {
        // A stream nghttp2 has closed needs no reset (and its RST would never be sent).
        guard failure == nil, let session, let stream = streams[streamID] else { return }
        stream.resetByApplication = true
        stream.resetAnnounced = true
        applicationResets.insert(streamID)
        if nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode) != 0 {
            applicationResets.remove(streamID)
        }
    }

    /// The application is done with a stream whose request is still arriving (it answered
    /// without reading the rest of the body): once the response has gone out completely, the
    /// stream is reset with NO_ERROR so the client stops sending (RFC 9113 section 8.1). The
    /// reset must wait: nghttp2 sends RST_STREAM ahead of queued HEADERS and DATA and then drops
    /// those, so a reset submitted with the response would replace it.
    public func stopReceiving(streamID: Int32) {
        guard failure == nil, let session, let stream = streams[streamID], !stream.resetByApplication,
              nghttp2_session_get_stream_remote_close(session, streamID) == 0 else { return }
        if nghttp2_session_get_stream_local_close(session, streamID) == 1 {
            resetStream(streamID, errorCode: HTTP2ErrorCode.noError)  // the response is out already
        } else {
            stream.resetAfterReply = true
        }
    }

    /// Ends the connection. `graceful` (with NO_ERROR): the two-step shutdown of RFC 9113 6.8 —
    /// a GOAWAY with the maximum stream id and a PING now, the final GOAWAY naming the last
    /// stream taken when the PING's ACK comes back; streams in flight finish, then `wantsRead`
    /// and `wantsWrite` turn false. Otherwise a GOAWAY naming the last stream taken now; with an
    /// error code the connection closes as soon as it is sent.
    public func goAway(errorCode: UInt32, graceful: Bool) {
        guard failure == nil, let session, shutdownState != .finalSent else { return }
        if graceful && errorCode == HTTP2ErrorCode.noError {
            guard shutdownState == .none else { return }
            shutdownState = .noticeSent
            _ = nghttp2_submit_shutdown_notice(session)
            _ = Self.shutdownPingData.withUnsafeBufferPointer {
                nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), $0.baseAddress)
            }
        } else if errorCode == HTTP2ErrorCode.noError {
            submitFinalGoAway()
        } else {
            shutdownState = .finalSent
            terminatedByApplication = true
            _ = nghttp2_session_terminate_session(session, errorCode)
        }
    }

    func submitFinalGoAway() {
        guard let session else { return }
        shutdownState = .finalSent
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue),
                                  nghttp2_session_get_last_proc_stream_id(session),
                                  HTTP2ErrorCode.noError, nil, 0)
    }

    /// A response Sluice makes itself: status, headers, a content-length and the body, ending
    /// the stream.
    public func sendLocalReply(streamID: Int32, reply: LocalReply) {
        var headers = reply.headers
        if !headers.contains(name: "content-length") && reply.status != 204 && reply.status != 304 {
            headers.appendLowercased(name: "content-length", value: String(reply.body.count))
        }
        let head = HTTPResponseHead(status: reply.status, version: .http2, headers: headers)
        sendResponse(streamID: streamID, head: head, endStream: reply.body.isEmpty)
        if !reply.body.isEmpty { sendData(streamID: streamID, bytes: reply.body, endStream: true) }
    }
}
