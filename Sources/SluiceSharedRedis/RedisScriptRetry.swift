import Synchronization
import SluiceIO
import SluiceRedis

/// A script that must run once Redis can run it (a record's completion, the release of a claim
/// whose call failed), sent again until Redis answers. Such scripts change a key only while the
/// given owner holds it, so running twice (or after another request took the key) changes
/// nothing more. Without retries, one sent while the connection to Redis was lost (Redis killed
/// and restarted with its data) was lost too: an order that had executed stayed `in_flight`, then
/// `unknown` for its TTL (every retry got 409), and a nonce a refused request had claimed stayed
/// claimed (its retry was a replay).
public enum RedisScriptRetry {
    /// How long a script is retried before it is given up.
    public static let retryFor = Duration.seconds(60)
    /// Scripts being retried at most at once, in the process (a long outage under load): past
    /// that one is given up at once (each caller says why that is safe).
    public static let limit = 10_000
    private static let retrying = Atomic<Int>(0)

    /// `first`'s reply, or, while it is not the script's, the reply of `command` (an EVALSHA of
    /// `script`) sent again on `connection` with backoff (100 ms doubling to 5 s) for up to
    /// `retryFor`. `timeout`: each call's time to answer, when not the client's deadline.
    public static func reply(_ first: RedisPendingReply, resending command: [UInt8], script: RedisScript, on connection: RedisClient,
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
            reply = await connection.evaluate(script, evalsha: command, timeout: timeout).reply()
        }
        return reply
    }

    /// The script ran (these scripts reply how many keys the owner held: 0 is an answer too).
    public static func ran(_ reply: Result<RedisReply, RedisError>) -> Bool {
        if case .success(.integer) = reply { return true }
        return false
    }
}
