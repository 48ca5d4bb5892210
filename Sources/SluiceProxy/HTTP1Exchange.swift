import SluiceIO
import SluiceHTTP
import SluiceHTTP1
import SluicePolicy

/// One request on an HTTP/1.1 connection, as the pipeline sees it: reads its body off the
/// connection and frames the response for an HTTP/1.x client (Content-Length, chunked, or
/// close-delimited for HTTP/1.0), deciding whether the connection can carry another request.
final class HTTP1Exchange: DownstreamExchange, @unchecked Sendable {
    private let session: HTTP1Session
    private let request: ParsedRequestHead
    private var body: BodyReader
    /// False once anything makes the connection's state untrustworthy or the client asked to close.
    private(set) var keepAlive: Bool
    /// A close-delimited response (to HTTP/1.0, without a length) was cut off: the connection
    /// ends with a reset, or the client took the part it got for the whole answer, a payment's
    /// `{"prepay_id":` for a success. Only then: a response with a length or chunks of its own
    /// shows a cut-off anyway, and a reset would throw away what the socket still holds of an
    /// earlier, complete response on the connection (pipelined, read slowly).
    private(set) var responseAborted = false
    private var closeDelimited = false
    private var chunkedResponse = false
    private var continueSent = false
    /// Response body bytes written (without the head or chunk framing: as on HTTP/2, and like
    /// `requestBodyBytes`, what the access log's `bytes_out` says).
    private(set) var responseBytesSent = 0
    var clientHasLeft: Bool { connection.peerHasHungUp }
    private var chunkHead: [UInt8] = []

    init(session: HTTP1Session, request: ParsedRequestHead) {
        self.session = session
        self.request = request
        body = BodyReader(framing: request.framing)
        // A drain (or a retired connection) is checked when the response head is written: it
        // may start while the request is in flight.
        keepAlive = request.keepAlive
    }

    var head: HTTPRequestHead { request.head }

    func routed(core: Bool) {
        session.connection.readPriority = core ? .high : .low
    }
    var clientAddress: String { session.clientAddress }
    var scheme: String { session.scheme }
    var clientCertificateSubject: String? { session.clientCertificateSubject }
    var requestBodyFinished: Bool { body.isFinished }
    var requestBodyArrived: Bool {
        body.isFinished || (remainingDeclaredBody > 0 && session.buffer.readableCount >= remainingDeclaredBody)
    }
    var requestBodyBytes: Int { body.bytesRead }

    var declaredBodyLength: Int? {
        if case .contentLength(let length) = request.framing { return length }
        return nil
    }

    private var connection: any ByteStream { session.connection }
    private var listener: ListenerPolicy { session.listener }

    func willReadBody() async throws {
        if request.expectsContinue && !body.isFinished && !continueSent {
            continueSent = true
            try await connection.write(Self.continueLine, deadline: session.loop.deadline(afterNanoseconds: session.idleTimeoutNanoseconds))
        }
    }

    func readRequestBody(deadline: Deadline, deliver: (UnsafeRawBufferPointer) async throws -> Void) async throws {
        do {
            try await body.readNext(from: connection, buffer: session.buffer, deadline: deadline, deliver: deliver)
        } catch {
            keepAlive = false
            throw error
        }
    }

    func withBufferedBody(length: Int, _ deliver: (UnsafeRawBufferPointer) async throws -> Void) async throws -> Bool {
        guard case .contentLength(let declared) = request.framing, declared == length,
              !body.isFinished, session.buffer.readableCount >= length else { return false }
        try await deliver(UnsafeRawBufferPointer(rebasing: session.buffer.readableBytes[0..<length]))
        try await body.readNext(from: connection, buffer: session.buffer, deadline: session.loop.deadline(afterNanoseconds: session.idleTimeoutNanoseconds)) { _ in }
        return true
    }

    func sendResponseHead(_ head: HTTPResponseHead, body length: ResponseBodyLength, deadline: Deadline) async throws {
        var bytes = session.headScratch.borrow()
        writeHead(head, length, into: &bytes)
        defer { session.headScratch.give(back: bytes) }
        try await write(bytes, deadline: deadline)
    }

    func sendResponse(_ head: HTTPResponseHead, completeBody: UnsafeRawBufferPointer, deadline: Deadline) async throws {
        var bytes = session.headScratch.borrow()
        writeHead(head, .known(completeBody.count), into: &bytes)
        defer { session.headScratch.give(back: bytes) }
        do {
            let body = request.head.method == "HEAD" ? UnsafeRawBufferPointer(start: nil, count: 0) : completeBody
            try await connection.write(head: bytes, body: body, deadline: deadline)
            responseBytesSent += body.count
        } catch {
            keepAlive = false
            throw error
        }
    }

