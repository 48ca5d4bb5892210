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
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/problem+json")
        headers.add(name: "retry-after", value: String(retryAfter))
        headers.add(name: "ratelimit-policy", value: rule.policyItem)
        headers.add(name: "ratelimit", value: "\"\(rule.name)\";r=\(decision.remaining);t=\(retryAfter)")
        let body = "{\"type\":\"https://iana.org/assignments/http-problem-types#quota-exceeded\",\"title\":\"Too Many Requests\","
            + "\"status\":429,\"error\":\"rate_limited\",\"rule\":\"\(rule.name)\",\"violated-policies\":[\"\(rule.name)\"],"
            + "\"retry_after\":\(retryAfter)}"
        return LocalReply(status: 429, headers: headers, body: Array(body.utf8), reason: "rate_limited:\(rule.name)")
    }

    /// `on_redis_failure: deny` while Redis cannot decide: 503, the capacity is unknown.
    static func unavailable(_ rule: LimitRule) -> LocalReply {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/problem+json")
        headers.add(name: "retry-after", value: "1")
        let body = "{\"type\":\"https://iana.org/assignments/http-problem-types#temporary-reduced-capacity\","
            + "\"title\":\"Service Unavailable\",\"status\":503,\"error\":\"rate_limit_unavailable\",\"rule\":\"\(rule.name)\"}"
        return LocalReply(status: 503, headers: headers, body: Array(body.utf8), reason: "rate_limit_unavailable:\(rule.name)")
    }
}
