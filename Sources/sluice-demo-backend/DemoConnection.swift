import SluiceIO
import SluiceHTTP
import SluiceHTTP1
import SluiceMockPayments

/// Serves one keep-alive connection of the demo backend.
struct DemoConnection {
    let connection: TCPConnection
    let backend: MockBackend

    func run() async {
        defer { connection.close() }
        let stats = backend.stats
        var rng = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
        let buffer = ByteBuffer()
        // A client that opens with the HTTP/2 preface speaks h2c (a `protocol: h2` cluster).
        while buffer.readableCount < DemoHTTP2Connection.preface.count,
              buffer.readableBytes.elementsEqual(DemoHTTP2Connection.preface.prefix(buffer.readableCount)) {
            guard let count = try? await connection.read(into: buffer, deadline: .after(.seconds(120))), count > 0 else { return }
        }
        if buffer.readableBytes.starts(with: DemoHTTP2Connection.preface) {
            guard let h2 = try? DemoHTTP2Connection(connection: connection, backend: backend) else { return }
            await h2.run(initialBytes: buffer)
            return
        }
        var parser = RequestHeadParser(limits: HTTP1Limits())
        while true {
            do {
                guard let request = try await HeadReader.readRequest(from: connection, buffer: buffer, parser: &parser,
                                                                     deadline: .after(.seconds(120))) else { return }
                stats.requests.wrappingAdd(1, ordering: .relaxed)
                if request.expectsContinue {
                    try await connection.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), deadline: .after(.seconds(10)))
                }
                var body = BodyReader(framing: request.framing)
                var digest = FNV1a64()
                var collected: [UInt8] = []
                let keepsBody = request.head.path != "/upload"
                while !body.isFinished {
                    try await body.readNext(from: connection, buffer: buffer, deadline: .after(.seconds(60))) { slice in
                        digest.update(slice)
                        if keepsBody && collected.count < 64 * 1024 { collected.append(contentsOf: slice) }
                    }
                }
                if let delay = request.head.headers["x-demo-delay-ms"].flatMap({ Int($0) }), delay > 0 {
                    await connection.loop.sleep(until: .after(.milliseconds(delay)))
                }
                // The behaviour switches (latency, error rate, slow/fail/stop) apply to everything
                // but the admin endpoints.
                var failure: Int?
                if !request.head.path.hasPrefix("/__") {
                    let behaviour = backend.behaviour.behaviour
                    let plan = behaviour.plan(using: &rng)
                    switch plan {
                    case .drop:
                        stats.dropped.wrappingAdd(1, ordering: .relaxed)
                        connection.abort()
                        return
                    case .answer(let delayMs):
                        await wait(delayMs)
                    case .fail(let status, let delayMs):
                        await wait(delayMs)
                        failure = status
                    }
                }
                if let status = failure {
                    stats.injectedErrors.wrappingAdd(1, ordering: .relaxed)
                    let reply = DemoResponse(status: status, json: "{\"code\":\"SYSTEM_ERROR\",\"message\":\"injected by the mock backend\"}\n")
                    try await write(reply, keepAlive: request.keepAlive, method: request.head.method)
                    if !request.keepAlive { return }
                    continue
                }
                let (response, executed) = DemoRoutes.respond(to: request.head, body: collected, bodyBytes: body.bytesRead,
                                                              digest: digest.hex, backend: backend)
                if let order = executed {
                    let behaviour = backend.behaviour.behaviour
                    if !behaviour.notifyURL.isEmpty {
                        NotifySender.send(order: order, behaviour: behaviour, stats: stats, on: connection.loop)
                    }
                }
                // `x-demo-trailers: name=value, name=value`: the answer comes chunked, with these
                // trailer fields after the body (as gRPC-over-HTTP backends answer).
                let trailers = request.head.headers["x-demo-trailers"].map(Self.trailerFields) ?? HTTPHeaders()
                try await write(response, keepAlive: request.keepAlive, method: request.head.method, trailers: trailers)
                if !request.keepAlive { return }
            } catch let error as HTTP1Error {
                let reply = DemoResponse(status: error.status, json: "{\"error\":\"\(error.reason)\"}\n")
                try? await write(reply, keepAlive: false, method: "GET")
                return
            } catch {
                return
            }
        }
    }

    private func wait(_ ms: Double) async {
        guard ms > 0 else { return }
        await connection.loop.sleep(until: .after(.microseconds(Int64(ms * 1000))))
    }

    static func trailerFields(_ text: String) -> HTTPHeaders {
        HTTPHeaders(text.split(separator: ",").compactMap { item in
            let parts = item.split(separator: "=", maxSplits: 1).map { String($0.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        })
    }

    private func write(_ response: DemoResponse, keepAlive: Bool, method: String, trailers: HTTPHeaders = HTTPHeaders()) async throws {
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "content-type", value: response.contentType)
        let chunked = !trailers.isEmpty && method != "HEAD"
        if chunked {
            headers.appendLowercased(name: "transfer-encoding", value: "chunked")
            headers.appendLowercased(name: "trailer", value: trailers.map(\.name).joined(separator: ", "))
        } else {
            headers.appendLowercased(name: "content-length", value: String(response.bodyLength))
        }
        if !keepAlive { headers.appendLowercased(name: "connection", value: "close") }
        var head: [UInt8] = []
        HTTP1Serializer.appendResponseHead(HTTPResponseHead(status: response.status, headers: headers), to: &head)
        if method == "HEAD" {
            try await connection.write(head, deadline: .after(.seconds(30)))
            return
        }
        if chunked, case .bytes(let bytes) = response.body {
            var message = head
            if !bytes.isEmpty {
                HTTP1Serializer.appendChunkHeader(size: bytes.count, to: &message)
                message += bytes
                message += HTTP1Serializer.chunkTrailer
            }
            HTTP1Serializer.appendLastChunk(trailers: trailers, to: &message)
            try await connection.write(message, deadline: .after(.seconds(30)))
            return
        }
        switch response.body {
        case .bytes(let bytes):
            try await bytes.withStableBytes { raw in
                try await connection.write(head: head, body: raw, deadline: .after(.seconds(30)))
            }
        case .generated(let count):
            // A large body is produced in blocks so the backend's memory stays flat too.
            try await connection.write(head, deadline: .after(.seconds(30)))
            let block = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
            var remaining = count
            while remaining > 0 {
                let n = min(remaining, block.count)
                try await connection.write(n == block.count ? block : Array(block[0..<n]), deadline: .after(.seconds(30)))
                remaining -= n
            }
        }
    }
}

/// 64-bit FNV-1a, so tests can check a streamed body arrived intact without holding it.
struct FNV1a64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var hash = value
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        value = hash
    }

    var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
