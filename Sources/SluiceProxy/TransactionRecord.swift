import SluiceHTTP
import SluicePayload

/// One payment call, as the transaction log writes it: who (the verified merchant, else the
/// body's mchid / mch_id / app_id), which order or refund, how much (integer fen only: an amount
/// that is not an integer is not guessed at), how it ended, how long it took, and the ids that
/// find it in the access log and the traces.
struct TransactionRecord {
    var requestID: String
    var traceID: String
    var route: String
    var method: String
    var merchant: String?
    var payload: PaymentPayload?
    var status: Int
    var reason: String?
    var durationNanos: UInt64

    /// Body fields read, in order of preference.
    private static let merchantFields = ["mchid", "mch_id", "app_id", "sub_mchid"]
    private static let orderFields = ["out_trade_no", "transaction_id"]
    private static let refundFields = ["out_refund_no"]
    private static let amountFields = ["amount.total", "total_fee", "amount.refund", "refund_fee"]

    func jsonLine(time: UInt64) -> String {
        func first(_ paths: [String]) -> String? {
            paths.lazy.compactMap { self.payload?[$0]?.stringValue ?? self.payload?[$0].flatMap { $0.integerValue.map(String.init) } }.first
        }
        var line = "{\"time\":\(time),\"request_id\":\"\(jsonEscaped(requestID))\",\"trace_id\":\"\(traceID)\",\"route\":\"\(jsonEscaped(route))\""
        line += ",\"method\":\"\(jsonEscaped(method))\""
        if let merchant = merchant ?? first(Self.merchantFields) { line += ",\"merchant\":\"\(jsonEscaped(merchant))\"" }
        if let order = first(Self.orderFields) { line += ",\"out_trade_no\":\"\(jsonEscaped(order))\"" }
        if let refund = first(Self.refundFields) { line += ",\"out_refund_no\":\"\(jsonEscaped(refund))\"" }
        if let amount = Self.amountFields.lazy.compactMap({ self.payload?[$0]?.integerValue }).first { line += ",\"amount_fen\":\(amount)" }
        line += ",\"status\":\(status)"
        line += ",\"outcome\":\"\(status >= 200 && status < 300 ? "ok" : "failed")\""
        if let reason { line += ",\"reason\":\"\(jsonEscaped(reason))\"" }
        let micros = durationNanos / 1000
        line += ",\"duration_ms\":\(Double(micros) / 1000)}\n"
        return line
    }
}
