import SluiceIO
import SluiceHTTP
import SluiceHTTP1
import SluicePolicy
import SluiceGuards

/// One request forwarded to one upstream endpoint and its response streamed back to whatever
/// downstream protocol it came from.
///
/// Deadlines: connecting is bounded by the cluster's connect timeout; the response head must
/// arrive within the route's per-try timeout after the request was sent, and everything up to
/// the response head within the route's total timeout from arrival. Once the head is on its way
/// to the client, each body read or write is bounded by the per-try timeout (a stall), not the
/// total, so a large download is not cut off. No retries: whether a payment call may be retried
/// is decided by the idempotency rules, not here.
struct UpstreamExchange<Downstream: DownstreamExchange> {
    let downstream: Downstream
    /// The head as forwarded: the downstream's, with its path normalised.
    let requestHead: HTTPRequestHead
    let pool: UpstreamPool
    let route: RouteLimits
    let requestID: String
    let started: Deadline
    /// Fields the guards asked to add to the response.
    let extraResponseHeaders: HTTPHeaders
    /// How much of the response body to copy for the outcome observers (0: none).
    var responseBodyCapture = 0
    /// Told when each try's answer is awaited and when that wait ends (the guards' outcome
    /// observers: the degrade signal counts payments waiting on a hung backend).
    var answerWatchers: [any OutcomeObserver] = []
    /// The request body when the body phase read it already: sent from here, with the head.
    var bufferedBody: [UInt8]?
    /// The longest wait for the client's next body bytes while the body streams upstream.
    var bodyInactivityNanoseconds: UInt64?
    /// Whether the peer is a trusted proxy (its X-Forwarded-For chain is extended, not replaced).
    var peerIsTrusted = false
    /// Endpoints this request already tried (a retry goes elsewhere when it can).
    var excluding: [Int] = []
    /// The caller will retry a try that failed before any request byte was sent: such a
    /// failure is returned `retryable`, with nothing said to the client.
    var mayRetry = false
    /// The caller will also retry a try that was sent and got no answer, or 502/503/504: only
    /// for requests that are safe to repeat (see `RetryPolicy`).
    var mayRetryAfterSend = false
    /// The caller will send the request again, on a new connection, when a reused keep-alive
    /// connection closed before one byte of the answer came: the backend closing an idle
    /// connection just as it was reused (a keep-alive timeout shorter than the pool's). Only
    /// for safe methods with a body that can be sent again; the others avoid the race instead
    /// (`avoidsLongIdleConnections`): a backend that crashed after executing a POST looks the
    /// same, and a POST is never sent twice.
    var mayRetryOnStaleConnection = false
    /// Takes a pooled connection only if it was idle less than the cluster's `unsafe_reuse_idle`.
    var avoidsLongIdleConnections = false
    /// This try takes a new connection (the retry after a stale one).
    var takesNewConnection = false

    struct Result {
        var status: Int
        var upstream: String?
        var reason: String?
        /// Why the backend failed, in full (address, errno, OpenSSL's reason): for the access
        /// log only, never the client.
        var detail: String? = nil
        /// Nil when the response was relayed completely.
        var failure: RequestFailure?
        /// True once a connection was taken: the request (or part of it) went upstream.
        var sent = false
        var responseHead: HTTPResponseHead?
        /// How long the upstream took to answer: from the request's last byte sent to its
        /// response head (nil without one), on the loop's clock (read once per pass, no call
        /// per request; fine for thresholds in milliseconds). What breakers and the degrade signal judge a backend
        /// by: a client's slow upload or slow reading is not in it.
        var answerNanoseconds: UInt64?
        var responseBody: [UInt8]?
        /// The endpoint tried.
        var endpoint = 0
        /// Failed in a way the caller asked to retry; nothing was sent to the client.
        var retryable = false
        /// The failure was a reused connection closing before any answer (`mayRetryOnStaleConnection`).
        var staleConnection = false
    }

    /// Chunk data smaller than this is gathered with the rest of its read (copied), up to the
    /// flush size; larger pieces go out as they are.
    static var coalescedPieceBytes: Int { 4096 }
    static var coalescedFlushBytes: Int { 64 * 1024 }

    /// Statuses that say the endpoint could not serve the request (retried when safe, and
    /// counted by outlier detection).
    static func isUnavailableStatus(_ status: Int) -> Bool { status == 502 || status == 503 || status == 504 }

