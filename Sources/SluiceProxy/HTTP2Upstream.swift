import SluiceIO
import SluiceHTTP
import SluiceHTTP2

/// One HTTP/2 connection to an upstream endpoint, shared by many requests of one loop, each on
/// its own stream. A reader task feeds the nghttp2 client session and hands each stream its
/// events; one writer at a time sends what the session queued. Loop-confined.
final class HTTP2UpstreamConnection: @unchecked Sendable {
    let endpointIndex: Int
    private let stream: any ByteStream
    let session: HTTP2ClientSession
    private let loop: EventLoop
    private var streams: [Int32: HTTP2UpstreamStream] = [:]
    private let buffer = ByteBuffer(capacity: 16 * 1024)
    private var output: [UInt8] = []
    private var writing = false
    private var flushScheduled = false
    private(set) var closed = false
    /// When its last stream ended (loop clock), for the idle timeout.
    private(set) var idleSince: UInt64 = 0
    /// Its pool let go of it (a reload changed the cluster) while streams were in flight: it
    /// closes once the last of them ends, instead of idling on with nobody to reap it.
    private var retired = false
    /// When bytes last came from the upstream (loop clock).
    private var lastReceivedAt: UInt64 = 0
    /// Its room in the loop's share of the cluster's `max_connections`, given back when it
    /// closes; and the budget whose waiters hear when one of its streams ends (room for theirs).
    /// (Held strongly: the budget holds no connection, and a weak load per stream costs more.)
    var slot: UpstreamConnectionBudget.Slot?
    var budget: UpstreamConnectionBudget?
    /// Written request bodies wait while more than this is queued for one stream.
    static let requestHighWater = 256 * 1024

    init(stream: any ByteStream, endpointIndex: Int, loop: EventLoop) throws(HTTP2ConnectionError) {
        self.stream = stream
        self.endpointIndex = endpointIndex
        self.loop = loop
        session = try HTTP2ClientSession()
        idleSince = loop.now
    }

    /// Starts the reader (the connection preface and SETTINGS go out with the first flush).
    func start() {
        loop.spawn { [self] in await readLoop() }
        scheduleFlush()
    }

    /// A new stream may be opened on it now.
    var canOpenStream: Bool { !closed && !retired && !stream.isClosed && session.availableStreams > 0 }
    var isIdle: Bool { streams.isEmpty }

    /// Opens a stream with the request head; nil when the connection has no room for it.
    func open(method: String, scheme: String, authority: String, path: String, fields: HTTPHeaders,
              endStream: Bool) -> HTTP2UpstreamStream? {
        guard canOpenStream,
              let id = session.submitRequest(method: method, scheme: scheme, authority: authority, path: path,
                                             fields: fields, endStream: endStream) else { return nil }
        let opened = HTTP2UpstreamStream(connection: self, id: id, loop: loop)
        streams[id] = opened
        scheduleFlush()
        return opened
    }

    func forget(_ id: Int32) {
        streams[id] = nil
        budget?.wakeOne()
        guard streams.isEmpty else { return }
        idleSince = loop.now
        // Over a lowered `max_connections`: the excess closes as it goes idle.
        if retired || budget?.isOverLimit == true { close() }
    }

    /// A stream opened at `openedAt` got no answer in its time. When nothing at all has come on
    /// the connection since then, the connection is taken to be stuck (a backend that stopped
    /// reading it, a dead peer behind a live socket): it takes no new streams, which go to a new
    /// connection, and it closes once its streams have ended. Without this every later request
    /// timed out on it for as long as traffic kept it from idling out.
    func streamTimedOut(openedAt: UInt64) {
        if lastReceivedAt < openedAt { retire() }
    }

    /// Closes now when idle, else once its streams in flight have ended.
    func retire() {
        if streams.isEmpty { close() } else { retired = true }
    }

    func close() {
        guard !closed else { return }
        closed = true
        session.fail(HTTP2ConnectionError(code: HTTP2ErrorCode.cancel, reason: "closed"))
        dispatch(session.takeEvents())
        for open in streams.values { open.connectionEnded() }
        streams.removeAll()
        stream.close()
        slot = nil
    }

    private func readLoop() async {
        defer { close() }
        while !closed {
            do {
                if try await stream.read(into: buffer, deadline: nil) == 0 { return }
            } catch {
                return
            }
            lastReceivedAt = loop.now
            let events: [HTTP2ClientEvent]
            do {
                events = try session.receive(buffer.readableBytes)
            } catch {
                buffer.clear()
                await flush()
                return
            }
            buffer.clear()
            dispatch(events)
            await flush()
            if !session.wantsRead && !session.wantsWrite { return }
        }
    }

    private func dispatch(_ events: [HTTP2ClientEvent]) {
        for event in events {
            switch event {
            case .response(let id, _, _), .data(let id, _, _), .trailers(let id, _), .streamClosed(let id, _):
                streams[id]?.deliver(event)
            case .goAway(let lastStreamID, _):
                // Streams above the last one the server took were never processed: safe to retry.
                for (id, open) in streams where id > lastStreamID {
                    open.deliver(.streamClosed(streamID: id, errorCode: HTTP2ErrorCode.refusedStream))
                }
            }
        }
        wakeWriters()
    }

