import SluiceIO
import SluiceHTTP
import SluiceHTTP2
import SluicePolicy

/// One downstream HTTP/2 connection (h2 over TLS, or prior-knowledge h2c). The connection task
/// reads frames and feeds the nghttp2 session; each request stream runs on a task of its own
/// (from the session's idle stream tasks when one waits) through the same request pipeline as
/// HTTP/1. Output from every stream goes through one writer, so
/// frames never interleave mid-write. Loop-confined.
final class HTTP2Session: ParkableSession, @unchecked Sendable {
    let context: LoopContext
    let connection: any ByteStream
    let listener: ListenerPolicy
    let clientAddress: String
    let scheme: String
    /// The verified client certificate's subject (mTLS listeners), for the guards.
    let clientCertificateSubject: String?
    let session: HTTP2ServerSession
    private let buffer = ByteBuffer(capacity: 16 * 1024)
    /// When the connection closes if no stream opens: restarted by every read with none open.
    private(set) var idleDeadline = Deadline(nanoseconds: 0)
    /// The gaps between one stream ending with no other open and the next stream (parked time
    /// included), and when the current gap began: how long to wait idle before parking.
    private var idleGaps = IdleGaps()
    private var idleSince: UInt64?
    /// Bytes of the client's connection preface not received yet. Until it is whole, the
    /// listener's header timeout applies (from the session's start), as for an HTTP/1.1 request
    /// head or an h2c client's preface: a client that completes a TLS handshake with ALPN h2 and
    /// then says nothing is cut after `header_timeout`, not kept for `idle_timeout`.
    private var prefaceMissing = 24
    private let prefaceDeadline: Deadline
    private var streams: [Int32: HTTP2StreamExchange] = [:]
    private var output: [UInt8] = []
    private var writing = false
    private var flushScheduled = false
    private var closed = false
    /// Stream tasks waiting for the next stream. A task's first async frames cost its allocator
    /// slab mallocs (~7 per stream measured under callgrind with a fresh task per stream), so a
    /// task that finished a stream takes the next one instead of ending.
    private var idleStreamTasks: [UnsafeContinuation<HTTP2StreamExchange?, Never>] = []
    static let maximumIdleStreamTasks = 32
    /// Idle stream tasks keep their stacks (~24 KiB each), so they end once the connection has
    /// had no stream for a second.
    private lazy var idleStreamTasksTimer = TimerNode { [unowned self] in
        if streams.isEmpty { endIdleStreamTasks() }
    }
    private lazy var pipeline = RequestPipeline(context: context, listenerName: listener.name, trustedProxies: listener.trustedProxies,
                                                bodyTimeoutNanoseconds: listener.bodyTimeout.nanosecondsClamped,
                                                bodyMinimumRate: listener.bodyMinimumRate)

    /// A stream waits (backpressure) while more than this much of its response is queued
    /// unsent, so a slow client cannot make Sluice buffer an unbounded response.
    static let responseHighWater = 256 * 1024
    /// The same for all of a connection's streams together: a client that opens 128 streams and
    /// no window (SETTINGS_INITIAL_WINDOW_SIZE 0) had 256 KiB queued on each, ~50 MB of memory
    /// per connection for large responses; now a connection holds about 1 MiB however many
    /// streams it opens.
    static let connectionResponseHighWater = 1024 * 1024

    /// Whether a stream may queue more of its response: its own queue is under its mark, and
    /// the connection's is too or the stream's own is empty (`resuming`: under half of the
    /// marks, so that a waiting sender does not wake for every frame that goes out). A stream
    /// whose queue is empty is one the client reads: it may always add, else the streams the
    /// client leaves unread (holding the connection's queue over its mark) starved the one it
    /// reads, until every stream timed out.
    func hasRoomToSend(_ streamID: Int32, resuming: Bool = false) -> Bool {
        let divisor = resuming ? 2 : 1
        let own = session.pendingDataBytes(streamID: streamID)
        guard own <= Self.responseHighWater / divisor else { return false }
        return own == 0 || session.pendingDataBytesOnConnection <= Self.connectionResponseHighWater / divisor
    }

    init(context: LoopContext, connection: any ByteStream, listener: ListenerPolicy, scheme: String,
         clientCertificateSubject: String?, settings: HTTP2Settings, clientAddress: String? = nil) throws {
        self.clientCertificateSubject = clientCertificateSubject
        self.context = context
        self.connection = connection
        self.listener = listener
        self.scheme = scheme
        self.clientAddress = clientAddress ?? connection.peer?.host ?? "unknown"
        session = try HTTP2ServerSession(settings: settings)
        prefaceDeadline = context.loop.deadline(after: listener.headerTimeout)
    }

