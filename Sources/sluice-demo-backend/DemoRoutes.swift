import SluiceHTTP

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
enum DemoRoutes {
    static func respond(to head: HTTPRequestHead, body: [UInt8], bodyBytes: Int, digest: String,
                        stats: DemoStats, backend: String) -> DemoResponse {
        let path = head.path
        if path.hasPrefix("/echo") {
            let headers = head.headers.map { "\"\(jsonEscaped($0.name))\":\"\(jsonEscaped($0.value))\"" }.joined(separator: ",")
            return DemoResponse(status: 200, json: "{\"method\":\"\(head.method)\",\"path\":\"\(jsonEscaped(String(path)))\",\"backend\":\"\(backend)\",\"body_bytes\":\(bodyBytes),\"headers\":{\(headers)}}\n")
        }
        switch (head.method, path) {
        case ("GET", "/__stats"):
            return DemoResponse(status: 200, json: stats.json)
        case ("GET", "/download"):
            let size = queryValue(head, "bytes").flatMap { Int($0) } ?? 0
            return DemoResponse(status: 200, contentType: "application/octet-stream", body: .generated(max(0, size)))
        case ("POST", "/upload"):
            return DemoResponse(status: 200, json: "{\"bytes\":\(bodyBytes),\"fnv1a64\":\"\(digest)\"}\n")
        case ("POST", "/v3/pay/transactions/jsapi"), ("POST", "/v3/pay/transactions/native"):
            let order = jsonField(body, "out_trade_no") ?? "unknown"
            return DemoResponse(status: 200, json: "{\"prepay_id\":\"wx\(digest.prefix(12))\",\"out_trade_no\":\"\(jsonEscaped(order))\",\"backend\":\"\(backend)\"}\n")
        case ("POST", "/pay/unifiedorder"):
            let xml = "<xml><return_code><![CDATA[SUCCESS]]></return_code><result_code><![CDATA[SUCCESS]]></result_code><prepay_id><![CDATA[wx\(digest.prefix(12))]]></prepay_id></xml>"
            return DemoResponse(status: 200, contentType: "application/xml", body: .bytes(Array(xml.utf8)))
        case ("POST", "/v3/refund/domestic/refunds"):
            return DemoResponse(status: 200, json: "{\"refund_id\":\"50\(digest.prefix(14))\",\"status\":\"PROCESSING\",\"backend\":\"\(backend)\"}\n")
        case ("POST", "/notify/wechat"):
            return DemoResponse(status: 200, json: "{\"code\":\"SUCCESS\",\"message\":\"OK\"}\n")
        default:
            if head.method == "GET" && path.hasPrefix("/v3/pay/transactions/out-trade-no/") {
                let order = path.dropFirst("/v3/pay/transactions/out-trade-no/".count)
                return DemoResponse(status: 200, json: "{\"out_trade_no\":\"\(jsonEscaped(String(order)))\",\"trade_state\":\"SUCCESS\",\"amount\":{\"total\":100,\"currency\":\"CNY\"}}\n")
            }
            return DemoResponse(status: 200, json: "{\"ok\":true,\"method\":\"\(head.method)\",\"path\":\"\(jsonEscaped(String(path)))\",\"backend\":\"\(backend)\"}\n")
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

    /// A string field of a flat JSON object, found by text search: enough for a demo.
    static func jsonField(_ body: [UInt8], _ name: String) -> String? {
        let key = Array("\"\(name)\"".utf8)
        guard body.count > key.count else { return nil }
        for start in 0...(body.count - key.count) where body[start..<start + key.count].elementsEqual(key) {
            var index = start + key.count
            while index < body.count && (body[index] == UInt8(ascii: " ") || body[index] == UInt8(ascii: ":")) { index += 1 }
            guard index < body.count, body[index] == UInt8(ascii: "\"") else { return nil }
            let valueStart = index + 1
            guard let valueEnd = body[valueStart...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
            return String(decoding: body[valueStart..<valueEnd], as: UTF8.self)
        }
        return nil
    }
}
