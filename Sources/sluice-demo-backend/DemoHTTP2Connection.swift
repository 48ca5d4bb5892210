import SluiceIO
import SluiceHTTP
import SluiceHTTP2
import SluiceMockPayments

/// Serves one cleartext HTTP/2 connection (prior knowledge, h2c) of the demo backend, with the
/// same routes and behaviour switches as HTTP/1.1: what a cluster with `protocol: h2` talks to.
/// Each request is answered by its own task, so a slow one does not hold the others up.
final class DemoHTTP2Connection: @unchecked Sendable {
    private let connection: TCPConnection
    private let backend: MockBackend
    private let session: HTTP2ServerSession
    private var requests: [Int32: (head: HTTPRequestHead, body: [UInt8], bytes: Int, digest: FNV1a64)] = [:]
    private var output: [UInt8] = []
    private var writing = false
    private var rng = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))

    /// The HTTP/2 connection preface (RFC 9113 §3.4), which tells h2c from HTTP/1.1.
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    init(connection: TCPConnection, backend: MockBackend) throws {
        self.connection = connection
        self.backend = backend
        session = try HTTP2ServerSession(settings: HTTP2Settings(maxConcurrentStreams: 256))
    }

    func run(initialBytes: ByteBuffer) async {
        defer { connection.close() }
        let buffer = initialBytes
        while true {
            if !buffer.isEmpty {
                guard let events = try? session.receive(buffer.readableBytes) else {
                    await flush()
                    return
                }
                buffer.clear()
                for event in events { handle(event) }
            }
            await flush()
            if !session.wantsRead && !session.wantsWrite { return }
            guard let count = try? await connection.read(into: buffer, deadline: .after(.seconds(120))), count > 0 else { return }
        }
    }

    private func handle(_ event: HTTP2Event) {
        switch event {
        case .request(let id, let head, let endStream):
            backend.stats.requests.wrappingAdd(1, ordering: .relaxed)
            requests[id] = (head, [], 0, FNV1a64())
            if endStream { answer(id) }
        case .data(let id, let bytes, let endStream):
            bytes.withUnsafeBytes { raw in
                requests[id]?.digest.update(raw)
                if let count = requests[id]?.body.count, count < 64 * 1024 { requests[id]?.body.append(contentsOf: raw) }
            }
            requests[id]?.bytes += bytes.count
            session.consume(streamID: id, bytes: bytes.count)
            if endStream { answer(id) }
        case .trailers(let id, _):
            answer(id)
        case .streamReset(let id, _):
            requests[id] = nil
        case .rejected(let id, let reply):
            session.sendLocalReply(streamID: id, reply: reply)
        case .goAway:
            break
        }
    }

    private func answer(_ id: Int32) {
        guard let request = requests.removeValue(forKey: id) else { return }
        connection.loop.spawn { [self] in
            if let delay = request.head.headers["x-demo-delay-ms"].flatMap({ Int($0) }), delay > 0 {
                await connection.loop.sleep(until: .after(.milliseconds(delay)))
            }
            var response: DemoResponse
            if !request.head.path.hasPrefix("/__"), let failure = await plannedFailure() {
                guard let status = failure else {
                    session.resetStream(id, errorCode: HTTP2ErrorCode.internalError)  // the h2 form of a dropped connection
                    await flush()
                    return
                }
                response = DemoResponse(status: status, json: "{\"code\":\"SYSTEM_ERROR\",\"message\":\"injected by the mock backend\"}\n")
            } else {
                response = DemoRoutes.respond(to: request.head, body: request.body, bodyBytes: request.bytes,
                                              digest: request.digest.hex, backend: backend).0
            }
            send(response, to: id, method: request.head.method,
                 trailers: request.head.headers["x-demo-trailers"].map(DemoConnection.trailerFields) ?? HTTPHeaders())
            await flush()
        }
    }

    /// The behaviour switches: nil = answer normally; .some(nil) = drop; .some(status) = fail.
    private func plannedFailure() async -> Int?? {
        switch backend.behaviour.behaviour.plan(using: &rng) {
        case .drop:
            backend.stats.dropped.wrappingAdd(1, ordering: .relaxed)
            return .some(nil)
        case .answer(let delayMs):
            await wait(delayMs)
            return nil
        case .fail(let status, let delayMs):
            await wait(delayMs)
            backend.stats.injectedErrors.wrappingAdd(1, ordering: .relaxed)
            return .some(status)
        }
    }

    private func wait(_ ms: Double) async {
        guard ms > 0 else { return }
        await connection.loop.sleep(until: .after(.microseconds(Int64(ms * 1000))))
    }

    private func send(_ response: DemoResponse, to id: Int32, method: String, trailers: HTTPHeaders) {
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "content-type", value: response.contentType)
        if trailers.isEmpty { headers.appendLowercased(name: "content-length", value: String(response.bodyLength)) }
        let body: [UInt8]
        switch response.body {
        case .bytes(let bytes): body = bytes
        case .generated(let count): body = [UInt8](repeating: UInt8(ascii: "x"), count: count)
        }
        let bodyless = method == "HEAD" || (body.isEmpty && trailers.isEmpty)
        session.sendResponse(streamID: id, head: HTTPResponseHead(status: response.status, headers: headers), endStream: bodyless)
        guard !bodyless else { return }
        session.sendData(streamID: id, bytes: body, endStream: false)
        session.finishResponse(streamID: id, trailers: trailers)
    }

    private func flush() async {
        guard !writing else { return }
        writing = true
        defer { writing = false }
        while true {
            output.removeAll(keepingCapacity: true)
            session.takeOutput(into: &output)
            if output.isEmpty { return }
            guard (try? await connection.write(output, deadline: .after(.seconds(30)))) != nil else { return }
        }
    }
}