    var loop: EventLoop { context.loop }
    var listenerName: String { listener.name }

    /// A graceful GOAWAY in two steps (RFC 9113 §6.8), busy or idle: a notice that no new stream
    /// should start, with a PING; the final GOAWAY, naming the last stream served, when the
    /// PING's ACK comes back (or after `finalGoAwayAfter` without one). A request the client sent
    /// before it saw the notice is served, not refused; streams in flight finish; the connection
    /// closes when none is left. An idle connection used to get the final GOAWAY at once and be
    /// closed: a POST crossing it on the wire was refused, or lost to the reset that closing
    /// with its bytes unread sends.
    func drain() {
        session.goAway(errorCode: HTTP2ErrorCode.noError, graceful: true)
        scheduleFlush()
        guard !finalGoAwayTimer.isScheduled else { return }
        loop.schedule(finalGoAwayTimer, at: loop.deadline(after: Self.finalGoAwayAfter))
    }

    /// How long a drain waits for the ACK of its PING before the final GOAWAY (Envoy's
    /// `drain_timeout` default for the same step).
    static let finalGoAwayAfter = Duration.seconds(5)

    private lazy var finalGoAwayTimer = TimerNode { [unowned self] in
        guard !closed else { return }
        session.goAway(errorCode: HTTP2ErrorCode.noError, graceful: false)
        scheduleFlush()
    }

    /// Bytes already read off the connection before it was known to be HTTP/2 (the h2c preface).
    func run() async -> SessionRunEnd { await run(initialBytes: []) }

    func run(initialBytes: [UInt8]) async -> SessionRunEnd {
        let end = await serve(initialBytes: initialBytes)
        if end == .closed { finish() }
        return end
    }

    func closeIdle() { finish() }

    private func serve(initialBytes: [UInt8]) async -> SessionRunEnd {
        if !initialBytes.isEmpty {
            buffer.append(initialBytes)
            prefaceMissing = max(0, prefaceMissing - initialBytes.count)
        }
        // Bytes taken since this task last let other connections go first: a client that keeps
        // its socket full (frames nghttp2 reads and drops make no events, and the read never
        // waits) held the loop, and every other connection on it, for seconds.
        var bytesSinceYield = 0
        while !closed {
            if bytesSinceYield >= Self.bytesPerTurn {
                bytesSinceYield = 0
                await loop.yieldToOtherWork()
            }
            if !buffer.isEmpty {
                bytesSinceYield += buffer.readableCount
                let events: [HTTP2Event]
                do {
                    events = try session.receive(buffer.readableBytes)
                } catch {
                    buffer.clear()
                    await flush()
                    return .closed
                }
                buffer.clear()
                for event in events { handle(event) }
            }
            await flush()
            if !session.wantsRead && !session.wantsWrite { return .closed }
            do {
                // While streams are open the connection stays; idle h2 connections time out like
                // idle HTTP/1 ones, and park like them.
                var deadline: Deadline?
                if prefaceMissing > 0 {
                    deadline = prefaceDeadline
                } else if streams.isEmpty {
                    idleDeadline = loop.deadline(after: listener.idleTimeout)
                    deadline = idleDeadline
                    if idleSince == nil { idleSince = Deadline.now.nanoseconds }
                    let parkAt = loop.deadline(afterNanoseconds: idleGaps.parkAfter)
                    if parkAt.nanoseconds < idleDeadline.nanoseconds, try await !connection.waitReadable(orTimeOutAt: parkAt),
                       streams.isEmpty, !writing, !flushScheduled, !session.wantsWrite, buffer.isEmpty {
                        releaseIdleMemory()
                        return .parked
                    }
                }
                let count = try await connection.read(into: buffer, deadline: deadline)
                if count == 0 { return .closed }
                prefaceMissing = max(0, prefaceMissing - count)
            } catch {
                return .closed
            }
        }
        return .closed
    }

    /// How much of a connection's input is processed before the loop's other connections get a
    /// turn (a request of a few KiB never reaches it; a large upload yields every 128 KiB).
    static let bytesPerTurn = 128 * 1024

    /// Parking: the read buffer, both output buffers (ours and the session's), TLS's buffers and
    /// the stream tasks kept for the next streams are given back (made again with the next
    /// stream).
    private func releaseIdleMemory() {
        buffer.releaseCapacity()
        output = []
        session.releaseIdleBuffers()
        connection.releaseIdleBuffers()
        endIdleStreamTasks()
        if idleStreamTasksTimer.isScheduled { loop.cancel(idleStreamTasksTimer) }
    }

