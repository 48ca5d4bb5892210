import SluiceRedis

/// The record scripts: one key each (a hash; Cluster-safe, the merchant hash tag in the key),
/// time from `redis.call('TIME')` in milliseconds so that gateways' clocks do not matter. They
/// implement `RecordBook`'s transitions; the tests run both on the same sequences.
///
/// Hash fields: `s` state, `f` fingerprint, `o` owner token, `d` in-flight lease end (ms), and
/// once done `c` status, `h` stored fields, `b` body, `r` 1 when the body was stored (replayable).
enum IdempotencyScripts {
    /// ARGV: fingerprint, owner, lease ms, record TTL ms, 1 to re-claim an unknown record.
    /// Replies `{'claimed'}`, `{'mismatch'}`, `{'in_flight'}`, `{'unknown'}` or
    /// `{'done', status, fields, body, replayable}`.
    static let claim = RedisScript("""
        local t = redis.call('TIME')
        local now = t[1] * 1000 + math.floor(t[2] / 1000)
        local r = redis.call('HMGET', KEYS[1], 's', 'f', 'd')
        if not r[1] then
          redis.call('HSET', KEYS[1], 's', 'in_flight', 'f', ARGV[1], 'o', ARGV[2], 'd', string.format('%.0f', now + tonumber(ARGV[3])))
          redis.call('PEXPIRE', KEYS[1], ARGV[4])
          return {'claimed'}
        end
        if r[2] ~= ARGV[1] then return {'mismatch'} end
        local state = r[1]
        if state == 'in_flight' and tonumber(r[3]) < now then
          state = 'unknown'
          redis.call('HSET', KEYS[1], 's', state)
        end
        if state == 'done' then
          local v = redis.call('HMGET', KEYS[1], 'c', 'h', 'b', 'r')
          return {'done', v[1], v[2], v[3], v[4]}
        end
        if state == 'unknown' and ARGV[5] == '1' then
          redis.call('HSET', KEYS[1], 's', 'in_flight', 'o', ARGV[2], 'd', string.format('%.0f', now + tonumber(ARGV[3])))
          return {'claimed'}
        end
        return {state}
        """)

    /// ARGV: owner, `done` | `unknown` | `release`, record TTL ms, and for `done`: status,
    /// fields, body, replayable (1/0). Replies 1 when the owner still held the record, else 0.
    static let complete = RedisScript("""
        if redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] then return 0 end
        if ARGV[2] == 'release' then
          redis.call('DEL', KEYS[1])
        elseif ARGV[2] == 'unknown' then
          redis.call('HSET', KEYS[1], 's', 'unknown')
        else
          redis.call('HSET', KEYS[1], 's', 'done', 'c', ARGV[4], 'h', ARGV[5], 'b', ARGV[6], 'r', ARGV[7])
          redis.call('PEXPIRE', KEYS[1], ARGV[3])
        end
        return 1
        """)

    static func claimCommand(key: String, fingerprint: String, owner: String, leaseMs: Int64, ttlMs: Int64,
                             reclaimUnknown: Bool) -> [UInt8] {
        var bytes = claim.evalshaHead(keys: 1, arguments: 5)
        for argument in [key, fingerprint, owner, String(leaseMs), String(ttlMs), reclaimUnknown ? "1" : "0"] {
            RESPWriter.appendBulk(argument.utf8, to: &bytes)
        }
        return bytes
    }

    static func completeCommand(key: String, owner: String, completion: Completion, ttlMs: Int64) -> [UInt8] {
        let fixed: [String]
        var response: StoredResponse?
        switch completion {
        case .release: fixed = [key, owner, "release", String(ttlMs)]
        case .unknown: fixed = [key, owner, "unknown", String(ttlMs)]
        case .done(let stored):
            fixed = [key, owner, "done", String(ttlMs), String(stored.status), stored.encodedHeaders]
            response = stored
        }
        var bytes = complete.evalshaHead(keys: 1, arguments: fixed.count - 1 + (response == nil ? 0 : 2))
        for argument in fixed { RESPWriter.appendBulk(argument.utf8, to: &bytes) }
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
        case "in_flight": return .inFlight
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
