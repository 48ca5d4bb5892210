import SluicePolicy
import SluiceSharedRedis
import Yams

/// Reads `idempotency` (named rules) at the top level of any policy file, and
/// `idempotency: <rule>` in routes:
///
/// ```yaml
/// idempotency:
///   - name: orders
///     key:                                   # the first the request carries wins
///       - header: idempotency-key            # RFC 9651 sf-string, or a bare token
///       - body: [mchid, out_trade_no]        # a business key from body fields
///     required: true                         # 400 when the request carries no key
///     ttl: 24h                               # completed records are replayed this long
///     in_flight_wait: 0s                     # 0: a retry of an in-flight request gets 409 at once
///     on_unknown: conflict                   # conflict (409 outcome_unknown) | forward (the default with replay:)
///     on_redis_failure: deny                 # deny (503) | allow (forward without the guarantee)
///     store_headers: [content-type]
///     max_stored_body: 64KiB
///     replay: stored                         # stored | wechatpay_v3 | wechatpay_v2 | alipay
///     release_statuses: [429, 503]           # answers that mean "not done": a retry goes through
///     fingerprint_ignores: []                # body fields a retry may change (v2: [nonce_str, sign])
///   - name: v2-orders
///     records: orders                        # kept with orders' records: one order, either API
///     key:
///       - body: [mch_id, out_trade_no]
///         as: [mchid, out_trade_no]          # the names orders' business key gives these fields
/// routes:
///   - {name: pay, idempotency: orders, ...}
/// ```
public struct IdempotencyPolicySection: GuardPolicySection {
    public let name = IdempotencyModule.moduleName
    public let topLevelKeys = ["idempotency"]
    public let routeKeys = ["idempotency"]

    public init() {}

    public func read(_ input: GuardSectionInput) -> (any Sendable)? {
        var sharingAt: [String: (reader: PolicyFileReader, node: Node)] = [:]
        let (declared, rules) = input.namedItems("idempotency", kind: "idempotency rule") { reader, node in
            let rule = reader.readIdempotencyRule(node)
            if let rule, rule.value.sharesRecordsWith != nil, let records = node["records"] { sharingAt[rule.value.name] = (reader, records) }
            return rule
        }
        for rule in rules {
            guard let at = sharingAt[rule.name], let problem = Self.sharingProblem(of: rule, among: rules) else { continue }
            at.reader.report(problem, at: at.node)
        }
        let routeRules = input.routeReferences("idempotency", kind: "idempotency rule", names: Set(rules.map(\.name)))
        if input.isComplete, !input.presentTopLevelKeys.contains(SharedRedis.sectionName), let first = declared.first {
            input.report("idempotency rules need a 'redis' section (the Redis that holds their records)", at: first.position)
        }
        guard !rules.isEmpty || !routeRules.isEmpty else { return nil }
        return IdempotencyPolicy(rules: rules, routeRules: routeRules)
    }

    /// Why `rule`'s `records:` cannot work: the other rule is missing, itself, or shares
    /// another's records (one level only), or the two have no key in common (a header key each,
    /// or business keys known by the same names), so no request of one would find the other's.
    static func sharingProblem(of rule: IdempotencyRulePolicy, among rules: [IdempotencyRulePolicy]) -> String? {
        guard let name = rule.sharesRecordsWith else { return nil }
        guard name != rule.name else { return "an idempotency rule's records are its own: 'records' names another rule" }
        guard let other = rules.first(where: { $0.name == name }) else { return "records: '\(name)' is not an idempotency rule" }
        if let further = other.sharesRecordsWith {
            return "records: '\(name)' keeps its records with '\(further)': name '\(further)' here"
        }
        let theirs = Set(other.keys.compactMap(\.recordNames))
        let ours = rule.keys.compactMap(\.recordNames)
        let bothHaveHeaderKeys = rule.keys.contains { $0.recordNames == nil } && other.keys.contains { $0.recordNames == nil }
        guard bothHaveHeaderKeys || ours.contains(where: theirs.contains) else {
            let described = other.keys.compactMap(\.recordNames).map { "[" + $0.joined(separator: ", ") + "]" }.joined(separator: " or ")
            return "rule '\(rule.name)' shares the records of '\(name)' but none of its business keys is known as one of "
                + "theirs (\(described.isEmpty ? "none" : described)): give its body key 'as:' with those names"
        }
        return nil
    }
}

extension IdempotencyRulePolicy: NamedPolicy {}

