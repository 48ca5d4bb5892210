/// Checks what a client sends against the stream rules that nghttp2 leaves to the application,
/// reading only frame headers (and the 4-byte dependency of PRIORITY frames), before nghttp2
/// sees the bytes:
///
/// - a HEADERS frame that opens a stream must carry a higher id than every stream the client
///   opened before (RFC 9113 §5.1.1): a lower one is a connection error PROTOCOL_ERROR;
/// - after the client ended a stream (END_STREAM or its own RST_STREAM), DATA or HEADERS on it
///   are a violation of §5.1 (nghttp2 forgets a closed stream and silently drops them): a
///   connection error STREAM_CLOSED, which §5.4.1 allows for any stream error;
/// - PRIORITY on stream 0 (§6.3) or depending on its own stream (§5.3.1): PROTOCOL_ERROR.
///   nghttp2 skips PRIORITY payloads without looking since Sluice turns the RFC 7540 priority
///   tree off (cheaper, and closed streams are not retained for it).
///
/// Frames on a stream the server reset while the client was still sending stay legal: the client
/// may not have seen the reset yet (§5.1 "closed"), and nghttp2 ignores them. Memory is bounded:
/// the streams the client has open, and the last few ended and server-reset ids.
struct ClientFrameAudit {
    private static let prefaceLength = 24
    private static let frameHeaderLength = 9
    private static let recentCapacity = 64

    private var prefaceRemaining = ClientFrameAudit.prefaceLength
    /// A frame header split over reads: its first bytes.
    private var partialHeader: [UInt8] = []
    /// Payload bytes of the current frame not yet seen.
    private var payloadRemaining = 0
    /// The current frame is PRIORITY on this stream and its dependency is still being read.
    private var priorityStream: UInt32 = 0
    private var dependency: UInt32 = 0
    private var dependencyBytes = 0

    /// The highest stream id a client HEADERS frame opened.
    private var highestOpened: UInt32 = 0
    /// Streams the client opened and has not ended itself.
    private var clientOpen: Set<UInt32> = []
    /// Streams the client ended (END_STREAM or RST_STREAM): it must send no DATA or HEADERS on them.
    private var clientEnded = RecentStreamIDs(capacity: ClientFrameAudit.recentCapacity)
    /// Streams the server reset while the client had them open: late frames on them are fine.
    private var serverReset = RecentStreamIDs(capacity: ClientFrameAudit.recentCapacity)
    /// Off (`stream_checks: false`): the frame headers are still read, for the inert count, and
    /// no stream rule is applied.
    var enforcesStreamRules = true
    /// Frames seen that move no request forward (PING ACKs, PRIORITY_UPDATE, unknown types), and
    /// WINDOW_UPDATE frames, since the session last took the counts for its budget.
    private(set) var inertFrames = 0
    private(set) var windowUpdates = 0

    /// The inert frames and the WINDOW_UPDATE frames counted since the last call.
    mutating func takeInertFrames() -> (inert: Int, windowUpdates: Int) {
        defer { (inertFrames, windowUpdates) = (0, 0) }
        return (inertFrames, windowUpdates)
    }

    /// Reads `bytes` (the next bytes from the client, in order). A violation anywhere in them is
    /// returned; nothing of them should then reach nghttp2, so that the GOAWAY's last stream id
    /// tells the client truthfully which requests were not processed.
    mutating func inspect(_ bytes: UnsafeRawBufferPointer) -> HTTP2ConnectionError? {
        var position = 0
        if prefaceRemaining > 0 {
            let skipped = min(prefaceRemaining, bytes.count)
            prefaceRemaining -= skipped
            position = skipped
        }
        while position < bytes.count {
            if payloadRemaining > 0 {
                let taken = min(payloadRemaining, bytes.count - position)
                if priorityStream != 0, let violation = readDependency(bytes, from: position, count: taken) { return violation }
                payloadRemaining -= taken
                position += taken
                continue
            }
            let header: FrameHeader
            if partialHeader.isEmpty && bytes.count - position >= Self.frameHeaderLength {
                header = FrameHeader(UnsafeRawBufferPointer(rebasing: bytes[position ..< position + Self.frameHeaderLength]))
                position += Self.frameHeaderLength
            } else {
                let needed = Self.frameHeaderLength - partialHeader.count
                let taken = min(needed, bytes.count - position)
                partialHeader.append(contentsOf: bytes[position ..< position + taken])
                position += taken
                guard partialHeader.count == Self.frameHeaderLength else { continue }
                header = partialHeader.withUnsafeBytes { FrameHeader($0) }
                partialHeader.removeAll(keepingCapacity: true)
            }
            payloadRemaining = header.length
            if header.type == FrameHeader.windowUpdate {
                windowUpdates += 1
            } else if isInert(header) {
                inertFrames += 1
            }
            // The streams are tracked either way; their rules apply with `enforcesStreamRules`.
            if let violation = check(header), enforcesStreamRules { return violation }
        }
        return nil
    }

    /// The server reset `streamID` (or nghttp2 refused or closed it): the client may still be
    /// sending on it without knowing.
    mutating func serverClosed(_ streamID: Int32) {
        let id = UInt32(bitPattern: streamID)
        if clientOpen.remove(id) != nil { serverReset.insert(id) }
    }

