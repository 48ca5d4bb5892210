import SluiceRedis

/// The record scripts: one key each (a hash; Cluster-safe, the merchant hash tag in the key),
/// time from `redis.call('TIME')` in milliseconds so that gateways' clocks do not matter. They
/// implement `RecordBook`'s transitions; the tests run both on the same sequences.
///
/// Hash fields: `s` state, `f` fingerprint, `o` owner token, `d` in-flight lease end (ms), and
/// once done `c` status, `h` stored fields, `b` body, `r` 1 when the body was stored (replayable).
enum IdempotencyScripts {
    /// KEYS: the request's record keys (one merchant's: one hash tag, one Cluster slot).
    /// ARGV: fingerprint, owner, lease ms, record TTL ms, 1 to re-claim unknown records.
    /// A claimed record lives at least as long as its lease and the TTL, whichever is longer: a
    /// TTL shorter than the request's own time let the record vanish while it was in flight.
    /// Replies `{'claimed'}`, `{'mismatch'}`, `{'in_flight', owner}`, `{'unknown'}` or
    /// `{'done', status, fields, body, replayable}`.
    static let claim = RedisScript("""
        local t = redis.call('TIME')
        local now = t[1] * 1000 + math.floor(t[2] / 1000)
        local states = {}
        for i, key in ipairs(KEYS) do
          local r = redis.call('HMGET', key, 's', 'f', 'd')
          if r[1] then
            if r[2] ~= ARGV[1] then return {'mismatch'} end
            local state = r[1]
            if state == 'in_flight' and tonumber(r[3]) < now then
              state = 'unknown'
              redis.call('HSET', key, 's', state)
            end
            states[i] = state
          end
        end
        for i, key in ipairs(KEYS) do
          local state = states[i]
          if state == 'done' then
            -- The request's other keys, new, become this record too (see RecordBook.claim).
            local v = redis.call('HMGET', key, 'c', 'h', 'b', 'r')
            local left = redis.call('PTTL', key)
            if left > 0 and v[1] and v[2] and v[3] and v[4] then
              for j, other in ipairs(KEYS) do
                if not states[j] then
                  redis.call('HSET', other, 's', 'done', 'f', ARGV[1], 'c', v[1], 'h', v[2], 'b', v[3], 'r', v[4])
                  redis.call('PEXPIRE', other, left)
                end
              end
            end
            return {'done', v[1], v[2], v[3], v[4]}
          end
          if state == 'in_flight' then return {'in_flight', redis.call('HGET', key, 'o')} end
          if state == 'unknown' and ARGV[5] ~= '1' then return {'unknown'} end
        end
        local lease = string.format('%.0f', now + tonumber(ARGV[3]))
        local keep = math.max(tonumber(ARGV[3]), tonumber(ARGV[4]))
        for i, key in ipairs(KEYS) do
          if states[i] then
            redis.call('HSET', key, 's', 'in_flight', 'o', ARGV[2], 'd', lease)
            if redis.call('PTTL', key) < keep then redis.call('PEXPIRE', key, keep) end
          else
            redis.call('HSET', key, 's', 'in_flight', 'f', ARGV[1], 'o', ARGV[2], 'd', lease)
            redis.call('PEXPIRE', key, keep)
          end
        end
        return {'claimed'}
        """)

    /// KEYS: the record keys. ARGV: owner, `done` | `unknown` | `release`, record TTL ms, and for
    /// `done`: status, fields, body, replayable (1/0). Replies the number of keys the owner still
    /// held (and updated).
    static let complete = RedisScript("""
        local n = 0
        for _, key in ipairs(KEYS) do
          if redis.call('HGET', key, 'o') == ARGV[1] then
            n = n + 1
            if ARGV[2] == 'release' then
              redis.call('DEL', key)
            elseif ARGV[2] == 'unknown' then
              redis.call('HSET', key, 's', 'unknown')
              if redis.call('PTTL', key) < tonumber(ARGV[3]) then redis.call('PEXPIRE', key, ARGV[3]) end
            else
              redis.call('HSET', key, 's', 'done', 'c', ARGV[4], 'h', ARGV[5], 'b', ARGV[6], 'r', ARGV[7])
              redis.call('PEXPIRE', key, ARGV[3])
            end
          end
        end
        return n
        """)

    static func claimCommand(keys: [String], fingerprint: String, owner: String, leaseMs: Int64, ttlMs: Int64,
                             reclaimUnknown: Bool) -> [UInt8] {
        var bytes = claim.evalshaHead(keys: keys.count, arguments: 5)
        for argument in keys + [fingerprint, owner, String(leaseMs), String(ttlMs), reclaimUnknown ? "1" : "0"] {
            RESPWriter.appendBulk(argument.utf8, to: &bytes)
        }
        return bytes
    }

    static func completeCommand(keys: [String], owner: String, completion: Completion, ttlMs: Int64) -> [UInt8] {
        var arguments: [String]
        var response: StoredResponse?
        switch completion {
        case .release: arguments = [owner, "release", String(ttlMs)]
        case .unknown: arguments = [owner, "unknown", String(ttlMs)]
        case .done(let stored):
            arguments = [owner, "done", String(ttlMs), String(stored.status), stored.encodedHeaders]
            response = stored
        }
        var bytes = complete.evalshaHead(keys: keys.count, arguments: arguments.count + (response == nil ? 0 : 2))
        for argument in keys + arguments { RESPWriter.appendBulk(argument.utf8, to: &bytes) }
        if let response {
            RESPWriter.appendBulk(response.body, to: &bytes)
            RESPWriter.appendBulk((response.isReplayable ? "1" : "0").utf8, to: &bytes)
        }
        return bytes
    }

    /// The claim script's reply; nil when it is not one (a Redis error, a foreign script).
    static func claimResult(_ reply: RedisReply) -> ClaimResult? {
        guard let items = reply.elements, let state = items.first?.string else { return nil }
        switch state {
        case "claimed": return .claimed
        case "mismatch": return .mismatch
        case "in_flight":
            guard items.count == 2, let owner = items[1].string else { return nil }
            return .inFlight(owner: owner)
        case "unknown": return .unknown
        case "done":
            guard items.count == 5, let status = items[1].integer else { return nil }
            guard case .bulk(let body) = items[3] else { return nil }
            return .done(StoredResponse(status: status, headers: StoredResponse.decodeHeaders(items[2].string ?? ""), body: body,
                                        isReplayable: items[4].string == "1"))
        default: return nil
        }
    }
}
