import SluiceIO
import SluiceHTTP
import SluiceHTTP1
import SluiceGuards
import SluicePolicy

/// One downstream HTTP/1.1 connection: reads requests in order (pipelined ones too), routes
/// each, runs its guards, forwards it and writes the response, until either side closes.
/// Confined to its loop (hence the unchecked Sendable: it only crosses into tasks on that loop).
final class HTTP1Session: @unchecked Sendable {
    let context: LoopContext
    let connection: any ByteStream
    let listener: ListenerPolicy
    let buffer = ByteBuffer(capacity: 16 * 1024)
    private var parser: RequestHeadParser
    private let clientAddress: String
    /// True while waiting for the next request on a keep-alive connection (drain closes these).
    private(set) var isIdle = true

    init(context: LoopContext, connection: any ByteStream, listener: ListenerPolicy) {
        self.context = context
        self.connection = connection
        self.listener = listener
        parser = RequestHeadParser(limits: HTTP1Limits(maxHeaderBytes: listener.maxHeaderBytes,
                                                       maxURIBytes: listener.maxURIBytes))
        clientAddress = connection.peer?.host ?? "unknown"
    }

    func closeIdle() { connection.close() }

    func run() async {
        defer { connection.close() }
        var acceptedAt = Deadline.now
        var first = true
        while !context.draining {
            isIdle = true
            do {
                if !first && buffer.isEmpty {
                    // Between requests the idle timeout applies; the header timeout starts with the
                    // first byte of the next request.
                    try await connection.waitReadable(deadline: .after(listener.idleTimeout), operation: "idle")
                    acceptedAt = .now
                }
                first = false
                let headDeadline = acceptedAt.adding(listener.headerTimeout)
                guard let request = try await HeadReader.readRequest(from: connection, buffer: buffer, parser: &parser,
                                                                     deadline: headDeadline) else { return }
                isIdle = false
                let keepGoing = await handle(request)
                if !keepGoing { return }
                acceptedAt = .now
            } catch let error as HTTP1Error {
                // Malformed or smuggling-shaped request: answer and close (framing can't be trusted).
                await sendLocal(.json(status: error.status, reason: error.reason, message: error.message),
                                requestID: context.requestIDs.next(), keepAlive: false, method: "-", path: "-", route: nil, started: .now)
                return
            } catch let error as IOError {
                // An idle keep-alive connection timing out just closes; a head that does not
                // arrive in time (slowloris) gets a 408 first.
                if error.isTimeout && error.operation != "idle" {
                    await sendLocal(.json(status: 408, reason: "header_timeout", message: "request head not received in time"),
                                    requestID: context.requestIDs.next(), keepAlive: false, method: "-", path: "-",
                                    route: nil, started: .now)
                }
                return
            } catch {
                return
            }
        }
    }

