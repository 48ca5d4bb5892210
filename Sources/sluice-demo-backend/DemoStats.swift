import Synchronization

/// Counters shared by every loop of the demo backend, served on `GET /__stats`.
final class DemoStats: Sendable {
    let connectionsAccepted = Atomic<Int>(0)
    let requests = Atomic<Int>(0)

    var json: String {
        "{\"connections_accepted\":\(connectionsAccepted.load(ordering: .relaxed)),\"requests\":\(requests.load(ordering: .relaxed))}\n"
    }
}
