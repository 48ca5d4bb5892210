import SluicePolicy
import Yams

extension PolicyFileReader {
    /// One item of `limits`; nil without a usable name (see `NamedItem.declared`).
    func readLimit(_ node: Node) -> Declared<LimitRulePolicy>? {
        guard let item = namedItem(node, kind: "limit", allowed: [
            "algorithm", "rate", "burst", "limit", "window", "cost", "cost_from", "key", "on_redis_failure",
            "expected_instances", "shadow", "response_headers", "lease", "before_auth",
        ]) else { return nil }
        let (fields, what) = (item.fields, item.what)
        var rule = LimitRulePolicy(name: item.name ?? "", algorithm: .slidingWindow(limit: 1, window: .seconds(1)),
                                   key: [], onRedisFailure: .allow)

        let algorithmNode = required("algorithm", in: fields, of: what)
        let algorithm = algorithmNode.flatMap { choice($0, "algorithm", as: LimitAlgorithmName.self) }
        switch algorithm {
        case .tokenBucket:
            rejectKeys(["limit", "window"], in: fields, of: what, algorithm: "sliding_window")
            let rate = required("rate", in: fields, of: what).flatMap { parsed($0, expected: "a rate like 100/s", LimitRate.parse) }
            let burst = required("burst", in: fields, of: what).flatMap { positive($0, "burst") }
            if let rate, let burst { rule.algorithm = .tokenBucket(rate: rate, burst: burst) }
        case .slidingWindow:
            rejectKeys(["rate", "burst", "lease"], in: fields, of: what, algorithm: "token_bucket")
            let limit = required("limit", in: fields, of: what).flatMap { positive($0, "limit") }
            let window = required("window", in: fields, of: what).flatMap(duration)
            if let limit, let window { rule.algorithm = .slidingWindow(limit: limit, window: window) }
        case nil:
            break
        }

        if let node = fields["cost"], let value = positive(node, "cost") { rule.cost = value }
        if let node = fields["cost_from"] {
            if let costNode = fields["cost"] {
                report("\(what) has both 'cost' and 'cost_from' (use one: a fixed cost, or a header carrying it)", at: costNode)
            }
            if let source = mapping(node, what: "cost_from of \(what)", allowed: ["header"]),
               let headerNode = required("header", in: source, of: "cost_from of \(what)"),
               let header = headerName(headerNode) {
                rule.costHeader = header
            }
        }
        if let node = required("key", in: fields, of: what) { rule.key = keyParts(node, of: what) }
        if let node = required("on_redis_failure", in: fields, of: what),
           let mode = choice(node, "failure mode", as: LimitRulePolicy.FailureMode.self) {
            rule.onRedisFailure = mode
        }
        if let node = fields["expected_instances"], let value = positive(node, "expected_instances") { rule.expectedInstances = value }
        if let node = fields["shadow"], let value = flag(node) { rule.shadow = value }
        if let node = fields["response_headers"], let value = flag(node) { rule.responseHeaders = value }
        if let node = fields["before_auth"], let value = flag(node) {
            let needsAuth = rule.key.contains { part in
                switch part {
                case .merchant, .body: return true
                case .clientIP, .route, .header, .query: return false
                }
            }
            if value && needsAuth {
                report("\(what) cannot run before auth: its key uses the merchant or the body, which auth and the body phase provide",
                       at: node)
            } else {
                rule.beforeAuth = value
            }
        }
        if let node = fields["lease"], algorithm == .tokenBucket,
           let lease = mapping(node, what: "lease of \(what)", allowed: ["tokens"]),
           let tokensNode = required("tokens", in: lease, of: "lease of \(what)"),
           let tokens = positive(tokensNode, "lease tokens") {
            if case .tokenBucket(_, let burst) = rule.algorithm, tokens > burst {
                report("lease tokens \(tokens) exceed burst \(burst)", at: tokensNode)
            } else {
                rule.leaseTokens = tokens
            }
        }
        return item.declared(rule)
    }

    private func rejectKeys(_ keys: [String], in fields: CheckedMapping, of what: String, algorithm: String) {
        for key in keys {
            if let node = fields.keys[key] { report("'\(key)' of \(what) applies to \(algorithm) only", at: node) }
        }
    }

    private func positive(_ node: Node, _ what: String) -> Int? {
        guard let value = count(node) else { return nil }
        guard value > 0 else {
            report("\(what) must be at least 1", at: node)
            return nil
        }
        return value
    }

    private func keyParts(_ node: Node, of what: String) -> [LimitRulePolicy.KeyPart] {
        guard let items = list(node, expected: "a list of key parts like [merchant, route]") else { return [] }
        if items.isEmpty { report("\(what) has an empty key (use [route] for one counter per route)", at: node) }
        var parts: [LimitRulePolicy.KeyPart] = []
        for item in items {
            guard let part = parsed(item, expected: "a key part", LimitKeyPartSyntax.parse) else { continue }
            if parts.contains(part) {
                report("duplicate key part '\(part)'", at: item)
                continue
            }
            parts.append(part)
        }
        return parts
    }
}

enum LimitAlgorithmName: String, CaseIterable {
    case tokenBucket = "token_bucket"
    case slidingWindow = "sliding_window"
}

enum LimitKeyPartSyntax {
    static let expectedForm = "client_ip, route, merchant, header:<name>, query:<name> or body:<field path>"

    static func parse(_ text: String) -> Result<LimitRulePolicy.KeyPart, SyntaxProblem> {
        switch text {
        case "client_ip": return .success(.clientIP)
        case "route": return .success(.route)
        case "merchant": return .success(.merchant)
        default: break
        }
        for (prefix, make) in [("header:", { LimitRulePolicy.KeyPart.header($0.lowercased()) }),
                               ("query:", { LimitRulePolicy.KeyPart.query($0) }),
                               ("body:", { LimitRulePolicy.KeyPart.body($0) })] where text.hasPrefix(prefix) {
            let name = String(text.dropFirst(prefix.count))
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                return .failure(SyntaxProblem("invalid name in key part '\(text)'"))
            }
            return .success(make(name))
        }
        return .failure(SyntaxProblem("unknown key part '\(text)' (allowed: \(expectedForm))"))
    }
}
