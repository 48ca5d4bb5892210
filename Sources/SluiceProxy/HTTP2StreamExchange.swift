import SluiceIO
import SluiceHTTP
import SluiceHTTP2

/// One HTTP/2 stream as the request pipeline sees it: its request body arrives as DATA events
/// from the connection task; its response goes out through the connection's session, with
/// flow control in both directions (window updates only as the body is forwarded; a response
/// waits while too much of it is queued for a slow client).
final class HTTP2StreamExchange: DownstreamExchange, @unchecked Sendable {
    private unowned let connection: HTTP2Session
    let streamID: Int32
    let head: HTTPRequestHead
    private var bodyChunks: [[UInt8]] = []
    private var bodyEnded: Bool
    private var cancelled = false
    private var bodyWaiter: UnsafeContinuation<Void, Never>?
    private var sendWaiter: UnsafeContinuation<Void, Never>?
    private(set) var requestBodyBytes = 0
    private(set) var responseBytesSent = 0
    var clientHasLeft: Bool { cancelled }
    /// Set when the pipeline is done with the stream.
    var finished = false
    private let timer: TimerNode

    init(connection: HTTP2Session, streamID: Int32, head: HTTPRequestHead, endStream: Bool) {
        self.connection = connection
        self.streamID = streamID
        self.head = head
        bodyEnded = endStream
        timer = TimerNode {}
    }

    var clientAddress: String { connection.clientAddress }
    var scheme: String { connection.scheme }
    var clientCertificateSubject: String? { connection.clientCertificateSubject }
    var requestBodyFinished: Bool { bodyEnded && bodyChunks.isEmpty }
    var requestBodyArrived: Bool { bodyEnded }
    var isWaitingToSend: Bool { sendWaiter != nil }

    var declaredBodyLength: Int? {
        guard !bodyEnded || !bodyChunks.isEmpty else { return head.method == "GET" || head.method == "HEAD" ? nil : 0 }
        return head.headers["content-length"].flatMap { Int($0) }
    }

    private var session: HTTP2ServerSession { connection.session }
    private var loop: EventLoop { connection.loop }

    // MARK: Events from the connection task

    func receive(_ bytes: [UInt8], endStream: Bool) {
        if !bytes.isEmpty { bodyChunks.append(bytes) }
        if endStream { bodyEnded = true }
        resumeBodyReader()
    }

    func cancel() {
        cancelled = true
        resumeBodyReader()
        resumeSender()
    }

    func resumeSender() {
        if let waiter = sendWaiter {
            sendWaiter = nil
            waiter.resume()
        }
    }

    private func resumeBodyReader() {
        if let waiter = bodyWaiter {
            bodyWaiter = nil
            waiter.resume()
        }
    }

    // MARK: DownstreamExchange

    func routed(core: Bool) {}

    /// A stream the client reset (or whose connection ended) before its request went anywhere
    /// is not forwarded: a rapid-reset flood (CVE-2023-44487) must not become upstream requests.
    func willReadBody() async throws {
        try checkOpen()
    }

    func readRequestBody(deadline: Deadline, deliver: (UnsafeRawBufferPointer) async throws -> Void) async throws {
        while bodyChunks.isEmpty && !bodyEnded {
            if cancelled { throw IOError(.closed, operation: "h2 stream") }
            let timedOut = await wait(for: \.bodyWaiter, deadline: deadline)
            if timedOut { throw IOError(.timedOut, operation: "h2 request body") }
        }
        if cancelled { throw IOError(.closed, operation: "h2 stream") }
        guard !bodyChunks.isEmpty else { return }
        let chunk = bodyChunks.removeFirst()
        try await chunk.withStableBytes { try await deliver($0) }
        requestBodyBytes += chunk.count
        // The window reopens only now that the bytes went upstream: a slow upstream stalls
        // only its own stream.
        session.consume(streamID: streamID, bytes: chunk.count)
        connection.scheduleFlush()
    }

