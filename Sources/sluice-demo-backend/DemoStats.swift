import Synchronization
import SluiceMockPayments

/// Counters shared by every loop of the demo backend, served on `GET /__stats` together with the
/// payment ledger's counts.
final class DemoStats: Sendable {
    let connectionsAccepted = Atomic<Int>(0)
    /// Connections accepted and not yet ended (a client's pool size, seen from here).
    let connectionsOpen = Atomic<Int>(0)
    let requests = Atomic<Int>(0)
    let badRequests = Atomic<Int>(0)
    let injectedErrors = Atomic<Int>(0)
    let dropped = Atomic<Int>(0)
    let notificationsSent = Atomic<Int>(0)
    let notificationAttempts = Atomic<Int>(0)
    let notificationsFailed = Atomic<Int>(0)
    let notificationsReceived = Atomic<Int>(0)

    func json(ledger: PaymentLedger) -> String {
        let c = ledger.counts
        let fields: [(String, Int)] = [
            ("connections_accepted", connectionsAccepted.load(ordering: .relaxed)),
            ("connections_open", connectionsOpen.load(ordering: .relaxed)),
            ("requests", requests.load(ordering: .relaxed)),
            ("orders", c.orders),
            ("payments_executed", c.paymentsExecuted),
            ("duplicate_payments", c.duplicatePayments),
            ("amount_executed_fen", c.amountExecutedFen),
            ("refunds", c.refunds),
            ("duplicate_refunds", c.duplicateRefunds),
            ("refunds_rejected", c.refundsRejected),
            ("refunded_fen", c.refundedFen),
            ("closes", c.closes),
            ("queries", c.queries),
            ("queries_not_found", c.queriesNotFound),
            ("bad_requests", badRequests.load(ordering: .relaxed)),
            ("injected_errors", injectedErrors.load(ordering: .relaxed)),
            ("dropped_connections", dropped.load(ordering: .relaxed)),
            ("notifications_sent", notificationsSent.load(ordering: .relaxed)),
            ("notification_attempts", notificationAttempts.load(ordering: .relaxed)),
            ("notifications_failed", notificationsFailed.load(ordering: .relaxed)),
            ("notifications_received", notificationsReceived.load(ordering: .relaxed)),
            ("notifications_processed", c.notificationsProcessed),
            ("duplicate_notifications", c.duplicateNotifications),
        ]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}\n"
    }
}