extension PolicyFileReader {
    /// One item of `idempotency`; nil without a usable name.
    func readIdempotencyRule(_ node: Node) -> Declared<IdempotencyRulePolicy>? {
        guard let item = namedItem(node, kind: "idempotency rule", allowed: [
            "key", "required", "ttl", "in_flight_wait", "redis_deadline", "on_unknown", "on_redis_failure", "store_headers", "max_stored_body",
            "replay", "release_statuses", "records", "fingerprint_ignores",
        ]) else { return nil }
        let (fields, what) = (item.fields, item.what)
        var rule = IdempotencyRulePolicy(name: item.name ?? "")
        if let node = fields["key"] { rule.keys = idempotencyKeySources(node, of: what) }
        if let node = fields["records"], let other = text(node, expected: "the name of another idempotency rule") {
            rule.sharesRecordsWith = other
        }
        if let node = fields["fingerprint_ignores"], let items = list(node, expected: "a list of body field names") {
            rule.fingerprintIgnores = items.compactMap { text($0, expected: "a body field name") }
        }
        if let node = fields["required"], let value = flag(node) { rule.required = value }
        if let node = fields["ttl"], let value = duration(node) {
            if value < .seconds(1) { report("ttl of \(what) must be at least 1s", at: node) } else { rule.ttl = value }
        }
        // `0s` (the default) is allowed here, unlike the timeouts: it means "409 at once".
        if let node = fields["in_flight_wait"], let value = node.string == "0s" ? .zero : duration(node) {
            if value > .seconds(60) { report("in_flight_wait of \(what) must be at most 60s", at: node) } else { rule.inFlightWait = value }
        }
        if let node = fields["redis_deadline"], let value = duration(node) {
            if value < .milliseconds(1) || value > .seconds(5) {
                report("redis_deadline of \(what) must be 1ms to 5s", at: node)
            } else {
                rule.redisDeadline = value
            }
        }
        if let node = fields["on_unknown"], let value = choice(node, "unknown-outcome mode", as: IdempotencyRulePolicy.UnknownOutcome.self) {
            rule.onUnknown = value
        }
        if let node = fields["on_redis_failure"], let value = choice(node, "failure mode", as: IdempotencyRulePolicy.FailureMode.self) {
            rule.onRedisFailure = value
        }
        if let node = fields["store_headers"], let items = list(node, expected: "a list of header names") {
            var names: [String] = []
            for item in items {
                guard let header = headerName(item) else { continue }
                if StoredResponse.neverStored.contains(header) {
                    report("'\(header)' is never stored (a replay must not carry another exchange's cookies or hop-by-hop fields)", at: item)
                } else if !names.contains(header) {
                    names.append(header)
                }
            }
            rule.storeHeaders = names
        }
        if let node = fields["max_stored_body"], let value = size(node) {
            if value > 1024 * 1024 { report("max_stored_body of \(what) must be at most 1MiB", at: node) } else { rule.maxStoredBody = value }
        }
        if let node = fields["replay"], let value = choice(node, "replay", as: IdempotencyRulePolicy.Replay.self) { rule.replay = value }
        // A notification's provider resends until it reads its acknowledgement, and a 409 is
        // none: with `conflict`, a notification whose connection to the backend died was refused
        // on every resend for the record's TTL and never delivered. Backends must take duplicate
        // notifications anyway (the providers say so): an unknown outcome is forwarded again.
        if rule.replay != .stored && fields["on_unknown"] == nil { rule.onUnknown = .forward }
        if let node = fields["release_statuses"], let items = list(node, expected: "a list of HTTP statuses") {
            rule.releaseStatuses = items.compactMap { item in
                guard let status = count(item) else { return nil }
                guard (100...599).contains(status) else {
                    report("\(status) is not an HTTP status", at: item)
                    return nil
                }
                if (200..<300).contains(status) {
                    report("\(status) says the request was done: it cannot release the claim", at: item)
                    return nil
                }
                return status
            }
        }
        return item.declared(rule)
    }

    /// `- header: <name>` and `- body: [field, ...]` items, in the order they are tried.
    private func idempotencyKeySources(_ node: Node, of what: String) -> [IdempotencyRulePolicy.KeySource] {
        guard let items = list(node, expected: "a list of key sources like [{header: idempotency-key}, {body: [mchid, out_trade_no]}]") else {
            return []
        }
        if items.isEmpty { report("key of \(what) is empty (omit it for the Idempotency-Key header)", at: node) }
        var sources: [IdempotencyRulePolicy.KeySource] = []
        for item in items {
            guard let source = mapping(item, what: "key source of \(what)", allowed: ["header", "body", "as"]) else { continue }
            let kinds = (source["header"] == nil ? 0 : 1) + (source["body"] == nil ? 0 : 1)
            guard kinds == 1 else {
                report("a key source is either 'header' or 'body', one per list item", at: item)
                continue
            }
            if let names = source["as"], source["body"] == nil {
                report("'as' names the fields of a body key", at: names)
                continue
            }
            if let header = source["header"], let name = headerName(header) {
                sources.append(.header(name))
            } else if let body = source["body"], let fields = list(body, expected: "a list of body field paths") {
                let paths = fields.compactMap { text($0, expected: "a body field path like out_trade_no or amount.total") }
                if paths.isEmpty {
                    report("a body key needs at least one field", at: body)
                    continue
                }
                var names: [String]?
                if let node = source["as"], let items = list(node, expected: "a list of names, one per body field") {
                    let given = items.compactMap { text($0, expected: "a field name") }
                    if given.count != paths.count {
                        report("'as' gives \(given.count) names for \(paths.count) body fields", at: node)
                        continue
                    }
                    names = given
                }
                sources.append(.body(paths, names: names))
            }
        }
        return sources
    }
}
