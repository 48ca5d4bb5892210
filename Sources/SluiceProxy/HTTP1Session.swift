import SluiceIO
import SluiceHTTP
import SluiceHTTP1
import SluicePolicy

/// One downstream HTTP/1.1 connection: reads requests in order (pipelined ones too) and hands
/// each to the request pipeline, until either side closes, the connection idles out, or the
/// server drains. Confined to its loop (hence the unchecked Sendable: it only crosses into tasks
/// on that loop).
final class HTTP1Session: ParkableSession, @unchecked Sendable {
    let context: LoopContext
    let connection: any ByteStream
    let listener: ListenerPolicy
    let clientAddress: String
    let scheme: String
    /// Starts small so that many idle connections cost little; grows to the header limit if needed.
    let buffer: ByteBuffer
    private var parser: RequestHeadParser
    /// Response heads are written into this, one request at a time.
    var headScratch = ScratchBuffer(minimumCapacity: 512)
    /// The verified client certificate's subject (mTLS listeners), for the guards.
    let clientCertificateSubject: String?
    /// The listener's timeouts in nanoseconds, converted once per connection.
    let idleTimeoutNanoseconds: UInt64
    let headerTimeoutNanoseconds: UInt64
    /// True while waiting for the next request on a keep-alive connection (or for the first).
    private(set) var isIdle = true

    /// `buffer` may already hold the first bytes (read while telling HTTP/1 from HTTP/2).
    /// `clientAddress`: the client a PROXY protocol header named (default: the socket peer).
    init(context: LoopContext, connection: any ByteStream, listener: ListenerPolicy, scheme: String = "http",
         clientCertificateSubject: String? = nil, buffer: ByteBuffer = ByteBuffer(capacity: 4096), clientAddress: String? = nil) {
        self.buffer = buffer
        idleTimeoutNanoseconds = listener.idleTimeout.nanosecondsClamped
        headerTimeoutNanoseconds = listener.headerTimeout.nanosecondsClamped
        self.context = context
        self.connection = connection
        self.listener = listener
        self.scheme = scheme
        self.clientCertificateSubject = clientCertificateSubject
        parser = RequestHeadParser(limits: HTTP1Limits(maxHeaderBytes: listener.maxHeaderBytes,
                                                       maxURIBytes: listener.maxURIBytes))
        self.clientAddress = clientAddress ?? connection.peer?.host ?? "unknown"
    }

    var loop: EventLoop { context.loop }

    var listenerName: String { listener.name }

    /// Set by `drain`: this connection takes no further request (the server drains, or a reload
    /// changed its listener's certificates).
    private var retired = false

    /// A request in flight finishes, and its response says `Connection: close`. An idle
    /// connection is not closed at once: a client using it may have its next request on the way,
    /// and closed under it, a payment call sees only EOF and cannot tell it was never executed.
    /// It gets the time it usually waits between requests (as for parking: twice its recent gap,
    /// 100 ms to 1 s): a request that arrives in it is served, with `Connection: close`; a
    /// connection still idle then is closed (a request starting to arrive is read to its end).
    func drain() {
        retired = true
        guard isIdle else { return }
        let closeIfStillIdle = TimerNode { [weak self] in
            guard let self, isIdle, buffer.isEmpty else { return }
            connection.close()
        }
        loop.schedule(closeIfStillIdle, at: loop.deadline(afterNanoseconds: idleGaps.parkAfter))
    }

    func closeIdle() { connection.close() }

    /// No further request on this connection: the server drains, or the connection was retired.
    /// A response still being written then says `Connection: close` (the client learns it must
    /// not send another request here, instead of finding the connection closed after it).
    var takesNoMore: Bool { context.draining || retired }

    /// The first request has been read (before it, the header timeout alone applies).
    private var servedFirst = false
    /// When the current idle wait between requests ends the connection (the idle timeout).
    private(set) var idleDeadline = Deadline(nanoseconds: 0)
    /// True from parking until the next request: the task was started by bytes arriving, so it
    /// waits for the rest of the request rather than parking again (a part of a TLS record would
    /// otherwise wake it and park it again every `IdleGaps.parkAfter`).
    private var onFreshTask = false
    /// The gaps between this connection's requests, and when the last response ended (loop
    /// clock): how long it waits idle before parking.
    private var idleGaps = IdleGaps()
    private var idleSince: UInt64 = 0

