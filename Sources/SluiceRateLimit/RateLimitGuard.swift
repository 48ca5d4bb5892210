import SluiceGuards
import SluiceHTTP
import SluiceRedis

/// A rule with what it shares across requests: its counters, its local fallback limiter, and
/// its check command formatted as far as it can be before a request comes (a class: requests
/// hold it by one reference).
final class BoundRule: Sendable {
    let rule: LimitRule
    let counters: LimitRuleCounters
    let local: LocalLimiter
    /// The rule's check-and-consume script.
    let script: RedisScript
    /// `EVALSHA <sha1> 1`, with the array header for the rule's argument count.
    private let commandHead: [UInt8]
    /// The script arguments that never change (emission and burst, or window and limit), as
    /// bulk strings: they follow the key.
    private let fixedArguments: [UInt8]

    init(rule: LimitRule, counters: LimitRuleCounters, local: LocalLimiter) {
        self.rule = rule
        self.counters = counters
        self.local = local
        let fixed: [String]
        let variableCount: Int
        switch rule.algorithm {
        case .tokenBucket(let emission, let burst):
            (script, fixed, variableCount) = (LimitScripts.tokenBucket, [String(emission), String(burst)], 2)  // cost, want
        case .slidingLog(let limit, let window):
            (script, fixed, variableCount) = (LimitScripts.slidingLog, [String(window), String(limit)], 2)  // cost, member
        case .subWindow(let limit, let window):
            (script, fixed, variableCount) = (LimitScripts.subWindow, [String(window), String(limit)], 1)  // cost
        }
        commandHead = script.evalshaHead(keys: 1, arguments: fixed.count + variableCount)
        var bytes: [UInt8] = []
        for argument in fixed { RESPWriter.appendBulk(argument.utf8, to: &bytes) }
        fixedArguments = bytes
    }

    /// The rule's check command for `key` up to its fixed arguments; the caller appends the
    /// variable ones (`RESPWriter.appendBulk`): cost and want (token bucket), cost and member
    /// (sliding log), cost (sub-window).
    func command(key: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(commandHead.count + key.utf8.count + fixedArguments.count + 64)
        bytes.append(contentsOf: commandHead)
        RESPWriter.appendBulk(key.utf8, to: &bytes)
        bytes.append(contentsOf: fixedArguments)
        return bytes
    }
}

/// All rate-limit rules of one route, as one guard (the adapter between the state machines /
/// scripts and the request path).
///
/// Every rule's check is sent at once (pipelined on the loop's connection) and awaited together,
/// so the request waits at most one Redis deadline whatever the rule count. All must pass.
///
/// Multi-rule atomicity: each rule's check-and-consume is atomic, but rules live on different
/// keys (different Cluster slots), so they are not one transaction. When a rule denies, the
/// tokens the other rules granted are given back at once (refund scripts, pipelined, not
/// awaited; leases and local limiters refund locally). The bound: a denied request holds
/// other rules' tokens for about one Redis round trip (so a concurrent request may be denied
/// that would have passed: never more admitted than the limit, at worst briefly fewer), and if
/// the refund itself is lost (Redis fails in between), the request costs `cost` tokens of each
/// rule that allowed it.
public final class RateLimitGuard: RequestGuard {
    public let name = "ratelimit"
    public let counters = GuardCounters()
    let rules: [BoundRule]
    let redis: RedisConnectionSet
    let loopStates: [LoopLimitState]
    let nonce: String
    /// For leases and the local limiters.
    let clock: GuardClock

    init(rules: [BoundRule], redis: RedisConnectionSet, loopStates: [LoopLimitState], nonce: String,
         clock: GuardClock) {
        self.rules = rules
        self.redis = redis
        self.loopStates = loopStates
        self.nonce = nonce
        self.clock = clock
        needsBody = rules.contains { $0.rule.key.contains { if case .body = $0 { return true } else { return false } } }
    }

    /// A rule keyed on a body field (`body:mchid`) needs the body read before it runs.
    public let needsBody: Bool

    public var ruleNames: [String] { rules.map(\.rule.name) }


    private enum Source { case redis, lease, local, failOpen, failClosed }

    private struct Check {
        let bound: BoundRule
        let key: String
        let cost: Int
        /// What the Redis refund names: the sliding log's member, or the sub-window bucket charged.
        var member = ""
        /// When the local limiter took it (its refund goes back to that time's bucket).
        var takenAt = 0.0
        var pending: RedisPendingReply?
        var decision = LimitDecision(granted: 0, remaining: 0, retryAfterMicros: 0, resetMicros: 0)
        var source = Source.redis
        /// This check asked Redis for a whole lease (the key's one lease fetch in flight).
        var fetchesLease = false
    }