    func sendResponseBody(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) async throws {
        guard bytes.count > 0 else { return }
        do {
            if chunkedResponse {
                chunkHead.removeAll(keepingCapacity: true)
                HTTP1Serializer.appendChunkHeader(size: bytes.count, to: &chunkHead)
                try await connection.write(head: chunkHead, body: bytes, deadline: deadline)
                try await connection.write(HTTP1Serializer.chunkTrailer, deadline: deadline)
                responseBytesSent += bytes.count
            } else {
                try await connection.write(bytes, deadline: deadline)
                responseBytesSent += bytes.count
            }
        } catch {
            keepAlive = false
            throw error
        }
    }

    func finishResponse(trailers: HTTPHeaders, deadline: Deadline) async throws {
        guard chunkedResponse else { return }  // other framings have no place for trailers
        if trailers.isEmpty {
            try await write(HTTP1Serializer.lastChunk, deadline: deadline)
        } else {
            var bytes: [UInt8] = []
            HTTP1Serializer.appendLastChunk(trailers: trailers, to: &bytes)
            try await write(bytes, deadline: deadline)
        }
    }

    func abortResponse() {
        keepAlive = false
        responseAborted = closeDelimited
    }

    /// Local replies: an unread request body is drained when small; otherwise (a body over the
    /// limit or stalled, a declared length larger than is worth reading, or a client still
    /// waiting for 100 Continue) the reply goes out at once and the connection closes after it, so none of
    /// the body's bytes can be taken for a request.
    func sendLocalReply(_ reply: LocalReply, requestID: String) async {
        if !body.isFinished {
            // 413 and 408 (the body stalled): reading more of it would only wait.
            if (request.expectsContinue && !continueSent) || reply.status == 413 || reply.status == 408
                || remainingDeclaredBody > Self.drainLimit {
                keepAlive = false
            } else {
                let drained = (try? await body.drain(from: connection, buffer: session.buffer,
                                                     deadline: session.loop.deadline(afterNanoseconds: session.headerTimeoutNanoseconds),
                                                     limit: Self.drainLimit)) ?? false
                if !drained { keepAlive = false }
            }
        }
        var headers = reply.headers
        headers.set(name: "x-request-id", value: requestID)
        headers.set(name: "content-length", value: String(reply.body.count))
        if session.takesNoMore { keepAlive = false }
        if !keepAlive { headers.set(name: "connection", value: "close") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + reply.body.count)
        HTTP1Serializer.appendResponseHead(HTTPResponseHead(status: reply.status, headers: headers), to: &bytes)
        let bodyBytes = request.head.method == "HEAD" ? 0 : reply.body.count
        if bodyBytes > 0 { bytes.append(contentsOf: reply.body) }
        if (try? await write(bytes, deadline: session.loop.deadline(afterNanoseconds: session.idleTimeoutNanoseconds))) != nil {
            responseBytesSent += bodyBytes
        }
    }

    /// Writes the head with framing and connection fields for an HTTP/1.x client. The fields go
    /// straight into the bytes: appending them to `head` would copy its header list (the caller
    /// still holds it), once per request.
    private func writeHead(_ head: HTTPResponseHead, _ length: ResponseBodyLength, into bytes: inout [UInt8]) {
        HTTP1Serializer.appendStatusLineAndFields(head, to: &bytes)
        switch length {
        case .none(let described):
            if let described { HTTP1Serializer.appendField(name: "content-length", value: described, to: &bytes) }
        case .known(let count):
            HTTP1Serializer.appendField(name: "content-length", value: String(count), to: &bytes)
        case .unknown:
            if request.head.version == .http1_0 {
                keepAlive = false  // close-delimited: the end of the body is the end of the connection
                closeDelimited = true
            } else {
                chunkedResponse = true
                HTTP1Serializer.appendField(name: "transfer-encoding", value: "chunked", to: &bytes)
            }
        }
        if !body.isFinished || session.takesNoMore { keepAlive = false }
        if !keepAlive {
            HTTP1Serializer.appendField(name: "connection", value: "close", to: &bytes)
        } else if request.head.version == .http1_0 {
            HTTP1Serializer.appendField(name: "connection", value: "keep-alive", to: &bytes)
        }
        HTTP1Serializer.appendEndOfHead(to: &bytes)
    }

    private func write(_ bytes: [UInt8], deadline: Deadline) async throws {
        do {
            try await connection.write(bytes, deadline: deadline)
        } catch {
            keepAlive = false
            throw error
        }
    }

    /// The most of an unwanted request body read to keep a connection open after a local reply.
    private static let drainLimit = 64 * 1024

    /// Declared (Content-Length) bytes not read yet; 0 for chunked or no body.
    private var remainingDeclaredBody: Int {
        guard case .contentLength(let length) = request.framing else { return 0 }
        return length - body.bytesRead
    }

    private static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
}
