import Synchronization
import SluiceGuards
import SluiceHTTP
import SluiceIO
import SluiceRedis
import SluiceSharedRedis

/// Per rule, shared by its routes and the loops: what the guard decided, for metrics and tests.
public final class IdempotencyCounters: Sendable {
    let claimedCount = Atomic<Int>(0)
    let replayedCount = Atomic<Int>(0)
    let conflictCount = Atomic<Int>(0)
    let mismatchCount = Atomic<Int>(0)
    let withoutGuaranteeCount = Atomic<Int>(0)
    /// Completions Redis did not take (the record then turns `unknown` after its lease: safe).
    let completionFailureCount = Atomic<Int>(0)

    public var claimed: Int { claimedCount.load(ordering: .relaxed) }
    public var replayed: Int { replayedCount.load(ordering: .relaxed) }
    public var conflicts: Int { conflictCount.load(ordering: .relaxed) }
    public var mismatches: Int { mismatchCount.load(ordering: .relaxed) }
    public var forwardedWithoutGuarantee: Int { withoutGuaranteeCount.load(ordering: .relaxed) }
    public var completionFailures: Int { completionFailureCount.load(ordering: .relaxed) }
}

/// The idempotency guard of one route (third in the chain, after auth: the verified merchant
/// scopes every key). The first request with a key claims its record in Redis and goes on;
/// when it ends, its outcome observer stores the response (`done`), marks the record `unknown`
/// (sent, no complete answer: it may have executed), or releases it (certainly not executed).
/// A request whose key is claimed gets the stored response, 409, or 422, and never reaches
/// the backend.
final class IdempotencyGuard: RequestGuard {
    let name = "idempotency"
    let counters = GuardCounters()
    /// The fingerprint hashes the body, and business keys read it.
    let needsBody = true
    let rule: IdempotencyRulePolicy
    let decisions: IdempotencyCounters
    private let redis: RedisConnectionSet
    private let loops: [EventLoop]
    private let classifier: OutcomeClassifier
    private let owners: OwnerTokens
    private let pending: PendingCompletions
    private let uncertainClaims: UncertainClaims
    private let leaseMs: Int64
    private let ttlMs: Int64

    init(rule: IdempotencyRulePolicy, routeTimeout: Duration, redis: RedisConnectionSet, loops: [EventLoop],
         decisions: IdempotencyCounters, owners: OwnerTokens, pending: PendingCompletions, uncertainClaims: UncertainClaims) {
        self.rule = rule
        self.pending = pending
        self.uncertainClaims = uncertainClaims
        self.redis = redis
        self.loops = loops
        self.decisions = decisions
        self.owners = owners
        classifier = OutcomeClassifier(storeHeaders: rule.storeHeaders, maxStoredBody: rule.maxStoredBody,
                                       releaseStatuses: Set(rule.releaseStatuses), storeSuccessOnly: rule.replay != .stored)
        // A claim whose gateway never completes it (crashed, or Redis gone at the end) reads as
        // `unknown` once the route's whole time and a margin have passed: never as free.
        leaseMs = routeTimeout.milliseconds + 5_000
        ttlMs = rule.ttl.milliseconds
    }

