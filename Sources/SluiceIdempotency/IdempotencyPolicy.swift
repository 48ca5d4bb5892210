/// One idempotency rule as the policy gives it (`idempotency:` list, named by routes'
/// `idempotency: <rule>`).
public struct IdempotencyRulePolicy: Sendable, Equatable {
    /// Where a request's key comes from; the first source the request carries wins.
    public enum KeySource: Sendable, Equatable {
        /// A header holding an RFC 9651 sf-string (or, as Stripe-style clients send, a bare token).
        case header(String)
        /// A business key: the values of these body fields together (`[mchid, out_trade_no]`),
        /// known in the records by `names` (`as:` in the policy; default: the fields' own paths),
        /// so that a rule sharing another's records can read the same key from other fields
        /// (v2's `mch_id` is v3's `mchid`).
        case body([String], names: [String]? = nil)

        /// How a business key is known in the records: its `as:` names, else its paths.
        var recordNames: [String]? {
            guard case .body(let paths, let names) = self else { return nil }
            return names ?? paths
        }
    }

    /// What a retry of a request whose outcome is unknown (timeout or reset after it was sent) gets.
    public enum UnknownOutcome: String, Sendable, CaseIterable {
        /// 409 `outcome_unknown`: the client must query the order before trying again.
        case conflict
        /// Forwarded again: for backends that are idempotent themselves on this key.
        case forward
    }

    /// While Redis cannot be asked.
    public enum FailureMode: String, Sendable, CaseIterable {
        /// 503 with Retry-After: nothing goes through without the guarantee.
        case deny
        /// Forwarded without the guarantee (counted and logged).
        case allow
    }

    /// What a request gets when its key's original completed.
    public enum Replay: String, Sendable, CaseIterable {
        /// The stored response, with `Idempotent-Replayed: true`.
        case stored
        /// A payment provider's "received" answer, so the provider stops resending a
        /// notification: `{"code":"SUCCESS","message":"OK"}` (WeChat Pay v3), the v2 XML
        /// `return_code` SUCCESS, or `success` (Alipay).
        case wechatpayV3 = "wechatpay_v3"
        case wechatpayV2 = "wechatpay_v2"
        case alipay
    }

    public var name: String
    public var keys: [KeySource] = [.header(IdempotencyRulePolicy.standardHeader)]
    /// 400 `idempotency_key_missing` when the request carries none of the key sources.
    public var required = false
    /// How long a completed record is kept (and replayed).
    public var ttl: Duration = .seconds(24 * 3600)
    /// How long a retry may wait for its original to complete before it gets 409 (0: at once).
    public var inFlightWait: Duration = .zero
    /// How long Redis has to answer this rule's calls; nil: the `redis` section's deadline. A
    /// payment call costs far more than a few ms of waiting for its record, and a busy host
    /// that made Redis miss a rate limit's 5 ms deadline refused orders 503.
    public var redisDeadline: Duration?
    public var onUnknown = UnknownOutcome.conflict
    public var onRedisFailure = FailureMode.deny
    /// The response fields stored and replayed (never Set-Cookie or hop-by-hop fields).
    public var storeHeaders = ["content-type"]
    /// Larger response bodies are not stored: a retry then gets 409 `response_not_stored`.
    public var maxStoredBody = 64 * 1024
    public var replay = Replay.stored
    /// Answers that say for certain nothing was done (the claim is released, so a retry goes through).
    public var releaseStatuses: [Int] = [429, 503]
    /// `records: <rule>`: this rule keeps its records with that rule's, so one order sent
    /// through either API (v3 JSON to one rule, v2 XML to the other) is one order: the second
    /// finds the first's record (422 or 409, never a second execution). Nil: its own.
    public var sharesRecordsWith: String?
    /// Body fields left out of the fingerprint (`fingerprint_ignores: [nonce_str, sign]`): a
    /// WeChat Pay v2 SDK retries with a fresh `nonce_str` and so a fresh `sign`, and the retry of
    /// an order got 422 (another request with the key) instead of its stored answer. The other
    /// fields, sorted by name, are the fingerprint's body part then.
    public var fingerprintIgnores: [String] = []

    /// The name its records are kept under in Redis.
    public var recordsName: String { sharesRecordsWith ?? name }

    public static let standardHeader = "idempotency-key"

    public init(name: String) { self.name = name }
}

/// The idempotency module's policy: its rules, and which route uses which.
public struct IdempotencyPolicy: Sendable {
    public var rules: [IdempotencyRulePolicy]
    /// Route name → its rule's name.
    public var routeRules: [String: String]

    public func rule(named name: String) -> IdempotencyRulePolicy? { rules.first { $0.name == name } }
}