    private func handle(_ event: HTTP2Event) {
        switch event {
        case .request(let streamID, let head, let endStream):
            context.metrics.countHTTP2Stream()
            if let since = idleSince {
                let now = Deadline.now.nanoseconds
                idleGaps.record(now - min(since, now))
                idleSince = nil
            }
            let exchange = HTTP2StreamExchange(connection: self, streamID: streamID, head: head, endStream: endStream)
            streams[streamID] = exchange
            if let idle = idleStreamTasks.popLast() {
                idle.resume(returning: exchange)
            } else {
                loop.spawn { [self] in await serveStreams(first: exchange) }
            }
        case .data(let streamID, let bytes, let endStream):
            streams[streamID]?.receive(bytes, endStream: endStream)
        case .trailers(let streamID, _):
            streams[streamID]?.receive([], endStream: true)
        case .streamReset(let streamID, _):
            streams[streamID]?.cancel()
        case .rejected(let streamID, let reply):
            answerRejected(streamID: streamID, reply: reply)
        case .goAway:
            break  // the client will open no more streams; the ones in flight finish
        }
    }

    /// A stream task: serves `first`, then waits for further streams while the connection is
    /// open and few tasks wait already.
    private func serveStreams(first: HTTP2StreamExchange) async {
        var next: HTTP2StreamExchange? = first
        while let exchange = next {
            await pipeline.serve(exchange)
            // Answered (a local reply, say) before the request ended: once the response is
            // out, the client is told to stop sending the body (RFC 9113 §8.1).
            session.stopReceiving(streamID: exchange.streamID)
            streams[exchange.streamID] = nil
            exchange.finished = true
            scheduleFlush()
            if streams.isEmpty && !closed && !idleStreamTasksTimer.isScheduled {
                loop.schedule(idleStreamTasksTimer, at: loop.deadline(after: .seconds(1)))
            }
            guard !closed, idleStreamTasks.count < Self.maximumIdleStreamTasks else { return }
            next = await suspendOnLoop { idleStreamTasks.append($0) }
        }
    }

    private func endIdleStreamTasks() {
        let idle = idleStreamTasks
        idleStreamTasks.removeAll()
        for task in idle { task.resume(returning: nil) }
    }

    /// A stream the session refused before it became a request (431, 501 CONNECT, Host differing
    /// from :authority): answered and logged like HTTP/1's unparseable requests.
    private func answerRejected(streamID: Int32, reply: LocalReply) {
        let requestID = context.requestIDs.next()
        var answer = reply
        answer.headers.set(name: "x-request-id", value: requestID)
        session.sendLocalReply(streamID: streamID, reply: answer)
        scheduleFlush()
        context.recordRefusedBeforeRouting(listener: listener.name, client: clientAddress, requestID: requestID,
                                           status: reply.status, reason: reply.reason, bytesOut: reply.body.count)
    }

    /// Writes everything the session has queued. One writer at a time: a caller that finds a
    /// write in progress returns, and that writer picks its frames up on its next round.
    func flush() async {
        guard !writing, !closed else { return }
        writing = true
        defer { writing = false }
        while true {
            output.removeAll(keepingCapacity: true)
            session.takeOutput(into: &output)
            if output.isEmpty { break }
            do {
                try await connection.write(output, deadline: loop.deadline(after: listener.idleTimeout))
            } catch {
                closed = true
                break
            }
            wakeWritableStreams()
        }
        for event in session.takeEvents() { handle(event) }
        wakeWritableStreams()
        // A finished graceful shutdown (or a connection error) leaves nothing to read or write:
        // close, which also wakes the connection task blocked in read.
        if !session.wantsRead && !session.wantsWrite { finish() }
    }

    /// Flushes soon, once: every stream that queued frames in this pass of the loop shares one
    /// write (one batch of TLS records, one syscall) instead of a write each. Measured under
    /// h2load -m 16 over TLS, per-stream flushing spent ~15% of CPU in SSL_write and send.
    func scheduleFlush() {
        guard !flushScheduled, !closed else { return }
        flushScheduled = true
        loop.spawn { [self] in
            flushScheduled = false
            await flush()
        }
    }

    private func wakeWritableStreams() {
        for stream in streams.values where stream.isWaitingToSend {
            if hasRoomToSend(stream.streamID, resuming: true) || closed {
                stream.resumeSender()
            }
        }
    }

    private func finish() {
        guard !closed || !connection.isClosed else { return }
        closed = true
        if let code = session.lastGoAwayCode { context.metrics.countGoAway(code) }
        for stream in streams.values { stream.cancel() }
        endIdleStreamTasks()
        if idleStreamTasksTimer.isScheduled { loop.cancel(idleStreamTasksTimer) }
        if finalGoAwayTimer.isScheduled { loop.cancel(finalGoAwayTimer) }
        connection.close()
    }

    var isClosed: Bool { closed }
}