    /// Flushes soon, once: streams that queued frames in this pass of the loop share one write.
    func scheduleFlush() {
        guard !flushScheduled, !closed else { return }
        flushScheduled = true
        loop.spawn { [self] in
            flushScheduled = false
            await flush()
        }
    }

    private func flush() async {
        guard !writing, !closed else { return }
        writing = true
        defer { writing = false }
        while true {
            output.removeAll(keepingCapacity: true)
            session.takeOutput(into: &output)
            if output.isEmpty { break }
            do {
                try await stream.write(output, deadline: loop.deadline(after: .seconds(30)))
            } catch {
                close()
                return
            }
            wakeWriters()
        }
        dispatch(session.takeEvents())
    }

    private func wakeWriters() {
        for open in streams.values where open.room.isWaiting {
            if closed || session.pendingDataBytes(streamID: open.id) < Self.requestHighWater / 2 { open.room.signal() }
        }
    }
}

/// One request's stream on an upstream HTTP/2 connection, as the exchange sees it: events to
/// wait for, body bytes to send, relayed bytes to give back to flow control.
final class HTTP2UpstreamStream: @unchecked Sendable {
    let id: Int32
    /// Strong: the exchange may still give back flow-control credit or cancel after the
    /// connection closed and its pool let go of it. The connection drops its reference to this
    /// stream when the stream ends (no cycle outlives the exchange).
    private let connection: HTTP2UpstreamConnection
    private let loop: EventLoop
    private var queue: [HTTP2ClientEvent] = []
    private var ended = false
    private let arrival = LoopSignal()
    let room = LoopSignal()
    private let openedAt: UInt64

    init(connection: HTTP2UpstreamConnection, id: Int32, loop: EventLoop) {
        self.connection = connection
        self.id = id
        self.loop = loop
        openedAt = loop.now
    }

    /// No answer in time: abandons the stream, and tells the connection (it may be stuck).
    func timedOut() {
        connection.streamTimedOut(openedAt: openedAt)
        cancel()
    }

    func deliver(_ event: HTTP2ClientEvent) {
        queue.append(event)
        switch event {
        case .response(_, _, true), .data(_, _, true), .trailers, .streamClosed:
            ended = true
            connection.forget(id)
        default:
            break
        }
        arrival.signal()
    }

    func connectionEnded() {
        if !ended { deliver(.streamClosed(streamID: id, errorCode: HTTP2ErrorCode.internalError)) }
    }

    /// The next event for this stream, or a timeout.
    func next(deadline: Deadline) async throws(IOError) -> HTTP2ClientEvent {
        while queue.isEmpty {
            if await arrival.wait(on: loop, until: deadline) { throw IOError(.timedOut, operation: "h2 upstream") }
        }
        return queue.removeFirst()
    }

    /// Queues request body bytes and waits while too much of them is unsent (the upstream's window).
    func send(_ bytes: UnsafeRawBufferPointer, endStream: Bool, deadline: Deadline) async throws(IOError) {
        guard !ended || !queue.isEmpty, !connection.closed else { throw IOError(.closed, operation: "h2 upstream") }
        connection.session.sendData(streamID: id, bytes: bytes, endStream: endStream)
        connection.scheduleFlush()
        while connection.session.pendingDataBytes(streamID: id) > HTTP2UpstreamConnection.requestHighWater {
            if connection.closed { throw IOError(.closed, operation: "h2 upstream") }
            if await room.wait(on: loop, until: deadline) { throw IOError(.timedOut, operation: "h2 upstream write") }
        }
    }

    /// `count` response bytes were relayed to the client: reopen the windows by as much.
    func consumed(_ count: Int) {
        connection.session.consume(streamID: id, bytes: count)
        connection.scheduleFlush()
    }

    /// Abandons the stream (RST_STREAM CANCEL) when its exchange ends before the response did.
    func cancel() {
        guard !ended else { return }
        ended = true
        connection.session.resetStream(id)
        connection.forget(id)
        connection.scheduleFlush()
    }
}

/// One task waiting on its loop for something another task will signal, with a deadline.
final class LoopSignal {
    private var waiter: UnsafeContinuation<Void, Never>?

    var isWaiting: Bool { waiter != nil }

    func signal() {
        if let waiter {
            self.waiter = nil
            waiter.resume()
        }
    }

    /// Suspends until `signal` or `deadline`; true when the deadline came first.
    func wait(on loop: EventLoop, until deadline: Deadline) async -> Bool {
        var timedOut = false
        let node = TimerNode { [unowned self] in
            timedOut = true
            signal()
        }
        await suspendOnLoop { continuation in
            waiter = continuation
            loop.schedule(node, at: deadline)
        }
        loop.cancel(node)
        return timedOut
    }
}