    func run() async -> SessionRunEnd {
        var parked = false
        defer { if !parked { connection.close() } }
        let pipeline = RequestPipeline(context: context, listenerName: listener.name, trustedProxies: listener.trustedProxies,
                                           bodyTimeoutNanoseconds: listener.bodyTimeout.nanosecondsClamped,
                                           bodyMinimumRate: listener.bodyMinimumRate)
        var headStarted = Deadline.now
        // Ends after a response that said `Connection: close` (a drain included: see `drain`).
        while true {
            isIdle = true
            do {
                if servedFirst && buffer.isEmpty {
                    // Between requests the idle timeout applies; the header timeout starts with the
                    // first byte of the next request.
                    let parkAt = loop.deadline(afterNanoseconds: idleGaps.parkAfter)
                    if !onFreshTask && parkAt.nanoseconds < idleDeadline.nanoseconds {
                        if try await !connection.waitReadable(orTimeOutAt: parkAt) {
                            buffer.releaseCapacity()
                            connection.releaseIdleBuffers()
                            headScratch.release()
                            onFreshTask = true
                            parked = true
                            return .parked
                        }
                    } else {
                        try await connection.waitReadable(deadline: idleDeadline, operation: "idle")
                    }
                    // Bytes have come: a drain's grace no longer closes this connection.
                    isIdle = false
                    headStarted = .now
                    idleGaps.record(headStarted.nanoseconds - min(idleSince, headStarted.nanoseconds))
                }
                servedFirst = true
                guard let request = try await HeadReader.readRequest(from: connection, buffer: buffer, parser: &parser,
                                                                     deadline: headStarted.adding(nanoseconds: headerTimeoutNanoseconds)) else { return .closed }
                isIdle = false
                onFreshTask = false
                let exchange = HTTP1Exchange(session: self, request: request)
                await pipeline.serve(exchange)
                if exchange.responseAborted {
                    connection.abort()
                    return .closed
                }
                if !exchange.keepAlive && !exchange.requestBodyFinished {
                    await closeLingering()
                    return .closed
                }
                if !exchange.keepAlive || takesNoMore { return .closed }
                headStarted = .now
                idleSince = headStarted.nanoseconds
                idleDeadline = loop.deadline(afterNanoseconds: idleTimeoutNanoseconds)
            } catch let error as HTTP1Error {
                // Malformed or smuggling-shaped request: answer and close (its framing can't be
                // trusted). The client may still be sending: closing at once would answer its
                // bytes with a reset, which can destroy the answer before it is read.
                await sendErrorAndClose(.json(status: error.status, reason: error.reason, message: error.message))
                await closeLingering()
                return .closed
            } catch let error as IOError {
                // An idle keep-alive connection timing out just closes; a head that does not
                // arrive in time (slowloris) gets a 408 first.
                if error.isTimeout && error.operation != "idle" {
                    await sendErrorAndClose(.json(status: 408, reason: "header_timeout", message: "request head not received in time"))
                }
                return .closed
            } catch {
                return .closed
            }
        }
    }

    /// Closing with unread request bytes in the socket makes the kernel send RST, which can
    /// destroy the reply before the client reads it (a 413 the client never sees). So the
    /// write side is shut first and what the client still sends is read and dropped, for a
    /// bounded time and amount (nginx's lingering close).
    private func closeLingering() async {
        connection.shutdownWrite()
        let deadline = loop.deadline(after: Self.lingerTime)
        var discarded = 0
        while discarded < Self.lingerBytes {
            buffer.clear()
            guard let count = try? await connection.read(into: buffer, deadline: deadline), count > 0 else { break }
            discarded += count
        }
        buffer.clear()
    }

    private static let lingerTime = Duration.seconds(2)
    private static let lingerBytes = 16 << 20

    /// For requests that never became an exchange (unparseable, or a head that never came).
    private func sendErrorAndClose(_ reply: LocalReply) async {
        let requestID = context.requestIDs.next()
        var headers = reply.headers
        headers.set(name: "x-request-id", value: requestID)
        headers.set(name: "content-length", value: String(reply.body.count))
        headers.set(name: "connection", value: "close")
        var bytes: [UInt8] = []
        HTTP1Serializer.appendResponseHead(HTTPResponseHead(status: reply.status, headers: headers), to: &bytes)
        bytes.append(contentsOf: reply.body)
        try? await connection.write(bytes, deadline: loop.deadline(after: .seconds(5)))
        context.recordRefusedBeforeRouting(listener: listener.name, client: clientAddress, requestID: requestID,
                                           status: reply.status, reason: reply.reason, bytesOut: bytes.count)
    }
}