    var loop: EventLoop { pool.loop }

    func answerAwaited(since sentAt: UInt64) {
        for watcher in answerWatchers { watcher.answerAwaited(since: sentAt) }
    }

    func answerWaitEnded(since sentAt: UInt64) {
        for watcher in answerWatchers { watcher.answerWaitEnded(since: sentAt) }
    }

    func answerComplete(_ head: HTTPResponseHead, body: [UInt8]?) {
        for watcher in answerWatchers { watcher.answerComplete(head: head, body: body) }
    }

    func run() async -> Result {
        let endpoint = pool.pickEndpoint(excluding: excluding)
        var result = pool.cluster.policy.protocol == .h2 ? await tryEndpointHTTP2(endpoint) : await tryEndpoint(endpoint)
        result.endpoint = endpoint
        // Outlier detection counts every 5xx answer as the endpoint's failure (retries are only
        // for 502/503/504, which say the request was not served).
        // A stale keep-alive connection says nothing about the endpoint, nor does a request that
        // never went to it for reasons of its own (the gateway out of descriptors or of the
        // cluster's connections, the client gone while it waited for one).
        guard !result.staleConnection, result.sent || result.failure?.isUpstreamFailure != false else { return result }
        pool.cluster.health.record(endpoint, failed: result.failure?.isUpstreamFailure == true
                                       || (result.responseHead.map { $0.status >= 500 } ?? false),
                                   now: loop.now)
        return result
    }

