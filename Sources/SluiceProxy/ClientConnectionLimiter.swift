import Synchronization

/// Per-client-address connection limits of one listener, shared by every loop (a client's
/// connections land on several loops): at most `maxOpen` open at once, and new connections at
/// most `perSecond` a second (a bucket holding one second's worth). Excess connections are
/// closed at accept and counted; one client cannot take the listener's `max_connections` alone.
/// Checked once per accept and per close, under one short lock.
public final class ClientConnectionLimiter: Sendable {
    private struct Client {
        var open = 0
        var tokens: Double
        var refilledAt: UInt64
    }

    private let maxOpen: Int
    private let perSecond: Double
    private let clients = Mutex<[String: Client]>([:])
    private let refusedCount = Atomic<Int>(0)
    private static let maximumTracked = 100_000

    /// `maxOpen` 0: no cap on open connections; `perSecond` 0: no rate.
    public init(maxOpen: Int, perSecond: Double) {
        self.maxOpen = maxOpen
        self.perSecond = perSecond
    }

    public var refused: Int { refusedCount.load(ordering: .relaxed) }

    /// True when `client` may open one more connection now (then counted as open).
    func admit(_ client: String, now: UInt64) -> Bool {
        let admitted = clients.withLock { clients -> Bool in
            if clients.count >= Self.maximumTracked && clients[client] == nil {
                clients = clients.filter { $0.value.open > 0 }
            }
            var entry = clients[client] ?? Client(tokens: perSecond, refilledAt: now)
            if perSecond > 0 {
                entry.tokens = min(perSecond, entry.tokens + Double(now &- entry.refilledAt) / 1e9 * perSecond)
                entry.refilledAt = now
            }
            guard maxOpen == 0 || entry.open < maxOpen, perSecond == 0 || entry.tokens >= 1 else {
                clients[client] = entry
                return false
            }
            if perSecond > 0 { entry.tokens -= 1 }
            entry.open += 1
            clients[client] = entry
            return true
        }
        if !admitted { refusedCount.wrappingAdd(1, ordering: .relaxed) }
        return admitted
    }

    func release(_ client: String) {
        clients.withLock { clients in
            guard var entry = clients[client] else { return }
            entry.open -= 1
            if entry.open <= 0 && perSecond == 0 { clients[client] = nil } else { clients[client] = entry }
        }
    }
}
