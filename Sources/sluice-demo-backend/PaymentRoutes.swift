import SluiceHTTP
import SluiceMockPayments

/// The WeChat-Pay-like API of the mock backend: create (v3 JSON, v2 XML), query, close, refund.
/// Every create executes a payment in the ledger (the mock's payer pays at once) and, when a
/// notify URL is set, sends the success notification.
enum PaymentRoutes {
    static let queryPrefix = "/v3/pay/transactions/out-trade-no/"

    /// nil when the request is not one of the payment endpoints.
    static func respond(to head: HTTPRequestHead, body: [UInt8], backend: MockBackend)
        -> (response: DemoResponse, executed: PaymentLedger.Order?)? {
        let path = head.path
        switch (head.method, path) {
        case ("POST", "/v3/pay/transactions/jsapi"), ("POST", "/v3/pay/transactions/native"):
            switch PaymentRequests.createOrder(json: body) {
            case .failure(let error):
                return (badRequest(error, backend), nil)
            case .success(let create):
                let (order, duplicate) = backend.ledger.execute(mchid: create.mchid, outTradeNo: create.outTradeNo, totalFen: create.totalFen)
                let prepay = "wx\(order.transactionID)"
                let extra = path.hasSuffix("native") ? ",\"code_url\":\"weixin://wxpay/bizpayurl?pr=\(order.transactionID)\"" : ""
                let json = "{\"prepay_id\":\"\(prepay)\"\(extra),\"out_trade_no\":\"\(jsonEscaped(order.outTradeNo))\"," +
                    "\"duplicate\":\(duplicate),\"backend\":\"\(backend.listenAddress)\"}\n"
                return (DemoResponse(status: 200, json: json), duplicate ? nil : order)
            }
        case ("POST", "/pay/unifiedorder"):
            switch PaymentRequests.createOrder(xml: body) {
            case .failure(let error):
                backend.stats.badRequests.wrappingAdd(1, ordering: .relaxed)
                let xml = XMLFields.render([("return_code", "FAIL"), ("return_msg", error.message)])
                return (DemoResponse(status: 400, contentType: "application/xml", body: .bytes(Array(xml.utf8))), nil)
            case .success(let create):
                let (order, duplicate) = backend.ledger.execute(mchid: create.mchid, outTradeNo: create.outTradeNo, totalFen: create.totalFen)
                let xml = XMLFields.render([("return_code", "SUCCESS"), ("result_code", "SUCCESS"), ("mch_id", order.mchid),
                                            ("out_trade_no", order.outTradeNo), ("prepay_id", "wx\(order.transactionID)"),
                                            ("trade_type", "JSAPI")])
                return (DemoResponse(status: 200, contentType: "application/xml", body: .bytes(Array(xml.utf8))), duplicate ? nil : order)
            }
        case ("POST", "/v3/refund/domestic/refunds"):
            switch PaymentRequests.refund(json: body) {
            case .failure(let error):
                return (badRequest(error, backend), nil)
            case .success(let refund):
                guard let merchant = merchant(head, named: refund.mchid) else { return (otherMerchant(), nil) }
                switch backend.ledger.refund(mchid: merchant, outTradeNo: refund.outTradeNo, outRefundNo: refund.outRefundNo,
                                             amountFen: refund.refundFen) {
                case .orderNotFound:
                    return (DemoResponse(status: 404, json: PaymentRequestError("order not found", code: "RESOURCE_NOT_EXISTS").json), nil)
                case .exceedsRemaining(let remaining):
                    return (DemoResponse(status: 400, json: PaymentRequestError("refund exceeds the \(remaining) fen left",
                                                                                code: "INVALID_REQUEST").json), nil)
                case .refunded(let id, let duplicate):
                    let json = "{\"refund_id\":\"\(id)\",\"out_refund_no\":\"\(jsonEscaped(refund.outRefundNo))\"," +
                        "\"out_trade_no\":\"\(jsonEscaped(refund.outTradeNo))\",\"status\":\"PROCESSING\"," +
                        "\"amount\":{\"refund\":\(refund.refundFen),\"currency\":\"CNY\"},\"duplicate\":\(duplicate)," +
                        "\"backend\":\"\(backend.listenAddress)\"}\n"
                    return (DemoResponse(status: 200, json: json), nil)
                }
            }
        default:
            guard path.hasPrefix(queryPrefix) else { return nil }
            let rest = path.dropFirst(queryPrefix.count)
            guard let mchid = merchant(head, named: DemoRoutes.queryValue(head, "mchid")) else { return (otherMerchant(), nil) }
            if head.method == "POST" && rest.hasSuffix("/close") {
                let no = String(rest.dropLast("/close".count))
                guard backend.ledger.close(mchid: mchid, outTradeNo: no) != nil else { return (notFound(), nil) }
                return (DemoResponse(status: 204, contentType: "application/json", body: .bytes([])), nil)
            }
            guard head.method == "GET", !rest.contains("/") else { return nil }
            guard let order = backend.ledger.query(mchid: mchid, outTradeNo: String(rest)) else { return (notFound(), nil) }
            let json = "{\"mchid\":\"\(jsonEscaped(order.mchid))\",\"out_trade_no\":\"\(jsonEscaped(order.outTradeNo))\"," +
                "\"transaction_id\":\"\(order.transactionID)\",\"trade_state\":\"\(order.state)\"," +
                "\"amount\":{\"total\":\(order.totalFen),\"refunded\":\(order.refundedFen),\"currency\":\"CNY\"}}\n"
            return (DemoResponse(status: 200, json: json), nil)
        }
    }

    /// The merchant a refund, query or close is for: the one the gateway verified
    /// (`X-Sluice-Merchant`) when there is one, as a backend behind an authenticating gateway
    /// must (the request's own `mchid` may name another merchant); else the request's `mchid`
    /// (no `mchid`: the order's owner). Nil when the two disagree.
    private static func merchant(_ head: HTTPRequestHead, named mchid: String?) -> String?? {
        guard let verified = head.headers["x-sluice-merchant"] else { return .some(mchid) }
        if let mchid, mchid != verified { return nil }
        return .some(verified)
    }

    private static func otherMerchant() -> DemoResponse {
        DemoResponse(status: 403, json: PaymentRequestError("mchid is not the verified merchant", code: "NO_AUTH").json)
    }

    private static func badRequest(_ error: PaymentRequestError, _ backend: MockBackend) -> DemoResponse {
        backend.stats.badRequests.wrappingAdd(1, ordering: .relaxed)
        return DemoResponse(status: 400, json: error.json)
    }

    private static func notFound() -> DemoResponse {
        DemoResponse(status: 404, json: PaymentRequestError("order not found", code: "ORDER_NOT_EXIST").json)
    }
}