    private func tryEndpoint(_ endpoint: Int) async -> Result {
        let totalDeadline = started.adding(nanoseconds: route.totalTimeoutNanoseconds)
        let upstreamName = pool.cluster.names[endpoint]
        pool.markStarted(endpoint)
        defer { pool.markFinished(endpoint) }

        // 1. A connection.
        let upstream: UpstreamConnection
        let reused: Bool
        do {
            let connectDeadline = min(loop.deadline(after: pool.cluster.policy.connectTimeout), totalDeadline)
            let maxIdle = takesNewConnection ? 0 : avoidsLongIdleConnections ? pool.cluster.policy.unsafeReuseIdle.nanosecondsClamped : .max
            (upstream, reused) = try await pool.acquire(endpoint: endpoint, deadline: connectDeadline, maxIdle: maxIdle,
                                                        clientLeft: { downstream.clientHasLeft })
        } catch {
            return await connectFailed(error, upstream: upstreamName)
        }

        // 2. The request head and body.
        let framing: UpstreamFraming
        if let bufferedBody {
            framing = bufferedBody.isEmpty && downstream.declaredBodyLength == nil ? .none : .length(bufferedBody.count)
        } else if let length = downstream.declaredBodyLength {
            framing = .length(length)
        } else {
            framing = downstream.requestBodyFinished ? .none : .chunked
        }
        var headBytes = upstream.headScratch.borrow()
        defer { upstream.headScratch.give(back: headBytes) }
        HeaderRewriting.writeUpstreamRequest(requestHead, framing: framing, clientAddress: downstream.clientAddress,
                                             peerIsTrusted: peerIsTrusted,
                                             requestID: requestID, scheme: downstream.scheme, endpointName: upstreamName,
                                             into: &headBytes)
        let sentAt: UInt64
        let receivedBefore = upstream.buffer.totalWritten
        /// A reused connection that closed before one byte of the answer: the backend had closed it.
        func closedUnanswered() -> Bool { reused && mayRetryOnStaleConnection && upstream.buffer.totalWritten == receivedBefore }
        // The backend began answering before the whole body was sent (it read the head only):
        // the rest of the body is then on the connection unread, and a reused connection would
        // give it to the next request as its start (another client's request, with its headers).
        let answeredEarly: Bool
        var earlyAnswer: ParsedResponseHead?
        do {
            answeredEarly = try await sendRequest(head: headBytes, framing: framing, to: upstream, deadline: totalDeadline)
            sentAt = loop.now
        } catch let failure as ExchangeFailure {
            upstream.stream.close()
            if failure.failure == .upstreamReset && closedUnanswered() { return staleConnection(failure, upstream: upstreamName) }
            return await fail(failure, upstream: upstreamName, retryable: mayRetryAfterSend && failure.failure.isUpstreamFailure)
        } catch {
            // A backend may refuse a request after its head (a 413 for a body too large, a 401)
            // and close without reading the body: the write fails, but the answer is in the
            // receive queue. It is the client's answer (nginx and HAProxy relay it too), not a 502.
            if let answer = await answerSentBeforeTheBodyWasTaken(on: upstream) {
                earlyAnswer = answer
                answeredEarly = true
                sentAt = loop.now
            } else {
                upstream.stream.close()
                let failure = ExchangeFailure(status: 502, reason: "upstream_write_failed", failure: .upstreamReset, message: "\(error)")
                if closedUnanswered() { return staleConnection(failure, upstream: upstreamName) }
                return await fail(failure, upstream: upstreamName, retryable: mayRetryAfterSend)
            }
        }

        // 3. The response head.
        let parsed: ParsedResponseHead
        answerAwaited(since: sentAt)
        do {
            defer { answerWaitEnded(since: sentAt) }
            let headDeadline = min(loop.deadline(afterNanoseconds: route.perTryTimeoutNanoseconds), totalDeadline)
            parsed = if let earlyAnswer { earlyAnswer } else {
                try await HeadReader.readResponse(from: upstream.stream, buffer: upstream.buffer, parser: &upstream.parser,
                                                  requestMethod: downstream.head.method, deadline: headDeadline)
            }
        } catch let error as IOError where error.isTimeout {
            upstream.stream.close()
            return await fail(ExchangeFailure(status: 504, failure: .upstreamTimeout,
                                              message: "\(upstreamName) did not answer within \(route.perTryTimeout)"), upstream: upstreamName,
                              retryable: mayRetryAfterSend)
        } catch let error as HTTP1Error {
            upstream.stream.close()
            return await fail(ExchangeFailure(status: 502, failure: .upstreamBadResponse, message: "\(upstreamName): \(error.message)"),
                              upstream: upstreamName, retryable: mayRetryAfterSend)
        } catch {
            upstream.stream.close()
            let failure = ExchangeFailure(status: 502, failure: .upstreamReset, message: "\(upstreamName) closed the connection: \(error)")
            if closedUnanswered() { return staleConnection(failure, upstream: upstreamName) }
            return await fail(failure, upstream: upstreamName, retryable: mayRetryAfterSend)
        }
        let answered = loop.now &- sentAt
        // An endpoint that says it cannot serve (502/503/504): another may, when the request
        // is safe to repeat. Its answer is not relayed; the connection is not reused.
        if mayRetryAfterSend && Self.isUnavailableStatus(parsed.head.status) {
            upstream.stream.close()
            return Result(status: parsed.head.status, upstream: upstreamName, reason: "upstream_unavailable", failure: nil, sent: true,
                          responseHead: parsed.head, answerNanoseconds: answered, retryable: true)
        }

        // 4. The response, streamed.
        var responseHead = HeaderRewriting.downstreamResponse(from: parsed.head, requestID: requestID)
        for field in extraResponseHeaders { responseHead.headers.appendLowercased(name: field.name, value: field.value) }
        var responseBody = BodyReader(framing: parsed.framing)
        var captured: [UInt8]? = responseBodyCapture > 0 ? [] : nil
        let captureLimit = responseBodyCapture
        func capture(_ slice: UnsafeRawBufferPointer) {
            guard captured != nil, captured!.count < captureLimit else { return }
            captured!.append(contentsOf: slice.prefix(captureLimit - captured!.count))
        }
        let stallNanoseconds = route.perTryTimeoutNanoseconds
        func stall() -> Deadline { loop.deadline(afterNanoseconds: stallNanoseconds) }
        // Observers hear of the whole answer before the client can have it (see `answerComplete`).
        var answerTold = false
        do {
            switch parsed.framing {
            case .none:
                answerComplete(parsed.head, body: captured)
                answerTold = true
                try await toClient {
                    try await downstream.sendResponseHead(responseHead, body: .none(status: parsed.head.status, contentLength: parsed.head.headers["content-length"]),
                                                          deadline: stall())
                }
            case .contentLength(let length) where upstream.buffer.readableCount >= length:
                // Small responses that arrived whole: head and body in one write.
                let whole = UnsafeRawBufferPointer(rebasing: upstream.buffer.readableBytes[0..<length])
                capture(whole)
                answerComplete(parsed.head, body: captured)
                answerTold = true
                try await toClient { try await downstream.sendResponse(responseHead, completeBody: whole, deadline: stall()) }
                try await responseBody.readNext(from: upstream.stream, buffer: upstream.buffer, deadline: stall()) { _ in }
            case .contentLength(let length):
                try await toClient { try await downstream.sendResponseHead(responseHead, body: .known(length), deadline: stall()) }
            case .chunked, .untilClose:
                try await toClient { try await downstream.sendResponseHead(responseHead, body: .unknown, deadline: stall()) }
            }
            // The pieces of a chunked body that one read brought go out together: a backend
            // writing one-byte chunks made a write per byte, and 200,000 of them held the loop
            // (every other connection on it) for over a second.
            // (Made only for chunked answers, and held in a constant: a captured `var` is boxed
            // on the heap for every response.)
            let coalesced = parsed.framing == .chunked ? ByteBuffer(capacity: Self.coalescedPieceBytes) : nil
            func flushCoalesced() async throws {
                guard let coalesced, !coalesced.isEmpty else { return }
                try await toClient { try await downstream.sendResponseBody(coalesced.readableBytes, deadline: stall()) }
                coalesced.clear()
            }
            while !responseBody.isFinished {
                try await responseBody.readNext(from: upstream.stream, buffer: upstream.buffer, deadline: stall()) { slice in
                    capture(slice)
                    if let coalesced, slice.count < Self.coalescedPieceBytes {
                        coalesced.append(slice)
                        if coalesced.readableCount >= Self.coalescedFlushBytes { try await flushCoalesced() }
                    } else {
                        try await flushCoalesced()
                        try await toClient { try await downstream.sendResponseBody(slice, deadline: stall()) }
                    }
                }
                try await flushCoalesced()
            }
            let trailers = HeaderRewriting.downstreamTrailers(from: responseBody.trailers)
            if !answerTold { answerComplete(parsed.head, body: captured) }
            try await toClient { try await downstream.finishResponse(trailers: trailers, deadline: stall()) }
        } catch {
            // The head is already out (or the client went away): nothing to answer, only end it.
            upstream.stream.close()
            downstream.abortResponse()
            let failure: RequestFailure
            switch error {
            case let client as ClientFailure: failure = client.isTimeout ? .clientTimeout : .clientGone
            case let io as IOError where io.isTimeout: failure = .upstreamTimeout
            case is HTTP1Error: failure = .upstreamBadResponse
            default: failure = .upstreamReset
            }
            // The access log says whose end it was: a client too slow to read (cut off after the
            // route's per-try timeout without progress), a client gone, or the upstream.
            let reason = failure == .clientTimeout ? "client_send_timeout" : failure == .clientGone ? "client_gone" : "response_stream_failed"
            return Result(status: parsed.head.status, upstream: upstreamName, reason: reason, failure: failure,
                          sent: true, responseHead: parsed.head, answerNanoseconds: answered, responseBody: captured)
        }

        upstream.requestsServed += 1
        if parsed.keepAlive && downstream.requestBodyFinished && responseBody.isFinished && !answeredEarly {
            pool.release(upstream)
        } else {
            upstream.stream.close()
        }
        return Result(status: parsed.head.status, upstream: upstreamName, reason: nil, failure: nil, sent: true,
                      responseHead: parsed.head, answerNanoseconds: answered, responseBody: captured)
    }

