import SluiceIO
import SluiceHTTP
import SluiceHTTP1
import SluicePolicy

/// One request forwarded to one upstream endpoint and its response streamed back.
///
/// Deadlines: connecting is bounded by the cluster's connect timeout; the response head must
/// arrive within the route's per-try timeout after the request was sent, and everything up to
/// the response head within the route's total timeout from arrival. Once the head is on its way
/// to the client, each body read is bounded by the per-try timeout (a stall), not the total, so a
/// large download is not cut off. No retries: whether a payment call may be retried is decided
/// by the idempotency rules, not here.
struct UpstreamExchange {
    let session: HTTP1Session
    let pool: UpstreamPool
    let route: RoutePolicy
    let request: ParsedRequestHead
    let requestID: String
    let clientAddress: String
    let started: Deadline
    /// Fields the guards asked to add to the response.
    let extraResponseHeaders: HTTPHeaders

    struct Result {
        var status: Int
        var upstream: String?
        var reason: String?
        var bytesOut = 0
        /// False when the downstream connection must close (its framing or state is unknown).
        var connectionReusable: Bool
    }

    private var downstream: any ByteStream { session.connection }

    func run(body: inout BodyReader, downstreamKeepAlive: Bool) async -> Result {
        let totalDeadline = started.adding(route.totalTimeout)
        let endpoint = pool.pickEndpoint()
        let address = pool.cluster.addresses[endpoint]
        let upstreamName = address.description
        pool.markStarted(endpoint)
        defer { pool.markFinished(endpoint) }

        // 1. A connection.
        let upstream: UpstreamConnection
        do {
            let connectDeadline = min(Deadline.after(pool.cluster.policy.connectTimeout), totalDeadline)
            (upstream, _) = try await pool.acquire(endpoint: endpoint, deadline: connectDeadline)
        } catch {
            let timedOut = error.isTimeout
            return await fail(status: timedOut ? 504 : 502, reason: timedOut ? "upstream_connect_timeout" : "upstream_connect_failed",
                              message: "could not connect to \(upstreamName): \(error)", upstream: upstreamName, body: &body)
        }

        // 2. The request head and body.
        let framing: UpstreamFraming
        switch request.framing {
        case .contentLength(let length): framing = .length(length)
        case .chunked: framing = .chunked
        case .none, .untilClose: framing = .none
        }
        let upstreamHead = HeaderRewriting.upstreamRequest(from: request.head, framing: framing, clientAddress: clientAddress,
                                                           requestID: requestID, scheme: session.scheme)
        var headBytes: [UInt8] = []
        headBytes.reserveCapacity(512)
        HTTP1Serializer.appendRequestHead(upstreamHead, to: &headBytes)
        do {
            try await sendRequest(head: headBytes, framing: framing, body: &body, to: upstream, deadline: totalDeadline)
        } catch let failure as ExchangeFailure {
            upstream.stream.close()
            return await fail(status: failure.status, reason: failure.reason, message: failure.message, upstream: upstreamName, body: &body)
        } catch {
            upstream.stream.close()
            return await fail(status: 502, reason: "upstream_write_failed", message: "\(error)", upstream: upstreamName, body: &body)
        }

        // 3. The response head.
        let parsed: ParsedResponseHead
        do {
            let headDeadline = min(Deadline.after(route.perTryTimeout), totalDeadline)
            parsed = try await HeadReader.readResponse(from: upstream.stream, buffer: upstream.buffer, parser: &upstream.parser,
                                                       requestMethod: request.head.method, deadline: headDeadline)
        } catch let error as IOError where error.isTimeout {
            upstream.stream.close()
            return await fail(status: 504, reason: "upstream_timeout",
                              message: "\(upstreamName) did not answer within \(route.perTryTimeout)", upstream: upstreamName, body: &body)
        } catch let error as HTTP1Error {
            upstream.stream.close()
            return await fail(status: 502, reason: "upstream_bad_response", message: "\(upstreamName): \(error.message)",
                              upstream: upstreamName, body: &body)
        } catch {
            upstream.stream.close()
            return await fail(status: 502, reason: "upstream_reset", message: "\(upstreamName) closed the connection: \(error)",
                              upstream: upstreamName, body: &body)
        }

        // 4. The response, streamed.
        let requestComplete = body.isFinished
        let clientVersion = request.head.version
        var keepAlive = downstreamKeepAlive && requestComplete
        let downstreamFraming: UpstreamFraming
        var passThroughLength: String?
        switch parsed.framing {
        case .none:
            downstreamFraming = .none
            // HEAD and 304 responses describe a body they do not carry: keep its length.
            passThroughLength = parsed.head.headers["content-length"]
        case .contentLength(let length):
            downstreamFraming = .length(length)
        case .chunked, .untilClose:
            if clientVersion == .http1_0 {
                downstreamFraming = .none
                keepAlive = false
            } else {
                downstreamFraming = .chunked
            }
        }
        var responseHead = HeaderRewriting.downstreamResponse(from: parsed.head, framing: downstreamFraming, requestID: requestID,
                                                              keepAlive: keepAlive, clientVersion: clientVersion)
        if let passThroughLength { responseHead.headers.set(name: "content-length", value: passThroughLength) }
        for field in extraResponseHeaders { responseHead.headers.appendLowercased(name: field.name, value: field.value) }
        var responseHeadBytes: [UInt8] = []
        responseHeadBytes.reserveCapacity(512)
        HTTP1Serializer.appendResponseHead(responseHead, to: &responseHeadBytes)

        var bytesOut = 0
        var responseBody = BodyReader(framing: parsed.framing)
        let streamDeadline = { Deadline.after(route.perTryTimeout) }
        do {
            if responseBody.isFinished {
                try await downstream.write(responseHeadBytes, deadline: streamDeadline())
            } else if case .length(let length) = downstreamFraming, upstream.buffer.readableCount >= length {
                // Small responses that arrived whole: head and body in one writev.
                let bodyBytes = UnsafeRawBufferPointer(rebasing: upstream.buffer.readableBytes[0..<length])
                try await downstream.write(head: responseHeadBytes, body: bodyBytes, deadline: streamDeadline())
                try await responseBody.readNext(from: upstream.stream, buffer: upstream.buffer, deadline: streamDeadline()) { _ in }
                bytesOut += length
            } else {
                try await downstream.write(responseHeadBytes, deadline: streamDeadline())
            }
            bytesOut += responseHeadBytes.count
            while !responseBody.isFinished {
                try await responseBody.readNext(from: upstream.stream, buffer: upstream.buffer, deadline: streamDeadline()) { slice in
                    if downstreamFraming == .chunked {
                        var chunkHead: [UInt8] = []
                        HTTP1Serializer.appendChunkHeader(size: slice.count, to: &chunkHead)
                        try await downstream.write(head: chunkHead, body: slice, deadline: streamDeadline())
                        try await downstream.write(HTTP1Serializer.chunkTrailer, deadline: streamDeadline())
                        bytesOut += chunkHead.count + slice.count + 2
                    } else {
                        try await downstream.write(slice, deadline: streamDeadline())
                        bytesOut += slice.count
                    }
                }
            }
            if downstreamFraming == .chunked {
                try await downstream.write(HTTP1Serializer.lastChunk, deadline: streamDeadline())
                bytesOut += HTTP1Serializer.lastChunk.count
            }
        } catch {
            // The head is already out (or the client went away): nothing to answer, only close.
            upstream.stream.close()
            return Result(status: parsed.head.status, upstream: upstreamName, reason: "response_stream_failed",
                          bytesOut: bytesOut, connectionReusable: false)
        }

        upstream.requestsServed += 1
        if parsed.keepAlive && requestComplete && responseBody.isFinished {
            pool.release(upstream)
        } else {
            upstream.stream.close()
        }
        return Result(status: parsed.head.status, upstream: upstreamName, reason: nil, bytesOut: bytesOut,
                      connectionReusable: keepAlive)
    }

