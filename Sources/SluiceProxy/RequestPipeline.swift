import SluiceIO
import SluiceHTTP
import SluiceGuards
import SluicePolicy

/// One request from any downstream protocol: route, body limit, guards, forward, access log,
/// and the outcome told to whoever the guards asked to be told.
struct RequestPipeline {
    let context: LoopContext
    let listenerName: String
    /// The listener's trusted proxies (see `ClientIdentity`).
    var trustedProxies: [IPRange] = []
    /// The listener's body_timeout in nanoseconds (longest pause within a request body).
    var bodyTimeoutNanoseconds: UInt64? = nil
    /// The listener's body_min_rate (bytes/s; 0: off).
    var bodyMinimumRate = 0

    func serve(_ downstream: some DownstreamExchange) async {
        let started = Deadline.now
        let configuration = context.currentConfiguration()
        var head = downstream.head
        HeaderRewriting.removeConnectionOptions(from: &head.headers)
        var requestID = head.headers["x-request-id"] ?? ""
        if !Self.isAcceptableRequestID(requestID) { requestID = context.requestIDs.next() }

        // The trace this request belongs to (kept or started), forwarded with the gateway's span.
        let trace = TraceContext.forwarding(head.headers["traceparent"], ids: &context.traceIDs)
        head.headers.remove(name: "traceparent")
        head.headers.appendLowercased(name: "traceparent", value: trace.traceparent)

        var outcome = Outcome(status: 0)
        var observers: [any OutcomeObserver] = []
        var merchant: String?
        // For the transaction log: set once the request is known to be a payment call.
        var isPaymentCall = false
        var paymentBody: RequestBody?
        let identity = ClientIdentity(peer: downstream.clientAddress, headers: head.headers, trustedProxies: trustedProxies)
        defer {
            let elapsed = Deadline.now.nanoseconds &- started.nanoseconds
            log(outcome, downstream: downstream, client: identity.client, requestID: requestID, traceID: trace.traceID, merchant: merchant,
                durationNanos: elapsed)
            if !observers.isEmpty { tell(observers, outcome, latencyNanoseconds: elapsed) }
            if isPaymentCall, let transactionLog = context.transactionLog {
                transactionLog.append(TransactionRecord(requestID: requestID, traceID: trace.traceID, route: outcome.route ?? "",
                                                        method: downstream.head.method, merchant: merchant,
                                                        payload: try? paymentBody?.payload(), status: outcome.status,
                                                        reason: outcome.reason, durationNanos: elapsed))
            }
        }

        // Routed and forwarded on one normal form of the path, so that no spelling of a path
        // reaches the backend as a route the router did not pick (PathNormalization).
        do {
            head.target = try PathNormalization.normalizedTarget(head.target, duplicateSlashes: configuration.policy.server.duplicateSlashes)
        } catch {
            outcome = await reply(.json(status: 400, reason: error.reason, message: error.description, requestID: requestID),
                                  to: downstream, requestID: requestID)
            return
        }
        guard let route = configuration.router.route(for: head) else {
            outcome = await reply(.json(status: 404, reason: "no_route", message: "no route for \(head.method) \(head.path)",
                                        requestID: requestID), to: downstream, requestID: requestID)
            return
        }
        outcome.route = route.name
        isPaymentCall = route.routeClass == .core
        if configuration.prioritisesCoreRoutes { downstream.routed(core: route.routeClass == .core) }
        let limits = RouteLimits(route)
        if let length = downstream.declaredBodyLength, length > route.maxBodyBytes {
            outcome = await reply(.json(status: 413, reason: "body_too_large",
                                        message: "request body of \(length) bytes exceeds the route limit of \(route.maxBodyBytes)",
                                        requestID: requestID), to: downstream, requestID: requestID, route: route.name,
                                  shape: route.replies)
            return
        }
        var extraResponseHeaders = HTTPHeaders()
        var shadowReason: String?
        var responseBodyCapture = 0
        var bufferedBody: [UInt8]?
        // The loop's body-buffer bytes this request holds, given back whatever the exit path.
        var bodyBufferReserved = 0
        defer { if bodyBufferReserved > 0 { context.releaseBodyBuffer(bodyBufferReserved, client: identity.client) } }
        let chain = configuration.guardChains[route.name]
        if let chain, chain.headRewriters != nil {
            chain.rewriteHead(&head)
        } else if let chain, !chain.isEmpty {
            var guardRequest = GuardRequest(head: head, routeName: route.name, routeIsCore: route.routeClass == .core,
                                            clientAddress: identity.client, loopIndex: context.loop.index,
                                            clientCertificateSubject: downstream.clientCertificateSubject)
            var bodyRefusal: BodyRefusal?
            let verdicts = await chain.evaluate(&guardRequest) { request in
                if let refusal = Self.encodedBodyRefusal(head.headers, requestID: requestID) {
                    bodyRefusal = refusal
                    return refusal.reply
                }
                switch await readBody(downstream, route: limits, started: started, client: identity.client, reserved: &bodyBufferReserved) {
                case .success(let bytes):
                    bufferedBody = bytes
                    request.body = RequestBody(bytes: bytes, contentType: head.headers["content-type"])
                    return nil
                case .failure(let refusal):
                    bodyRefusal = refusal
                    return refusal.reply
                }
            }
            // Observers registered by guards before a rejection are told of it too (a permit
            // taken by one guard is given back when a later one refuses).
            observers = guardRequest.outcomeObservers
            merchant = guardRequest.merchantID
            paymentBody = guardRequest.body
            if let bodyRefusal {
                outcome = await refuse(bodyRefusal, downstream: downstream, requestID: requestID, route: route.name, shape: route.replies)
                return
            }
            if let rejection = verdicts.reply {
                outcome = await reply(rejection, to: downstream, requestID: requestID, route: route.name, shape: route.replies)
                return
            }
            extraResponseHeaders = verdicts.responseHeaders
            // What the guards decided the backend sees (auth sets the verified merchant header).
            head = guardRequest.head
            // A shadow rule that would have rejected, or a rule that failed open: logged, never enforced.
            shadowReason = verdicts.shadowRejections.first.map { "shadow:" + $0 } ?? guardRequest.logNotes.first
            responseBodyCapture = guardRequest.responseBodyCapture
        }
        guard let pool = context.pool(for: route.cluster) else {
            outcome = await reply(.json(status: 502, reason: "no_cluster", message: "cluster \(route.cluster) is not configured",
                                        requestID: requestID), to: downstream, requestID: requestID, route: route.name,
                                  shape: route.replies)
            return
        }
        // Request buffering (the route's default): the whole body is read before an upstream
        // connection is taken, so a slow upload holds no backend connection and its timeout is
        // the client's (408), never the backend's. A body that has already arrived in full (the
        // common small payment call) is not copied: forwarding it cannot stall on the client.
        // An HTTP/2 upstream may refuse a stream it did not process, and the retry must carry the
        // same body: a body that has arrived is kept (not relayed and gone) where retries may come.
        // So is one that goes again on a new connection when a reused one closes unanswered
        // (`mayRetryOnStaleConnection`, safe methods only).
        let safe = Self.isSafeToRepeat(method: head.method)
        let keepsArrivedBody = downstream.requestBodyArrived && !downstream.requestBodyFinished
            && (pool.cluster.policy.protocol == .h2 ? pool.cluster.policy.retries != nil : safe)
        if bufferedBody == nil, route.requestBuffering, !downstream.requestBodyArrived || keepsArrivedBody {
            switch await readBody(downstream, route: limits, started: started, client: identity.client, reserved: &bodyBufferReserved) {
            case .success(let bytes):
                bufferedBody = bytes
            case .failure(let refusal):
                outcome = await refuse(refusal, downstream: downstream, requestID: requestID, route: route.name, shape: route.replies)
                return
            }
        }
        // The transaction log reads the order's fields from the body when it was read anyway.
        if isPaymentCall, paymentBody == nil, context.transactionLog != nil, let bufferedBody {
            paymentBody = RequestBody(bytes: bufferedBody, contentType: head.headers["content-type"])
        }
        do {
            try await downstream.willReadBody()
        } catch {
            outcome.status = 499
            outcome.reason = "client_gone"
            outcome.failure = .clientGone
            return
        }
        var exchange = UpstreamExchange(downstream: downstream, requestHead: head, pool: pool, route: limits, requestID: requestID,
                                        started: started, extraResponseHeaders: extraResponseHeaders)
        exchange.responseBodyCapture = responseBodyCapture
        exchange.answerWatchers = observers
        exchange.bufferedBody = bufferedBody
        exchange.bodyInactivityNanoseconds = bodyTimeoutNanoseconds
        exchange.peerIsTrusted = identity.peerIsTrusted
        // Tries: one, or with the cluster's `retries` more while they cannot repeat a payment
        // (see RetryPolicy) and the loop's retry budget allows.
        let retries = pool.cluster.policy.retries
        pool.noteRequest()
        let bodyCanBeSentAgain = bufferedBody != nil || (downstream.declaredBodyLength == nil && downstream.requestBodyFinished)
        let repeatable = safe && bodyCanBeSentAgain
        // Once, on a new connection, whatever the cluster's retries: see `mayRetryOnStaleConnection`.
        var mayRetryOnStaleConnection = repeatable
        exchange.avoidsLongIdleConnections = !safe
        var tried: [Int] = []
        func prepare(_ exchange: inout UpstreamExchange<some DownstreamExchange>) {
            let canRetry = (retries.map { tried.count + 1 < $0.attempts } ?? false) && pool.canRetry
            exchange.excluding = tried
            exchange.mayRetry = canRetry
            exchange.mayRetryAfterSend = canRetry && repeatable
            exchange.mayRetryOnStaleConnection = mayRetryOnStaleConnection
        }
        prepare(&exchange)
        var result = await exchange.run()
        var anySent = result.sent
        while result.retryable {
            if result.staleConnection {
                mayRetryOnStaleConnection = false
                prepare(&exchange)
                exchange.takesNewConnection = true
                result = await exchange.run()
                exchange.takesNewConnection = false
                continue
            }
            pool.spendRetry()
            tried.append(result.endpoint)
            // Full jitter: a random pause up to 10 ms × 2^(tries − 1), within the total timeout.
            let pause = UInt64.random(in: 0...(10_000_000 << min(tried.count - 1, 6)))
            await context.loop.sleep(until: min(Deadline.now.adding(nanoseconds: pause), started.adding(nanoseconds: limits.totalTimeoutNanoseconds)))
            prepare(&exchange)
            result = await exchange.run()
            anySent = anySent || result.sent
        }
        outcome.status = result.status
        outcome.cluster = route.cluster
        outcome.upstream = result.upstream
        outcome.reason = result.reason ?? shadowReason
        outcome.detail = result.detail
        outcome.failure = result.failure
        outcome.attempt = anySent ? tried.count + 1 : 0
        outcome.responseHead = result.responseHead
        outcome.answerNanoseconds = result.answerNanoseconds
        outcome.responseBody = result.responseBody
    }