    /// The response head a backend sent before it stopped taking the request body, when one is
    /// there. Looked for only after a write to the backend failed: a backend that closed has its
    /// answer in the receive queue already, so the wait is short.
    private func answerSentBeforeTheBodyWasTaken(on upstream: UpstreamConnection) async -> ParsedResponseHead? {
        guard !upstream.stream.isClosed else { return nil }
        return try? await HeadReader.readResponse(from: upstream.stream, buffer: upstream.buffer, parser: &upstream.parser,
                                                  requestMethod: downstream.head.method,
                                                  deadline: loop.deadline(afterNanoseconds: Self.earlyAnswerWaitNanoseconds))
    }

    static var earlyAnswerWaitNanoseconds: UInt64 { 50_000_000 }

    /// Runs a write towards the client, marking its failure as the client's (a slow or gone
    /// client must never be blamed on the backend).
    func toClient(_ write: () async throws -> Void) async throws {
        do {
            try await write()
        } catch {
            throw ClientFailure(isTimeout: (error as? IOError)?.isTimeout ?? false)
        }
    }

    /// Sends head and body. A Content-Length body that is already buffered whole goes out with
    /// the head in one write; anything else is streamed as it arrives, within the route's limit.
    /// Returns whether the upstream's answer began arriving while the body was still streaming.
    private func sendRequest(head: [UInt8], framing: UpstreamFraming, to upstream: UpstreamConnection,
                             deadline: Deadline) async throws -> Bool {
        if let bufferedBody {
            try await bufferedBody.withStableBytes { body in try await upstream.stream.write(head: head, body: body, deadline: deadline) }
            return false
        }
        if case .length(let length) = framing {
            let sentWhole = try await downstream.withBufferedBody(length: length) { body in
                try await upstream.stream.write(head: head, body: body, deadline: deadline)
            }
            if sentWhole { return false }
        }
        try await upstream.stream.write(head, deadline: deadline)
        var chunkHead: [UInt8] = []
        var answeredEarly = false
        try await relayRequestBody(deadline: deadline) { slice in
            if !answeredEarly && upstream.stream.hasUnreadInput() { answeredEarly = true }
            if framing == .chunked {
                chunkHead.removeAll(keepingCapacity: true)
                HTTP1Serializer.appendChunkHeader(size: slice.count, to: &chunkHead)
                try await upstream.stream.write(head: chunkHead, body: slice, deadline: deadline)
                try await upstream.stream.write(HTTP1Serializer.chunkTrailer, deadline: deadline)
            } else {
                try await upstream.stream.write(slice, deadline: deadline)
            }
        }
        if framing == .chunked {
            try await upstream.stream.write(HTTP1Serializer.lastChunk, deadline: deadline)
        }
        return answeredEarly
    }

