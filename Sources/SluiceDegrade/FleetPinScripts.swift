#if canImport(Glibc)
import Glibc
#endif
import SluiceIO
import SluiceRedis

/// The fleet pin in the shared Redis: a hash of the level (`l`, empty when lifted) and the time
/// the operator asked for it (`t`, wall-clock ms of the instance that was asked). A write only
/// lands when it is not older than the one there, so a pin whose write is retried after Redis
/// stalled cannot undo a later one made through another instance (a `shed` retried on one
/// instance overwrote the lift an operator had made on another, and the fleet shed again). A
/// lift is kept as a tombstone for as long as such retries go on, for the same reason.
enum FleetPinScripts {
    /// KEYS: the pin's key. ARGV: level ("" lifts), stamp ms, ttl ms (0: none), tombstone ms.
    /// Replies 1 when written, 0 when a newer pin is there. A key of the old form (a plain
    /// string) is replaced. A stamp ahead of Redis's own clock is written as Redis's now, and a
    /// stored one ahead of it (not written by this script) blocks nothing: an
    /// instance whose clock ran ahead stamped its `shed` in the future, and no lift from a
    /// correct clock could replace it until real time caught up.
    static let write = RedisScript("""
        local clock = redis.call('TIME')
        local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
        local stamp = math.min(tonumber(ARGV[2]), now)
        if redis.call('TYPE', KEYS[1]).ok == 'hash' then
          local t = tonumber(redis.call('HGET', KEYS[1], 't'))
          if t and t <= now and t > stamp then return 0 end
        end
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'l', ARGV[1], 't', string.format('%.0f', stamp))
        if ARGV[1] == '' then
          redis.call('PEXPIRE', KEYS[1], ARGV[4])
        elseif tonumber(ARGV[3]) > 0 then
          redis.call('PEXPIRE', KEYS[1], ARGV[3])
        end
        return 1
        """)

    /// KEYS: the pin's key. Replies [level, ms it has left (-1: no expiry)], or nil when there is
    /// no pin (a level of "" is a lift); reads the old form (a plain string) too. The time left
    /// lets an instance end a pin with a ttl on its own while Redis is away.
    static let read = RedisScript("""
        local kind = redis.call('TYPE', KEYS[1]).ok
        if kind == 'hash' then return {redis.call('HGET', KEYS[1], 'l') or '', redis.call('PTTL', KEYS[1])} end
        if kind == 'string' then return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])} end
        return false
        """)

    /// The read's reply: nil when it is not one.
    static func readResult(_ reply: RedisReply) -> (level: DegradeLevel?, leftMs: Int?)? {
        if case .null = reply { return (nil, nil) }
        guard let items = reply.elements, items.count == 2, let text = items[0].string, let left = items[1].integer else { return nil }
        if text.isEmpty { return (nil, nil) }
        guard let level = DegradeLevel.allCases.first(where: { $0.description == text }) else { return nil }
        return (level, left > 0 ? left : nil)
    }

    /// The write's arguments for `level` (nil lifts), asked for now.
    static func writeArguments(_ level: DegradeLevel?, ttl: Duration?, tombstone: Duration) -> [String] {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let stamp = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
        let ttlMs = level == nil ? 0 : ttl.map { max(1, $0.nanosecondsClamped / 1_000_000) } ?? 0
        return [level?.description ?? "", String(stamp), String(ttlMs), String(tombstone.nanosecondsClamped / 1_000_000)]
    }
}
