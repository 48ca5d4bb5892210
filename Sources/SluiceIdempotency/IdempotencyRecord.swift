/// What claiming a key found.
enum ClaimResult: Equatable {
    /// No record (or an unknown one the rule re-forwards): this request owns the key now.
    case claimed
    /// A record for the key with another fingerprint: the key was reused for another request (422).
    case mismatch
    /// The original is still in flight (409, or wait): `owner` holds it.
    case inFlight(owner: String)
    /// The original was sent and its outcome is unknown (409 `outcome_unknown`).
    case unknown
    /// The original completed: replay it.
    case done(StoredResponse)
}

/// How a claimed request ended, for its record.
enum Completion: Equatable {
    /// Completed upstream: keep the response for retries.
    case done(StoredResponse)
    /// Sent, and no complete answer came back: the payment may have executed.
    case unknown
    /// Certainly not executed (never sent, connect failed, or an answer that says so): forget
    /// the claim, so a retry goes through.
    case release
}

/// The record of one key, as the Redis scripts keep it in a hash (`IdempotencyScripts`).
struct IdempotencyRecord: Equatable {
    enum State: String { case inFlight = "in_flight", done, unknown }
    var state: State
    var fingerprint: String
    /// The claim's owner token: only the request that claimed may complete the record.
    var owner: String
    /// Milliseconds: an `in_flight` record older than this is read as `unknown` (its gateway
    /// died, or could not write the completion).
    var inFlightUntil: Int64
    var response: StoredResponse?
    var expiresAt: Int64
}

/// The records' state machine in Swift, deterministic under the injected clock (milliseconds):
/// the specification the Lua scripts implement, checked against them on a real Redis by the
/// tests, and the reference for every transition.
///
/// A request claims every key it carries at once (its Idempotency-Key and its business key): a
/// retry that brings a fresh header key for the same order still finds the order's record.
/// Over the keys, in order:
/// - an existing record with another fingerprint → mismatch (nothing more changes);
/// - an `in_flight` record past its lease turns `unknown`;
/// then the first existing record decides: `done` → its response, `in_flight` → in flight,
/// `unknown` → unknown, unless the rule re-forwards unknown outcomes; when none decides, every
/// key is claimed (`in_flight`, this owner; it expires after the record TTL or the lease,
/// whichever is longer). Completion by the owner: `done` (TTL restarts), `unknown` (kept at
/// least the TTL from then), or deleted (release), on every key
/// the owner still holds; keys another request took over are left alone.
struct RecordBook {
    private(set) var records: [String: IdempotencyRecord] = [:]

    mutating func claim(_ keys: [String], fingerprint: String, owner: String, leaseMs: Int64, ttlMs: Int64,
                        reclaimUnknown: Bool, now: Int64) -> ClaimResult {
        for key in keys {
            if let record = records[key], record.expiresAt <= now { records[key] = nil }
            guard var record = records[key] else { continue }
            guard record.fingerprint == fingerprint else { return .mismatch }
            if record.state == .inFlight && record.inFlightUntil < now {
                record.state = .unknown
                records[key] = record
            }
        }
        for key in keys {
            guard let record = records[key] else { continue }
            switch record.state {
            case .done:
                // The request's other keys, new, become this record too: an Idempotency-Key first
                // sent on a retry that was answered from the order's record was never recorded,
                // and the same key on another order created it (no 422).
                for other in keys where records[other] == nil && record.response != nil {
                    var copy = record
                    copy.owner = ""   // nobody's claim: no completion changes it
                    records[other] = copy
                }
                return .done(record.response ?? StoredResponse(status: 0, headers: [], body: [], isReplayable: false))
            case .inFlight: return .inFlight(owner: record.owner)
            case .unknown where !reclaimUnknown: return .unknown
            case .unknown: continue
            }
        }
        // A claimed record outlives its lease, whatever the TTL: one shorter than the request's
        // own time let the record vanish in flight, and a retry then executed the order again.
        let keep = now + max(leaseMs, ttlMs)
        for key in keys {
            if var record = records[key] {
                record.state = .inFlight
                record.owner = owner
                record.inFlightUntil = now + leaseMs
                record.expiresAt = max(record.expiresAt, keep)
                records[key] = record
            } else {
                records[key] = IdempotencyRecord(state: .inFlight, fingerprint: fingerprint, owner: owner,
                                                 inFlightUntil: now + leaseMs, response: nil, expiresAt: keep)
            }
        }
        return .claimed
    }

    /// The number of keys `owner` still held and that were updated.
    @discardableResult
    mutating func complete(_ keys: [String], owner: String, with completion: Completion, ttlMs: Int64, now: Int64) -> Int {
        var updated = 0
        for key in keys {
            guard var record = records[key], record.expiresAt > now, record.owner == owner else { continue }
            updated += 1
            switch completion {
            case .release:
                records[key] = nil
            case .unknown:
                record.state = .unknown
                record.expiresAt = max(record.expiresAt, now + ttlMs)
                records[key] = record
            case .done(let response):
                record.state = .done
                record.response = response
                record.expiresAt = now + ttlMs
                records[key] = record
            }
        }
        return updated
    }
}