    /// Streams the rest of the client's request body through `write`, within the route's limit.
    /// A failure of `write` is the upstream's; every other failure is told apart as the
    /// client's (slow, gone, malformed body) or a 413.
    func relayRequestBody(deadline: Deadline, write: (UnsafeRawBufferPointer) async throws -> Void) async throws {
        let limit = route.maxBodyBytes
        var forwarded = downstream.requestBodyBytes
        while !downstream.requestBodyFinished {
            // The listener's body_timeout bounds each wait for the client's next bytes, as when
            // the body is buffered: a stalled upload must not hold the backend until `total`.
            let readDeadline = bodyInactivityNanoseconds.map { min(deadline, loop.deadline(afterNanoseconds: $0)) } ?? deadline
            do {
                try await downstream.readRequestBody(deadline: readDeadline) { slice in
                    forwarded += slice.count
                    if forwarded > limit {
                        throw ExchangeFailure(status: 413, reason: "body_too_large", failure: .localReply,
                                              message: "request body exceeds the route limit of \(limit) bytes")
                    }
                    do {
                        try await write(slice)
                    } catch {
                        throw UpstreamWriteFailure(error: error)
                    }
                }
            } catch let failure as ExchangeFailure {
                throw failure
            } catch let failure as UpstreamWriteFailure {
                throw failure.error
            } catch let error as HTTP1Error {
                throw ExchangeFailure(status: error.status, reason: error.reason, failure: .clientBodyInvalid, message: error.message)
            } catch is UnexpectedEndOfStream {
                throw ExchangeFailure(status: 400, reason: "client_body_incomplete", failure: .clientBodyInvalid,
                                      message: "client closed mid-body")
            } catch let error as IOError where error.isTimeout {
                throw ExchangeFailure(status: 408, reason: "client_body_timeout", failure: .clientTimeout,
                                      message: "the request body did not arrive in time")
            } catch {
                throw ExchangeFailure(status: 499, reason: "client_gone", failure: .clientGone, message: "\(error)")
            }
        }
    }