    func explain(_ request: GuardRequest) -> String {
        var line = "rule \(rule.name): keys \(IdempotencyReplies.describe(rule.keys))\(rule.required ? " (required)" : ""), "
            + (rule.sharesRecordsWith.map { "records shared with rule \($0), " } ?? "")
            + "records kept \(rule.ttl), unknown outcomes: \(rule.onUnknown.rawValue), Redis failure: \(rule.onRedisFailure.rawValue)"
        do {
            let keys = try IdempotencyKey.findAll(rule.keys, in: request)
            if keys.isEmpty {
                line += rule.required ? "; this request has no key: 400 idempotency_key_missing" : "; this request has no key: not protected"
            } else {
                line += "; this request's keys: " + keys.map { $0.kind == "h" ? "header \"\($0.value)\"" : "business " + $0.value.replacingOccurrences(of: "\u{1F}", with: " ") }.joined(separator: ", ")
            }
        } catch {
            line += "; this request's key is refused: \(IdempotencyReplies.invalidKey(error).reason)"
        }
        return line
    }

    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        // `Idempotency_Key` is `Idempotency-Key` to a CGI, WSGI or PHP backend: a copy the guard
        // does not read must not reach one that runs its own duplicate check on the header.
        for case .header(let name) in rule.keys { request.head.headers.removeRespellings(of: name) }
        let keys: [IdempotencyKey]
        do {
            keys = try IdempotencyKey.findAll(rule.keys, in: request)
        } catch {
            return .reject(IdempotencyReplies.invalidKey(error))
        }
        guard !keys.isEmpty else {
            if rule.required { return .reject(IdempotencyReplies.missingKey(rule)) }
            // Forwarded without duplicate protection: the access log says so.
            request.logNotes.append("idempotency_key_missing")
            return .proceed
        }
        // Every key the request carries is claimed together: a retry with a fresh
        // Idempotency-Key for the same order still finds the order's record.
        let scope = request.merchantID ?? "-"
        let recordKeys = keys.map { $0.recordKey(scope: scope, rule: rule.recordsName) }
        // A provider's notification is one event per id, whatever bytes a resend carries: WeChat
        // re-signs every resend, and its encrypted `resource` may be encrypted afresh. The id is
        // the provider's (the signature, checked before this guard, says so), so a resend with
        // another body is acknowledged like the first, never 422.
        let fingerprint = rule.replay == .stored
            ? IdempotencyKey.fingerprint(method: request.head.method, target: request.head.target,
                                         bodySHA256Hex: IdempotencyKey.bodyDigest(request.body, ignoring: rule.fingerprintIgnores))
            : "notification"
        let owner = owners.next()
        let connection = redis[request.loopIndex]
        let waitUntil = Deadline.now.adding(rule.inFlightWait)
        let localCompletionWaitUntil = Deadline.now.adding(.milliseconds(200))
        var pause = Duration.milliseconds(10)
        var askedAgain = false
        while true {
            let command = IdempotencyScripts.claimCommand(keys: recordKeys, fingerprint: fingerprint, owner: owner, leaseMs: leaseMs,
                                                          ttlMs: ttlMs, reclaimUnknown: rule.onUnknown == .forward)
            let result: ClaimResult
            switch await connection.evaluate(IdempotencyScripts.claim, evalsha: command, timeout: rule.redisDeadline).reply() {
            case .success(let reply):
                guard let parsed = IdempotencyScripts.claimResult(reply) else {
                    return redisFailed(&request, keys: recordKeys, owner: owner)
                }
                result = parsed
            case .failure:
                return redisFailed(&request, keys: recordKeys, owner: owner)
            }
            switch result {
            case .claimed:
                decisions.claimedCount.wrappingAdd(1, ordering: .relaxed)
                request.observeOutcome(RecordCompletion(keys: recordKeys, owner: owner, ttlMs: ttlMs, redisDeadline: rule.redisDeadline,
                                                        classifier: classifier,
                                                        connections: redis, loopIndex: request.loopIndex, decisions: decisions,
                                                        pending: pending))
                return .proceed
            case .mismatch:
                decisions.mismatchCount.wrappingAdd(1, ordering: .relaxed)
                return .reject(IdempotencyReplies.reused)
            case .done(let stored):
                return replay(stored)
            case .unknown:
                decisions.conflictCount.wrappingAdd(1, ordering: .relaxed)
                return .reject(IdempotencyReplies.outcomeUnknown)
            case .inFlight(let holder):
                // Ended in this process a moment ago, and Redis has not taken its completion yet.
                switch pending.completion(owner: holder) {
                case .done(let stored)?:
                    // Its completion is on its way to Redis: a claim made once it is there records
                    // this request's other keys with the record (a replay from here did not, and
                    // a key first sent on this retry then let another order through: seen in CI).
                    // A short wait for that; the answer from here if Redis is slow to take it.
                    let now = Deadline.now
                    if now < localCompletionWaitUntil, request.loopIndex < loops.count {
                        await loops[request.loopIndex].sleep(until: min(now.adding(.milliseconds(5)), localCompletionWaitUntil))
                        continue
                    }
                    return replay(stored)
                case .unknown?:
                    decisions.conflictCount.wrappingAdd(1, ordering: .relaxed)
                    return .reject(IdempotencyReplies.outcomeUnknown)
                case nil where !askedAgain:
                    // Its completion may have reached Redis, and left here, since Redis answered
                    // this claim: asked again at once, a finished original is replayed, not 409.
                    askedAgain = true
                    continue
                case .release?, nil: break
                }
                // Wait for the original (polling its record, so that it works across gateways),
                // up to the rule's bound; then 409.
                let now = Deadline.now
                guard now < waitUntil, request.loopIndex < loops.count else {
                    decisions.conflictCount.wrappingAdd(1, ordering: .relaxed)
                    return .reject(IdempotencyReplies.inFlight)
                }
                await loops[request.loopIndex].sleep(until: min(now.adding(pause), waitUntil))
                pause = min(pause * 2, .milliseconds(200))
            }
        }
    }

    /// The original's answer again (or the provider's acknowledgement, for notifications).
    private func replay(_ stored: StoredResponse) -> GuardVerdict {
        decisions.replayedCount.wrappingAdd(1, ordering: .relaxed)
        if let acknowledgement = IdempotencyReplies.acknowledgement(rule.replay) { return .reject(acknowledgement) }
        return .reject(stored.isReplayable ? stored.replay : IdempotencyReplies.notStored)
    }

    /// Redis could not be asked (or answered nonsense): the rule's failure mode. The claim of
    /// `owner` on `keys` may still have run, or run later (a stall past the deadline): a refused
    /// request's claim is released (`UncertainClaims`); a forwarded one's is completed with its
    /// outcome like any claim (both only while the claim is this request's, so nothing changes
    /// where it never ran).
    private func redisFailed(_ request: inout GuardRequest, keys: [String], owner: String) -> GuardVerdict {
        counters.recordError()
        switch rule.onRedisFailure {
        case .deny:
            uncertainClaims.release(keys: keys, owner: owner, ttlMs: ttlMs, connections: redis, loopIndex: request.loopIndex, pending: pending)
            return .reject(IdempotencyReplies.unavailable)
        case .allow:
            decisions.withoutGuaranteeCount.wrappingAdd(1, ordering: .relaxed)
            request.logNotes.append("idempotency_unavailable:" + rule.name)
            request.observeOutcome(RecordCompletion(keys: keys, owner: owner, ttlMs: ttlMs, redisDeadline: rule.redisDeadline,
                                                    classifier: classifier, connections: redis, loopIndex: request.loopIndex, decisions: decisions, pending: pending))
            return .proceed
        }
    }
}

