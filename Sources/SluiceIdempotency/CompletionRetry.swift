import Synchronization
import SluiceIO
import SluiceRedis

/// A record's completion script, sent again until Redis runs it. The script changes a record
/// only while the given owner holds it, so sending it twice (or after another request took the
/// key) changes nothing more. Without retries, a completion sent while the connection to Redis
/// was lost (Redis killed and restarted with its data) left the record of an order that had
/// executed `in_flight`, then `unknown` for its TTL: every retry got 409, never the stored 200.
enum CompletionRetry {
    /// How long a completion is retried before the record is left to turn `unknown`.
    static let retryFor = Duration.seconds(60)
    /// Completions being retried at most at once, in the process (a long outage under load):
    /// past that a record is left to turn `unknown` at once (safe: never a duplicate).
    static let limit = 10_000
    private static let retrying = Atomic<Int>(0)

    /// `first`'s reply, or, while it is not the script's, the reply of `command` sent again on
    /// `connection` with backoff (100 ms doubling to 5 s) for up to `retryFor`.
    static func reply(_ first: RedisPendingReply, resending command: [UInt8], on connection: RedisClient,
                      timeout: Duration? = nil) async -> Result<RedisReply, RedisError> {
        let loop = connection.loop
        let giveUp = loop.deadline(after: retryFor)
        var pause = Duration.milliseconds(100)
        var reply = await first.reply()
        guard !ran(reply) else { return reply }
        guard retrying.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
            retrying.wrappingSubtract(1, ordering: .relaxed)
            return reply
        }
        defer { retrying.wrappingSubtract(1, ordering: .relaxed) }
        while !ran(reply) {
            guard Deadline.now < giveUp else { break }
            await loop.sleep(until: min(Deadline.now.adding(pause), giveUp))
            pause = min(pause * 2, .seconds(5))
            reply = await connection.evaluate(IdempotencyScripts.complete, evalsha: command, timeout: timeout).reply()
        }
        return reply
    }

    /// The completion script ran (it replies how many keys the owner held: 0 is an answer too).
    static func ran(_ reply: Result<RedisReply, RedisError>) -> Bool {
        if case .success(.integer) = reply { return true }
        return false
    }
}
