import SluiceHTTP

/// The response fields of draft-ietf-httpapi-ratelimit-headers (-10/-11): `RateLimit-Policy`
/// (`"name";q=<quota>;w=<window s>`) and `RateLimit` (`"name";r=<remaining>;t=<reset s>`), plus
/// `Retry-After` and a problem+json body on 429. For a token bucket q is the burst and w the
/// time to refill it; t is the time until the bucket is full again (allowed) or until the
/// request would fit (denied, equal to Retry-After, so Retry-After is never earlier than t).
enum LimitReplies {
    static func seconds(_ micros: Double) -> Int { max(0, Int((micros / 1e6).rounded(.up))) }

    static func stateItem(_ rule: LimitRule, _ decision: LimitDecision) -> String {
        let reset = decision.allowed ? decision.resetMicros : decision.retryAfterMicros
        return "\"\(rule.name)\";r=\(decision.remaining);t=\(seconds(reset))"
    }

    /// Fields for an allowed response: one list item per rule that asks for them.
    static func annotation(_ items: [(LimitRule, LimitDecision)]) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "ratelimit-policy", value: items.map { $0.0.policyItem }.joined(separator: ","))
        headers.add(name: "ratelimit", value: items.map { stateItem($0.0, $0.1) }.joined(separator: ","))
        return headers
    }

    static func tooManyRequests(_ rule: LimitRule, _ decision: LimitDecision) -> LocalReply {
        let retryAfter = max(1, seconds(decision.retryAfterMicros))
        var reply = LocalReply.problem(status: 429, type: LocalReply.quotaExceededType, error: "rate_limited",
                                       detail: "the rate limit '\(rule.name)' is used up; retry after \(retryAfter) s",
                                       members: ["\"rule\":\"\(rule.name)\"", "\"violated-policies\":[\"\(rule.name)\"]", "\"retry_after\":\(retryAfter)"],
                                       retryAfter: retryAfter, reason: "rate_limited:\(rule.name)")
        reply.headers.add(name: "ratelimit-policy", value: rule.policyItem)
        reply.headers.add(name: "ratelimit", value: "\"\(rule.name)\";r=\(decision.remaining);t=\(retryAfter)")
        return reply
    }

    /// A request that costs more than the rule can ever grant: no Retry-After (no retry passes).
    static func costExceedsCapacity(_ rule: LimitRule, cost: Int) -> LocalReply {
        var reply = LocalReply.problem(status: 429, type: LocalReply.quotaExceededType, error: "cost_exceeds_limit",
                                       detail: "this request costs \(cost), more than the rate limit '\(rule.name)' ever grants (\(rule.capacity)); "
                                           + "retrying it cannot succeed",
                                       members: ["\"rule\":\"\(rule.name)\"", "\"violated-policies\":[\"\(rule.name)\"]"],
                                       reason: "rate_limited:\(rule.name)")
        reply.headers.add(name: "ratelimit-policy", value: rule.policyItem)
        return reply
    }

    /// `on_redis_failure: deny` while Redis cannot decide: 503, the capacity is unknown.
    static func unavailable(_ rule: LimitRule) -> LocalReply {
        LocalReply.problem(status: 503, type: LocalReply.reducedCapacityType, error: "rate_limit_unavailable",
                           detail: "the rate limit '\(rule.name)' cannot be checked now; retry shortly",
                           members: ["\"rule\":\"\(rule.name)\""], retryAfter: 1, reason: "rate_limit_unavailable:\(rule.name)")
    }
}
