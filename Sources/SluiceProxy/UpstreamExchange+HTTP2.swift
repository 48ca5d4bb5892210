import SluiceIO
import SluiceHTTP
import SluiceHTTP2
import SluiceGuards

/// The same exchange to a cluster that speaks HTTP/2 (`protocol: h2`): one stream on a shared
/// connection instead of a connection of its own, with the same deadlines, the same outcome
/// reporting and the same rules for what may be retried. A stream the upstream refused
/// (REFUSED_STREAM, or above a GOAWAY's last stream id) was never processed: it is retried like a
/// request that never left.
extension UpstreamExchange {
    func tryEndpointHTTP2(_ endpoint: Int) async -> Result {
        let totalDeadline = started.adding(nanoseconds: route.totalTimeoutNanoseconds)
        let upstreamName = pool.cluster.names[endpoint]
        pool.markStarted(endpoint)
        defer { pool.markFinished(endpoint) }

        // 1. A stream, with the request head.
        let bodyLength = bufferedBody?.count ?? downstream.declaredBodyLength
        let headOnly = bufferedBody.map(\.isEmpty) ?? (downstream.requestBodyFinished && (bodyLength ?? 0) == 0)
        let fields = HeaderRewriting.upstreamHTTP2Fields(requestHead, bodyLength: headOnly ? nil : bodyLength,
                                                         clientAddress: downstream.clientAddress, peerIsTrusted: peerIsTrusted,
                                                         requestID: requestID, scheme: downstream.scheme)
        let authority = requestHead.host ?? pool.cluster.names[endpoint]
        let scheme = pool.cluster.tls == nil ? "http" : "https"
        let stream: HTTP2UpstreamStream
        do {
            let connectDeadline = min(loop.deadline(after: pool.cluster.policy.connectTimeout), totalDeadline)
            stream = try await pool.openStream(endpoint: endpoint, deadline: connectDeadline, clientLeft: { downstream.clientHasLeft }) { connection in
                connection.open(method: requestHead.method, scheme: scheme, authority: authority, path: requestHead.target,
                                fields: fields, endStream: headOnly)
            }
        } catch {
            return await connectFailed(error, upstream: upstreamName)
        }

        // 2. The request body.
        if !headOnly {
            do {
                if let bufferedBody {
                    try await bufferedBody.withStableBytes { body in try await stream.send(body, endStream: true, deadline: totalDeadline) }
                } else {
                    try await relayRequestBody(deadline: totalDeadline) { slice in
                        try await stream.send(slice, endStream: false, deadline: totalDeadline)
                    }
                    try await stream.send(UnsafeRawBufferPointer(start: nil, count: 0), endStream: true, deadline: totalDeadline)
                }
            } catch let failure as ExchangeFailure {
                stream.cancel()
                return await fail(failure, upstream: upstreamName, retryable: mayRetryAfterSend && failure.failure.isUpstreamFailure)
            } catch {
                stream.cancel()
                return await fail(ExchangeFailure(status: 502, reason: "upstream_write_failed", failure: .upstreamReset, message: "\(error)"),
                                  upstream: upstreamName, retryable: mayRetryAfterSend)
            }
        }

        // 3. The response head.
        let sentAt = loop.now
        var head: HTTPResponseHead
        var ended: Bool
        answerAwaited(since: sentAt)
        do {
            defer { answerWaitEnded(since: sentAt) }
            let headDeadline = min(loop.deadline(afterNanoseconds: route.perTryTimeoutNanoseconds), totalDeadline)
            waiting: while true {
                switch try await stream.next(deadline: headDeadline) {
                case .response(_, let response, let endStream):
                    head = response
                    ended = endStream
                    break waiting
                case .streamClosed(_, let code):
                    guard code == HTTP2ErrorCode.refusedStream else {
                        return await fail(ExchangeFailure(status: 502, failure: .upstreamReset,
                                                          message: "\(upstreamName) reset the stream (HTTP/2 error \(code))"),
                                          upstream: upstreamName, retryable: mayRetryAfterSend)
                    }
                    // Never processed (RFC 9113 §8.7): retried like a request that never left, when
                    // its body can be sent again (held in full, or none; a body relayed as it came
                    // is gone), and never counted as sent (an idempotency key is freed).
                    let replayable = headOnly || bufferedBody != nil
                    var result = await fail(ExchangeFailure(status: 502, reason: "upstream_refused_stream", failure: .upstreamReset,
                                                            message: "\(upstreamName) refused the stream: it was not processed"),
                                            upstream: upstreamName, retryable: mayRetry && replayable)
                    result.sent = false
                    return result
                default:
                    continue
                }
            }
        } catch {
            stream.timedOut()
            return await fail(ExchangeFailure(status: 504, failure: .upstreamTimeout,
                                              message: "\(upstreamName) did not answer within \(route.perTryTimeout)"), upstream: upstreamName,
                              retryable: mayRetryAfterSend)
        }
        let answered = loop.now &- sentAt
        if mayRetryAfterSend && Self.isUnavailableStatus(head.status) {
            stream.cancel()
            return Result(status: head.status, upstream: upstreamName, reason: "upstream_unavailable", failure: nil, sent: true,
                          responseHead: head, answerNanoseconds: answered, retryable: true)
        }

        // 4. The response, streamed.
        var responseHead = HeaderRewriting.downstreamResponse(from: head, requestID: requestID)
        for field in extraResponseHeaders { responseHead.headers.appendLowercased(name: field.name, value: field.value) }
        let declaredLength = head.headers["content-length"]
        let length: ResponseBodyLength = ended || downstream.head.method == "HEAD"
            ? .none(status: head.status, contentLength: declaredLength)
            : declaredLength.flatMap(Int.init).map { .known($0) } ?? .unknown
        var captured: [UInt8]? = responseBodyCapture > 0 ? [] : nil
        let stallNanoseconds = route.perTryTimeoutNanoseconds
        func stall() -> Deadline { loop.deadline(afterNanoseconds: stallNanoseconds) }
        do {
            if ended { answerComplete(head, body: captured) }
            try await toClient { try await downstream.sendResponseHead(responseHead, body: length, deadline: stall()) }
            var trailers = HTTPHeaders()
            while !ended {
                switch try await stream.next(deadline: stall()) {
                case .data(_, let bytes, let endStream):
                    if captured != nil, captured!.count < responseBodyCapture {
                        captured!.append(contentsOf: bytes.prefix(responseBodyCapture - captured!.count))
                    }
                    if endStream { answerComplete(head, body: captured) }
                    try await toClient { try await bytes.withStableBytes { try await downstream.sendResponseBody($0, deadline: stall()) } }
                    stream.consumed(bytes.count)
                    ended = endStream
                case .trailers(_, let fields):
                    trailers = fields
                    ended = true
                case .streamClosed(_, let code):
                    throw HTTP2ConnectionError(code: code, reason: "stream reset mid-response")
                default:
                    continue
                }
            }
            if case .none = length {
                // No body to end (HEAD, 204, 304: the head already said so).
            } else {
                let relayed = HeaderRewriting.downstreamTrailers(from: trailers)
                try await toClient { try await downstream.finishResponse(trailers: relayed, deadline: stall()) }
            }
        } catch {
            stream.cancel()
            downstream.abortResponse()
            let failure: RequestFailure
            switch error {
            case let client as ClientFailure: failure = client.isTimeout ? .clientTimeout : .clientGone
            case let io as IOError where io.isTimeout: failure = .upstreamTimeout
            default: failure = .upstreamReset
            }
            let reason = failure == .clientTimeout ? "client_send_timeout" : failure == .clientGone ? "client_gone" : "response_stream_failed"
            return Result(status: head.status, upstream: upstreamName, reason: reason, failure: failure,
                          sent: true, responseHead: head, answerNanoseconds: answered, responseBody: captured)
        }
        return Result(status: head.status, upstream: upstreamName, reason: nil, failure: nil, sent: true,
                      responseHead: head, answerNanoseconds: answered, responseBody: captured)
    }
}
