internal import CNghttp2
import SluiceHTTP

// nghttp2's callbacks cannot capture: each one recovers the client session from user_data.

private func client(_ user: UnsafeMutableRawPointer?) -> HTTP2ClientSession {
    Unmanaged<HTTP2ClientSession>.fromOpaque(user!).takeUnretainedValue()
}

extension HTTP2ClientSession {
    static func install(_ callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_send_callback(callbacks) { _, data, length, _, user in
            let me = client(user)
            if me.output.count >= me.outputChunkLimit { return Int(NGHTTP2_ERR_WOULDBLOCK.rawValue) }
            me.output.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
            return length
        }
        nghttp2_session_callbacks_set_send_data_callback(callbacks) { _, frame, header, length, _, user in
            let me = client(user)
            if me.output.count >= me.outputChunkLimit { return NGHTTP2_ERR_WOULDBLOCK.rawValue }
            guard let stream = me.streams[frame!.pointee.hd.stream_id] else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            me.output.append(contentsOf: UnsafeBufferPointer(start: header!, count: 9))
            let padding = frame!.pointee.data.padlen
            if padding > 0 { me.output.append(UInt8(truncatingIfNeeded: padding - 1)) }
            stream.outbound.take(length, into: &me.output)
            if padding > 1 { me.output.append(contentsOf: repeatElement(0, count: padding - 1)) }
            return 0
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            if let stream = client(user).streams[frame!.pointee.hd.stream_id] {
                stream.status = 0
                stream.headers = HTTPHeaders()
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            guard let stream = client(user).streams[frame!.pointee.hd.stream_id] else { return 0 }
            let nameText = String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self)
            let valueText = String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
            if nameText == ":status" {
                stream.status = Int(valueText) ?? 0
            } else if !nameText.hasPrefix(":") {
                stream.headers.appendLowercased(name: nameText, value: valueText)
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { session, _, streamID, data, length, user in
            if let stream = client(user).streams[streamID], !stream.cancelled {
                stream.frameBytes.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
            } else {
                nghttp2_session_consume(session, streamID, length)  // nobody relays these
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            client(user).frameReceived(frame!.pointee)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, user in
            let me = client(user)
            guard let stream = me.streams.removeValue(forKey: streamID) else { return 0 }
            if !stream.ended && !stream.cancelled {
                me.events.append(.streamClosed(streamID: streamID, errorCode: errorCode == 0 ? HTTP2ErrorCode.internalError : errorCode))
            }
            return 0
        }
    }

    /// The read callback of every request body (the bytes are copied by the send-data callback).
    static func dataProvider() -> nghttp2_data_provider {
        nghttp2_data_provider(source: nghttp2_data_source(ptr: nil)) { _, streamID, _, length, dataFlags, _, user in
            guard let stream = client(user).streams[streamID] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
            let count = min(length, stream.pendingOutbound)
            var flags = NGHTTP2_DATA_FLAG_NO_COPY.rawValue
            if count == stream.pendingOutbound && stream.outboundEnded {
                flags |= NGHTTP2_DATA_FLAG_EOF.rawValue
            } else if count == 0 {
                stream.deferred = true
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
            dataFlags!.pointee = flags
            return count
        }
    }

    func frameReceived(_ frame: nghttp2_frame) {
        let streamID = frame.hd.stream_id
        let endStream = frame.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch nghttp2_frame_type(UInt32(frame.hd.type)) {
        case NGHTTP2_HEADERS:
            guard let stream = streams[streamID], !stream.cancelled else { return }
            if stream.status >= 200 && !stream.responseAnnounced {
                stream.responseAnnounced = true
                if endStream { stream.ended = true }
                events.append(.response(streamID: streamID,
                                        head: HTTPResponseHead(status: stream.status, version: .http2, headers: stream.headers),
                                        endStream: endStream))
            } else if stream.status == 0 && stream.responseAnnounced {
                stream.ended = true
                events.append(.trailers(streamID: streamID, headers: stream.headers))
            }
            // A 1xx head is dropped; the final one follows.
            stream.headers = HTTPHeaders()
        case NGHTTP2_DATA:
            guard let stream = streams[streamID], !stream.cancelled else { return }
            let bytes = stream.frameBytes
            stream.frameBytes = []
            if endStream { stream.ended = true }
            events.append(.data(streamID: streamID, bytes: bytes, endStream: endStream))
        case NGHTTP2_GOAWAY:
            goingAway = true
            events.append(.goAway(lastStreamID: frame.goaway.last_stream_id, errorCode: frame.goaway.error_code))
        default:
            break
        }
    }
}
