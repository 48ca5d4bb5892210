import Synchronization
import SluiceIO
import SluiceRedis
import SluiceSharedRedis

/// Claims whose Redis call failed (deadline passed, connection lost, breaker open) while Redis
/// may still run them: a Redis that stalls for a moment runs the claim after the gateway has
/// given up on it. The request was refused (`on_redis_failure: deny`), so such a claim must not
/// hold its key: left alone it reads `in_flight` for the lease and then `unknown` for the
/// record's whole TTL, and every retry of a payment that never reached the backend gets 409.
///
/// Each one is released by its owner token (the completion script deletes a record only while
/// this request owns it, so a release that finds no claim, or another request's, changes
/// nothing). The release goes on the same Redis connection after the claim, so Redis runs it
/// after the claim whenever it runs the claim at all; it is retried with backoff until Redis
/// answers (`RedisScriptRetry`). At most `limit` are outstanding (a long outage under load):
/// past that a claim is left to turn `unknown` (safe: never a duplicate), and counted.
final class UncertainClaims: Sendable {
    static let limit = 10_000

    private let outstanding = Atomic<Int>(0)
    /// Releases that Redis took (whether or not the claim had run).
    let releasedCount = Atomic<Int>(0)
    /// Claims left to turn `unknown`: over the limit, or Redis did not answer within
    /// `RedisScriptRetry.retryFor`.
    let abandonedCount = Atomic<Int>(0)

    var released: Int { releasedCount.load(ordering: .relaxed) }
    var abandoned: Int { abandonedCount.load(ordering: .relaxed) }

    /// Releases the claim of `owner` on `keys` (on the loop `loopIndex`, whose client in
    /// `connections` made the claim; the set is held until the release is done, across reloads).
    func release(keys: [String], owner: String, ttlMs: Int64, connections: RedisConnectionSet, loopIndex: Int, pending: PendingCompletions) {
        let connection = connections[loopIndex]
        guard outstanding.wrappingAdd(1, ordering: .relaxed).newValue <= Self.limit else {
            outstanding.wrappingSubtract(1, ordering: .relaxed)
            abandonedCount.wrappingAdd(1, ordering: .relaxed)
            return
        }
        // A retry of this request arriving meanwhile (here) waits for the release instead of
        // answering 409 at once.
        pending.add(.release, owner: owner)
        let command = IdempotencyScripts.completeCommand(keys: keys, owner: owner, completion: .release, ttlMs: ttlMs)
        // Queued now, behind the claim on the same connection.
        let first = connection.evaluate(IdempotencyScripts.complete, evalsha: command)
        connection.loop.spawn { [self] in
            if RedisScriptRetry.ran(await RedisScriptRetry.reply(first, resending: command, script: IdempotencyScripts.complete, on: connection)) {
                releasedCount.wrappingAdd(1, ordering: .relaxed)
            } else {
                abandonedCount.wrappingAdd(1, ordering: .relaxed)
            }
            withExtendedLifetime(connections) {}
            pending.remove(owner: owner)
            outstanding.wrappingSubtract(1, ordering: .relaxed)
        }
    }
}
