import SluiceHTTP
import SluiceMockPayments

struct DemoResponse {
    enum Body {
        case bytes([UInt8])
        case generated(Int)
    }

    var status: Int
    var contentType: String
    var body: Body

    init(status: Int, json: String) {
        self.status = status
        contentType = "application/json"
        body = .bytes(Array(json.utf8))
    }

    init(status: Int, contentType: String, body: Body) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    var bodyLength: Int {
        switch body {
        case .bytes(let bytes): return bytes.count
        case .generated(let count): return count
        }
    }
}

/// What the demo payment backend answers. Amounts are integers in fen, as a real one's are.
/// `/__*` are the admin endpoints (stats, control, payments), never slowed down or failed.
enum DemoRoutes {
    static func respond(to head: HTTPRequestHead, body: [UInt8], bodyBytes: Int, digest: String,
                        backend: MockBackend) -> (response: DemoResponse, executed: PaymentLedger.Order?) {
        let path = head.path
        if path.hasPrefix("/echo") {
            let headers = head.headers.map { "\"\(jsonEscaped($0.name))\":\"\(jsonEscaped($0.value))\"" }.joined(separator: ",")
            return (DemoResponse(status: 200, json: "{\"method\":\"\(head.method)\",\"version\":\"\(head.version.text)\",\"path\":\"\(jsonEscaped(String(path)))\",\"target\":\"\(jsonEscaped(head.target))\",\"backend\":\"\(backend.listenAddress)\",\"body_bytes\":\(bodyBytes),\"headers\":{\(headers)}}\n"), nil)
        }
        if let answer = PaymentRoutes.respond(to: head, body: body, backend: backend) {
            return answer
        }
        switch (head.method, path) {
        case ("GET", "/__stats"):
            return (DemoResponse(status: 200, json: backend.stats.json(ledger: backend.ledger)), nil)
        case ("GET", "/__control"):
            return (DemoResponse(status: 200, json: backend.behaviour.behaviour.json + "\n"), nil)
        case ("POST", "/__control"):
            do {
                let now = try backend.behaviour.apply(control: body)
                return (DemoResponse(status: 200, json: now.json + "\n"), nil)
            } catch {
                return (DemoResponse(status: 400, json: "{\"error\":\"\(jsonEscaped(error.description))\"}\n"), nil)
            }
        case ("GET", "/__payments"):
            let duplicates = backend.ledger.duplicates().map {
                "{\"mchid\":\"\(jsonEscaped($0.mchid))\",\"out_trade_no\":\"\(jsonEscaped($0.outTradeNo))\",\"executions\":\($0.executions)}"
            }
            return (DemoResponse(status: 200, json: "{\"duplicates\":[\(duplicates.joined(separator: ","))]}\n"), nil)
        case ("GET", "/download"):
            let size = queryValue(head, "bytes").flatMap { Int($0) } ?? 0
            return (DemoResponse(status: 200, contentType: "application/octet-stream", body: .generated(max(0, size))), nil)
        case ("POST", "/upload"):
            return (DemoResponse(status: 200, json: "{\"bytes\":\(bodyBytes),\"fnv1a64\":\"\(digest)\"}\n"), nil)
        case ("POST", "/notify/wechat"):
            backend.stats.notificationsReceived.wrappingAdd(1, ordering: .relaxed)
            // A merchant's handler: each notification id is processed once (WeChat Pay v3's
            // top-level `id`), and every delivery is answered SUCCESS.
            let id = (try? MiniJSON.parse(body))?["id"]?.string
            let taken = backend.ledger.receiveNotification(id: id)
            return (DemoResponse(status: 200, json: "{\"code\":\"SUCCESS\",\"message\":\"OK\",\"duplicate\":\(taken.duplicate)}\n"), nil)
        default:
            return (DemoResponse(status: 200, json: "{\"ok\":true,\"method\":\"\(head.method)\",\"path\":\"\(jsonEscaped(String(path)))\",\"backend\":\"\(backend.listenAddress)\"}\n"), nil)
        }
    }

    static func queryValue(_ head: HTTPRequestHead, _ name: String) -> String? {
        guard let query = head.query else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 && parts[0] == name { return String(parts[1]) }
        }
        return nil
    }
}