    public func explain(_ request: GuardRequest) -> String {
        rules.map { bound in
            // explain verifies no signature, so a merchant part reads as no merchant yet.
            let merchantNote = bound.rule.key.contains(.merchant) && request.merchantID == nil
                ? "; merchant is `-` here: the signature's merchant when served" : ""
            return "\(bound.rule.name) (key \(LimitKey.make(rule: bound.rule.name, algorithm: bound.rule.algorithm, parts: bound.rule.key, request: request))\(merchantNote))"
        }.joined(separator: ", ")
    }

    public func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        if needsBody, let body = request.body {
            do { _ = try body.payload() } catch { return .reject(.invalidBody(error)) }
        }
        let connection = redis[request.loopIndex]
        let loopState = loopStates[request.loopIndex]
        // Read once, when first needed (leases, the local fallback): a rule without either
        // never reads the clock.
        lazy var now = clock.microseconds
        var checks: [Check] = []
        checks.reserveCapacity(rules.count)

        // A cost above what a rule can ever grant would be refused with a Retry-After that no
        // retry can meet: refused at once, with none, before any rule takes anything.
        for bound in rules where bound.rule.costHeader != nil || bound.rule.cost > bound.rule.capacity {
            let cost = cost(of: bound.rule, request)
            if cost > bound.rule.capacity { return .reject(LimitReplies.costExceedsCapacity(bound.rule, cost: cost)) }
        }

        // 1. Serve from leases where possible; send every other check at once.
        for bound in rules {
            let rule = bound.rule
            var check = Check(bound: bound, key: LimitKey.make(rule: rule.name, algorithm: rule.algorithm, parts: rule.key, request: request),
                              cost: cost(of: rule, request))

            if let leaseTokens = rule.leaseTokens, let left = loopState.leases[rule.name]?.take(check.key, cost: check.cost, now: now) {
                check.decision = LimitDecision(granted: check.cost, remaining: left, retryAfterMicros: 0, resetMicros: 0)
                check.source = .lease
                bound.counters.countLeaseHit()
                if loopState.leases[rule.name]?.startRefill(check.key, size: leaseTokens, now: now) == true {
                    topUp(bound, key: check.key, connection: connection, loopState: loopState)
                }
            } else {
                var command = bound.command(key: check.key)
                RESPWriter.appendBulk(check.cost, to: &command)
                switch rule.algorithm {
                case .tokenBucket:
                    // Lease-sized only for the first miss while no fetch or top-up is on its way:
                    // a burst of misses on one key each asked for a whole lease, 20 leases of 5
                    // drained a bucket of 100, and 80 of the burst's 100 requests were refused.
                    var want = check.cost
                    if let leaseTokens = rule.leaseTokens, loopState.leases[rule.name, default: LeaseBook()].startFetch(check.key) {
                        want = max(check.cost, leaseTokens)
                        check.fetchesLease = true
                    }
                    RESPWriter.appendBulk(want, to: &command)
                case .slidingLog:
                    loopState.sequence &+= 1
                    check.member = "\(nonce).\(request.loopIndex).\(loopState.sequence)"
                    RESPWriter.appendBulk(check.member.utf8, to: &command)
                case .subWindow:
                    break
                }
                check.pending = connection.evaluate(bound.script, evalsha: command)
                bound.counters.countRedisCall()
            }
            checks.append(check)
        }

        // 2. Collect the replies; a missing one goes to the rule's failure mode.
        for index in checks.indices {
            guard let pending = checks[index].pending else { continue }
            let bound = checks[index].bound
            let result = await pending.reply()
            if checks[index].fetchesLease { loopState.leases[bound.rule.name]?.endRefill(checks[index].key) }
            if case .success(let reply) = result, let decision = LimitScripts.decision(reply) {
                var decision = decision
                if let leaseTokens = bound.rule.leaseTokens, decision.granted > checks[index].cost,
                   case .tokenBucket(let emission, _) = bound.rule.algorithm {
                    let extra = decision.granted - checks[index].cost
                    loopState.leases[bound.rule.name, default: LeaseBook()]
                        .store(checks[index].key, tokens: extra, now: now, lifetimeMicros: Double(leaseTokens) * emission)
                    decision.granted = checks[index].cost
                }
                if case .subWindow = bound.rule.algorithm { checks[index].member = LimitScripts.chargedBucket(reply) ?? "" }
                checks[index].decision = decision
                continue
            }
            bound.counters.countRedisError()
            bound.counters.countFallback()
            switch bound.rule.onRedisFailure {
            case .allow:
                checks[index].source = .failOpen
                checks[index].decision.granted = checks[index].cost
            case .deny:
                checks[index].source = .failClosed
            case .local:
                checks[index].source = .local
                checks[index].takenAt = now
                checks[index].decision = bound.local.take(checks[index].key, cost: checks[index].cost, now: now)
            }
        }