    /// No connection (or stream) to the endpoint: 504 on a timeout, 502 otherwise; nothing was sent.
    /// The gateway out of descriptors or memory (EMFILE and friends, from its own socket()) is
    /// 503 and not the backend's failure: counted as one, a connection flood that used up the
    /// descriptors opened the payments breaker, which stayed open after the flood.
    func connectFailed(_ error: IOError, upstream upstreamName: String) async -> Result {
        if downstream.clientHasLeft {
            // Gone while its request waited for a connection: nothing is sent, nobody answered
            // (a payment its client gave up on must not run after it).
            var result = await fail(ExchangeFailure(status: 499, reason: "client_gone", failure: .clientGone,
                                                    message: "the client left while its request waited for a connection"), upstream: upstreamName)
            result.sent = false
            result.upstream = nil
            return result
        }
        if error.isLimitReached {
            // The gateway's own limit, not the backend's failure: nothing was tried, nothing
            // counts against the endpoint, and the client may come back shortly.
            var result = await fail(ExchangeFailure(status: 503, reason: "upstream_connection_limit", failure: .localReply,
                                                    message: "the backend's connections are all in use; retry shortly"), upstream: upstreamName)
            result.sent = false
            result.upstream = nil
            result.detail = "\(error)"
            return result
        }
        if error.isLocalResourceShortage {
            var result = await fail(ExchangeFailure(status: 503, reason: "gateway_out_of_resources", failure: .localReply,
                                                    message: "the gateway is out of connections; retry shortly"), upstream: upstreamName)
            result.sent = false
            return result
        }
        let timedOut = error.isTimeout
        var result = await fail(ExchangeFailure(status: timedOut ? 504 : 502, failure: timedOut ? .upstreamConnectTimeout : .upstreamConnectFailed,
                                                message: "could not connect to \(upstreamName): \(error)"), upstream: upstreamName,
                                retryable: mayRetry)
        result.sent = false
        return result
    }

    /// A reused connection closed under the request before any answer: nothing is said to the
    /// client, and the caller sends the request again on a new connection.
    private func staleConnection(_ failure: ExchangeFailure, upstream: String) -> Result {
        var result = Result(status: failure.status, upstream: upstream, reason: failure.reason, detail: failure.message,
                            failure: failure.failure, sent: true, retryable: true)
        result.staleConnection = true
        return result
    }

    /// Answers the client with the failure (unless the client is gone, or the caller retries
    /// it) and reports it. A backend's failure is told to the client in general words: its
    /// address, name and the system's or OpenSSL's reason stay inside (the access log's
    /// `detail`), as they map the payment network for whoever asks.
    func fail(_ failure: ExchangeFailure, upstream: String, retryable: Bool = false) async -> Result {
        let detail = failure.failure.isUpstreamFailure ? failure.message : nil
        if retryable {
            return Result(status: failure.status, upstream: upstream, reason: failure.reason, detail: detail, failure: failure.failure,
                          sent: true, retryable: true)
        }
        if failure.failure != .clientGone {
            let message = detail == nil ? failure.message : Self.clientMessage(reason: failure.reason)
            var reply = LocalReply.json(status: failure.status, reason: failure.reason, message: message, requestID: requestID)
            // The gateway's own shortage passes: say when to come back (RFC 9110 §10.2.3).
            if failure.status == 503 && failure.failure == .localReply { reply.headers.appendLowercased(name: "retry-after", value: "1") }
            await downstream.sendLocalReply(route.replies == .wechatpayV2 ? reply.inWeChatPayV2Shape() : reply, requestID: requestID)
        }
        return Result(status: failure.status, upstream: upstream, reason: failure.reason, detail: detail, failure: failure.failure, sent: true)
    }

    /// What a client is told when the backend failed, by the failure's reason code.
    static func clientMessage(reason: String) -> String {
        switch reason {
        case RequestFailure.upstreamConnectFailed.rawValue: return "the backend could not be reached"
        case RequestFailure.upstreamConnectTimeout.rawValue: return "the backend could not be reached in time"
        case RequestFailure.upstreamTimeout.rawValue: return "the backend did not answer in time"
        case RequestFailure.upstreamBadResponse.rawValue: return "the backend sent a response that could not be read"
        case "upstream_refused_stream": return "the backend refused the request without processing it"
        default: return "the backend closed the connection"
        }
    }
}

/// Why forwarding stopped before a response head arrived.
struct ExchangeFailure: Error {
    var status: Int
    var reason: String
    var failure: RequestFailure
    var message: String

    init(status: Int, reason: String? = nil, failure: RequestFailure, message: String) {
        self.status = status
        self.reason = reason ?? failure.rawValue
        self.failure = failure
        self.message = message
    }
}

/// Writing to the upstream failed while relaying the request body (told apart from the
/// client's side failing in the same loop).
private struct UpstreamWriteFailure: Error {
    var error: any Error
}

/// Writing to the client failed while relaying the response.
struct ClientFailure: Error {
    var isTimeout: Bool
}