/// Completes one claimed record when its request ends (on the request's loop; the Redis
/// reply is awaited in a task of its own, so the pipeline never waits for it).
final class RecordCompletion: OutcomeObserver {
    let keys: [String]
    let owner: String
    let ttlMs: Int64
    let classifier: OutcomeClassifier
    /// The set the claim went through, held until the completion is answered: a reload that
    /// changes the `redis` settings retires the set, and its clients close once nothing holds
    /// it. Holding the client alone, a request in flight across such a reload found it closed,
    /// and its record stayed in flight, then unknown, for the record's TTL (every retry 409).
    let connections: RedisConnectionSet
    let loopIndex: Int
    let decisions: IdempotencyCounters
    let pending: PendingCompletions
    let redisDeadline: Duration?

    init(keys: [String], owner: String, ttlMs: Int64, redisDeadline: Duration?, classifier: OutcomeClassifier, connections: RedisConnectionSet,
         loopIndex: Int, decisions: IdempotencyCounters, pending: PendingCompletions) {
        self.pending = pending
        self.redisDeadline = redisDeadline
        self.keys = keys
        self.owner = owner
        self.ttlMs = ttlMs
        self.classifier = classifier
        self.connections = connections
        self.loopIndex = loopIndex
        self.decisions = decisions
    }

    /// One byte past the cap: a capture that long means the body did not fit.
    var responseBodyCapture: Int { classifier.maxStoredBody + 1 }

    /// A client that reads the answer and retries at once, on another connection and loop, must
    /// find it here: the proxy tells `requestFinished` only once the answer is written, and a busy
    /// loop may run other work first (480 immediate retries from 8 clients got four 409s).
    func answerComplete(head: HTTPResponseHead, body: [UInt8]?) {
        let answered = RequestOutcome(route: "", attempt: 1, status: head.status, responseHead: head, responseBody: body)
        pending.add(classifier.completion(for: answered), owner: owner)
    }

    func requestFinished(_ outcome: RequestOutcome) {
        let completion = classifier.completion(for: outcome)
        let connection = connections[loopIndex]
        let command = IdempotencyScripts.completeCommand(keys: keys, owner: owner, completion: completion, ttlMs: ttlMs)
        let first = connection.evaluate(IdempotencyScripts.complete, evalsha: command, timeout: redisDeadline)
        let (decisions, completions, owner, connections, redisDeadline) = (self.decisions, self.pending, self.owner, self.connections, self.redisDeadline)
        // Until Redis has it, a retry of this request reaching this process is answered from here.
        completions.add(completion, owner: owner)
        _ = connection.loop.spawn {
            let reply = await RedisScriptRetry.reply(first, resending: command, script: IdempotencyScripts.complete, on: connection, timeout: redisDeadline)
            withExtendedLifetime(connections) {}
            completions.remove(owner: owner)
            if case .success(.integer(let updated)) = reply, updated > 0 { return }
            decisions.completionFailureCount.wrappingAdd(1, ordering: .relaxed)
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