    /// A frame nghttp2 reads and drops without anything coming of it: a PING ACK (we send few
    /// PINGs), an extension or unknown type, DATA on a stream that is no longer open (answered
    /// and reset, or ended: nghttp2 drops it), or a small padded DATA frame without END_STREAM
    /// (padding only, which the empty-DATA budget, counting length 0, did not see). Floods of
    /// each held a loop while nothing counted them.
    private func isInert(_ frame: FrameHeader) -> Bool {
        switch frame.type {
        case FrameHeader.ping: return frame.flags & FrameHeader.ackFlag != 0
        case FrameHeader.data:
            guard frame.streamID != 0 else { return false }
            if !clientOpen.contains(frame.streamID) { return true }
            return frame.flags & FrameHeader.paddedFlag != 0 && frame.length <= 256 && !frame.endsStream
        default: return frame.type > FrameHeader.continuation
        }
    }

    private mutating func check(_ frame: FrameHeader) -> HTTP2ConnectionError? {
        let id = frame.streamID
        switch frame.type {
        case FrameHeader.data:
            guard id != 0 else { return nil }  // nghttp2 answers DATA on stream 0
            if clientOpen.contains(id) {
                if frame.endsStream { endedByClient(id) }
            } else if clientEnded.contains(id) {
                return Self.streamClosed("data_after_stream_end")
            }
        case FrameHeader.headers:
            guard id & 1 == 1 else { return nil }  // stream 0 or an even id: nghttp2's PROTOCOL_ERROR
            if id > highestOpened {
                highestOpened = id
                if frame.endsStream { clientEnded.insert(id) } else { clientOpen.insert(id) }
            } else if clientOpen.contains(id) {
                if frame.endsStream { endedByClient(id) }  // trailers
            } else if clientEnded.contains(id) {
                return Self.streamClosed("headers_after_stream_end")
            } else if !serverReset.contains(id) {
                return HTTP2ConnectionError(code: HTTP2ErrorCode.protocolError, reason: "stream_id_not_increasing")
            }
        case FrameHeader.rstStream:
            if clientOpen.contains(id) { endedByClient(id) }
        case FrameHeader.priority:
            if id == 0 { return HTTP2ConnectionError(code: HTTP2ErrorCode.protocolError, reason: "priority_on_stream_0") }
            // A PRIORITY frame of another length is nghttp2's FRAME_SIZE_ERROR.
            if frame.length == 5 {
                priorityStream = id
                dependency = 0
                dependencyBytes = 0
            }
        default:
            break
        }
        return nil
    }

    private mutating func endedByClient(_ id: UInt32) {
        clientOpen.remove(id)
        clientEnded.insert(id)
    }

    private mutating func readDependency(_ bytes: UnsafeRawBufferPointer, from start: Int, count: Int) -> HTTP2ConnectionError? {
        var index = start
        while dependencyBytes < 4 && index < start + count {
            dependency = dependency << 8 | UInt32(bytes[index])
            dependencyBytes += 1
            index += 1
        }
        guard dependencyBytes == 4 else { return nil }
        let stream = priorityStream
        priorityStream = 0
        if dependency & 0x7fff_ffff == stream {
            return HTTP2ConnectionError(code: HTTP2ErrorCode.protocolError, reason: "priority_depends_on_itself")
        }
        return nil
    }

    private static func streamClosed(_ reason: String) -> HTTP2ConnectionError {
        HTTP2ConnectionError(code: HTTP2ErrorCode.streamClosed, reason: reason)
    }
}

/// The 9-byte frame header of RFC 9113 §4.1.
private struct FrameHeader {
    static let data: UInt8 = 0x0
    static let headers: UInt8 = 0x1
    static let priority: UInt8 = 0x2
    static let rstStream: UInt8 = 0x3
    static let ping: UInt8 = 0x6
    static let ackFlag: UInt8 = 0x1
    static let paddedFlag: UInt8 = 0x8
    static let windowUpdate: UInt8 = 0x8
    /// The last type RFC 9113 defines; above it: extensions (PRIORITY_UPDATE 0x10) and unknown.
    static let continuation: UInt8 = 0x9
    static let endStreamFlag: UInt8 = 0x1

    let length: Int
    let type: UInt8
    let flags: UInt8
    let streamID: UInt32

    init(_ bytes: UnsafeRawBufferPointer) {
        length = Int(bytes[0]) << 16 | Int(bytes[1]) << 8 | Int(bytes[2])
        type = bytes[3]
        flags = bytes[4]
        streamID = (UInt32(bytes[5]) << 24 | UInt32(bytes[6]) << 16 | UInt32(bytes[7]) << 8 | UInt32(bytes[8])) & 0x7fff_ffff
    }

    /// END_STREAM is defined on DATA and HEADERS only.
    var endsStream: Bool { (type == Self.data || type == Self.headers) && flags & Self.endStreamFlag != 0 }
}

/// The last `capacity` stream ids inserted; older ones are forgotten.
private struct RecentStreamIDs {
    private var ids: [UInt32] = []
    private var next = 0
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func contains(_ id: UInt32) -> Bool { ids.contains(id) }

    mutating func insert(_ id: UInt32) {
        if ids.count < capacity {
            ids.append(id)
        } else {
            ids[next] = id
            next = (next + 1) % capacity
        }
    }
}