    /// Serves one request; returns whether the connection may carry another.
    private func handle(_ request: ParsedRequestHead) async -> Bool {
        let started = Deadline.now
        let configuration = context.currentConfiguration()
        let head = request.head
        var requestID = head.headers["x-request-id"] ?? ""
        if !Self.isAcceptableRequestID(requestID) { requestID = context.requestIDs.next() }
        var keepAlive = request.keepAlive && !context.draining
        var body = BodyReader(framing: request.framing)

        guard let route = configuration.router.route(for: head) else {
            return await reject(.json(status: 404, reason: "no_route", message: "no route for \(head.method) \(head.path)", requestID: requestID),
                                request: request, body: &body, requestID: requestID, route: nil, started: started)
        }
        if case .contentLength(let length) = request.framing, length > route.maxBodyBytes {
            keepAlive = false
            return await sendLocal(.json(status: 413, reason: "body_too_large",
                                         message: "request body of \(length) bytes exceeds the route limit of \(route.maxBodyBytes)",
                                         requestID: requestID),
                                   requestID: requestID, keepAlive: false, method: head.method, path: head.path,
                                   route: route.name, started: started)
        }
        var extraResponseHeaders = HTTPHeaders()
        /// A shadow rule that would have rejected: logged, never enforced.
        var shadowReason: String?
        if let chain = configuration.guardChains[route.name], !chain.isEmpty {
            var guardRequest = GuardRequest(head: head, routeName: route.name, routeIsCore: route.routeClass == .core,
                                            clientAddress: clientAddress, loopIndex: context.loop.index)
            let outcome = await chain.evaluate(&guardRequest)
            if let reply = outcome.reply {
                return await reject(reply, request: request, body: &body, requestID: requestID, route: route.name, started: started)
            }
            extraResponseHeaders = outcome.responseHeaders
            shadowReason = outcome.shadowRejections.first.map { "shadow:" + $0 }
        }
        if request.expectsContinue && !body.isFinished {
            do {
                try await connection.write(Self.continueLine, deadline: .after(listener.idleTimeout))
            } catch {
                return false
            }
        }
        guard let pool = context.pool(for: route.cluster) else {
            return await reject(.json(status: 502, reason: "no_cluster", message: "cluster \(route.cluster) is not configured", requestID: requestID),
                                request: request, body: &body, requestID: requestID, route: route.name, started: started)
        }
        let exchange = UpstreamExchange(session: self, pool: pool, route: route, request: request, requestID: requestID,
                                        clientAddress: clientAddress, started: started,
                                        extraResponseHeaders: extraResponseHeaders)
        let result = await exchange.run(body: &body, downstreamKeepAlive: keepAlive)
        context.accessLog?.append(AccessLogRecord(
            requestID: requestID, listener: listener.name, client: clientAddress, method: head.method, path: head.path,
            route: route.name, status: result.status, upstream: result.upstream, reason: result.reason ?? shadowReason,
            durationNanos: Deadline.now.nanoseconds &- started.nanoseconds, bytesIn: body.bytesRead, bytesOut: result.bytesOut))
        return result.connectionReusable && keepAlive && !context.draining
    }

    /// Answers locally. The unread request body (if any) is drained when small, otherwise the
    /// connection is closed after the reply, so its bytes can never be taken for a request.
    private func reject(_ reply: LocalReply, request: ParsedRequestHead, body: inout BodyReader, requestID: String,
                        route: String?, started: Deadline) async -> Bool {
        var keepAlive = request.keepAlive && !context.draining
        if !body.isFinished {
            if request.expectsContinue {
                // The client waits for 100 Continue before sending: it will not send the body now.
                keepAlive = false
            } else {
                let drained = (try? await body.drain(from: connection, buffer: buffer,
                                                     deadline: .after(listener.headerTimeout), limit: 64 * 1024)) ?? false
                if !drained { keepAlive = false }
            }
        }
        return await sendLocal(reply, requestID: requestID, keepAlive: keepAlive, method: request.head.method,
                               path: request.head.path, route: route, started: started)
    }

    @discardableResult
    func sendLocal(_ reply: LocalReply, requestID: String, keepAlive: Bool, method: String, path: Substring,
                   route: String?, started: Deadline, log: Bool = true) async -> Bool {
        var headers = reply.headers
        headers.set(name: "x-request-id", value: requestID)
        headers.set(name: "content-length", value: String(reply.body.count))
        if !keepAlive { headers.set(name: "connection", value: "close") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + reply.body.count)
        HTTP1Serializer.appendResponseHead(HTTPResponseHead(status: reply.status, headers: headers), to: &bytes)
        if method != "HEAD" { bytes.append(contentsOf: reply.body) }
        let written = (try? await connection.write(bytes, deadline: .after(listener.idleTimeout))) != nil
        if log {
            context.accessLog?.append(AccessLogRecord(
                requestID: requestID, listener: listener.name, client: clientAddress, method: method, path: path,
                route: route, status: reply.status, upstream: nil, reason: reply.reason,
                durationNanos: Deadline.now.nanoseconds &- started.nanoseconds, bytesIn: 0, bytesOut: bytes.count))
        }
        return written && keepAlive
    }

    private static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// A client's X-Request-Id is kept only if it is short and printable (it goes into logs).
    static func isAcceptableRequestID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x5c }
    }
}
