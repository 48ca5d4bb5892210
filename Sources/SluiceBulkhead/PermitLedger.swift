/// The permits of one bulkhead: the state machine, pure (no locks, no clock: waiting times are
/// the adapter's timers), so every transition is unit-tested.
///
/// - A request is granted a permit while fewer than `limit` are held and nobody waits (FIFO:
///   a newcomer never overtakes a waiter); else it waits while fewer than `queueLimit` wait;
///   else it is refused (`full`).
/// - With a merchant cap, one merchant's held and waiting requests together never exceed it:
///   beyond that it is refused (`merchantShareExceeded`) whatever is free, so one hot merchant
///   can neither hold all permits nor fill the queue.
/// - A release hands the permit to the longest waiter at once.
struct PermitLedger {
    enum Admission: Equatable {
        case granted
        case queued
        case full
        case merchantShareExceeded
    }

    /// Fixed, or moved by the bulkhead's `AdaptiveLimit` (`setLimit`).
    private(set) var limit: Int
    let queueLimit: Int
    let merchantCap: Int?
    private(set) var held = 0
    private(set) var waiting: [(id: UInt64, merchant: String?)] = []
    /// Held plus waiting, per merchant (only with a cap).
    private(set) var merchantLoad: [String: Int] = [:]

    init(limit: Int, queueLimit: Int, merchantCap: Int?) {
        self.limit = max(limit, 1)
        self.queueLimit = max(queueLimit, 0)
        self.merchantCap = merchantCap
    }

    /// True when `acquire` would grant at once (the adapter's fast path, without a waiter).
    func wouldGrant(merchant: String?) -> Bool {
        held < limit && waiting.isEmpty && !isOverShare(merchant)
    }

    mutating func acquire(id: UInt64, merchant: String?) -> Admission {
        if isOverShare(merchant) { return .merchantShareExceeded }
        let admission: Admission
        if held < limit && waiting.isEmpty {
            held += 1
            admission = .granted
        } else if waiting.count < queueLimit {
            waiting.append((id, merchant))
            admission = .queued
        } else {
            return .full
        }
        if merchantCap != nil, let merchant { merchantLoad[merchant, default: 0] += 1 }
        return admission
    }

    /// Gives a permit back; returns the waiters it went to (granted now, in order).
    mutating func release(merchant: String?) -> [UInt64] {
        held = max(held - 1, 0)
        forget(merchant)
        return grantWaiters()
    }

    /// A new limit (adaptive bulkheads). Raised: the waiters it makes room for are granted (and
    /// returned, in order). Lowered: nothing held is taken back; the permits above the new limit
    /// simply are not handed on when they come back.
    mutating func setLimit(_ newLimit: Int) -> [UInt64] {
        limit = max(newLimit, 1)
        return grantWaiters()
    }

    /// Counts permits a replaced bulkhead's requests still hold (see `Bulkhead.takeOver`).
    mutating func count(held more: Int, merchantLoad loads: [String: Int]) {
        held += more
        guard merchantCap != nil else { return }
        for (merchant, load) in loads { merchantLoad[merchant, default: 0] += load }
    }

    /// The longest waiters, granted while permits are free.
    private mutating func grantWaiters() -> [UInt64] {
        var granted: [UInt64] = []
        while held < limit && !waiting.isEmpty {
            granted.append(waiting.removeFirst().id)
            held += 1
        }
        return granted
    }

    /// Takes a waiter out of the queue (its time ran out); false when it is no longer waiting
    /// (it was granted a permit first).
    mutating func cancel(id: UInt64) -> Bool {
        guard let index = waiting.firstIndex(where: { $0.id == id }) else { return false }
        forget(waiting.remove(at: index).merchant)
        return true
    }

    private func isOverShare(_ merchant: String?) -> Bool {
        guard let merchantCap, let merchant else { return false }
        return merchantLoad[merchant, default: 0] >= merchantCap
    }

    private mutating func forget(_ merchant: String?) {
        guard merchantCap != nil, let merchant, let load = merchantLoad[merchant] else { return }
        merchantLoad[merchant] = load > 1 ? load - 1 : nil
    }
}
