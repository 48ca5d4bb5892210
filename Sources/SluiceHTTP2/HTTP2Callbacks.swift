internal import CNghttp2
import SluiceHTTP

// nghttp2's callbacks cannot capture: each one recovers the session object from user_data.

private let callbackFailure = NGHTTP2_ERR_CALLBACK_FAILURE.rawValue

private func owner(_ user: UnsafeMutableRawPointer?) -> HTTP2ServerSession {
    Unmanaged<HTTP2ServerSession>.fromOpaque(user!).takeUnretainedValue()
}

private func frameType(_ value: UInt8) -> nghttp2_frame_type { nghttp2_frame_type(UInt32(value)) }

private func has(_ flags: UInt8, _ flag: nghttp2_flag) -> Bool { flags & UInt8(flag.rawValue) != 0 }

private func string(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> String {
    guard let bytes, count > 0 else { return "" }
    return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
}

extension HTTP2ServerSession {
    static func install(_ callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_send_callback(callbacks) { _, data, length, _, user in
            let me = owner(user)
            if me.output.count >= me.outputChunkLimit { return Int(NGHTTP2_ERR_WOULDBLOCK.rawValue) }
            me.output.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
            return length
        }
        nghttp2_session_callbacks_set_send_data_callback(callbacks) { _, frame, header, length, _, user in
            owner(user).writeDataFrame(frame!, header: header!, length: length)
        }
        nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks) { _, header, user in
            owner(user).beginFrame(header!.pointee) ? 0 : callbackFailure
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            let me = owner(user)
            let frame = frame!.pointee
            if frame.headers.cat == NGHTTP2_HCAT_REQUEST {
                let stream = StreamState(id: frame.hd.stream_id)
                me.streams[frame.hd.stream_id] = stream
                me.streamReceivingHeaders = stream
            } else {
                me.streamReceivingHeaders = me.streams[frame.hd.stream_id]
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            owner(user).header(frame!.pointee, name: name, nameLength: nameLength, value: value, valueLength: valueLength)
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            owner(user).frameReceived(frame!.pointee) ? 0 : callbackFailure
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { session, _, streamID, data, length, user in
            let me = owner(user)
            if let stream = me.streams[streamID], stream.announced, !stream.resetAnnounced {
                stream.unconsumed += length
                stream.frameBytes.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
            } else {
                // Nobody will forward these bytes: give the window back at once.
                nghttp2_session_consume(session, streamID, length)
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { session, streamID, errorCode, user in
            owner(user).streamClosed(streamID, errorCode: errorCode, session: session!)
            return 0
        }
        nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks) { _, frame, libraryError, user in
            owner(user).invalidFrame(frame!.pointee, libraryError: libraryError)
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, user in
            owner(user).frameSent(frame!.pointee) ? 0 : callbackFailure
        }
        nghttp2_session_callbacks_set_error_callback2(callbacks) { _, _, message, length, user in
            owner(user).libraryMessage = string(UnsafeRawPointer(message)?.assumingMemoryBound(to: UInt8.self), length)
            return 0
        }
    }

    /// The read callback of every response body: hands nghttp2 the length to send (the bytes
    /// themselves are copied once, by `writeDataFrame`), or defers until `sendData`.
    static func dataProvider() -> nghttp2_data_provider {
        nghttp2_data_provider(source: nghttp2_data_source(ptr: nil)) { session, streamID, _, length, dataFlags, _, user in
            let me = owner(user)
            guard let stream = me.streams[streamID] else {
                return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
            }
            let count = min(length, stream.pendingOutbound)
            var flags = NGHTTP2_DATA_FLAG_NO_COPY.rawValue
            if count == stream.pendingOutbound && stream.outboundEnded {
                flags |= NGHTTP2_DATA_FLAG_EOF.rawValue
                if let trailers = stream.trailers {
                    // The trailers' HEADERS frame ends the stream instead of this DATA frame;
                    // nghttp2 wants them submitted here, with the last DATA (nghttp2_submit_trailer).
                    stream.trailers = nil
                    flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                    me.nameValues.with(trailers) { fields in
                        _ = nghttp2_submit_trailer(session, streamID, fields.baseAddress, fields.count)
                    }
                }
            } else if count == 0 {
                stream.deferred = true
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
            dataFlags!.pointee = flags
            return count
        }
    }

    // MARK: Callback bodies

    func writeDataFrame(_ frame: UnsafeMutablePointer<nghttp2_frame>, header: UnsafePointer<UInt8>, length: Int) -> Int32 {
        if output.count >= outputChunkLimit { return NGHTTP2_ERR_WOULDBLOCK.rawValue }
        guard let stream = streams[frame.pointee.hd.stream_id] else { return callbackFailure }
        output.append(contentsOf: UnsafeBufferPointer(start: header, count: 9))
        let padding = frame.pointee.data.padlen
        if padding > 0 { output.append(UInt8(truncatingIfNeeded: padding - 1)) }
        stream.takeOutbound(length, into: &output)
        pendingDataTotal -= length
        dataFramesSent += 1
        if padding > 1 { output.append(contentsOf: repeatElement(0, count: padding - 1)) }
        return 0
    }

    /// Frame header seen, payload not yet read: the flood budgets count here, before nghttp2
    /// spends any work on the payload.
    func beginFrame(_ header: nghttp2_frame_hd) -> Bool {
        switch frameType(header.type) {
        case NGHTTP2_DATA:
            if header.length == 0 && !has(header.flags, NGHTTP2_FLAG_END_STREAM) { return countEmptyData() }
        case NGHTTP2_PING, NGHTTP2_SETTINGS:
            if !has(header.flags, NGHTTP2_FLAG_ACK) { return countControlFrame() }
        case NGHTTP2_PRIORITY:
            return countControlFrame()
        default:
            break
        }
        return true
    }

    func header(_ frame: nghttp2_frame, name: UnsafePointer<UInt8>?, nameLength: Int,
                value: UnsafePointer<UInt8>?, valueLength: Int) -> Int32 {
        let cached = streamReceivingHeaders.flatMap { $0.id == frame.hd.stream_id ? $0 : nil }
        guard let stream = cached ?? streams[frame.hd.stream_id] else { return 0 }
        stream.headerListBytes += nameLength + valueLength + 32
        if stream.headerListBytes > settings.maxHeaderListSize {
            if stream.announced {
                // Trailers too large: the request is void; nghttp2 resets the stream.
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
            }
            if stream.rejection == nil {
                stream.rejection = .json(status: 431, reason: "header_list_too_large",
                                         message: "request header fields exceed \(settings.maxHeaderListSize) bytes")
                stream.headers = HTTPHeaders()
                stream.cookies = []
            }
            return 0
        }
        if stream.rejection != nil { return 0 }
        let valueText = string(value, valueLength)
        if frame.headers.cat != NGHTTP2_HCAT_REQUEST {
            stream.headers.appendLowercased(name: string(name, nameLength), value: valueText)  // trailers
            return 0
        }
        // nghttp2 has already checked the shape (RFC 9113 8.3): lower case, no
        // connection-specific fields, pseudo-headers known (:method, :scheme, :authority,
        // :path, :protocol), once each, before regular ones. So a pseudo-header is told by its
        // length and second byte, with no name string made and compared for each field.
        if let name, nameLength > 1, name[0] == UInt8(ascii: ":") {
            switch (nameLength, name[1]) {
            case (7, UInt8(ascii: "m")): stream.method = valueText
            case (5, UInt8(ascii: "p")): stream.path = valueText
            case (10, UInt8(ascii: "a")): stream.authority = valueText
            default: break  // :scheme, :protocol
            }
            return 0
        }
        let nameText = string(name, nameLength)
        if nameLength == 6 && nameText == "cookie" {
            stream.cookies.append(valueText)
        } else {
            stream.headers.appendLowercased(name: nameText, value: valueText)
        }
        return 0
    }

    func frameReceived(_ frame: nghttp2_frame) -> Bool {
        let streamID = frame.hd.stream_id
        switch frameType(frame.hd.type) {
        case NGHTTP2_HEADERS:
            streamReceivingHeaders = nil
            guard let stream = streams[streamID] else { return true }
            let endStream = has(frame.hd.flags, NGHTTP2_FLAG_END_STREAM)
            if frame.headers.cat == NGHTTP2_HCAT_REQUEST {
                requestHeadReceived(stream, endStream: endStream)
            } else if stream.announced && !stream.resetAnnounced {
                events.append(.trailers(streamID: streamID, headers: stream.headers))
                stream.headers = HTTPHeaders()
            }
        case NGHTTP2_DATA:
            guard let stream = streams[streamID], stream.announced, !stream.resetAnnounced else { return true }
            let bytes = stream.frameBytes
            stream.frameBytes = []
            events.append(.data(streamID: streamID, bytes: bytes, endStream: has(frame.hd.flags, NGHTTP2_FLAG_END_STREAM)))
        case NGHTTP2_RST_STREAM:
            if let stream = streams[streamID], stream.announced, !stream.resetAnnounced {
                stream.resetAnnounced = true
                events.append(.streamReset(streamID: streamID, errorCode: frame.rst_stream.error_code))
            }
            return countReset()
        case NGHTTP2_GOAWAY:
            events.append(.goAway(lastStreamID: frame.goaway.last_stream_id, errorCode: frame.goaway.error_code))
        case NGHTTP2_PING:
            if has(frame.hd.flags, NGHTTP2_FLAG_ACK) && shutdownState == .noticeSent {
                let opaque = withUnsafeBytes(of: frame.ping.opaque_data) { Array($0) }
                if opaque == Self.shutdownPingData { submitFinalGoAway() }
            }
        default:
            break
        }
        return true
    }

    private func requestHeadReceived(_ stream: StreamState, endStream: Bool) {
        if stream.rejection == nil {
            if stream.method == "CONNECT" {
                stream.rejection = .json(status: 501, reason: "connect_unsupported",
                                         message: "CONNECT is not supported")
            } else if let path = stream.path, !path.utf8.allSatisfy({ $0 &- 0x21 < 0x5E }) {
                // As on HTTP/1.1 (RFC 3986: a request target is visible ASCII, the rest
                // percent-encoded): raw UTF-8 or controls in :path went upstream as sent.
                stream.rejection = .json(status: 400, reason: "invalid_target",
                                         message: "the request target holds bytes that are not visible ASCII (percent-encode them)")
            } else if let host = stream.authority ?? stream.headers["host"], !HostSyntax.isValid(host) {
                // As on HTTP/1.1: `ev%41l`, `good@evil`, `evil:80:80` name another host (or none)
                // to the URL parsers backends build links with (nghttp2 lets `%` and `@` through).
                stream.rejection = .json(status: 400, reason: "invalid_host", message: "the authority is not a host and optional port")
            } else if let authority = stream.authority, let host = stream.headers["host"],
                      host.lowercased() != authority.lowercased() {  // host names compare without case (RFC 3986 §6.2.2.1)
                // RFC 9113 8.3.1: Host and :authority naming different origins is malformed;
                // routing on one and forwarding the other would be a smuggling vector.
                stream.rejection = .json(status: 400, reason: "host_authority_mismatch",
                                         message: "Host and :authority differ")
            } else if stream.headers.count(of: "content-type") > 1 {
                // As on HTTP/1.1: the body is read by one, a backend may read it by the other.
                stream.rejection = .json(status: 400, reason: "duplicate_content_type", message: "more than one Content-Type field")
            }
        }
        if let reply = stream.rejection {
            stream.resetAfterReply = !endStream
            events.append(.rejected(streamID: stream.id, reply: reply))
            return
        }
        stream.announced = true
        events.append(.request(streamID: stream.id, head: stream.takeRequestHead(), endStream: endStream))
        stream.cookies = []
        stream.headerListBytes = 0
    }

    func invalidFrame(_ frame: nghttp2_frame, libraryError: Int32) {
        let streamID = frame.hd.stream_id
        guard streamID != 0, let stream = streams[streamID], stream.announced, !stream.resetAnnounced else { return }
        stream.resetAnnounced = true
        let code: UInt32
        switch libraryError {
        case NGHTTP2_ERR_FLOW_CONTROL.rawValue: code = HTTP2ErrorCode.flowControlError
        case NGHTTP2_ERR_STREAM_CLOSED.rawValue: code = HTTP2ErrorCode.streamClosed
        case NGHTTP2_ERR_REFUSED_STREAM.rawValue: code = HTTP2ErrorCode.refusedStream
        default: code = HTTP2ErrorCode.protocolError
        }
        events.append(.streamReset(streamID: streamID, errorCode: code))
    }

    func streamClosed(_ streamID: Int32, errorCode: UInt32, session: OpaquePointer) {
        audit.serverClosed(streamID)
        guard let stream = streams.removeValue(forKey: streamID) else { return }
        pendingDataTotal -= stream.pendingOutbound
        // An application reset still queued when the stream closed otherwise is never sent.
        // (A sent one was already taken out: nghttp2 reports the RST before the close.)
        applicationResets.remove(streamID)
        if stream.unconsumed > 0 {
            // Body bytes the application will never consume: return them to the connection window.
            nghttp2_session_consume_connection(session, stream.unconsumed)
        }
        if stream.announced && !stream.resetAnnounced && !stream.resetByApplication && errorCode != HTTP2ErrorCode.noError {
            events.append(.streamReset(streamID: streamID, errorCode: errorCode))
        }
    }

    func frameSent(_ frame: nghttp2_frame) -> Bool {
        let streamID = frame.hd.stream_id
        switch frameType(frame.hd.type) {
        case NGHTTP2_RST_STREAM:
            audit.serverClosed(streamID)
            if applicationResets.remove(streamID) != nil { return true }
            // nghttp2 reset the stream because of something the client sent.
            if let stream = streams[streamID], stream.announced, !stream.resetAnnounced {
                stream.resetAnnounced = true
                events.append(.streamReset(streamID: streamID, errorCode: frame.rst_stream.error_code))
            }
            return countReset()
        case NGHTTP2_GOAWAY:
            sentGoAwayCode = frame.goaway.error_code
        case NGHTTP2_HEADERS, NGHTTP2_DATA:
            if has(frame.hd.flags, NGHTTP2_FLAG_END_STREAM), let stream = streams[streamID], stream.resetAfterReply {
                stream.resetAfterReply = false
                resetStream(streamID, errorCode: HTTP2ErrorCode.noError)
            }
        default:
            break
        }
        return true
    }
}