    /// What the access log and the outcome observers are told.
    struct Outcome {
        var status: Int
        var route: String?
        var cluster: String?
        var upstream: String?
        var reason: String?
        /// A backend failure's full reason, for the access log.
        var detail: String?
        var failure: RequestFailure?
        var attempt = 0
        var responseHead: HTTPResponseHead?
        var answerNanoseconds: UInt64?
        var responseBody: [UInt8]?
    }

    /// The body phase with the listener's body timeouts; the budget it takes is added to `reserved`
    /// (the caller gives it back when the request ends, whatever the exit).
    private func readBody<Downstream: DownstreamExchange>(_ downstream: Downstream, route: RouteLimits, started: Deadline,
                                                          client: String, reserved: inout Int) async -> Result<[UInt8], BodyRefusal> {
        var phase = BodyPhase(downstream: downstream, context: context, route: route,
                              deadline: started.adding(nanoseconds: route.totalTimeoutNanoseconds), client: client)
        phase.inactivityNanoseconds = bodyTimeoutNanoseconds
        phase.minimumRate = bodyMinimumRate
        let result = await phase.read()
        reserved += phase.reserved
        return result
    }

    /// A body that could not be read: its reply, unless the client is gone (then nothing is sent).
    private func refuse(_ refusal: BodyRefusal, downstream: some DownstreamExchange, requestID: String, route: String,
                        shape: RoutePolicy.ReplyShape) async -> Outcome {
        guard refusal.failure != .clientGone else {
            return Outcome(status: 499, route: route, reason: "client_gone", failure: .clientGone)
        }
        var outcome = await reply(refusal.reply, to: downstream, requestID: requestID, route: route, shape: shape)
        outcome.failure = refusal.failure
        return outcome
    }

