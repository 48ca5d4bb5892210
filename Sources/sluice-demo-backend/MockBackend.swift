import SluiceMockPayments

/// What every connection of the backend shares: counters, the payment ledger, the behaviour
/// switch and the notify sender.
final class MockBackend: Sendable {
    let stats = DemoStats()
    let ledger = PaymentLedger()
    let behaviour: BehaviourSwitch
    let listenAddress: String

    init(behaviour: BackendBehaviour, listenAddress: String) {
        self.behaviour = BehaviourSwitch(behaviour)
        self.listenAddress = listenAddress
    }
}
