import SluiceIO

/// One call in flight: resolved once, by its reply, its deadline, or the connection's loss.
final class RedisCall {
    var result: Result<RedisReply, RedisError>?
    var waiter: UnsafeContinuation<Result<RedisReply, RedisError>, Never>?
    /// When the call times out (monotonic ns); the connection's one deadline timer enforces it.
    var deadline: UInt64 = 0
    /// How long Redis has to answer it, in ns, once its bytes are out; 0: the client's
    /// configured deadline (a caller with more at stake than a rate limit may wait longer).
    var timeout: UInt64 = 0
    /// When it was queued (the loop's clock), for the reply-time counters.
    var sentAt: UInt64 = 0
    /// The breaker epoch the call was admitted in (its result counts only there).
    var breakerEpoch: UInt64 = 0
    /// The command as sent, until the call resolves: sent again as EVAL on NOSCRIPT (when
    /// `script` is set, it is that script's EVALSHA), or to another node on a cluster redirect.
    var command: [UInt8] = []
    var script: RedisScript?
    /// Cluster redirects followed so far (bounded, so that a confused cluster cannot bounce a
    /// call forever), and whether the call now goes to a node that needs `ASKING` first.
    var redirects = 0
    var asking = false
    /// Its bytes wait in the connection's outgoing buffer for the writer to take them.
    var awaitsWriter = false

    /// Sets the result (once) and wakes whoever awaits it.
    func complete(_ outcome: Result<RedisReply, RedisError>) {
        guard result == nil else { return }
        result = outcome
        command = []
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: outcome)
        }
    }
}

/// A reply that may not have arrived yet. Loop-confined: await it only on the loop that sent the
/// call (it may be handed to a task on that same loop, hence the unchecked Sendable).
public struct RedisPendingReply: @unchecked Sendable {
    let call: RedisCall

    /// The reply, or why there is none; suspends at most until the call's deadline.
    public func reply() async -> Result<RedisReply, RedisError> {
        if let result = call.result { return result }
        return await suspendOnLoop { call.waiter = $0 }
    }

    /// True once resolved (no suspension needed).
    public var isResolved: Bool { call.result != nil }
}