        // 3. Verdict: the first enforced denial rejects (and refunds the rest); shadow denials
        // are only reported.
        var rejection: LocalReply?
        var shadowReason: String?
        for check in checks {
            let rule = check.bound.rule
            if check.decision.allowed {
                check.bound.counters.countAllowed()
                continue
            }
            let reason = check.source == .failClosed ? "rate_limit_unavailable:\(rule.name)" : "rate_limited:\(rule.name)"
            if rule.shadow {
                check.bound.counters.countShadowDenied()
                if shadowReason == nil { shadowReason = reason }
            } else {
                check.bound.counters.countDenied()
                if rejection == nil {
                    rejection = check.source == .failClosed ? LimitReplies.unavailable(rule)
                                                            : LimitReplies.tooManyRequests(rule, check.decision)
                }
            }
        }
        if let rejection {
            for check in checks where check.decision.allowed { refund(check, connection: connection, loopState: loopState) }
            return .reject(rejection)
        }
        if let shadowReason { return .shadowReject(reason: shadowReason) }
        func shows(_ check: Check) -> Bool {
            check.bound.rule.responseHeaders && !check.bound.rule.shadow && check.source != .failOpen
        }
        guard checks.contains(where: shows) else { return .proceed }
        let shown = checks.filter(shows)
        return .annotate(LimitReplies.annotation(shown.map { ($0.bound.rule, $0.decision) }))
    }

    /// The request's cost: the rule's `cost_from` header when it holds a whole number from 1 to
    /// 1,000,000, else the rule's fixed cost.
    private func cost(of rule: LimitRule, _ request: GuardRequest) -> Int {
        guard let header = rule.costHeader else { return rule.cost }
        guard let text = request.head.headers[header], let value = Int(text), value >= 1, value <= 1_000_000 else {
            return rule.cost
        }
        return value
    }

    /// Takes up to a lease's worth of tokens in the background and adds them to the lease.
    private func topUp(_ bound: BoundRule, key: String, connection: RedisClient, loopState: LoopLimitState) {
        guard let leaseTokens = bound.rule.leaseTokens, case .tokenBucket(let emission, _) = bound.rule.algorithm else { return }
        bound.counters.countRedisCall()
        var command = bound.command(key: key)
        RESPWriter.appendBulk(0, to: &command)  // cost
        RESPWriter.appendBulk(leaseTokens, to: &command)  // want
        let pending = connection.evaluate(bound.script, evalsha: command)
        let name = bound.rule.name
        let clock = self.clock
        connection.loop.spawn {
            let result = await pending.reply()
            if case .success(let reply) = result, let decision = LimitScripts.decision(reply), decision.granted > 0 {
                loopState.leases[name]?.store(key, tokens: decision.granted, now: clock.microseconds,
                                              lifetimeMicros: Double(leaseTokens) * emission)
            }
            loopState.leases[name]?.endRefill(key)
        }
    }

    private func refund(_ check: Check, connection: RedisClient, loopState: LoopLimitState) {
        let rule = check.bound.rule
        switch check.source {
        case .lease:
            loopState.leases[rule.name]?.refund(check.key, tokens: check.cost)
        case .local:
            check.bound.local.refund(check.key, tokens: check.cost, takenAt: check.takenAt)
        case .failOpen, .failClosed:
            break
        case .redis:
            switch rule.algorithm {
            case .tokenBucket(let emission, _):
                _ = connection.evaluate(LimitScripts.tokenBucketRefund, keys: [check.key],
                                        arguments: [String(emission), String(check.cost)])
            case .slidingLog:
                _ = connection.evaluate(LimitScripts.slidingLogRefund, keys: [check.key], arguments: [String(check.cost), check.member])
            case .subWindow:
                _ = connection.evaluate(LimitScripts.subWindowRefund, keys: [check.key], arguments: [String(check.cost), check.member])
            }
        }
    }
}
