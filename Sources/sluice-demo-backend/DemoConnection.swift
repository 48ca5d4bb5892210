import SluiceIO
import SluiceHTTP
import SluiceHTTP1

/// Serves one keep-alive connection of the demo backend.
struct DemoConnection {
    let connection: TCPConnection
    let stats: DemoStats
    let listenAddress: String

    func run() async {
        defer { connection.close() }
        let buffer = ByteBuffer()
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
                let response = DemoRoutes.respond(to: request.head, body: collected, bodyBytes: body.bytesRead,
                                                  digest: digest.hex, stats: stats, backend: listenAddress)
                try await write(response, keepAlive: request.keepAlive, method: request.head.method)
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

    private func write(_ response: DemoResponse, keepAlive: Bool, method: String) async throws {
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "content-type", value: response.contentType)
        headers.appendLowercased(name: "content-length", value: String(response.bodyLength))
        if !keepAlive { headers.appendLowercased(name: "connection", value: "close") }
        var head: [UInt8] = []
        HTTP1Serializer.appendResponseHead(HTTPResponseHead(status: response.status, headers: headers), to: &head)
        if method == "HEAD" {
            try await connection.write(head, deadline: .after(.seconds(30)))
            return
        }
        switch response.body {
        case .bytes(let bytes):
            try await bytes.withUnsafeBytesAsync { raw in
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

extension Array where Element == UInt8 {
    /// Gives async code a stable pointer by copying into memory it owns for the call.
    func withUnsafeBytesAsync<R>(_ body: (UnsafeRawBufferPointer) async throws -> R) async rethrows -> R {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { storage.deallocate() }
        withUnsafeBytes { storage.copyMemory(from: $0) }
        return try await body(UnsafeRawBufferPointer(storage))
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
