import SluiceRedis

/// The check-and-consume scripts: one key each (Cluster-safe, hash tag in the key), time from
/// `redis.call('TIME')` so that gateways' clocks do not matter, every number written with
/// `%.0f` (Lua's default `%.14g` would round microsecond timestamps). Keys expire when idle.
///
/// Replies: `{granted, remaining, retry_after_us, reset_us}`; granted 0 = denied. A script may
/// add elements after these four for its refund (`subWindow`: the bucket it charged).
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
    /// A stored time beyond this burst's reach (the rule's rate or burst changed since: a 20 s
    /// backlog of 1/s read with a 2 s burst of 50/s blocked the merchant 18 s after a raise) is
    /// an empty bucket now, filling at the new rate. A key of another type (the rule was a
    /// window before) starts afresh.
    static let tokenBucket = RedisScript("""
        local T = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local cost = tonumber(ARGV[3])
        local want = tonumber(ARGV[4])
        local t = redis.call('TIME')
        local now = t[1] * 1000000 + t[2]
        local stored = redis.pcall('GET', KEYS[1])
        if type(stored) == 'table' then
          redis.call('DEL', KEYS[1])
          stored = false
        end
        local tat = tonumber(stored) or now
        if tat < now then tat = now end
        local tau = burst * T
        if tat > now + tau then tat = now + tau end
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
    /// (now − window, now]. ARGV: window µs, limit, cost, unique member id. A key of another
    /// type (the rule's limit crossed the log's maximum, so it was sub-window buckets) starts
    /// afresh: every call failed with WRONGTYPE until it expired, a whole window unlimited or
    /// refused by the failure mode.
    static let slidingLog = RedisScript(windowPrologue + """
        if type(redis.pcall('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))) == 'table' then
          redis.call('DEL', KEYS[1])
        end
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

    /// Sub-window buckets (`SubWindowMachine` is the same arithmetic) in a hash: fields named by
    /// absolute bucket index (`%.0f`) hold admission counts, `t` their total and `o` the oldest
    /// bucket still counted. The total spares a grant reading every bucket (measured: with all 21
    /// buckets filled, summing them all per call cost 2x the weighted script); buckets that left
    /// the span are subtracted and deleted once, when the span moves on. Only a denial reads the
    /// buckets, for its retry time. ARGV: window µs, limit, cost. A grant's reply carries a fifth
    /// element, the bucket index charged, for the refund. A key of another type (a log before)
    /// starts afresh.
    static let subWindow = RedisScript(windowPrologue + """
        local n = \(LimitRule.subWindowBuckets)
        local width = math.ceil(window / n)
        local k = math.floor(now / width)
        local v = redis.pcall('HMGET', KEYS[1], 't', 'o')
        if v.err then
          redis.call('DEL', KEYS[1])
          v = {false, false}
        end
        local used = tonumber(v[1]) or 0
        local oldest = tonumber(v[2]) or k - n
        if oldest < k - n then
          if oldest + n < k - n then
            redis.call('DEL', KEYS[1])
            used = 0
          else
            local gone = {}
            for b = oldest, k - n - 1 do gone[#gone + 1] = string.format('%.0f', b) end
            for _, c in ipairs(redis.call('HMGET', KEYS[1], unpack(gone))) do used = used - (tonumber(c) or 0) end
            redis.call('HDEL', KEYS[1], unpack(gone))
            redis.call('HSET', KEYS[1], 't', used, 'o', string.format('%.0f', k - n))
          end
          oldest = k - n
        end
        if used + cost > limit then
          local counts = {}
          local fields = redis.call('HGETALL', KEYS[1])
          for i = 1, #fields, 2 do
            local b = tonumber(fields[i])
            if b then counts[b] = tonumber(fields[i + 1]) end
          end
          local freed = 0
          local left = 0
          repeat
            left = left + 1
            freed = freed + (counts[k - n + left - 1] or 0)
          until freed >= used + cost - limit or left > n
          local retry = math.ceil((k + left) * width - now)
          return {0, math.max(limit - used, 0), retry, retry}
        end
        local full = (k + n + 1) * width - now
        redis.call('HINCRBY', KEYS[1], string.format('%.0f', k), cost)
        redis.call('HSET', KEYS[1], 't', used + cost, 'o', string.format('%.0f', oldest))
        redis.call('PEXPIRE', KEYS[1], math.ceil(full / 1000) + 1)
        return {cost, limit - used - cost, 0, math.ceil(full), k}
        """)

    /// ARGV: cost, the bucket index the check charged. Takes it back from that bucket (and the
    /// total) while the bucket is still there (one that left the span is already forgotten).
    static let subWindowRefund = RedisScript("""
        local c = tonumber(redis.call('HGET', KEYS[1], ARGV[2]))
        if c then
          local back = math.min(c, tonumber(ARGV[1]))
          redis.call('HINCRBY', KEYS[1], ARGV[2], -back)
          redis.call('HINCRBY', KEYS[1], 't', -back)
        end
        return 1
        """)

    /// The bucket index a granted `subWindow` check charged (its refund's argument).
    static func chargedBucket(_ reply: RedisReply) -> String? {
        guard let items = reply.elements, items.count == 5, let bucket = items[4].integer else { return nil }
        return String(bucket)
    }

    static func decision(_ reply: RedisReply) -> LimitDecision? {
        guard let items = reply.elements, items.count >= 4,
              let granted = items[0].integer, let remaining = items[1].integer,
              let retry = items[2].integer, let reset = items[3].integer else { return nil }
        return LimitDecision(granted: granted, remaining: remaining, retryAfterMicros: Double(retry), resetMicros: Double(reset))
    }
}