    private func reply(_ reply: LocalReply, to downstream: some DownstreamExchange, requestID: String,
                       route: String? = nil, shape: RoutePolicy.ReplyShape = .problem) async -> Outcome {
        await downstream.sendLocalReply(shape == .wechatpayV2 ? reply.inWeChatPayV2Shape() : reply, requestID: requestID)
        return Outcome(status: reply.status, route: route, upstream: nil, reason: reply.reason, failure: .localReply)
    }

    private func tell(_ observers: [any OutcomeObserver], _ outcome: Outcome, latencyNanoseconds: UInt64) {
        let told = RequestOutcome(route: outcome.route ?? "", cluster: outcome.cluster, endpoint: outcome.upstream,
                                  attempt: outcome.attempt, status: outcome.status, failure: outcome.failure,
                                  latencyNanoseconds: latencyNanoseconds, upstreamAnswerNanoseconds: outcome.answerNanoseconds,
                                  responseHead: outcome.responseHead,
                                  responseBody: outcome.responseBody)
        for observer in observers { observer.requestFinished(told) }
    }

    private func log(_ outcome: Outcome, downstream: some DownstreamExchange, client: String, requestID: String, traceID: String,
                     merchant: String?, durationNanos: UInt64) {
        let countsMetrics = context.currentConfiguration().policy.server.metrics
        if countsMetrics {
            context.metrics.record(listener: listenerName, route: outcome.route, status: outcome.status, nanoseconds: durationNanos)
        }
        if countsMetrics, let cluster = outcome.cluster, let endpoint = outcome.upstream {
            let failure = outcome.failure.flatMap { $0.isUpstreamFailure ? $0.rawValue : nil }
            context.metrics.recordUpstream(cluster: cluster, endpoint: endpoint, failure: failure, nanoseconds: durationNanos,
                                           answerNanoseconds: outcome.answerNanoseconds)
        }
        guard let accessLog = context.accessLog else { return }
        accessLog.append(AccessLogRecord(
            requestID: requestID, listener: listenerName, client: client, method: downstream.head.method,
            path: downstream.head.path, route: outcome.route, status: outcome.status, upstream: outcome.upstream,
            reason: outcome.reason, detail: outcome.detail, merchant: merchant, traceID: traceID, durationNanos: durationNanos,
            bytesIn: downstream.requestBodyBytes, bytesOut: downstream.responseBytesSent))
    }

