import Synchronization

/// Notices a Redis that lost its data (restarted without persistence, flushed, failed over to
/// an empty replica): idempotency records, nonces and rate-limit counts started over, so a
/// payment completed before may be executed again if retried. Nothing else would say so.
///
/// The canary is one key holding a random token. Each connection checks it when it connects
/// and every `interval` while connected, with one `SET key token NX GET`: the key is created
/// when missing, and its token read when not. A connection that saw token A and now finds the
/// key missing, or holding another token B (another gateway re-created it first), knows the
/// data is gone: every gateway notices, not only the first to reconnect, and a FLUSHALL while
/// connected is noticed within `interval`. Each new token is reported once per process.
public final class RedisDataCanary: Sendable {
    public static let key = "sluice:data-canary"
    public static let shared = RedisDataCanary()
    static let interval: Duration = .seconds(5)

    /// Data losses this process noticed (`sluice_redis_data_lost_total`).
    public var lossesNoticed: Int { losses.load(ordering: .relaxed) }
    private let losses = Atomic<Int>(0)
    private let reportedTokens = Mutex<Set<[UInt8]>>([])

    /// `shared` for the server; tests make their own.
    init() {}

    enum Verdict: Equatable {
        /// The first token this connection sees: nothing to compare with.
        case firstSeen
        case kept
        case lost
    }

    /// What a reply to `SET key offered NX GET` says, given the token this connection saw last;
    /// nil for a reply that says nothing (an error: a Redis older than 7.0, a key of another type).
    static func judge(seen: [UInt8]?, offered: [UInt8], reply: RedisReply) -> (verdict: Verdict, token: [UInt8])? {
        let token: [UInt8]
        switch reply {
        case .null: token = offered
        case .bulk(let existing): token = existing
        default: return nil
        }
        guard let seen else { return (.firstSeen, token) }
        return (seen == token ? .kept : .lost, token)
    }

    /// A fresh token to offer.
    static func newToken() -> [UInt8] {
        Array(String(UInt64.random(in: .min ... .max), radix: 16).utf8)
    }

    /// True the first time this process hears of `token` as the sign of a loss: say it then.
    func noteLoss(token: [UInt8]) -> Bool {
        let isNew = reportedTokens.withLock { $0.insert(token).inserted }
        if isNew { losses.wrappingAdd(1, ordering: .relaxed) }
        return isNew
    }
}
