import SluiceHTTP
/// The request bodies of the mock WeChat-Pay-like API, validated. Amounts are integers in fen:
/// `1.5`, `"100"`, `1e2`, negative or zero amounts are rejected (400 PARAM_ERROR).
public struct PaymentRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: String
    public let message: String
    public init(_ message: String, code: String = "PARAM_ERROR") { self.code = code; self.message = message }
    public var description: String { "\(code): \(message)" }
    public var json: String { "{\"code\":\"\(code)\",\"message\":\"\(jsonEscaped(message))\"}\n" }
}

public struct CreateOrder: Equatable, Sendable {
    public var mchid: String
    public var outTradeNo: String
    public var totalFen: Int
    public var notifyURL: String?

    public init(mchid: String, outTradeNo: String, totalFen: Int, notifyURL: String?) {
        self.mchid = mchid
        self.outTradeNo = outTradeNo
        self.totalFen = totalFen
        self.notifyURL = notifyURL
    }
}

public struct RefundRequest: Equatable, Sendable {
    public var mchid: String?
    public var outTradeNo: String
    public var outRefundNo: String
    public var refundFen: Int

    public init(mchid: String?, outTradeNo: String, outRefundNo: String, refundFen: Int) {
        self.mchid = mchid
        self.outTradeNo = outTradeNo
        self.outRefundNo = outRefundNo
        self.refundFen = refundFen
    }
}

public enum PaymentRequests {
    /// `POST /v3/pay/transactions/{jsapi,native}`: JSON with mchid, out_trade_no, amount.total.
    public static func createOrder(json body: [UInt8]) -> Result<CreateOrder, PaymentRequestError> {
        let value: JSONValue
        do { value = try MiniJSON.parse(body) } catch { return .failure(PaymentRequestError(error.description)) }
        guard let mchid = value["mchid"]?.string, !mchid.isEmpty else { return .failure(PaymentRequestError("mchid is required")) }
        guard let no = value["out_trade_no"]?.string, validTradeNo(no) else {
            return .failure(PaymentRequestError("out_trade_no is required (letters, digits, _-|*)"))
        }
        guard let amount = value["amount"]?["total"] else { return .failure(PaymentRequestError("amount.total is required")) }
        guard let total = amount.integer else { return .failure(PaymentRequestError("amount.total must be an integer number of fen")) }
        guard total > 0 else { return .failure(PaymentRequestError("amount.total must be positive")) }
        return .success(CreateOrder(mchid: mchid, outTradeNo: no, totalFen: total, notifyURL: value["notify_url"]?.string))
    }

    /// `POST /pay/unifiedorder` (v2): `<xml>` with mch_id, out_trade_no, total_fee.
    public static func createOrder(xml body: [UInt8]) -> Result<CreateOrder, PaymentRequestError> {
        guard let fields = XMLFields.parse(String(decoding: body, as: UTF8.self)) else {
            return .failure(PaymentRequestError("body is not a flat <xml> document"))
        }
        guard let mchid = fields["mch_id"], !mchid.isEmpty else { return .failure(PaymentRequestError("mch_id is required")) }
        guard let no = fields["out_trade_no"], validTradeNo(no) else { return .failure(PaymentRequestError("out_trade_no is required")) }
        guard let fee = fields["total_fee"] else { return .failure(PaymentRequestError("total_fee is required")) }
        guard !fee.isEmpty, fee.allSatisfy({ $0.isASCII && $0.isNumber }), let total = Int(fee) else {
            return .failure(PaymentRequestError("total_fee must be an integer number of fen"))
        }
        guard total > 0 else { return .failure(PaymentRequestError("total_fee must be positive")) }
        return .success(CreateOrder(mchid: mchid, outTradeNo: no, totalFen: total, notifyURL: fields["notify_url"]))
    }

    /// `POST /v3/refund/domestic/refunds`: out_trade_no, out_refund_no, amount.refund (and
    /// amount.total, checked to be an integer when present).
    public static func refund(json body: [UInt8]) -> Result<RefundRequest, PaymentRequestError> {
        let value: JSONValue
        do { value = try MiniJSON.parse(body) } catch { return .failure(PaymentRequestError(error.description)) }
        guard let no = value["out_trade_no"]?.string, validTradeNo(no) else { return .failure(PaymentRequestError("out_trade_no is required")) }
        guard let refundNo = value["out_refund_no"]?.string, validTradeNo(refundNo) else {
            return .failure(PaymentRequestError("out_refund_no is required"))
        }
        guard let amount = value["amount"]?["refund"] else { return .failure(PaymentRequestError("amount.refund is required")) }
        guard let fen = amount.integer else { return .failure(PaymentRequestError("amount.refund must be an integer number of fen")) }
        guard fen > 0 else { return .failure(PaymentRequestError("amount.refund must be positive")) }
        if let total = value["amount"]?["total"], total.integer == nil {
            return .failure(PaymentRequestError("amount.total must be an integer number of fen"))
        }
        return .success(RefundRequest(mchid: value["mchid"]?.string ?? value["sub_mchid"]?.string,
                                      outTradeNo: no, outRefundNo: refundNo, refundFen: fen))
    }

    static func validTradeNo(_ no: String) -> Bool {
        (1...64).contains(no.utf8.count) && no.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) ||
                b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: "|") || b == UInt8(ascii: "*")
        }
    }
}
