import Synchronization

/// Every payment the mock backend executed, by (merchant, out_trade_no), and every refund, so a
/// bench run can prove the gateway in front never caused a double charge: `duplicatePayments`
/// counts executions of an order that had already been executed.
public final class PaymentLedger: Sendable {
    public struct Order: Equatable, Sendable {
        public var mchid: String
        public var outTradeNo: String
        public var totalFen: Int
        public var transactionID: String
        public var executions: Int
        public var state: String  // SUCCESS | CLOSED | REFUND
        public var refundedFen: Int
    }

    public struct Counts: Equatable, Sendable {
        public var orders = 0
        public var paymentsExecuted = 0
        public var duplicatePayments = 0
        public var amountExecutedFen = 0
        public var refunds = 0
        public var duplicateRefunds = 0
        public var refundsRejected = 0
        public var refundedFen = 0
        public var closes = 0
        public var queries = 0
        public var queriesNotFound = 0
        /// Payment notifications taken (the first delivery of each notification id), and
        /// deliveries of an id already taken: what a gateway's idempotency must keep at 0.
        public var notificationsProcessed = 0
        public var duplicateNotifications = 0
    }

    public enum RefundOutcome: Equatable, Sendable {
        case refunded(refundID: String, duplicate: Bool)
        case orderNotFound
        case exceedsRemaining(remainingFen: Int)
    }

    /// Identifiers compared byte for byte, as a database's binary unique index compares them:
    /// Swift's String equality is canonical equivalence (`é` and `e` + U+0301, `K` and the
    /// Kelvin sign are equal), which made two ids the gateway keeps apart one id here, and the
    /// ledger count a duplicate the gateway never let through.
    private struct Key: Hashable {
        let mchid: ExactText
        let outTradeNo: ExactText
        init(mchid: String, outTradeNo: String) {
            self.mchid = ExactText(mchid)
            self.outTradeNo = ExactText(outTradeNo)
        }
    }

    private struct State {
        var orders = ShardedDictionary<Key, Order>()
        var merchantByTradeNo = ShardedDictionary<ExactText, String>()
        var refundIDs = ShardedDictionary<Key, String>()  // (mchid, out_refund_no)
        var notificationIDs = Set<ExactText>()
        var counts = Counts()
        var nextID = 1
    }

    private let state = Mutex(State())

    public init() {}

    /// Executes (charges) an order. A second execution of the same (mchid, out_trade_no) is a
    /// duplicate: counted, and answered with the first execution's order as a real one would.
    public func execute(mchid: String, outTradeNo: String, totalFen: Int) -> (order: Order, duplicate: Bool) {
        state.withLock { s in
            let key = Key(mchid: mchid, outTradeNo: outTradeNo)
            s.counts.paymentsExecuted += 1
            if var order = s.orders[key] {
                order.executions += 1
                s.orders[key] = order
                s.counts.duplicatePayments += 1
                return (order, true)
            }
            let order = Order(mchid: mchid, outTradeNo: outTradeNo, totalFen: totalFen,
                              transactionID: "4200\(String(s.nextID))", executions: 1, state: "SUCCESS", refundedFen: 0)
            s.nextID += 1
            s.orders[key] = order
            s.merchantByTradeNo[ExactText(outTradeNo)] = mchid
            s.counts.orders += 1
            s.counts.amountExecutedFen += totalFen
            return (order, false)
        }
    }

    public func query(mchid: String?, outTradeNo: String) -> Order? {
        state.withLock { s in
            s.counts.queries += 1
            guard let merchant = mchid ?? s.merchantByTradeNo[ExactText(outTradeNo)],
                  let order = s.orders[Key(mchid: merchant, outTradeNo: outTradeNo)] else {
                s.counts.queriesNotFound += 1
                return nil
            }
            return order
        }
    }

    /// Closes an order; a paid (or refunded) order keeps its state. nil when it does not exist.
    public func close(mchid: String?, outTradeNo: String) -> Order? {
        state.withLock { s in
            guard let merchant = mchid ?? s.merchantByTradeNo[ExactText(outTradeNo)] else { return nil }
            let key = Key(mchid: merchant, outTradeNo: outTradeNo)
            guard let order = s.orders[key] else { return nil }
            s.counts.closes += 1
            return order
        }
    }

    /// Refunds part of an order. The same out_refund_no twice is one refund (the second is a
    /// counted duplicate and moves no money); more than what is left is rejected.
    public func refund(mchid: String?, outTradeNo: String, outRefundNo: String, amountFen: Int) -> RefundOutcome {
        state.withLock { s in
            guard let merchant = mchid ?? s.merchantByTradeNo[ExactText(outTradeNo)],
                  var order = s.orders[Key(mchid: merchant, outTradeNo: outTradeNo)] else {
                s.counts.refundsRejected += 1
                return .orderNotFound
            }
            let refundKey = Key(mchid: merchant, outTradeNo: outRefundNo)
            if let id = s.refundIDs[refundKey] {
                s.counts.duplicateRefunds += 1
                return .refunded(refundID: id, duplicate: true)
            }
            let remaining = order.totalFen - order.refundedFen
            guard amountFen <= remaining else {
                s.counts.refundsRejected += 1
                return .exceedsRemaining(remainingFen: remaining)
            }
            let id = "5030\(String(s.nextID))"
            s.nextID += 1
            s.refundIDs[refundKey] = id
            order.refundedFen += amountFen
            order.state = "REFUND"
            s.orders[Key(mchid: merchant, outTradeNo: outTradeNo)] = order
            s.counts.refunds += 1
            s.counts.refundedFen += amountFen
            return .refunded(refundID: id, duplicate: false)
        }
    }

    /// Takes a payment notification. A second delivery of the same id is a duplicate: counted,
    /// and answered SUCCESS like the first, as a merchant's handler must. Nil ids are all new.
    @discardableResult
    public func receiveNotification(id: String?) -> (processed: Bool, duplicate: Bool) {
        state.withLock { s in
            if let id, !s.notificationIDs.insert(ExactText(id)).inserted {
                s.counts.duplicateNotifications += 1
                return (false, true)
            }
            s.counts.notificationsProcessed += 1
            return (true, false)
        }
    }

    public var counts: Counts { state.withLock { $0.counts } }

    /// Orders executed more than once, most executions first (at most `limit`).
    public func duplicates(limit: Int = 100) -> [Order] {
        state.withLock { s in
            Array(s.orders.values.filter { $0.executions > 1 }
                .sorted { ($0.executions, $0.mchid, $0.outTradeNo) > ($1.executions, $1.mchid, $1.outTradeNo) }
                .prefix(limit))
        }
    }
}

/// A string that is equal to another only when their UTF-8 bytes are.
struct ExactText: Hashable, Sendable {
    let text: String
    init(_ text: String) { self.text = text }
    static func == (lhs: ExactText, rhs: ExactText) -> Bool { lhs.text.utf8.elementsEqual(rhs.text.utf8) }
    func hash(into hasher: inout Hasher) {
        for byte in text.utf8 { hasher.combine(byte) }
        hasher.combine(0xFF as UInt8)  // not a UTF-8 byte: ends the text
    }
}