    /// A body a guard reads (a signature over its bytes, its payment fields, its idempotency
    /// key) is checked as sent: one with a Content-Encoding other than identity is refused (415,
    /// RFC 9110 §15.5.16), since a backend that decodes it acts on other bytes than the ones
    /// checked. A signed order sent with `Content-Encoding: gzip` and a plain body was validated
    /// as plain and forwarded with the header.
    static func encodedBodyRefusal(_ headers: HTTPHeaders, requestID: String) -> BodyRefusal? {
        guard headers.contains(name: "content-encoding") else { return nil }
        let encodings = headers.tokens(for: "content-encoding")
        guard encodings.contains(where: { $0 != "identity" }) else { return nil }
        var reply = LocalReply.json(status: 415, reason: "content_encoding_not_accepted",
                                    message: "this route checks the request body as sent: send it without a Content-Encoding ("
                                        + encodings.joined(separator: ", ") + ")", requestID: requestID)
        reply.headers.appendLowercased(name: "accept-encoding", value: "identity")
        return BodyRefusal(reply: reply, failure: .clientBodyInvalid)
    }

    /// Methods whose repetition changes nothing (RFC 9110 §9.2.2) that payment APIs use for
    /// reads only; PUT and DELETE are idempotent by the RFC, but not retried here.
    static func isSafeToRepeat(method: String) -> Bool { method == "GET" || method == "HEAD" || method == "OPTIONS" }

    /// A client's X-Request-Id is kept only if it is short and printable (it goes into logs).
    static func isAcceptableRequestID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x5c }
    }
}
