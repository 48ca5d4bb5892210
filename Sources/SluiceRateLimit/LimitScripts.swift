import SluiceRedis

/// The check-and-consume scripts: one key each (Cluster-safe, hash tag in the key), time from
/// `redis.call('TIME')` so that gateways' clocks do not matter, every number written with
/// `%.0f` (Lua's default `%.14g` would round microsecond timestamps). Keys expire when idle.
///
/// Replies: `{granted, remaining, retry_after_us, reset_us}`; granted 0 = denied.
enum LimitScripts {
    /// The window scripts' shared start: ARGV window µs, limit, cost; `now` from Redis, in µs.
    private static let windowPrologue = """
        local window = tonumber(ARGV[1])
        local limit = tonumber(ARGV[2])
        local cost = tonumber(ARGV[3])
        local t = redis.call('TIME')
        local now = t[1] * 1000000 + t[2]

        """

    /// GCRA. ARGV: emission interval µs, burst, cost, want (a lease takes up to `want` ≥ cost).
    static let tokenBucket = RedisScript("""
        local T = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local cost = tonumber(ARGV[3])
        local want = tonumber(ARGV[4])
        local t = redis.call('TIME')
        local now = t[1] * 1000000 + t[2]
        local tat = tonumber(redis.call('GET', KEYS[1])) or now
        if tat < now then tat = now end
        local tau = burst * T
        local available = math.floor((now + tau - tat) / T)
        if available < cost then
          return {0, available, math.ceil(tat + cost * T - tau - now), math.ceil(tat - now)}
        end
        local take = math.min(want, available)
        tat = tat + take * T
        redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
        return {take, available - take, 0, math.ceil(tat - now)}
        """)

    /// Gives tokens back. ARGV: emission interval µs, tokens.
    static let tokenBucketRefund = RedisScript("""
        local tat = tonumber(redis.call('GET', KEYS[1]))
        if tat then
          redis.call('SET', KEYS[1], string.format('%.0f', tat - tonumber(ARGV[1]) * tonumber(ARGV[2])), 'KEEPTTL')
        end
        return 1
        """)

    /// Exact log in a sorted set: members are admissions scored by time; the window is
    /// (now − window, now]. ARGV: window µs, limit, cost, unique member id.
    static let slidingLog = RedisScript(windowPrologue + """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
        local count = redis.call('ZCARD', KEYS[1])
        if count + cost > limit then
          local index = count + cost - limit - 1
          local entry = redis.call('ZRANGE', KEYS[1], index, index, 'WITHSCORES')
          local retry = window
          if entry[2] then retry = tonumber(entry[2]) + window - now end
          return {0, math.max(limit - count, 0), math.ceil(retry), math.ceil(retry)}
        end
        local score = string.format('%.0f', now)
        for i = 1, cost do redis.call('ZADD', KEYS[1], score, ARGV[4] .. ':' .. i) end
        redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1)
        local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        return {cost, limit - count - cost, 0, math.ceil(tonumber(oldest[2]) + window - now)}
        """)

    /// ARGV: cost, unique member id of the admission to take back.
    static let slidingLogRefund = RedisScript("""
        for i = 1, tonumber(ARGV[1]) do redis.call('ZREM', KEYS[1], ARGV[2] .. ':' .. i) end
        return 1
        """)

    /// Two-bucket weighted counter in a hash {i: bucket index, c: current, p: previous}.
    /// ARGV: window µs, limit, cost.
    static let weightedWindow = RedisScript(windowPrologue + """
        local idx = math.floor(now / window)
        local v = redis.call('HMGET', KEYS[1], 'i', 'c', 'p')
        local i = tonumber(v[1]) or idx
        local c = tonumber(v[2]) or 0
        local p = tonumber(v[3]) or 0
        if i == idx - 1 then p = c; c = 0 elseif i ~= idx then p = 0; c = 0 end
        local elapsed = (now - idx * window) / window
        local used = p * (1 - elapsed) + c
        local nextBucket = (idx + 1) * window - now
        if used + cost > limit then
          local retry = nextBucket
          if c + cost <= limit and p > 0 then retry = ((1 - (limit - c - cost) / p) - elapsed) * window end
          return {0, math.max(math.floor(limit - used), 0), math.ceil(retry), math.ceil(retry)}
        end
        redis.call('HSET', KEYS[1], 'i', string.format('%.0f', idx), 'c', c + cost, 'p', p)
        redis.call('PEXPIRE', KEYS[1], math.ceil(2 * window / 1000) + 1)
        return {cost, math.floor(limit - used - cost), 0, math.ceil(nextBucket)}
        """)

    /// ARGV: cost. Takes it back from the current bucket (if the bucket moved on meanwhile, from
    /// the new one: off by at most `cost`, towards admitting less).
    static let weightedWindowRefund = RedisScript("""
        local c = tonumber(redis.call('HGET', KEYS[1], 'c'))
        if c then redis.call('HSET', KEYS[1], 'c', math.max(0, c - tonumber(ARGV[1]))) end
        return 1
        """)

    static func decision(_ reply: RedisReply) -> LimitDecision? {
        guard let items = reply.elements, items.count == 4,
              let granted = items[0].integer, let remaining = items[1].integer,
              let retry = items[2].integer, let reset = items[3].integer else { return nil }
        return LimitDecision(granted: granted, remaining: remaining, retryAfterMicros: Double(retry), resetMicros: Double(reset))
    }
}