    /// Sends head and body. A small Content-Length body that is already buffered goes out with
    /// the head in one writev; anything else is streamed as it arrives.
    private func sendRequest(head: [UInt8], framing: UpstreamFraming, body: inout BodyReader,
                             to upstream: UpstreamConnection, deadline: Deadline) async throws {
        let downstreamBuffer = session.buffer
        if case .length(let length) = framing, downstreamBuffer.readableCount >= length {
            let bodyBytes = UnsafeRawBufferPointer(rebasing: downstreamBuffer.readableBytes[0..<length])
            try await upstream.stream.write(head: head, body: bodyBytes, deadline: deadline)
            try await body.readNext(from: downstream, buffer: downstreamBuffer, deadline: deadline) { _ in }
            return
        }
        try await upstream.stream.write(head, deadline: deadline)
        let limit = route.maxBodyBytes
        var forwarded = body.bytesRead
        while !body.isFinished {
            do {
                try await body.readNext(from: downstream, buffer: downstreamBuffer, deadline: deadline) { slice in
                    forwarded += slice.count
                    if forwarded > limit {
                        throw ExchangeFailure(status: 413, reason: "body_too_large",
                                              message: "request body exceeds the route limit of \(limit) bytes", clientGone: false)
                    }
                    if framing == .chunked {
                        var chunkHead: [UInt8] = []
                        HTTP1Serializer.appendChunkHeader(size: slice.count, to: &chunkHead)
                        try await upstream.stream.write(head: chunkHead, body: slice, deadline: deadline)
                        try await upstream.stream.write(HTTP1Serializer.chunkTrailer, deadline: deadline)
                    } else {
                        try await upstream.stream.write(slice, deadline: deadline)
                    }
                }
            } catch let error as HTTP1Error {
                throw ExchangeFailure(status: error.status, reason: error.reason, message: error.message, clientGone: false)
            } catch is UnexpectedEndOfStream {
                throw ExchangeFailure(status: 400, reason: "client_body_incomplete", message: "client closed mid-body", clientGone: true)
            }
        }
        if framing == .chunked {
            try await upstream.stream.write(HTTP1Serializer.lastChunk, deadline: deadline)
        }
    }

    /// Answers the client with a local error. The connection then closes unless the request body
    /// was fully read (so nothing of it can be mistaken for the next request).
    private func fail(status: Int, reason: String, message: String, upstream: String, body: inout BodyReader) async -> Result {
        let reusable = body.isFinished && request.keepAlive
        let reply = LocalReply.json(status: status, reason: reason, message: message, requestID: requestID)
        let kept = await session.sendLocal(reply, requestID: requestID, keepAlive: reusable, method: request.head.method,
                                           path: request.head.path, route: route.name, started: started, log: false)
        return Result(status: status, upstream: upstream, reason: reason, bytesOut: 0, connectionReusable: kept)
    }
}

/// Why forwarding stopped before a response head arrived.
struct ExchangeFailure: Error {
    var status: Int
    var reason: String
    var message: String
    var clientGone: Bool
}