    func withBufferedBody(length: Int, _ body: (UnsafeRawBufferPointer) async throws -> Void) async throws -> Bool {
        guard bodyEnded, bodyChunks.count == 1, bodyChunks[0].count == length else { return false }
        try await readRequestBody(deadline: loop.deadline(after: .seconds(1)), deliver: body)
        return true
    }

    func sendResponseHead(_ head: HTTPResponseHead, body: ResponseBodyLength, deadline: Deadline) async throws {
        var head = head
        switch body {
        case .none(let described):
            if let described { head.headers.appendLowercased(name: "content-length", value: described) }
        case .known(let count):
            head.headers.appendLowercased(name: "content-length", value: String(count))
        case .unknown:
            break
        }
        try checkOpen()
        let endStream: Bool
        if case .none = body { endStream = true } else { endStream = false }
        session.sendResponse(streamID: streamID, head: head, endStream: endStream)
        connection.scheduleFlush()
    }

    func sendResponse(_ head: HTTPResponseHead, completeBody: UnsafeRawBufferPointer, deadline: Deadline) async throws {
        var head = head
        head.headers.appendLowercased(name: "content-length", value: String(completeBody.count))
        try checkOpen()
        let bodyless = completeBody.isEmpty || self.head.method == "HEAD"
        session.sendResponse(streamID: streamID, head: head, endStream: bodyless)
        if !bodyless {
            session.sendData(streamID: streamID, bytes: completeBody, endStream: true)
            responseBytesSent += completeBody.count
        }
        connection.scheduleFlush()
        try await waitForRoom(deadline: deadline)
    }

    func sendResponseBody(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) async throws {
        try checkOpen()
        session.sendData(streamID: streamID, bytes: bytes, endStream: false)
        responseBytesSent += bytes.count
        connection.scheduleFlush()
        try await waitForRoom(deadline: deadline)
    }

    func finishResponse(trailers: HTTPHeaders, deadline: Deadline) async throws {
        try checkOpen()
        session.finishResponse(streamID: streamID, trailers: trailers)
        connection.scheduleFlush()
    }

    func abortResponse() {
        guard !cancelled else { return }
        session.resetStream(streamID, errorCode: HTTP2ErrorCode.internalError)
        connection.scheduleFlush()
    }

    func sendLocalReply(_ reply: LocalReply, requestID: String) async {
        guard !cancelled else { return }
        var reply = reply
        reply.headers.set(name: "x-request-id", value: requestID)
        if head.method == "HEAD" {
            // The length a GET would get, and no content (RFC 9110 §9.3.2): the body went out
            // in DATA frames, which a client then took for the next response's or a protocol error.
            reply.headers.set(name: "content-length", value: String(reply.body.count))
            reply.body = []
        }
        session.sendLocalReply(streamID: streamID, reply: reply)
        responseBytesSent += reply.body.count
        connection.scheduleFlush()
    }

    // MARK: Waiting

    private func checkOpen() throws {
        if cancelled || connection.isClosed { throw IOError(.closed, operation: "h2 stream") }
    }

    /// Backpressure: waits while more than the high-water mark of this stream's response, or of
    /// the connection's responses together, is queued unsent (the client's window is closed, or
    /// the client reads slowly).
    private func waitForRoom(deadline: Deadline) async throws {
        while !connection.hasRoomToSend(streamID) {
            try checkOpen()
            let timedOut = await wait(for: \.sendWaiter, deadline: deadline)
            if timedOut { throw IOError(.timedOut, operation: "h2 response flow control") }
        }
        try checkOpen()
    }

    /// Suspends until resumed through `slot` or until `deadline`; returns true on timeout.
    private func wait(for slot: ReferenceWritableKeyPath<HTTP2StreamExchange, UnsafeContinuation<Void, Never>?>,
                      deadline: Deadline) async -> Bool {
        var timedOut = false
        let node = TimerNode { [unowned self] in
            timedOut = true
            if let waiter = self[keyPath: slot] {
                self[keyPath: slot] = nil
                waiter.resume()
            }
        }
        await suspendOnLoop { continuation in
            self[keyPath: slot] = continuation
            loop.schedule(node, at: deadline)
        }
        loop.cancel(node)
        return timedOut
    }
}
